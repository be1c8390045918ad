"""What every page shares: rows without pandas' missing values, the page frame (links and the
URL are `urls.py`'s)."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from survtrack.analysis.spending import Filters

from . import formats, labels
from .i18n import t
from .urls import first, from_query, href, parse_search


def records(df: pd.DataFrame) -> list[SimpleNamespace]:
    """The rows of a view, every missing value None.

    pandas shows DuckDB's NULL as NaN in text and float columns, NaT in dates and NA in
    nullable integers, and each of them is truthy and breaks formatting in its own way;
    pages read rows through here, so a NULL is one thing: None.
    """
    columns = [str(c) for c in df.columns]
    # column by column as Python values (tolist boxes numpy's), then a row at a time:
    # a fraction of what converting the whole frame to objects cost on every page
    values = [df.iloc[:, i].tolist() for i in range(len(columns))]
    return [SimpleNamespace(**{c: None if _missing(v) else v for c, v in zip(columns, row)})
            for row in zip(*values)]


def _missing(value) -> bool:
    """NULL as pandas gives it back: None, NaN, NaT or NA (a list or an array is a value)."""
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and value != value)


def not_found(lang: str, message: str | None = None) -> html.Div:
    """A page for an unknown address or id, with the way back."""
    return html.Div([html.H1(t("not_found", lang)),
                     html.P(message) if message else None,
                     dcc.Link(t("back_overview", lang), href=href("/", None, lang))],
                    id="not-found")


def selection_summary(f: Filters, lang: str, names: dict[str, str] | None = None) -> html.Div:
    """The active filters as badges, so a shared link says what it shows."""
    names = names or {}
    scope = t("surveillance_only" if f.surveillance_only else "all_contracts", lang)
    badges = [dbc.Badge(scope, color="secondary", className="me-1")]
    shown = {"country": lambda v: formats.country_name(v, lang),
             "source": lambda v: labels.source_name(v, lang),
             "category": lambda v: labels.category_name(v, lang),
             # a key whose name is not known yet reads as a placeholder, never as the key
             "buyer": lambda v: names.get(v, t("unnamed", lang)),
             "vendor": lambda v: names.get(v, t("unnamed", lang))}
    for field, name in shown.items():
        value = getattr(f, field)
        if value:
            badges.append(dbc.Badge(f"{t('f_' + field, lang)}: {name(value)}",
                                    color="info", className="me-1"))
    if f.vendors:  # compare mode
        badges.append(dbc.Badge(f"{t('compare_badge', lang)}: " + ", ".join(
            names.get(k, t("unnamed", lang)) for k in f.vendors), color="info",
            className="me-1", id="compare-badge"))
    if f.buyer_level != "office":
        badges.append(dbc.Badge(f"{t('buyer_level', lang)}: "
                                f"{t('buyer_level_' + f.buyer_level, lang)}",
                                color="info", className="me-1", id="level-badge"))
    if f.flag:
        from survtrack.analysis import flags

        badges.append(dbc.Badge(f"{t('f_flag', lang)}: {flags.definitions()[f.flag].name(lang)}",
                                color="danger", className="me-1", id="flag-badge"))
    if f.exclude_vendors:
        badges.append(dbc.Badge(t("excluding_vendors", lang).format(n=len(f.exclude_vendors)),
                                color="info", className="me-1"))
    if f.undated:
        badges.append(dbc.Badge(f"{t('year', lang)}: {t('no_date', lang)}", color="info",
                                className="me-1"))
    if f.year_from or f.year_to:
        badges.append(dbc.Badge(f"{t('year', lang)}: {f.year_from or '…'}–{f.year_to or '…'}",
                                color="info", className="me-1"))
    currency = t("usd_converted", lang) if f.usd else f"{f.currency} ({t('in_currency', lang)})"
    if f.currency_auto and not f.usd:  # chosen for the analyst: say why
        currency += " · " + t("currency_only_one", lang)
    badges.append(dbc.Badge(currency, color="info", className="me-1"))
    if f.measure != "value":
        badges.append(dbc.Badge(t(f"measure_{f.measure}", lang), color="info", className="me-1"))
    return html.Div([html.Span(t("filters_now", lang) + ": ", className="me-1"), *badges],
                    className="selection mb-2", id="selection")


def chart_table(id_: str, label: str, rows: list[tuple], f: Filters, lang: str) -> html.Details:
    """The bars of a chart as a table under it: what a screen reader or a keyboard reaches
    instead of the bars. `rows` are (label, amount, contracts, link to those contracts)."""
    from . import formats

    head = html.Tr([html.Th(label), html.Th(t("amount", lang), className="num"),
                    html.Th(t("contracts", lang), className="num")])
    body = [html.Tr([html.Td(name),
                     html.Td(formats.money(amount, f.currency, lang, compact=False),
                             className="num"),
                     html.Td(dcc.Link(formats.number(n, lang), href=link) if link
                             else formats.number(n, lang), className="num")])
            for name, amount, n, link in rows]
    return html.Details([html.Summary(t("chart_as_table", lang)),
                         html.Table([html.Thead(head), html.Tbody(body)],
                                    className="table table-sm")],
                        id=id_, className="chart-table")


def toggle_button(label: str, id_: str, controls: str, className: str) -> html.Button:
    """A button opening the collapsed panel `controls`. Its aria-* attributes are set one by
    one: given as keywords, Dash orders them through a set, so an answer's bytes would change
    with the process's hash seed and a cached answer would differ from a fresh one."""
    button = html.Button(label, id=id_, type="button", className=className)
    setattr(button, "aria-controls", controls)
    setattr(button, "aria-expanded", "false")
    return button


