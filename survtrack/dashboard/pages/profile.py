"""Vendor and buyer profiles: who it is, which names were merged and why, where money went."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from survtrack.analysis import context, palette, spending
from survtrack.analysis.spending import Filters

from .. import figures, formats, labels
from .. import flags as flag_views
from ..common import chart_table, not_found, records, selection_summary
from ..i18n import t
from ..urls import contract_href, first, href, settle_currency
from .overview import level_switch, party_cell, totals_row

OTHER_ROLE = {"vendor": "buyer", "buyer": "vendor"}


def layout(con, role: str, f: Filters, query: dict, lang: str):
    key = first(query, "id")
    if not key or not spending.party_exists(con, role, key, f.buyer_level):
        return not_found(lang, t(f"no_such_{role}", lang).format(id=(key or "")[:80]))
    who = spending.party_profile(con, role, key)
    f = settle_currency(con, f, f.with_(**{role: key}))  # a Russian vendor reads in roubles
    scoped = f.with_(**{role: key})
    other = OTHER_ROLE[role]
    counterparts = (spending.by_buyer if other == "buyer" else spending.by_vendor)(
        con, scoped, limit=15)
    years = spending.by_year(con, scoped)
    categories = labels.with_category_names(spending.by_category(con, scoped), lang)
    registered = [i for i in map(labels.identifier, who["identifiers"]) if i]
    identity = [html.H2(t("profile_identifiers", lang)),
                html.Ul([html.Li(i, className="identifier") for i in registered])
                if registered else html.P(t("no_identifier", lang), className="hint")]
    if who["resolved"]:
        identity += [html.H2(t("profile_names", lang)),
                     html.Ul([html.Li(n, className="alias") for n in who["names"]]),
                     html.H2(t("profile_reason", lang)),
                     html.P(labels.readable_reason(who["reason"], who["organizations"]) or "–",
                            id="merge-reason")]
        bodies = spending.bodies_of(con, key, f.buyer_level) if role == "buyer" else []
        if len(bodies) > 1:  # a body rolled up from its sub-units: which ones
            identity += [html.H2(t("profile_bodies", lang)),
                         html.Ul([html.Li(dcc.Link(b.name, href=href(
                             "/buyer", f.with_(buyer=None, buyer_level="office"), lang,
                             id=b.key)), className="body") for b in records(bodies)],
                                 id="profile-bodies")]
    else:
        identity += [html.Ul([html.Li(n, className="alias") for n in who["names"]]),
                     html.P(t("not_resolved", lang), className="hint")]
    table = html.Table([
        html.Thead(html.Tr([html.Th(t("f_" + other, lang)), html.Th(t("amount", lang)),
                            html.Th(t("share", lang)), html.Th(t("contracts", lang))])),
        html.Tbody([html.Tr([
            html.Td(party_cell(r, other, f, lang)),
            html.Td(formats.money(r.amount, f.currency, lang), className="num"),
            html.Td(formats.percent(r.share, lang), className="num"),
            html.Td(dcc.Link(formats.number(r.contracts, lang), href=href(
                "/contracts", scoped.with_(**{other: r.key}), lang)), className="num"),
        ]) for r in records(counterparts)]),
    ], className="table table-sm")
    return html.Div([
        html.Div(t(role + "_profile", lang), className="kicker"),
        html.H1(who["name"], id="profile-name"),
        selection_summary(f, lang, labels.names_of(con, f)),
        totals_row(con, scoped, lang),
        dcc.Link(t("see_contracts", lang), href=href("/contracts", scoped, lang),
                 id="profile-contracts", className="btn btn-outline mb-3"),
        dbc.Row([
            dbc.Col(identity, md=4),
            dbc.Col([html.H2(t("spending_by_year", lang)),
                     dcc.Graph(id="profile-years", config={"displaylogo": False},
                               figure=figures.year_bars(
                                   years, f.currency, lang,
                                   palette.vendor_colour(key) if role == "vendor" else None)),
                     chart_table("profile-years-table", t("year", lang), [
                         (figures.year_label(r.year, lang), r.amount, r.contracts,
                          href("/contracts", scoped.with_(year_from=int(r.year), year_to=int(r.year))
                               if r.year is not None else scoped.with_(undated=True), lang))
                         for r in records(years)], f, lang),
                     html.H2(t("by_category", lang)),
                     dcc.Graph(id="profile-categories", config={"displaylogo": False},
                               figure=figures.ranked_bars(categories, "name", f.currency, lang,
                                                         key="category")),
                     chart_table("profile-categories-table", t("f_category", lang), [
                         (r.name, r.amount, r.contracts,
                          href("/contracts", scoped.with_(category=r.category), lang))
                         for r in records(categories)], f, lang),
                     html.H2(t("top_" + other + "s", lang)),
                     level_switch(f, lang) if other == "buyer" else None, table,
                     html.H2(t("largest_contracts", lang)),
                     _largest(con, scoped, lang)], md=8),
        ]),
        flag_views.party_flags(con, role, key, f, lang),
        events_section(con, key, f, lang),
    ])


def _largest(con, f: Filters, lang: str) -> html.Table:
    """The selection's ten largest contracts, each linking to its contract page."""
    column = "amount_usd" if f.usd else "amount"
    df = spending.contracts(con, f, limit=10, sort=[(column, "desc")])
    return html.Table([html.Tbody([html.Tr([
        html.Td(dcc.Link(r.title or r.contract_id, href=contract_href(r.contract_id, lang))),
        html.Td(formats.day(r.signed_on, lang) if r.signed_on else r.year or "–"),
        html.Td(formats.money(getattr(r, column), f.currency, lang, compact=False),
                className="num"),
    ]) for r in records(df)])], className="table table-sm", id="profile-largest")


