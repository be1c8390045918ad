"""Scraping: each source's fetcher walks the publisher; the runner archives, loads and records.

A fetcher is `fetch(ctx) -> Iterator[Document | Checkpoint]`, declared as `SOURCE.fetch` in the
source's folder (`<source>/fetch.py`). It asks for pages through `ctx.client` (the polite
session), turns each document it finds into an archived `Document` with `ctx.document(...)`
or `ctx.download(...)` (big files, streamed), and yields a `Checkpoint` after each page saying
where the next page starts; paging.py holds the usual walks (links.next, iteration tokens,
numbered pages over several searches, date windows, lists of documents). The runner:

- loads each document through the source's `SOURCE.parse` (`Warehouse.load`); a source
  whose parser is not written yet (`parse=None`) gets its documents archived with status
  `archived`, and they are parsed by the first scrape after the parser arrives;
- records the run in `runs` with its parameters and the latest checkpoint, so that
  `--resume` continues the last unfinished run with the same source and parameters;
- never stores a document twice: documents are content-addressed, so re-running a
  finished scrape adds nothing.

It imports no database module: the warehouse it writes to is handed in.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from survtrack import scrapers
from survtrack.scrapers.base import Source
from survtrack.scrapers.files import Problem
from survtrack.scrapers.http import (
    BadBody,
    FetchError,
    PoliteClient,
    check_json_stream,
    check_jsonl,
    check_xml,
)
from survtrack.warehouse.archive import CHUNK, Archive
from survtrack.warehouse.protocol import Document

if TYPE_CHECKING:
    from survtrack.warehouse.store import LoadResult, Warehouse


class LayoutChanged(Exception):
    """A page no longer looks like the pages the fetcher was written for."""

    def __init__(self, url: str, missing: str, detail: str = ""):
        super().__init__(f"{url}: page layout changed: {missing} not found"
                         + (f" ({detail})" if detail else ""))
        self.url, self.missing = url, missing


@dataclass(frozen=True)
class Checkpoint:
    """Where the next page starts; `more=False` after the last page."""

    state: dict
    more: bool = True


@dataclass
class FetchContext:
    """What a fetcher is given: the session, the archive, its parameters and checkpoint."""

    source: str
    client: PoliteClient
    archive: Archive
    base_url: str
    params: dict[str, Any]
    checkpoint: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def document(self, url: str, body: bytes, media_type: str,
                 public_url: str | None = None) -> Document:
        """Archive fetched bytes (already checked by the client) as a document."""
        document_id, size = self.archive.put_bytes(body)
        return Document(document_id, self.source, url, self.archive.path(document_id), size,
                        media_type, public_url or url)

    def download(self, url: str, media_type: str, expect: str | None,
                 public_url: str | None = None, **kwargs) -> Document:
        """Stream a big file straight into the archive, then check it there."""

        def sink(raw, expect, headers):
            # written and checked beside the archive first: a cut body never enters it
            with self.archive.writing(self.archive.root):
                self.archive.root.mkdir(parents=True, exist_ok=True)
                tmp = tempfile.NamedTemporaryFile(dir=self.archive.root, prefix=".download-")
            with tmp, self.archive.writing(Path(tmp.name)):  # disk full stops the run
                shutil.copyfileobj(raw, tmp, CHUNK)
                tmp.flush()
                size = tmp.tell()
                announced = headers.get("Content-Length")
                if announced and announced.isdigit() and not headers.get("Content-Encoding") \
                        and int(announced) != size:
                    raise BadBody(f"received {size} bytes of {announced} announced")
                with open(tmp.name, "rb") as fh:
                    if expect == "json":
                        check_json_stream(fh)
                    elif expect == "jsonl":
                        check_jsonl(iter(fh))
                    elif expect == "xml":
                        check_xml(fh)
                with open(tmp.name, "rb") as fh:
                    return self.archive.put_stream(fh)

        (document_id, size), _headers = self.client.stream(url, sink, expect=expect, **kwargs)
        return Document(document_id, self.source, url, self.archive.path(document_id), size,
                        media_type, public_url or url)


Fetcher = Callable[[FetchContext], Iterator[Document | Checkpoint]]


@dataclass
class ScrapeOutcome:
    run_id: str
    status: str            # finished | stopped (--max-pages) | failed
    counts: Counter
    resumed_from: dict | None
    parser: bool           # False: documents archived, awaiting their source's parser


def fetching_source(name: str) -> Source:
    """The declared source `name`, which must have a fetcher."""
    source = scrapers.get(name)
    if source.fetch is None:
        with_one = [s.name for s in scrapers.all_sources() if s.fetch is not None]
        raise KeyError(f"no fetcher for {name!r}; sources with one: {', '.join(with_one)}")
    return source


def canonical(params: dict) -> dict:
    """Parameters that define a run (what to fetch), sorted, without empty values."""
    return {k: params[k] for k in sorted(params) if params[k] not in (None, "", [], ())}


def find_unfinished(wh: Warehouse, source: str, params: dict) -> tuple[str, dict] | None:
    """The last unfinished scrape of `source` with exactly these parameters."""
    rows = wh.query("SELECT run_id, parameters, checkpoint FROM runs WHERE source = ? AND"
                    " command = 'scrape' AND status <> 'finished' ORDER BY started_at DESC",
                    [source])
    for run_id, parameters, checkpoint in rows:
        if json.loads(parameters or "{}") == json.loads(json.dumps(params, default=str)):
            return run_id, json.loads(checkpoint) if checkpoint else {}
    return None


def load_archived(wh: Warehouse, source: Source, run_id: str | None,
                  on_result=None) -> Counter:
    """Parse documents archived before this source had a parser."""
    counts: Counter = Counter()
    rows = wh.query("SELECT document_id, origin, media_type, bytes, url FROM documents"
                    " WHERE source = ? AND status = 'archived' ORDER BY fetched_at",
                    [source.name])
    for document_id, origin, media_type, size, url in rows:
        doc = Document(document_id, source.name, origin, wh.archive.path(document_id), size,
                       media_type, url)
        result = wh.load(doc, source.parse, run_id=run_id)
        counts[result.status] += 1
        if on_result:
            on_result(origin, result)
    return counts


def scrape(wh: Warehouse, name: str, params: dict, client: PoliteClient, *,
           resume: bool = False, max_pages: int | None = None,
           secrets: dict | None = None, rate: float | None = None,
           on_result: Callable[[str, LoadResult], None] | None = None) -> ScrapeOutcome:
    """Run (or resume) one scrape of source `name`; see the module docstring.

    `params` are what the run is asked to fetch and are recorded in `runs`; `secrets`
    (tokens) are passed to the fetcher but never recorded. `rate` (requests per second)
    overrides the source's declared rate, for local mirrors and tests.
    """
    source = fetching_source(name)
    params = canonical(params)
    base_url = params.get("base_url") or (
        source.base_url_for(params) if source.base_url_for else source.base_url)
    rate = rate or (source.rate_for and source.rate_for(params)) or source.rate_limit
    client.policy.default_rate = rate  # every host this run touches
    client.set_rate(base_url, rate)

    found = find_unfinished(wh, name, params) if resume else None
    run_id = wh.start_run(name, "scrape", params, run_id=found[0] if found else None)
    checkpoint = found[1] if found else {}
    counts: Counter = Counter()
    if source.parse is not None:
        counts.update(load_archived(wh, source, run_id, on_result))

    ctx = FetchContext(name, client, wh.archive, base_url, {**params, **(secrets or {})},
                       dict(checkpoint))
    status = "failed"
    pages = 0
    items = source.fetch(ctx)
    client.start_step()  # the step deadline counts from each checkpoint
    try:
        for item in items:
            if isinstance(item, Checkpoint):
                wh.checkpoint(run_id, item.state)
                client.start_step()
                pages += 1
                if item.more and max_pages and pages >= max_pages:
                    status = "stopped"
                    break
                continue
            if isinstance(item, Problem):  # a zip member that could not be archived
                wh.reject(name, item.origin, item.reason, item.field, run_id=run_id)
                counts["rejected"] += 1
                continue
            result = (wh.load(item, source.parse, run_id=run_id) if source.parse is not None
                      else wh.archive_only(item))
            counts[result.status] += 1
            if on_result:
                on_result(item.origin, result)
        else:
            status = "finished"
    except (FetchError, LayoutChanged) as exc:
        wh.reject(name, exc.url, str(exc), getattr(exc, "missing", None), run_id=run_id)
        raise
    finally:
        items.close()
        wh.finish_run(run_id, counts, status)
    return ScrapeOutcome(run_id, status, counts, checkpoint if found else None,
                         source.parse is not None)
