"""Fetching from EU Tenders Electronic Daily: the search API v3, then each notice's XML.

`POST /v3/notices/search` with an expert query (CPV codes and words, publication dates),
in ITERATION mode: up to 250 notices a page, each page giving the token of the next, with
no ceiling on the total. Each notice's XML (its `links.xml` or `/en/notice/<number>/xml`)
is the archived document. The checkpoint is the iteration token of the next page
(paging.iteration_tokens).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from survtrack.scrapers.paging import each_document, iteration_tokens
from survtrack.scrapers.presets import require
from survtrack.scrapers.scrape import FetchContext, LayoutChanged

HERE = Path(__file__).parent
NOTICE_BASE = "https://ted.europa.eu"
PAGE_SIZE = 250  # the API's maximum


def _ted_date(value: str) -> str:
    return date.fromisoformat(value).strftime("%Y%m%d")


def _words(words) -> str:
    return " ".join('"' + w.replace('"', "") + '"' for w in words)


def expert_query(params: dict) -> str:
    """The expert query: (CPV codes OR words) AND the publication-date window."""
    preset = require(HERE, "ted", params.get("preset"))
    either = []
    if preset.get("cpv"):
        either.append(f"classification-cpv IN ({' '.join(preset['cpv'])})")
    words = list(preset.get("word", ())) + ([params["query"]] if params.get("query") else [])
    if words:
        either.append(f"FT ~ ({_words(words)})")
    if not either:
        raise ValueError("ted needs --query or --preset surveillance")
    query = either[0] if len(either) == 1 else "(" + " OR ".join(either) + ")"
    if params.get("since"):
        query += f" AND publication-date >= {_ted_date(params['since'])}"
    if params.get("until"):
        query += f" AND publication-date <= {_ted_date(params['until'])}"
    return query


def notice_xml_url(notice: dict, params: dict) -> str:
    links = (notice.get("links") or {}).get("xml") or {}
    if links and not params.get("base_url"):
        return links.get("MUL") or next(iter(links.values()))
    root = params.get("base_url") or NOTICE_BASE
    return f"{root.rstrip('/')}/en/notice/{notice['publication-number']}/xml"


def fetch(ctx: FetchContext) -> Iterator:
    query = expert_query(ctx.params)
    limit = int(ctx.params.get("page_size") or PAGE_SIZE)
    url = ctx.url("/v3/notices/search")

    def page(token: str | None):
        body = {"query": query, "fields": ["publication-number", "links"], "limit": limit,
                "paginationMode": "ITERATION", "scope": "ALL", "checkQuerySyntax": False}
        if token:
            body["iterationNextToken"] = token
        data = ctx.client.post(url, json=body, kind="listing", expect="json").json()
        if "notices" not in data:
            raise LayoutChanged(url, "notices in the search response",
                                str(data.get("message") or sorted(data))[:200])
        yield from each_document(ctx, _notices(url, data["notices"], ctx.params), "xml",
                                 "application/xml")
        return data.get("iterationNextToken"), len(data["notices"])

    yield from iteration_tokens(ctx, page)


def _notices(url: str, notices: list[dict], params: dict) -> Iterator[tuple[str, str]]:
    """(notice XML URL, public notice page) of each notice of a search page."""
    for notice in notices:
        if "publication-number" not in notice:
            raise LayoutChanged(url, "publication-number in a notice")
        yield (notice_xml_url(notice, params),
               f"{NOTICE_BASE}/en/notice/-/detail/{notice['publication-number']}")
