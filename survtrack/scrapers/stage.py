"""A parallel ingest whose workers turn their chunks into partitions (warehouse/partitions.py).

Each worker archives and parses a chunk of documents and makes the chunk's rows, documents,
rejects and warnings into Arrow tables, one per table. With a staging folder (the default
with Dask) it writes them as Parquet files into this run's folder and sends back only what
each document was (`StagedDocument`), the problems of files it could not read and the
documents too big to parse in memory; the ingest process loads the partitions of LOAD_STEP
documents at a time in one transaction, DuckDB reading the files (warehouse/staged.py),
reports each document, then deletes those files; the run's folder goes when the run
finishes. A killed or failed run leaves its folder: the next run into the same warehouse
removes it (its documents not loaded are staged again). Without one (the local pool) the
worker sends the tables back as Arrow IPC streams with the same entries, and the ingest
process loads BATCH_PARALLEL documents' tables at a time from memory, by the same code.
"""

from __future__ import annotations

import shutil
import sys
from collections import deque
from pathlib import Path

from survtrack.scrapers import ingest as pool
from survtrack.scrapers.files import Problem, archive_file
from survtrack.warehouse.protocol import Document


def run_staged(wh, source, tasks, run_id: str, report, problem, workers: int, engine: str,
               scheduler: str | None, staging: Path | None) -> None:
    """`staging`: the folder the workers write partitions into; None: they send them back."""
    from survtrack.warehouse.partitions import from_ipc
    from survtrack.warehouse.staged import load_staged

    if staging is None:  # in memory: smaller chunks, as many documents a batch as a load
        folder, size, step_documents, step_bytes = None, pool.CHUNK, pool.BATCH_PARALLEL, \
            pool.BATCH_PARALLEL_BYTES
    else:
        staging = staging.absolute()  # the workers may run elsewhere, from another folder
        folder, size, step_documents, step_bytes = staging / run_id, pool.STAGED_CHUNK, \
            pool.LOAD_STEP, None
        _clear_stale(wh, staging, run_id)
    step: dict = {"files": {}, "docs": [], "parsed": [], "bytes": 0}

    def load() -> None:
        if step["docs"]:
            results = load_staged(wh, step["files"], step["docs"], source.parse, run_id)
            for staged, result in zip(step["docs"], results, strict=True):
                report(staged.document.origin, result)
        if step["parsed"]:  # a chunk whose rows did not fit Parquet's types: the store decides
            for parsed, result in zip(step["parsed"], wh.store_parsed(
                    step["parsed"], source.parse, run_id), strict=True):
                report(parsed.document.origin, result)
        if folder is not None:
            for paths in step["files"].values():
                for path in paths:
                    Path(path).unlink(missing_ok=True)
        step.update(files={}, docs=[], parsed=[], bytes=0)

    def take(result: tuple[dict, list]) -> None:
        files, entries = result
        for table, part in files.items():
            step["files"].setdefault(table, []).append(
                part if folder is not None else from_ipc(part))
        for what, value in entries:
            if what == "problem":
                problem(value)
            elif what == "whole":  # too big to parse in memory: loaded here, streaming
                report(value.origin, wh.load(value, source.parse, run_id=run_id))
            else:
                step["docs" if what == "staged" else "parsed"].append(value)
                step["bytes"] += value.document.size
        if len(step["docs"]) + len(step["parsed"]) >= step_documents or (
                step_bytes is not None and step["bytes"] >= step_bytes):
            load()

    # the writer's DuckDB in the cores the pool leaves: its threads on cores the workers use
    # cost CPU (handing work over, waiting) and save no time (docs/scale.md)
    with wh.threads(pool.writer_threads(workers, scheduler)):
        root = str(wh.archive.root.resolve())
        if wh.scalar("SELECT count(*) > 0 FROM documents WHERE source = ?", [source.name]):
            tasks = pool._unseen(wh, tasks, report)  # a resumed or repeated run: skip what is loaded
        parser = getattr(source.parse, "__module__", "") or ""
        preload = (parser,) if parser.startswith("survtrack.") else ()  # a source outside: not
        with pool._executor(engine, workers, scheduler, preload) as submit:
            inflight: deque = deque()
            for number, chunk in enumerate(pool._chunks(tasks, size)):
                wh.archive.commit()  # ZIP members packed here: readable by the workers
                # a file sent as its path's string: a Path costs ~6 us to unpickle, ~1.5 to
                # pickle, where the worker makes one from the string in ~3 (docs/scale.md)
                chunk = [str(t) if isinstance(t, Path) else t for t in chunk]
                inflight.append(
                    submit(pool.parse_files, source.name, root, number, chunk) if folder is None
                    else submit(stage_files, source.name, root, str(folder), number, chunk))
                if len(inflight) >= workers * pool.IN_FLIGHT:
                    take(inflight.popleft().result())
            while inflight:
                take(inflight.popleft().result())
        load()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _clear_stale(wh, staging: Path, run_id: str) -> None:
    """Remove the folders that runs of this warehouse left, killed or failed (a folder another
    warehouse's run may be using is not this warehouse's run, and stays)."""
    if not staging.is_dir():
        return
    ours = {r for (r,) in wh.query("SELECT run_id FROM runs WHERE status != 'running'")}
    for old in staging.iterdir():
        if old.name in ours and old.name != run_id:
            shutil.rmtree(old, ignore_errors=True)


