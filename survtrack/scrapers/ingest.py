"""Loading local files, folders and archives of one source into the warehouse."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from survtrack.scrapers.base import Source
from survtrack.scrapers.files import Problem, iter_inputs
from survtrack.warehouse.store import LoadResult, Warehouse


def ingest(wh: Warehouse, source: Source, paths: list[Path], *, force: bool = False,
           on_result: Callable[[str, LoadResult | Problem], None] | None = None) -> Counter:
    """Archive and load every document under `paths`; return counts by outcome.

    Documents already loaded are skipped, so a killed ingest resumes by running it again.
    """
    counts: Counter = Counter()
    run_id = wh.start_run(source.name, "ingest", {"paths": [str(p) for p in paths],
                                                  "force": force})
    status = "failed"
    try:
        for found in iter_inputs(paths, wh.archive, source.name, source.extensions):
            if isinstance(found, Problem):
                wh.reject(source.name, found.origin, found.reason, found.field, run_id=run_id)
                counts["rejected"] += 1
                if on_result:
                    on_result(found.origin, found)
                continue
            result = wh.load(found, source.parse, run_id=run_id, force=force)
            counts[result.status] += 1
            if on_result:
                on_result(found.origin, result)
        status = "finished"
    finally:
        wh.finish_run(run_id, counts, status)
    return counts