def kpi(label: str, value: str, id_: str | None = None) -> dbc.Col:
    return dbc.Col(dbc.Card(dbc.CardBody([html.Div(label, className="kpi-label"),
                                          html.Div(value, className="kpi-value", id=id_ or "")])),
                   md=3, sm=6)


def navbar(pathname: str, search: str | None, lang: str) -> dbc.Navbar:
    query = parse_search(search)
    f = from_query(query)
    links = [("/", "nav_overview"), ("/contracts", "nav_contracts"),
             ("/countries", "nav_countries")]
    langs = []
    for code in ("en", "ru"):
        params = {k: v for k, v in query.items() if k != "lang"}
        if code != "en":
            params["lang"] = [code]
        langs.append(dcc.Link(code.upper(), href=pathname + ("?" + urlencode(params, doseq=True)
                                                             if params else ""),
                              className="lang-link" + (" active" if code == lang else ""),
                              id=f"lang-{code}"))
    # on a phone the links and languages fold behind a menu button (dbc.Collapse, opened by
    # app.py's clientside callback); the search box stays in sight
    return html.Nav([
        html.Span(t("app_title", lang), className="brand"),
        toggle_button(t("menu", lang), "nav-toggle", "nav-menu", "nav-toggle"),
        dbc.Collapse([
            *[dcc.Link(t(key, lang), href=href(path, f, lang), className="nav-link",
                       id=f"nav-{key}") for path, key in links],
            html.Span(langs, className="langs"),
        ], id="nav-menu", is_open=False, className="nav-menu"),
        search_box(query, lang),
    ], className="topbar", **{"aria-label": t("nav_label", lang)})


def search_box(query: dict, lang: str) -> html.Form:
    """A plain GET form to /search: works with the keyboard, the Enter key and no script."""
    hidden = [dcc.Input(type="hidden", name="lang", value=lang)] if lang != "en" else []
    return html.Form([
        html.Label([html.Span(t("search_label", lang), className="visually-hidden"),
                    dcc.Input(id="search-q", type="search", name="q",
                              value=first(query, "q") or "",
                              placeholder=t("search_placeholder", lang))]),
        *hidden,
        html.Button(t("search_button", lang), type="submit", id="search-go"),
    ], action="/search", method="get", role="search", className="search-box")