def event_date(row, lang: str) -> str:
    """The date as the source gives it: a month, a year, or a report's date, said so."""
    if row.occurred_on is None or pd.isna(row.occurred_on):
        return "–"
    day = formats.day(row.occurred_on, lang)
    basis = row.date_basis if isinstance(row.date_basis, str) else "event"
    if basis == "month":
        return f"{row.occurred_on:%m.%Y} {t('basis_month', lang)}"
    if basis == "year":
        return f"{row.occurred_on:%Y} {t('basis_year', lang)}"
    return day if basis == "event" else f"{day} {t('basis_report', lang)}"


def events_section(con, key: str, f: Filters, lang: str) -> html.Div:
    """Court cases, complaints and sanctions naming this party, each with its citation."""
    found = context.events_for(con, key, years=(f.year_from, f.year_to))
    head = [html.H2(t("context_title", lang)), html.P(t("context_hint", lang), className="hint")]
    if found.empty:
        return html.Div(head + [html.P(t("context_none", lang), className="empty")],
                        id="profile-events")
    rows = [html.Tr([
        html.Td(event_date(r, lang), className="nowrap"),
        html.Td(labels.context_name("kind", r.kind, lang)),
        html.Td(r.forum or "–"),
        html.Td(html.A(r.title, href=r.url, target="_blank", rel="noopener")
                if isinstance(r.url, str) and r.url.startswith("http") else r.title),
        html.Td(r.outcome or "–"),
        html.Td(", ".join(labels.context_name("role", role, lang)
                          for role in (r.roles or "").split(", ") if role) or "–"),
        html.Td(r.outlet or r.source),
    ], className="context-event") for r in records(found)]
    cols = ("event_date", "event_kind", "event_forum", "event_title", "event_outcome",
            "event_role", "event_source")
    return html.Div(head + [html.Table([
        html.Thead(html.Tr([html.Th(t(c, lang)) for c in cols])), html.Tbody(rows)],
        className="table table-sm")], id="profile-events")
