"""Loading local files, folders and archives of one source into the warehouse."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from survtrack.scrapers.base import Source
from survtrack.scrapers.files import Ignored, Problem, iter_inputs
from survtrack.warehouse.protocol import Document

if TYPE_CHECKING:  # the warehouse is handed in: the scrapers floor imports no database
    from survtrack.warehouse.store import LoadResult, Warehouse

# Small documents of a source whose documents stand alone are loaded this many to a
# transaction; a bigger one (a 223-FZ daily file, a bulk CSV) is loaded on its own, streaming.
BATCH_DOCUMENTS = 200
SMALL_DOCUMENT = 1 << 20


def ingest(wh: Warehouse, source: Source, paths: list[Path], *, force: bool = False,
           follow_links: bool = False,
           on_result: Callable[[str, LoadResult | Problem | Ignored], None] | None = None,
           ) -> Counter:
    """Archive and load every document under `paths`; return counts by outcome.

    Documents already loaded are skipped, so a killed ingest resumes by running it again.
    `follow_links`: read links inside a folder that lead outside it (files.py says why not).
    """
    counts: Counter = Counter()
    run_id = wh.start_run(source.name, "ingest", {"paths": [str(p) for p in paths],
                                                  "force": force, "follow_links": follow_links})
    pending: list[Document] = []

    def report(origin: str, result: LoadResult | Problem | Ignored) -> None:
        counts["rejected" if isinstance(result, Problem) else
               "ignored" if isinstance(result, Ignored) else result.status] += 1
        if on_result:
            on_result(origin, result)

    def flush() -> None:
        for doc, result in zip(pending, wh.load_many(pending, source.parse, run_id),
                               strict=True):
            report(doc.origin, result)
        pending.clear()

    status = "failed"
    try:
        for found in iter_inputs(paths, wh.archive, source.name, source.extensions,
                                 follow_links):
            if isinstance(found, Ignored):
                report(found.origin, found)
            elif isinstance(found, Problem):
                wh.reject(source.name, found.origin, found.reason, found.field, run_id=run_id)
                report(found.origin, found)
            elif source.batch_documents and not force and found.size <= SMALL_DOCUMENT:
                pending.append(found)
                if len(pending) >= BATCH_DOCUMENTS:
                    flush()
            else:
                report(found.origin, wh.load(found, source.parse, run_id=run_id, force=force))
        flush()
        status = "finished"
    finally:
        wh.finish_run(run_id, counts, status)
    return counts
