"""Several vendors (or buyers) side by side: `/compare?vendor=a&vendor=b` (or `buyer=`), under
the same filters and in the same money (US dollars converted, or one original currency)."""

from __future__ import annotations

from dash import dcc, html

from survtrack.analysis import levels, spending
from survtrack.analysis.spending import Filters

from .. import figures, formats, labels
from ..common import not_found, records, selection_summary
from ..i18n import t
from ..urls import href
from .overview import level_switch

MAX_PARTIES = 6
OTHER_ROLE = {"vendor": "buyer", "buyer": "vendor"}


def keys_of(query: dict) -> tuple[str, list[str]]:
    """(role, keys) from the URL: the vendors given, else the buyers; at most MAX_PARTIES."""
    for role in ("vendor", "buyer"):
        keys = list(dict.fromkeys(k for k in query.get(role, []) if k))[:MAX_PARTIES]
        if keys:
            return role, keys
    return "vendor", []


def _column(con, role: str, key: str, f: Filters, lang: str) -> dict:
    scoped = f.with_(**{role: key})
    total = records(spending.totals(con, scoped))[0]
    other = OTHER_ROLE[role]
    counterparts = (spending.by_buyer if other == "buyer" else spending.by_vendor)(
        con, scoped, limit=None)
    categories = spending.by_category(con, scoped)
    years = spending.by_year(con, scoped)
    return {
        "name": labels.party_name(con, role, key) or t("unnamed", lang),
        "href": href(f"/{role}", f.with_(**{role: None}), lang, id=key),
        "total": formats.money(total.total, f.currency, lang) + (
            " " + t("compare_not_converted", lang).format(n=formats.number(total.not_converted,
                                                                           lang))
            if f.usd and total.not_converted else ""),
        "contracts": dcc.Link(formats.number(total.contracts, lang),
                              href=href("/contracts", scoped, lang)),
        "years": "–" if not total.first_year else str(total.first_year)
        if total.first_year == total.last_year else f"{total.first_year}–{total.last_year}",
        "counterparts": formats.number(len(counterparts), lang),
        "categories": ", ".join(labels.category_name(c, lang)
                                for c in categories["category"][:3]) or "–",
        "by_year": {None if r.year is None else int(r.year): r.amount
                    for r in records(years)},
    }


def layout(con, f: Filters, query: dict, lang: str):
    role, keys = keys_of(query)
    if role == "buyer":  # each buyer counted with the body it belongs to at the level
        keys = list(dict.fromkeys(levels.rolled_up(con, k, f.buyer_level) for k in keys))
    keys = [k for k in keys if spending.party_exists(con, role, k, f.buyer_level)]
    if not keys:
        return not_found(lang, t("compare_none", lang))
    base = f.with_(vendor=None, buyer=None)
    if base.currency_auto:  # the parties' one currency where they share it, else dollars
        sole = {spending.sole_currency(con, base.with_(**{role: k})) for k in keys}
        base = base.with_(currency=sole.pop() if len(sole) == 1 and None not in sole
                          else "USD", currency_auto=True)
    cols = [_column(con, role, key, base, lang) for key in keys]

    def head(corner: str) -> html.Thead:  # every header cell says what its column holds
        return html.Thead(html.Tr([html.Th(corner)] + [
            html.Th(dcc.Link(c["name"], href=c["href"]), className="num") for c in cols]))

    facts = [("total", "total"), ("contracts", "contracts"), ("years_active", "years"),
             (f"compare_{OTHER_ROLE[role]}s", "counterparts"),
             ("compare_categories", "categories")]
    body = [html.Tr([html.Th(t(label, lang))] + [html.Td(c[field], className="num")
                                                 for c in cols]) for label, field in facts]
    years = sorted({y for c in cols for y in c["by_year"]}, key=lambda y: (y is None, y))
    per_year = [html.Tr([html.Th(t("no_date", lang) if y is None else str(y))] + [
        html.Td(formats.money(c["by_year"].get(y), f.currency, lang)
                if y in c["by_year"] else "–", className="num") for c in cols])
        for y in years]
    return html.Div([
        html.H1(t(f"compare_title_{role}", lang)),
        selection_summary(base, lang),
        level_switch(base, lang),  # buyers as signed, or rolled up (the overview's switch)
        html.Table([head(t(f"f_{role}", lang)), html.Tbody(body)], className="table table-sm",
                   id="compare-table"),
        html.H2(t("spending_by_year", lang)),
        _chart(con, base, keys, lang) if role == "vendor" and len(keys) > 1 else None,
        html.Table([head(t("year", lang)), html.Tbody(per_year)], className="table table-sm",
                   id="compare-years"),  # the chart's data, as a table
    ], id="compare-page")


def _chart(con, base: Filters, keys: list[str], lang: str) -> html.Div:
    """The vendors' bars by year side by side, each in its own colour (as on every view), and
    the way to the overview in compare mode."""
    compared = base.with_(vendors=tuple(keys))
    bars = spending.by_vendor_year(con, compared, top=len(keys))
    return html.Div([
        dcc.Graph(id="compare-chart", config={"displaylogo": False},
                  figure=figures.vendor_year_bars(bars, base.currency, lang,
                                                  side_by_side=True)),
        dcc.Link(t("compare_on_overview", lang), href=href("/", compared, lang),
                 id="compare-overview")])