def stage_files(source_name: str, archive_root: str, folder: str, number: int,
                tasks: list[str | Path | Document]) -> tuple[dict[str, str], list]:
    """A worker's job: archive each file, parse each document alone and write the chunk's
    partitions into `folder`. Returns ({table: file}, entries): ("staged", StagedDocument),
    ("problem", Problem) for a file that cannot be read, ("whole", Document) for one over
    SMALL_DOCUMENT (loaded by the ingest process, streaming). If the rows do not fit the
    tables' Arrow types, no file is written and the parsed rows come back ("parsed", …), as
    from `parse_files`. Touches no warehouse."""
    from survtrack.warehouse.partitions import write_chunk

    return parse_chunk(source_name, archive_root, number, tasks,
                       lambda parsed: write_chunk(Path(folder), number, parsed), pack=False)


def parse_chunk(source_name: str, archive_root: str, number: int,
                tasks: list[str | Path | Document], partitions, pack: bool
                ) -> tuple[dict, list]:
    """Archive (`pack`: small files into this process's archive segment) and parse each task,
    then `partitions(parsed)` makes the chunk's partitions ({table: what is sent back});
    returns them with the entries `stage_files` describes."""
    import pyarrow as pa

    from survtrack import scrapers
    from survtrack.warehouse.parsing import parse_alone
    from survtrack.warehouse.partitions import ORDER_BITS, StagedDocument
    from survtrack.warehouse.protocol import Rejected

    source = scrapers.get(source_name)
    archive = pool._archive(archive_root)
    entries: list[tuple[str, object]] = []
    parsed = []
    for task in tasks:
        doc = archive_file(task, archive, source_name, pack=pack) \
            if isinstance(task, (str, Path)) else task
        if isinstance(doc, Problem):
            entries.append(("problem", doc))
        elif doc.size > pool.SMALL_DOCUMENT:
            entries.append(("whole", doc))
        else:
            parsed.append(parse_alone(doc, source.parse))
    if pack:
        archive.commit()  # packed documents readable by the writer before it records them
    try:
        made = partitions(parsed) if parsed else {}
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return {}, entries + [("parsed", p) for p in parsed]
    for place, p in enumerate(parsed):
        order = number << ORDER_BITS | place
        if isinstance(p, Rejected):
            staged = StagedDocument(order, p.document, "rejected", getattr(p, "kind", None),
                                    p.reason)
        else:
            staged = StagedDocument(order, p.document, "loaded" if p.contract_bearing
                                    else "not_contract_bearing", p.kind, p.detail)
        entries.append(("staged", staged))
    return made, entries


def worker_start() -> None:
    """A pool worker's initializer: import pyarrow as if numpy and pandas were not installed
    (pyarrow requires neither: it checks for each where it would use it). Otherwise its
    import loads numpy (~0.1 s CPU), and its first conversion of a Python list imports pandas
    to ask whether the list is "array-like" (~0.3 s CPU): 0.58 against 0.17 s CPU for a
    worker's start and first chunk here (docs/scale.md). pyarrow remembers that they were
    missing; a module of the worker that imports them itself still can (they are hidden
    only while pyarrow looks)."""
    hidden = {name: sys.modules.get(name) for name in ("numpy", "pandas")}
    sys.modules.update(dict.fromkeys(hidden))  # None: `import numpy` raises ImportError
    try:
        import pyarrow as pa

        pa.array([0])  # its one look for pandas, made now
    finally:
        for name, module in hidden.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
