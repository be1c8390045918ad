"""Search results: vendors, buyers and contracts matching `q`, grouped, each a link."""

from __future__ import annotations

from dash import dcc, html

from survtrack.analysis import search

from .. import formats
from ..common import records
from ..i18n import t
from ..urls import contract_href, first, href

SHOWN = 20


def _link(kind: str, row, lang: str) -> str:
    if kind == "contract":
        return contract_href(row.key, lang)
    return href(f"/{kind}", None, lang, id=row.key)


def _group(kind: str, found: dict, lang: str) -> html.Section:
    rows = records(found["rows"])
    items = [html.Li([
        dcc.Link(row.label, href=_link(kind, row, lang), className="search-hit"),
        html.Span(f" · {formats.money(row.amount_usd, 'USD', lang)}" if kind == "contract"
                  else f" · {formats.count(row.contracts, 'contracts', lang)}",
                  className="hint"),
    ]) for row in rows]
    more = found["count"] - len(rows)
    # a capped count is a lower bound: counting stopped there (analysis/search.py)
    count = formats.number(found["count"], lang) + ("+" if found["capped"] else "")
    return html.Section([
        html.H2(f"{t('search_' + kind, lang)} ({count})"),
        html.Ul(items) if items else html.P(t("search_none", lang), className="empty"),
        html.P(t("search_more_capped", lang).format(n=formats.number(found["count"], lang))
               if found["capped"] else
               t("search_more", lang).format(n=formats.number(more, lang)), className="hint")
        if more > 0 or found["capped"] else None,
    ], id=f"search-{kind}s", className="search-group")


def layout(con, query: dict, lang: str):
    text = (first(query, "q") or "").strip()
    head = [html.H1(t("search_title", lang)), html.P(t("search_hint", lang), className="hint")]
    if not text:
        return html.Div(head, id="search-page")
    if not search.available(con):
        return html.Div(head + [html.P(t("search_unavailable", lang), className="empty")],
                        id="search-page")
    found = search.search(con, text, SHOWN)
    return html.Div(head + [
        html.P(t("search_for", lang).format(q=text), id="search-query"),
        *[_group(kind, found[kind], lang) for kind in search.KINDS],
    ], id="search-page")
