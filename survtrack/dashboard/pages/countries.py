"""Spending by buyer country; a click opens the overview for that country."""

from __future__ import annotations

from dash import dcc, html

from survtrack.analysis import spending
from survtrack.analysis.spending import Filters

from .. import figures, labels
from ..common import chart_table, records, selection_summary
from ..formats import country_name
from ..i18n import t
from ..urls import href, settle_currency


def layout(con, f: Filters, query: dict, lang: str):
    f = settle_currency(con, f, f.with_(country=None))  # every country: one currency is rare
    df = spending.by_country(con, f.with_(country=None))
    df["name"] = [country_name(code, lang) for code in df["key"]]
    return html.Div([
        html.H1(t("by_country", lang)),
        selection_summary(f.with_(country=None), lang, labels.names_of(con, f)),
        html.P(t("no_data", lang)) if df.empty else None,
        dcc.Graph(id="country-chart", config={"displaylogo": False},
                  figure=figures.ranked_bars(df, "name", f.currency, lang, key="key")),
        None if df.empty else chart_table("country-table", t("f_country", lang), [
            (r.name, r.amount, r.contracts, href("/contracts", f.with_(country=r.key), lang))
            for r in records(df)], f, lang),
    ])
