"""Fetching from any OCDS publisher: an API paged by `links.next`, a ProZorro-style list
(tender ids paged by `next_page.uri`, each tender fetched with `?opt_schema=ocds`), or a
bulk file (JSON Lines, ZIP/GZIP) streamed straight into the archive.

`survtrack scrape ocds --url URL` starts at any URL; `--preset NAME` names a known
publisher in ocds_publishers.csv (its own URL, date parameters and rate limit). Every API
page (a release or record package) is one archived document; the checkpoint is the URL of
the next page, so a resumed run starts exactly where the killed one stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

from . import Checkpoint, FetchContext, LayoutChanged
from .presets import ocds_publishers

BASE_URL = ""
RATE_LIMIT = 1.0
BULK_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".gz": None, ".zip": None}


def publisher(params: dict) -> dict | None:
    name = params.get("preset")
    if not name:
        return None
    if name == "surveillance":
        raise ValueError("OCDS publishers offer no product search: scrape a publisher"
                         " (--url or --preset NAME) and let `survtrack build` classify")
    known = ocds_publishers()
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


def base_url(params: dict) -> str:
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
    seen: set[str] = set()
    while url:
        seen.add(url)
        resp = ctx.client.get(url, kind="listing", expect="json",
                              headers={"Accept": "application/json"})
        data = resp.json()
        keys = set(data) if isinstance(data, dict) else set()
        if keys & {"releases", "records"}:  # a package: the page is the document
            yield ctx.document(url, resp.content, "application/json")
            nxt = (data.get("links") or {}).get("next")
        elif {"data", "next_page"} <= keys:  # a ProZorro-style list of tender ids
            yield from _tenders(ctx, url, data["data"])
            nxt = data["next_page"].get("uri") if data["data"] else None
        else:
            raise LayoutChanged(url, "an OCDS package (releases/records) or a tender list"
                                " (data/next_page)", f"got keys {sorted(keys)[:8]}")
        if nxt in seen:
            raise LayoutChanged(url, "a new next-page link", f"{nxt} repeats")
        yield Checkpoint({"next": nxt}, more=bool(nxt))
        url = nxt


def _tenders(ctx: FetchContext, url: str, tenders: list) -> Iterator:
    """Each listed tender fetched as an OCDS release package (`?opt_schema=ocds`)."""
    for tender in tenders:
        detail = f"{url.split('?')[0].rstrip('/')}/{tender['id']}?opt_schema=ocds"
        resp = ctx.client.get(detail, kind="detail", expect="json")
        yield ctx.document(detail, resp.content, "application/json")
