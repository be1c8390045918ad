"""Loading local files, folders and archives of one source into the warehouse.

Serial: documents are archived and parsed here, small ones loaded many to a transaction
(parsed each alone, or, for a source reading what earlier documents wrote, one after another
inside the transaction). Such a source's parser may still hand the parts of a big document
to the workers (scrapers/parts.py: OCDS compiles its processes there).
Parallel (`workers` > 1, or `engine="dask"`): worker processes get file paths (or zip members,
which are read and archived here under files.py's caps), archive and parse them, and make a
chunk's rows into Arrow tables (warehouse/partitions.py). The local pool's workers send the
tables back (Arrow IPC), which this process writes in batches of BATCH_PARALLEL documents per
transaction; a Dask cluster's workers write them as Parquet partitions into a staging folder
(`staged=True`) and send back only what each document was, and this process loads LOAD_STEP
documents' partitions at a time with DuckDB reading the files, then deletes them. Both are
loaded by warehouse/staged.py (scrapers/stage.py runs the workers). Only this process writes
the warehouse.
The guarantees are the serial ones: a bad document is rejected alone, a document commits
whole, loading the same bytes again is a no-op, a killed run resumes by being run again.
The workers never open the warehouse; the archive and the staging folder must be reachable
from them (on one machine they are; on a Dask cluster they sit on shared storage, docs/scale.md).
"""

from __future__ import annotations

import gc
import hashlib
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from survtrack import config
from survtrack.scrapers.base import Source
from survtrack.scrapers.files import MAX_MEMBER_BYTES, Ignored, Problem, archive_file, iter_inputs
from survtrack.scrapers.inputs import InputFiles, Unchanged
from survtrack.warehouse.archive import Archive
from survtrack.warehouse.protocol import EMITTED, Document

if TYPE_CHECKING:  # the warehouse is handed in: the scrapers floor imports no database
    from survtrack.warehouse.store import LoadResult, Warehouse

# Small documents of a source whose documents stand alone are loaded this many to a
# transaction (serially, and from the pool's workers), or as many as hold BATCH_BYTES of
# input; a bigger one (a 223-FZ daily file, a bulk CSV) is loaded on its own, streaming.
# A batch costs the writer a few statements per table whatever its size (measured,
# docs/scale.md: its CPU for 3,000 EIS documents fell 3.3x from batches of 200 to 2,000).
BATCH_DOCUMENTS = 2000
BATCH_BYTES = 64 << 20
# The pool's batches are bigger: the writer holds their Arrow tables (~1/9 of the input for
# EIS documents: ~55 MB for 16,000), not the input itself, and its fixed cost per batch
# (~0.13 s CPU: a dozen statements, each 5-15 ms whatever its rows, inside DuckDB) was a
# third of its CPU at 2,000 documents (docs/scale.md: 16,000 documents' tables loaded in
# batches of 8,000 cost 1.46-1.82 s CPU, of 16,000 1.27-1.49 s).
BATCH_PARALLEL = 16000
BATCH_PARALLEL_BYTES = 512 << 20
# A source whose documents are parsed one after another inside the transaction (OCDS): as
# before, fewer (a failed chain is loaded again a document at a time).
BATCH_CHAINED = 200
SMALL_DOCUMENT = 1 << 20
# Tasks (files or zip members) a worker gets at a time, and how many such chunks per worker
# are in flight (bounds memory: results are written as they come back, in input order). A
# chunk costs a worker an index commit and a dozen small Arrow tables whatever its size:
# chunks of 128 cost the whole 3,000-document ingest ~8 % less CPU than chunks of 32.
CHUNK = 128
IN_FLIGHT = 2
# With the default worker count, an input of fewer documents than this loads serially
# (starting processes costs more than it saves).
POOL_MIN = 400
ENGINES = ("local", "dask")
# Staged: documents a worker gets at a time (each chunk is a Parquet file per table, which
# costs the worker milliseconds to write and the loader to open: chunks of 128 made a load
# of 2,000 documents 2.4x cheaper than chunks of 32 in one measurement), and documents
# loaded per transaction (one statement per table over their partitions).
STAGED_CHUNK = 128
LOAD_STEP = 2000
# Tasks a resumed run hashes and looks up at a time before sending them (`_unseen`).
UNSEEN_CHUNK = CHUNK * 8
# The staging folder's name inside the archive (one subfolder per run).
STAGING = ".staging"


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def writer_threads(workers: int, scheduler: str | None) -> int | None:
    """DuckDB's threads for the writer while `workers` processes parse on this machine: the
    cores they leave, at least one; None (DuckDB's own, a thread a core) when they run on a
    cluster's machines (`scheduler`)."""
    return None if scheduler else max(1, default_workers() - workers)


