"""Fetching from any OCDS publisher: an API paged by `links.next`, a ProZorro-style list,
or a bulk file (JSON, JSON Lines, ZIP/GZIP) streamed straight into the archive.

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
    pub = publisher(ctx.params)
    url = ctx.checkpoint.get("next", start_url(ctx.params))
    if url is None:  # the checkpoint says the last page was done
        return
    if pub and pub["style"] == "prozorro":
        yield from _prozorro(ctx, url)
        return
    suffix = "." + urlsplit(url).path.rsplit(".", 1)[-1].lower() if "." in urlsplit(url).path \
        else ""
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
        if not isinstance(data, dict) or not ({"releases", "records"} & set(data)):
            raise LayoutChanged(url, "an OCDS release or record package (releases/records)",
                                f"got {type(data).__name__} with keys {sorted(data)[:8]}"
                                if isinstance(data, dict) else "")
        yield ctx.document(url, resp.content, "application/json")
        nxt = (data.get("links") or {}).get("next")
        if nxt in seen:
            raise LayoutChanged(url, "a new links.next", f"links.next repeats {nxt}")
        yield Checkpoint({"next": nxt}, more=bool(nxt))
        url = nxt


def _prozorro(ctx: FetchContext, url: str) -> Iterator:
    """The ProZorro list gives tender ids; each tender is fetched as an OCDS package."""
    while url:
        resp = ctx.client.get(url, kind="listing", expect="json")
        data = resp.json()
        if "data" not in data or "next_page" not in data:
            raise LayoutChanged(url, "data and next_page in the tender list")
        if not data["data"]:
            yield Checkpoint({"next": url}, more=False)
            return
        for tender in data["data"]:
            detail = f"{url.split('?')[0].rstrip('/')}/{tender['id']}?opt_schema=ocds"
            doc = ctx.client.get(detail, kind="detail", expect="json")
            yield ctx.document(detail, doc.content, "application/json")
        url = data["next_page"]["uri"]
        yield Checkpoint({"next": url}, more=True)
