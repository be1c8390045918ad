"""Fetching from any OCDS publisher: an API paged by `links.next`, a ProZorro-style list
(tender ids paged by `next_page.uri`, each tender fetched with `?opt_schema=ocds`), or a
bulk file (JSON Lines, ZIP/GZIP) streamed straight into the archive.

`survtrack scrape ocds --url URL` starts at any URL; `--preset NAME` names a known
publisher in presets.csv (its own URL, date parameters and rate limit). Every API
page (a release or record package) is one archived document; the checkpoint is the URL of
the next page (paging.follow_links), so a resumed run starts exactly where the killed one
stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from survtrack.datafiles import rows
from survtrack.scrapers.paging import each_document, follow_links
from survtrack.scrapers.scrape import Checkpoint, FetchContext, LayoutChanged

HERE = Path(__file__).parent
BULK_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".gz": None, ".zip": None}


@cache
def publishers() -> dict[str, dict[str, str]]:
    """Known OCDS publishers by preset name (presets.csv), each with its own rate limit."""
    return {row["name"]: row for row in rows(HERE / "presets.csv", ("name", "url"))}


def publisher(params: dict) -> dict | None:
    name = params.get("preset")
    if not name:
        return None
    if name == "surveillance":
        raise ValueError("OCDS publishers offer no product search: scrape a publisher"
                         " (--url or --preset NAME) and let `survtrack build` classify")
    known = publishers()
    if name not in known:
        raise ValueError(f"unknown OCDS publisher preset {name!r}; known: {', '.join(known)}")
    return known[name]


def start_url(params: dict) -> str:
    pub = publisher(params)
    url = params.get("url") or (pub and pub["url"])
    if not url:
        raise ValueError("ocds needs --url URL or --preset PUBLISHER")
    if not pub and (params.get("since") or params.get("until")):
        raise ValueError("--since/--until apply to publisher presets; with --url put the"
                         " publisher's own date parameters in the URL")
    if pub:
        query = {pub[p]: params[k] for k, p in (("since", "since_param"), ("until", "until_param"))
                 if params.get(k) and pub[p]}
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
    return url


def root_url(params: dict) -> str:
    parts = urlsplit(start_url(params))
    return f"{parts.scheme}://{parts.netloc}"


def rate_for(params: dict) -> float | None:
    pub = publisher(params)
    return float(pub["rate_limit"]) if pub else None


def fetch(ctx: FetchContext) -> Iterator:
    url = ctx.checkpoint.get("next", start_url(ctx.params))
    if url is None:  # the checkpoint says the last page was done
        return
    path = urlsplit(url).path.lower()
    suffix = "." + path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    if suffix in BULK_SUFFIXES:
        expect = BULK_SUFFIXES[suffix]
        media = "application/x-ndjson" if expect == "jsonl" else "application/octet-stream"
        yield ctx.download(url, media, expect)
        yield Checkpoint({"next": None}, more=False)
        return

    def page(url: str):
        resp = ctx.client.get(url, kind="listing", expect="json",
                              headers={"Accept": "application/json"})
        data = resp.json()
        keys = set(data) if isinstance(data, dict) else set()
        if keys & {"releases", "records"}:  # a package: the page is the document
            yield ctx.document(url, resp.content, "application/json")
            return (data.get("links") or {}).get("next")
        if {"data", "next_page"} <= keys:  # a ProZorro-style list of tender ids
            yield from _tenders(ctx, url, data["data"])
            return data["next_page"].get("uri") if data["data"] else None
        raise LayoutChanged(url, "an OCDS package (releases/records) or a tender list"
                            " (data/next_page)", f"got keys {sorted(keys)[:8]}")

    yield from follow_links(ctx, url, page)


def _tenders(ctx: FetchContext, url: str, tenders: list) -> Iterator:
    """Each listed tender fetched as an OCDS release package (`?opt_schema=ocds`)."""
    root = url.split("?")[0].rstrip("/")
    yield from each_document(ctx, ((f"{root}/{t['id']}?opt_schema=ocds", None) for t in tenders),
                             "json", "application/json")