def ingest(wh: Warehouse, source: Source, paths: list[Path], *, force: bool = False,
           recheck: bool = False, follow_links: bool = False,
           on_result: Callable[[str, LoadResult | Problem | Ignored], None] | None = None,
           workers: int | None = None, engine: str = "local", scheduler: str | None = None,
           staged: bool | None = None, staging: Path | None = None,
           part_min: int | None = None) -> Counter:
    """Archive and load every document under `paths`; return counts by outcome.

    Documents already loaded are skipped, so a killed ingest resumes by running it again;
    an input file whose every document loaded is remembered with its size and modification
    time, and skipped unread while they stay the same (scrapers/inputs.py). `recheck` (and
    `force`): read every file again.
    `follow_links`: read links inside a folder that lead outside it (files.py says why not).
    `workers`: processes parsing in parallel (default: the cores; 1: in this process).
    `engine="dask"`: the workers of a Dask cluster (`scheduler` address, or a LocalCluster).
    `staged`: the workers write Parquet partitions into `staging` (default: the archive's
    STAGING folder) instead of sending them back as Arrow tables (default: with Dask only,
    docs/scale.md).
    `part_min`: a source loading its documents one after another (OCDS) hands the parts of a
    document of at least this many (OCDS: releases) to the workers (default parts.PART_MIN).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    counts: Counter = Counter()
    run_id = wh.start_run(source.name, "ingest", {
        "paths": [str(p) for p in paths], "force": force, "recheck": recheck,
        "follow_links": follow_links, "workers": workers, "engine": engine})
    files = InputFiles(wh, source.name, run_id, recheck=recheck or force)

    def report(origin: str, result: LoadResult | Problem | Ignored | Unchanged) -> None:
        if isinstance(result, Unchanged):  # its documents, counted as a read would count them
            from survtrack.warehouse.store import LoadResult

            counts["skipped"] += result.documents
            result = LoadResult("skipped", None, reason=f"unchanged since its last ingest"
                                f" ({result.documents} documents): not read")
        else:
            counts["rejected" if isinstance(result, Problem) else
                   "ignored" if isinstance(result, Ignored) else result.status] += 1
            files.result(origin, getattr(result, "status", None))
        if on_result:
            on_result(origin, result)

    def problem(found: Problem) -> None:
        wh.reject(source.name, found.origin, found.reason, found.field, run_id=run_id)
        report(found.origin, found)

    several = engine == "dask" or (workers or default_workers()) > 1
    parallel = source.batch_documents and not force and source.parse is not None and several
    parts = None
    if several and not source.batch_documents and source.parse is not None:
        from survtrack.scrapers.parts import PART_MIN, Parts

        parts = Parts(engine, workers or default_workers(), scheduler,
                      PART_MIN if part_min is None else part_min)
    status = "failed"
    try:
        # DuckDB: the batch and the key indexes it writes, not the tables' blocks
        with wh.memory_limit(wh.load_memory(config.ingest_memory())), _old_objects_frozen():
            found = iter_inputs(paths, wh.archive, source.name, source.extensions, follow_links,
                                defer_files=parallel, pack=source.batch_documents,
                                inputs=files)
            if parallel:
                tasks = _tasks(found, report, problem)
                head = [t for _, t in zip(range(POOL_MIN), tasks)]
                if engine == "local" and workers is None and len(head) < POOL_MIN:
                    parallel = False  # a small input: not worth starting processes
                    found = (archive_file(t, wh.archive, source.name, pack=True)
                             if isinstance(t, Path) else t for t in head)
                else:
                    from survtrack.scrapers.stage import run_staged

                    to_files = engine == "dask" if staged is None else staged
                    run_staged(wh, source, _chain(head, tasks), run_id, report, problem,
                               workers or default_workers(), engine, scheduler,
                               (staging or wh.archive.root / STAGING) if to_files else None)
            if not parallel:
                # the writer's DuckDB in the cores the workers leave, as run_staged's
                with wh.threads(None if parts is None else writer_threads(parts.workers,
                                                                          scheduler)):
                    _serial(wh, source, found, run_id, force, report, problem, parts)
        files.record()
        status = "finished"
    finally:
        if parts is not None:
            parts.close()
        wh.finish_run(run_id, counts, status)
    return counts


# With `--output DIR` the ingest keeps its state here, inside DIR: a second run adds to the
# dataset, a killed run resumes, as with a warehouse.
OUTPUT_STATE = ".survtrack"
# The tables an ingest writes: what parsers emit, the documents, the rejects and the
# warnings the store raises while writing (the build's tables are not among them).
INGESTED: tuple[str, ...] = ("documents", *EMITTED, "warnings", "rejects")


def ingest_to_parquet(source: Source, paths: list[Path], output: Path, archive: Path,
                      **options) -> Counter:
    """`ingest` leaving a Parquet dataset in `output` instead of loading a warehouse: one
    `<table>.parquet` per tidy table, `rejects.parquet`, and `documents.parquet` (every
    document's SHA-256, its archive path and where it came from), which DuckDB queries
    directly (`SELECT … FROM 'DIR/contracts.parquet'`).

    The workers parse (with Dask, into partitions under `output/.survtrack/staging`); this
    process resolves versions as any ingest does, in a DuckDB file of its own under
    `output/.survtrack`, then writes each table to Parquet (a temporary file renamed over the
    old one, so a reader never sees half a table).
    """
    from survtrack.warehouse.schema import TABLES
    from survtrack.warehouse.store import Warehouse

    output.mkdir(parents=True, exist_ok=True)
    with Warehouse(output / OUTPUT_STATE / "ingest.duckdb", archive=archive) as wh:
        options.setdefault("staging", output / OUTPUT_STATE / "staging")
        counts = ingest(wh, source, paths, **options)
        for table in INGESTED:
            target = output / f"{table}.parquet"
            partial = target.with_suffix(".parquet.partial")
            order = ", ".join(TABLES[table].key)
            wh.con.execute(f"COPY (SELECT * FROM {table} ORDER BY {order}) TO "
                           f"'{_sql_path(partial)}' (FORMAT parquet)")
            partial.replace(target)
    return counts


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _serial(wh: Warehouse, source: Source, found, run_id: str, force: bool, report,
            problem, parts=None) -> None:
    """`parts`: workers a chained source's parser may hand a big document's parts to."""
    pending: list[Document] = []
    held = 0  # bytes of the pending documents
    batched = source.batch_documents or source.chain_documents
    load_batch = wh.load_many if source.batch_documents else wh.load_chained
    most = BATCH_DOCUMENTS if source.batch_documents else BATCH_CHAINED

    def flush() -> None:
        nonlocal held
        if not pending:
            return
        wh.archive.commit()  # the packed documents readable before the warehouse names them
        chained = {} if source.batch_documents else {"pool": parts}
        for doc, result in zip(pending, load_batch(pending, source.parse, run_id, **chained),
                               strict=True):
            report(doc.origin, result)
        pending.clear()
        held = 0

    for item in found:
        if isinstance(item, (Ignored, Unchanged)):
            report(item.origin, item)
        elif isinstance(item, Problem):
            problem(item)
        elif batched and not force and item.size <= SMALL_DOCUMENT:
            pending.append(item)
            held += item.size
            if len(pending) >= most or held >= BATCH_BYTES:
                flush()
        else:
            wh.archive.commit()
            report(item.origin, wh.load(item, source.parse, run_id=run_id, force=force,
                                        pool=parts))
    flush()


@contextmanager
def _old_objects_frozen() -> Iterator[None]:
    """The objects made before the block (the modules imported: pandas, DuckDB, the CLI's)
    moved out of the collector's reach for its length (`gc.freeze`), then back: the ingest
    makes enough objects for a full collection or two, each of which walked all of them
    (0.03-0.06 s CPU of the ingest process's ~1 s at 12,000 documents, docs/scale.md). Left
    alone when the caller has frozen objects itself."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _tasks(found, report, problem) -> Iterator[Path | Document]:
    """The work for the workers (file paths, archived zip members); the rest reported here."""
    for item in found:
        if isinstance(item, (Ignored, Unchanged)):
            report(item.origin, item)
        elif isinstance(item, Problem):
            problem(item)
        else:
            yield item


def _chain(head: list, rest: Iterator) -> Iterator:
    yield from head
    yield from rest


def _unseen(wh: Warehouse, tasks: Iterator, report, size: int | None = None) -> Iterator:
    """The tasks whose bytes the warehouse has not loaded: files are hashed here (SHA-256 is
    the document id; reading a file costs far less than archiving and parsing it in a
    worker), one query per `size` tasks (UNSEEN_CHUNK); those loaded are reported skipped,
    not sent. Once a chunk holds none loaded, the rest are sent unhashed: a killed run loaded
    a prefix of the same walk (inputs are walked sorted, batches commit in input order), and
    new files (a daily run's) would each be read here besides in a worker and looked up in
    an index that grows with the warehouse (docs/scale.md). The writer still skips a loaded
    document that reaches it (`load_staged`)."""
    from survtrack.warehouse.store import LoadResult

    chunks = _chunks(tasks, size or UNSEEN_CHUNK)
    for chunk in chunks:
        ids = [t.document_id if isinstance(t, Document) else _sha256(t) for t in chunk]
        known = wh.loaded_ids([i for i in ids if i])
        for task, document_id in zip(chunk, ids, strict=True):
            if document_id in known:
                origin = task.origin if isinstance(task, Document) else str(task)
                report(origin, LoadResult("skipped", document_id))
            else:
                yield task
        if not known:
            break
    for chunk in chunks:
        yield from chunk


def _sha256(path: Path) -> str | None:
    """The file's SHA-256, or None when the worker should look at it (unreadable, not a
    regular file, over the cap): it reports the problem as a first run would."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MEMBER_BYTES:
                return None
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def parse_files(source_name: str, archive_root: str, number: int,
                tasks: list[str | Path | Document]) -> tuple[dict[str, bytes], list]:
    """The local pool's job: archive each file (its path; small ones packed into the worker's
    archive segment), parse each document alone and make the chunk's rows into Arrow tables
    (partitions.chunk_tables, chunk `number`), sent back as IPC streams ({table: bytes}).
    Entries as stage.stage_files's: ("staged", StagedDocument), ("problem", Problem) for a
    file that cannot be read, ("whole", Document) for one too big to parse in memory (the
    writer loads it, streaming), and ("parsed", RowBuffer or Rejected) for every parsed
    document when its rows do not fit the tables' Arrow types. Touches no warehouse."""
    from survtrack.scrapers.stage import parse_chunk
    from survtrack.warehouse.partitions import chunk_tables, to_ipc

    return parse_chunk(source_name, archive_root, number, tasks, lambda parsed: {
        table: to_ipc(data) for table, data in chunk_tables(number, parsed).items()},
        pack=True)


@cache
def _archive(root: str) -> Archive:
    """One Archive per worker process and root, so the folders it made are remembered
    across the chunks the worker is given."""
    return Archive(Path(root))


class _executor:
    """`submit(fn, *args) -> future` on a local process pool or a Dask cluster."""

    def __init__(self, engine: str, workers: int, scheduler: str | None,
                 preload: tuple[str, ...] = ()):
        """`preload`: modules the local pool's workers need beside the job's (a parser's)."""
        self.engine, self.workers, self.scheduler = engine, workers, scheduler
        self.preload = preload
        self.close: list = []

    def __enter__(self):
        if self.engine == "local":
            from concurrent.futures import ProcessPoolExecutor

            from survtrack.scrapers import workers
            from survtrack.scrapers.stage import worker_start

            # forked from a clean fork server (the parent holds DuckDB's threads, which a fork
            # would copy half-locked) that imported the job's modules once, without running
            # the parent's main module again (the CLI: seconds per worker)
            context = workers.context(preload=(*self.preload, "survtrack.scrapers.poolstart"))
            pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                       initializer=worker_start)
            self.close += [pool.shutdown, lambda: workers.stop(context)]
            return pool.submit
        from distributed import Client, LocalCluster

        if self.scheduler:
            client = Client(self.scheduler)
        else:
            cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            self.close.append(cluster.close)
            client = Client(cluster)
        self.close.insert(0, client.close)
        return lambda fn, *args: client.submit(fn, *args, pure=False)

    def __exit__(self, *exc):
        for close in self.close:
            close()
