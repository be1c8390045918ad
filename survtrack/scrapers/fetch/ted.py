"""Fetching from EU Tenders Electronic Daily: the search API v3, then each notice's XML.

`POST /v3/notices/search` with an expert query (CPV codes and words, publication dates),
in ITERATION mode: up to 250 notices a page, each page giving the token of the next, with
no ceiling on the total. Each notice's XML (its `links.xml` or `/en/notice/<number>/xml`)
is the archived document. The checkpoint is the iteration token of the next page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from . import Checkpoint, FetchContext, LayoutChanged
from .presets import require

BASE_URL = "https://api.ted.europa.eu"
NOTICE_BASE = "https://ted.europa.eu"
RATE_LIMIT = 1.0
PAGE_SIZE = 250  # the API's maximum


def base_url(params: dict) -> str:
    return BASE_URL


def rate_for(params: dict) -> float | None:
    return None


def _ted_date(value: str) -> str:
    return date.fromisoformat(value).strftime("%Y%m%d")


def _words(words) -> str:
    return " ".join('"' + w.replace('"', "") + '"' for w in words)


def expert_query(params: dict) -> str:
    """The expert query: (CPV codes OR words) AND the publication-date window."""
    preset = require("ted", params.get("preset"))
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
    token = ctx.checkpoint.get("token")
    limit = int(ctx.params.get("page_size") or PAGE_SIZE)
    url = ctx.url("/v3/notices/search")
    while True:
        body = {"query": query, "fields": ["publication-number", "links"], "limit": limit,
                "paginationMode": "ITERATION", "scope": "ALL", "checkQuerySyntax": False}
        if token:
            body["iterationNextToken"] = token
        data = ctx.client.post(url, json=body, kind="listing", expect="json").json()
        if "notices" not in data:
            raise LayoutChanged(url, "notices in the search response",
                                str(data.get("message") or sorted(data))[:200])
        for notice in data["notices"]:
            if "publication-number" not in notice:
                raise LayoutChanged(url, "publication-number in a notice")
            xml_url = notice_xml_url(notice, ctx.params)
            resp = ctx.client.get(xml_url, kind="detail", expect="xml")
            public = f"{NOTICE_BASE}/en/notice/-/detail/{notice['publication-number']}"
            yield ctx.document(xml_url, resp.content, "application/xml", public)
        token = data.get("iterationNextToken")
        more = bool(token) and bool(data["notices"])
        yield Checkpoint({"token": token if more else None}, more=more)
        if not more:
            return
