"""The DuckDB warehouse (`Warehouse`) and its side of the parser contract: idempotent loads.

The warehouse is split by concern: this module opens it, answers queries and loads documents;
runs.py keeps runs and rejects; derived.py the build's transactions and bulk writes; schema.py
the tables and their migration. One document is loaded in one transaction: its `documents` row and every row parsed from it
commit together or not at all. A document whose bytes are already loaded is skipped, so
re-running an ingest (or resuming a killed one) adds nothing twice.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from survtrack import config

from . import changes, faults, rules, suspicious
from .archive import Archive
from .derived import DerivedTables
from .faults import StorageFault
from .parsing import parse_alone
from .parsing import reason as _reason
from .partitions import chunk_tables
from .protocol import (
    EMITTED,
    RETRACT_BY,
    Document,
    LoadContext,
    Parser,
    PartPool,
    Rejected,
    RowBuffer,
)
from .rules import KEEP_KNOWN, upsert_conflict
from .runs import RunsAndRejects, utcnow
from .schema import TABLES, arrow_schema, ddl_statements, fitted, migrations

__all__ = ["Document", "LoadContext", "LoadResult", "Parser", "Rejected", "RowBuffer",
           "Warehouse", "parse_alone"]


@dataclass
class LoadResult:
    status: str  # loaded | skipped | rejected | not_contract_bearing
    document_id: str | None
    kind: str | None = None
    reason: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


WAL_CHECKPOINT = 16 * 1024**2  # DuckDB's own wal_autocheckpoint default
SMALL_BATCH = 20  # rows up to which an upsert binds values instead of an Arrow batch
ORDER = EMITTED


class Warehouse(RunsAndRejects, DerivedTables):
    """The DuckDB warehouse: this facade opens it and answers queries; loading documents
    (below) is the parser contract's other side; runs.py keeps runs and rejects, derived.py
    the build's transactions and bulk writes.

    Opening waits up to `lock_wait` seconds (default: config.lock_wait) while another process
    holds the file (`say` is told once that it waits), then raises faults.WarehouseBusy; a
    file that cannot be opened (damaged, read-only…) raises faults.StorageFault. A process
    opening it for writing marks the runs whose process is gone as `interrupted`
    (`self.interrupted` lists them).
    """

    def __init__(self, path: str | Path, read_only: bool = False, archive: Path | None = None,
                 lock_wait: float | None = None, say=None):
        self.path = Path(path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.read_only = read_only
        try:
            self.con = faults.connect(self.path, read_only, config.lock_wait(lock_wait), say)
        except duckdb.Error as exc:
            self._raise_fault(exc)
        self.archive = Archive(archive or self.path.parent / "archive")
        self.interrupted: list[str] = []
        if not read_only:
            try:
                self.ensure_schema()
                self.interrupted = self.mark_interrupted()
            except duckdb.Error as exc:
                self.con.close()
                self._raise_fault(exc)

    def _raise_fault(self, exc: duckdb.Error):
        fault = StorageFault.of(exc, self.path, "opening the warehouse")
        if fault is None:
            raise exc
        raise fault from exc

    def ensure_schema(self) -> None:
        """Create the tables, add the columns a warehouse from an earlier version lacks, and
        bring its build tables to today's layout (schema.migrations)."""
        keyed = {t for (t,) in self.con.execute(
            "SELECT DISTINCT table_name FROM duckdb_constraints() WHERE constraint_type ="
            " 'PRIMARY KEY' AND database_name = current_database()").fetchall()}
        upgrade = migrations(self._present(), keyed)
        if upgrade:
            with self.transaction():
                for stmt in upgrade:
                    self.con.execute(stmt)
        for stmt in ddl_statements(self._present()):
            self.con.execute(stmt)

    def _present(self) -> dict[str, set[str]]:
        present: dict[str, set[str]] = defaultdict(set)
        for table, column in self.con.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_catalog = current_database()").fetchall():
            present[table].add(column)
        return present

    def columns(self, table: str) -> set[str]:
        """The columns `table` has in this file (an older warehouse may lack new ones)."""
        return {c for (c,) in self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
            " AND table_catalog = current_database()", [table]).fetchall()}

    def close(self) -> None:
        self.con.close()
        self.archive.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- queries ---------------------------------------------------------------------------
    def query(self, sql: str, params: list | tuple | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: list | tuple | None = None):
        row = self.con.execute(sql, params or []).fetchone()
        self.con.complete()  # DuckDB 2: an unfinished result blocks a later register()
        return row[0] if row else None

    def df(self, sql: str, params: list | tuple | None = None):
        return self.con.execute(sql, params or []).df()

    def count(self, table: str) -> int:
        return self.scalar(f"SELECT count(*) FROM {TABLES[table].name}")

    def rename_temporary(self, old: str, new: str) -> None:
        """Rename a temporary work table (a step keeps its rows under another name for the next
        step without copying them); schema changes stay in the warehouse layer, and a
        warehouse table is refused."""
        if not self.scalar("SELECT count(*) FROM duckdb_tables() WHERE temporary"
                           " AND table_name = ?", [old]):
            raise ValueError(f"{old} is not a temporary table")
        self.con.execute(f'ALTER TABLE "{old}" RENAME TO "{new}"')

    def has_document(self, document_id: str) -> bool:
        return bool(self.scalar(
            "SELECT count(*) FROM documents WHERE document_id = ?"
            f" AND status NOT IN {rules.RELOADED_LIST}",
            [document_id]))

    @contextmanager
    def memory_limit(self, limit: str) -> Iterator[None]:
        """DuckDB's memory_limit lowered to `limit` for the block (beyond it DuckDB evicts
        cached blocks and spills; a limit set lower on the connection stays), the
        connection's own restored after."""
        with self._setting("memory_limit", limit) as before:
            if _bytes(before) < _bytes(self.scalar("SELECT current_setting('memory_limit')")):
                self.con.execute(f"SET memory_limit = '{before}'")
            yield

    @contextmanager
    def threads(self, count: int | None) -> Iterator[None]:
        """DuckDB's threads set to `count` for the block (None: left as they are), the
        database's own restored after."""
        if count is None:
            yield
            return
        with self._setting("threads", int(count)):
            yield

    @contextmanager
    def _setting(self, name: str, value: str | int) -> Iterator[str]:
        """DuckDB's setting `name` set to `value` for the block; its value before (which the
        block is given) restored after."""
        before = self.scalar(f"SELECT current_setting('{name}')")
        self.con.execute(f"SET {name} = '{value}'")
        try:
            yield before
        finally:
            with suppress(duckdb.Error):  # a fault that ended the connection stays the error
                self.con.execute(f"SET {name} = '{before}'")

    def load_memory(self, allowance: str) -> str:
        """DuckDB's memory_limit for loading documents: `allowance` (the batch's rows, the
        blocks read) plus the key indexes of the rows stored. DuckDB holds an index it
        writes in memory, all of it once a batch's keys are spread over it, and counts it
        against the limit: at 1 M documents the documents' key alone takes ~90-120 MB, and
        an ingest under 128MB ran out of memory (docs/scale.md). Estimated from the tables'
        row counts (INDEX_BYTES, SECONDARY_INDEX_BYTES), not read from DuckDB, which tells an
        index's memory only once it is loaded."""
        rows = dict(self.query("SELECT table_name, estimated_size FROM duckdb_tables()"
                               " WHERE database_name = current_database()"))
        held = sum((rows.get(t.name) or 0) * (INDEX_BYTES * t.indexed
                                               + SECONDARY_INDEX_BYTES * len(t.indexes))
                   for t in TABLES.values())
        return f"{(_bytes(allowance) + held) // 2**20:.0f}MiB"

    # -- loading ---------------------------------------------------------------------------
    def load(self, doc: Document, parse: Parser, run_id: str | None = None,
             force: bool = False, pool: PartPool | None = None) -> LoadResult:
        """Parse one archived document and load it in one transaction.

        Rows are written in batches while the parser runs (at record boundaries, see
        LoadContext.record_done), so a daily file of any size loads in flat memory; a
        rejected document rolls back entirely.
        """
        if not force and self.has_document(doc.document_id):
            return LoadResult("skipped", doc.document_id)
        counts: dict[str, int] = defaultdict(int)

        def write(ctx: RowBuffer) -> None:
            for table, n in self._write_rows(ctx).items():
                counts[table] += n
            ctx.rows.clear()

        def write_batch(ctx: RowBuffer) -> None:
            """A big document's rows so far (the parser flushes every ~20-50 k rows): written
            and committed, so that memory is bounded by the batch. DuckDB keeps a
            transaction's rows and their key indexes in memory until it commits (~3-5 KB a
            row), so one transaction for a 650 k-release package would outgrow any bound.
            The document itself is recorded only after its last batch: killed or failed
            midway, it is loaded again by the next run, writing its keyed rows over those
            the batches left (docs/warehouse.md, "Big documents")."""
            write(ctx)
            self.con.execute("COMMIT")
            self.checkpoint_wal()
            self.con.execute("BEGIN TRANSACTION")

        ctx = RowBuffer(doc, url=doc.url, writer=write_batch, archive=self.archive,
                        query=self.query, pool=pool)
        try:
            with self.transaction():
                parse(ctx)
                write(ctx)
                status = "loaded" if ctx.contract_bearing else "not_contract_bearing"
                self.record_document(doc, ctx.kind, status, ctx.detail, ctx.url)
                for part in ctx.part_rejects:
                    self.reject(doc.source, doc.origin, part.reason, part.field,
                                doc.document_id, run_id)
        except Rejected as exc:
            return self._reject_document(doc, exc.reason, exc.field, run_id, ctx.kind)
        except Exception as exc:  # noqa: BLE001 - a parser bug or an input it does not understand
            self._stop_on_storage_fault(exc, f"loading {doc.origin}")
            return self._reject_document(doc, _reason(exc), None, run_id, ctx.kind)
        self.checkpoint_wal()
        return LoadResult(status, doc.document_id, ctx.kind, ctx.detail, dict(counts))

    def checkpoint_wal(self) -> None:
        """Write what is committed into the database file once the WAL has grown past
        WAL_CHECKPOINT. DuckDB holds committed rows in memory, beside the WAL, until a
        checkpoint. It checkpoints by itself at that size, but in one measured load of a
        650 k-release package (DuckDB 2.0.1, a second connection of the process querying
        duckdb_memory() meanwhile) it never did: a WAL of 287 MB and 535 MiB of rows in
        memory at half the load. So a load asks, after each batch and document. Skipped
        while another connection is in a transaction (the next batch asks again)."""
        wal = self.path.with_name(self.path.name + ".wal")
        try:
            if wal.stat().st_size < WAL_CHECKPOINT:
                return
        except OSError:
            return
        try:
            self.con.execute("CHECKPOINT")
        except duckdb.TransactionException:
            pass  # the next batch tries again

    def _stop_on_storage_fault(self, exc: Exception, doing: str) -> None:
        """Raise `exc` as a StorageFault if the storage failed rather than the document
        (faults.csv `stops_load`): the run must stop, not reject every document after it."""
        fault = StorageFault.of(exc, self.path, doing)
        if fault is not None and fault.kind.stops_load:
            raise fault from (None if fault is exc else exc)

    def archive_only(self, doc: Document) -> LoadResult:
        """Record a fetched document whose source has no parser yet (status `archived`).

        A later `load` of the same bytes parses it; `has_document` does not count it.
        """
        if self.scalar("SELECT count(*) FROM documents WHERE document_id = ?",
                       [doc.document_id]):
            return LoadResult("skipped", doc.document_id)
        self.record_document(doc, None, "archived", "awaiting the source's parser", doc.url)
        return LoadResult("archived", doc.document_id)

    def loaded_ids(self, document_ids: list[str]) -> set[str]:
        """Of these documents, those already loaded (`has_document` for a batch, one query
        while few documents are stored for the ids asked, else one per MAX_KEY_LIST ids)."""
        ids = sorted(set(document_ids))
        if not ids:
            return set()
        stored = self.scalar("SELECT estimated_size FROM duckdb_tables() WHERE table_name ="
                             " 'documents' AND database_name = current_database()") or 0
        if stored < len(ids) * SCAN_ROWS_PER_ID:  # one scan of the key column
            lists = [("(SELECT unnest(?::VARCHAR[]))", [ids])]
        else:  # lists answered by the index
            lists = [_key_list(ids[start:start + MAX_KEY_LIST])
                     for start in range(0, len(ids), MAX_KEY_LIST)]
        found: set[str] = set()
        for keys, params in lists:
            # the status is tested here: a condition on it beside the list made DuckDB scan
            # the table instead (at 3 M documents 288 against 46 ms a list, docs/scale.md)
            found.update(d for d, status in self.query(
                f"SELECT document_id, status FROM documents WHERE document_id IN {keys}",
                params) if status is not None and status not in rules.RELOADED_STATUSES)
        return found

    def load_many(self, docs: list[Document], parse: Parser, run_id: str | None = None
                  ) -> list[LoadResult]:
        """Load many small documents in one transaction (a statement costs milliseconds, so
        one per table per document dominated archives of thousands of small files).

        Only for parsers that do not read the warehouse while parsing (not OCDS): every
        document is parsed first, alone (`parse_alone`), so a bad one is rejected alone.
        """
        known = self.loaded_ids([d.document_id for d in docs])
        parsed: list[RowBuffer | Rejected | Document] = []
        for doc in docs:
            try:
                parsed.append(doc if doc.document_id in known else parse_alone(doc, parse))
            except Exception as exc:  # a storage fault (faults.csv stops_load) stops the run
                self._stop_on_storage_fault(exc, f"loading {doc.origin}")
                raise
        return self.store_parsed(parsed, parse, run_id)

    def load_chained(self, docs: list[Document], parse: Parser, run_id: str | None = None,
                     pool: PartPool | None = None) -> list[LoadResult]:
        """Load many small documents in one transaction, one after another, for a parser that
        reads the warehouse while parsing (OCDS compiles a process with the releases earlier
        documents wrote): each document is parsed after the rows of those before it are
        written, inside the transaction, so it sees them as it would after their commits.

        A document the parser rejects is recorded as rejected in the same transaction, its
        rows never written. Anything else going wrong (a parser bug, a failed write) rolls
        the whole chain back and loads each document on its own (`load`), where it fails or
        loads by itself. Returns one result per document, in order.
        """
        results: list[LoadResult] = []
        try:
            with self.transaction():
                for doc in docs:
                    results.append(self._load_in_chain(doc, parse, run_id, pool))
        except Exception as exc:  # noqa: BLE001 - fall back to one transaction per document
            self._stop_on_storage_fault(exc, f"loading {len(docs)} documents"
                                        f" ({docs[0].origin}…)")
            return [self.load(doc, parse, run_id, pool=pool) for doc in docs]
        self.checkpoint_wal()
        return results

    def _load_in_chain(self, doc: Document, parse: Parser, run_id: str | None,
                       pool: PartPool | None = None) -> LoadResult:
        if self.has_document(doc.document_id):  # also the same bytes twice in one chain
            return LoadResult("skipped", doc.document_id)
        ctx = RowBuffer(doc, url=doc.url, archive=self.archive, query=self.query, pool=pool)
        try:
            parse(ctx)
        except Rejected as exc:
            self.record_document(doc, ctx.kind, "rejected", exc.reason, doc.url)
            self.reject(doc.source, doc.origin, exc.reason, exc.field, doc.document_id, run_id)
            return LoadResult("rejected", doc.document_id, ctx.kind, exc.reason)
        counts = self._write_rows(ctx)
        status = "loaded" if ctx.contract_bearing else "not_contract_bearing"
        self.record_document(doc, ctx.kind, status, ctx.detail, ctx.url)
        for part in ctx.part_rejects:
            self.reject(doc.source, doc.origin, part.reason, part.field, doc.document_id, run_id)
        return LoadResult(status, doc.document_id, ctx.kind, ctx.detail, counts)

    def store_parsed(self, parsed: list[RowBuffer | Rejected | Document], parse: Parser,
                     run_id: str | None = None) -> list[LoadResult]:
        """Write documents parsed elsewhere (here, or in worker processes: `parse_alone`'s
        results) in one transaction; a document already loaded is skipped.

        The batch's rows become Arrow tables (partitions.chunk_tables, as a Dask worker's
        partitions) and are written by rules.py's SQL, a few statements per table for the
        whole batch. If writing the batch fails, each document is loaded again on its own and
        fails or loads by itself. Returns one result per entry, in order.
        """
        docs = [_document_of(p) for p in parsed]
        known = self.loaded_ids([d.document_id for d in docs])
        results: dict[str, LoadResult] = {}
        fresh: list[RowBuffer | Rejected] = []
        repeated: set[int] = set()  # the same bytes twice in one batch: the second is skipped
        for i, (doc, outcome) in enumerate(zip(docs, parsed, strict=True)):
            if doc.document_id in results:
                repeated.add(i)
            elif doc.document_id in known or isinstance(outcome, Document):
                results[doc.document_id] = LoadResult("skipped", doc.document_id)
            else:
                results[doc.document_id] = LoadResult(
                    "rejected", doc.document_id, getattr(outcome, "kind", None),
                    outcome.reason) if isinstance(outcome, Rejected) else LoadResult(
                    "loaded" if outcome.contract_bearing else "not_contract_bearing",
                    doc.document_id, outcome.kind, outcome.detail)
                fresh.append(outcome)
        if fresh:
            try:
                tables = chunk_tables(0, fresh)
                with self.using(**{f"batch_{t}": data for t, data in tables.items()}), \
                        self.transaction():
                    rules.write(self, lambda table: f"batch_{table}", set(tables), run_id)
            except Exception as exc:  # noqa: BLE001 - fall back to one transaction per document
                self._stop_on_storage_fault(exc, f"loading {len(fresh)} documents"
                                            f" ({fresh[0].document.origin}…)")
                for outcome in fresh:
                    results[outcome.document.document_id] = self.load(outcome.document, parse,
                                                                      run_id)
            self.checkpoint_wal()
        return [LoadResult("skipped", doc.document_id) if i in repeated
                else results[doc.document_id] for i, doc in enumerate(docs)]

    def _reject_document(self, doc: Document, reason: str, field: str | None,
                         run_id: str | None, kind: str | None) -> LoadResult:
        with self.transaction():
            self.record_document(doc, kind, "rejected", reason, doc.url)
            self.reject(doc.source, doc.origin, reason, field, doc.document_id, run_id)
        return LoadResult("rejected", doc.document_id, kind, reason)

    def record_document(self, doc: Document, kind, status, detail, url) -> None:
        """The document's row in `documents` (inside the caller's transaction)."""
        self.con.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (document_id)"
            " DO UPDATE SET kind = excluded.kind, status = excluded.status,"
            " detail = excluded.detail, url = coalesce(excluded.url, documents.url)",
            [doc.document_id, doc.source, url, doc.origin, utcnow(), doc.media_type, doc.size,
             kind, status, detail])
        changes.record_keys(self, "documents", [doc.document_id])

    def _write_rows(self, ctx: RowBuffer) -> dict[str, int]:
        """One document's rows (`load`: flushed while a big document parses; `load_chained`:
        written before the next document reads them), row by row from Python: rules.py's rules
        (which write the batches), for rows that never make a batch. tests/test_scale.py
        checks that the two give the same tables."""
        counts: dict[str, int] = {}
        unknown = set(ctx.rows) - set(ORDER)
        if unknown:
            raise KeyError(f"no load rule for tables {sorted(unknown)}")
        document_id = ctx.document.document_id
        for table, column in RETRACT_BY.items():
            ids = sorted({c for c, tables in ctx.retracted if table in tables})
            if ids:
                self.con.execute(f"DELETE FROM {table} WHERE {column} IN"
                                 " (SELECT unnest(?::VARCHAR[]))", [ids])
                changes.record_keys(self, table, ids)
        ctx.retracted.clear()
        winners: dict[str, str] = {}
        for table in ORDER:
            rows = ctx.rows.get(table)
            if not rows:
                continue
            if table in changes.KEYS:  # what a build reads: recorded (changes.py)
                self._record(table, rows)
            if table == "contracts":
                for row in rows:
                    row.setdefault("document_id", document_id)
                winners = self._write_contracts(rows)
            elif table == "context_parties":
                # an event states all its parties: those of an earlier load of it go
                events = sorted({r["event_id"] for r in rows}
                                | {r["event_id"] for r in ctx.rows.get("context_events", [])})
                self.con.execute("DELETE FROM context_parties WHERE event_id IN"
                                 " (SELECT unnest(?::VARCHAR[]))", [events])
                self._upsert(table, rows)
            elif table == "items":
                # product lines belong to the version shown in `contracts`: those emitted
                # beside the contract row that won. That row names its document, which is not
                # the parsed one where a source compiles a contract from several (OCDS); rows
                # of a batch of documents carry the parsed one in `_doc`.
                shown_by = {(r["contract_id"], r.get("_doc", document_id)): r["document_id"]
                            for r in ctx.rows.get("contracts", [])}
                rows = [r for r in rows if winners.get(r["contract_id"]) == shown_by.get(
                    (r["contract_id"], r.get("_doc", document_id)), r.get("_doc", document_id))]
                self.con.execute("DELETE FROM items WHERE contract_id IN"
                                 " (SELECT unnest(?::VARCHAR[]))", [sorted(winners)])
                self._upsert("items", rows)
            else:
                self._upsert(table, rows)
            counts[table] = len(rows)
        touched = {r["contract_id"] for t in ("contracts", "contract_events")
                   for r in ctx.rows.get(t, [])}
        if touched:
            self._apply_events(sorted(touched))
        # suspicious values load as published, each flagged once in `warnings`
        flagged = suspicious.flags(ctx.rows, document_id, ctx.document.source, utcnow())
        if flagged:
            self._upsert("warnings", flagged)
        return counts

    def _record(self, table: str, rows: list[dict]) -> None:
        """Record the keys of `table`'s rows about to be written in `changes` (rules.write's
        record for rows in Python: where the recorded key is not the table's key, the stored
        rows' keys too)."""
        key, pk = changes.KEYS[table], TABLES[table].key
        changes.record_keys(self, table, [r.get(key) for r in rows])
        if key not in pk:
            with self.using(record_pk=pa.table({k: [r.get(k) for r in rows] for k in pk})):
                same = " AND ".join(f"s.{k} = t.{k}" for k in pk)
                changes.record(self, table, f"SELECT t.{key} FROM {table} t WHERE EXISTS"
                                            f" (SELECT 1 FROM record_pk s WHERE {same})")

    def _write_contracts(self, rows: list[dict]) -> dict[str, str]:
        """Upsert contracts unless the stored version is newer (schema: `newest`); return the
        contracts now shown from a document of these rows (the 'winners'), with that document."""
        self._upsert("contracts", rows)
        ours = {r["document_id"] for r in rows}
        keys, params = _key_list(sorted({r["contract_id"] for r in rows}))
        return {cid: doc for cid, doc in self.query(
            f"SELECT contract_id, document_id FROM contracts WHERE contract_id IN {keys}",
            params) if doc in ours}

    def _upsert(self, table: str, rows: list[dict]) -> None:
        """One upsert statement per table and batch: a few rows bound as values, more as an
        Arrow table (row-by-row statements cost ~2 ms each, which dominated big loads).

        Of rows sharing a key (within the batch, or with the stored row) the newest by the
        table's `newest` columns is kept, so the result never depends on load order; in a
        table of things described (KEEP_KNOWN) the older rows still fill what it leaves NULL.
        """
        if not rows:
            return
        spec = TABLES[table]
        cols = spec.column_names
        keep = table in KEEP_KNOWN  # a document that omits a value does not erase it
        unique: dict[tuple, dict] = {}
        for row in rows:
            k = tuple(row.get(c) for c in spec.key)
            seen = unique.get(k)
            if seen is None:
                unique[k] = row
                continue
            new, old = (row, seen) if _rank(row, spec.newest) >= _rank(seen, spec.newest) \
                else (seen, row)
            unique[k] = {c: new.get(c) if new.get(c) is not None else old.get(c)
                         for c in cols} if keep else new
        kept = list(unique.values())
        columns = [fitted(spec.name, c, [r.get(c) for r in kept]) for c in cols]
        conflict = upsert_conflict(table)
        if len(kept) <= SMALL_BATCH:
            # a statement costs ~2 ms; binding a few rows beats registering an Arrow table
            row = f"({', '.join('?' for _ in cols)})"
            self.con.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                + ", ".join(row for _ in kept) + conflict,
                [v for values in zip(*columns, strict=True) for v in values])
            return
        batch = pa.Table.from_arrays(
            [pa.array(column, type=field.type)
             for column, field in zip(columns, arrow_schema(table), strict=True)],
            schema=arrow_schema(table))
        with self.using(batch=batch):
            self.con.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)}"
                             " FROM batch" + conflict)

    def _apply_events(self, contract_ids: list[str]) -> None:
        """A reported termination (or completion) overrides the stage a contract states."""
        self.con.execute(
            """UPDATE contracts SET status = e.event
               FROM (SELECT contract_id, arg_max(event, CASE event WHEN 'annulled' THEN 3
                            WHEN 'terminated' THEN 2 ELSE 1 END) AS event
                     FROM contract_events
                     WHERE contract_id IN (SELECT unnest(?::VARCHAR[]))
                     GROUP BY contract_id) e
               WHERE contracts.contract_id = e.contract_id""",
            [contract_ids])

    def iter_rows(self, sql: str, params=None, batch: int = 10_000) -> Iterator[tuple]:
        cur = self.con.execute(sql, params or [])
        while rows := cur.fetchmany(batch):
            yield from rows

_UNITS = {"bytes": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
          "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}


def _bytes(setting: str) -> float:
    """A size as DuckDB shows a setting ("18.8 GiB", "128.0 MiB") or as one is given
    ("128MB"), in bytes."""
    number, unit = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", setting).groups()
    return float(number) * _UNITS.get(unit.lower(), 1)


def _document_of(parsed) -> Document:
    return parsed if isinstance(parsed, Document) else parsed.document


def _rank(row: dict, columns: tuple[str, ...]) -> tuple:
    """A row's place in the order of `newest` (NULL lowest), as rules._newer_sql compares it."""
    return tuple((row.get(c) is not None, row.get(c)) for c in columns)


# Memory DuckDB holds for a stored row's key indexes once they are loaded (`load_memory`),
# upper figures of those measured at 1 M rows (DuckDB 2.0; docs/scale.md): a primary key
# 38-48 bytes a row (contracts, items, versions) and 87-120 for the documents' SHA-256 ids;
# a secondary index 3-23 (contracts' year, buyer, vendor).
INDEX_BYTES = 128
SECONDARY_INDEX_BYTES = 32
# Keys looked up by a list: DuckDB answers `key IN ('a', 'b', …)` from the table's primary-key
# index, but `key IN (SELECT unnest(?))` (or a join) by scanning the whole key column: at 3 M
# documents, 2,000 ids cost 78 against 288 ms CPU, 200 ids 10 against 212 (docs/scale.md).
MAX_KEY_LIST = 2048  # DuckDB's index_scan_max_count: a longer list is scanned either way
# A literal id costs DuckDB ~10-20 us to parse, scanning the key column ~0.1 us a stored
# row: `loaded_ids` scans while fewer rows than this per id asked are stored (16,000 ids,
# CPU, scanned against lists: 24-33 against 170-220 ms with no document stored, 100-160
# against 290-580 ms at 1 M, 250 against 340-690 ms at 3 M; docs/scale.md).
SCAN_ROWS_PER_ID = 200


def _key_list(keys: list[str]) -> tuple[str, list]:
    """`keys` as a parenthesized SQL list of string literals (quotes doubled) and no
    parameters; a list too long for the index, or a key holding a NUL, as a parameter."""
    if len(keys) > MAX_KEY_LIST or any("\0" in k for k in keys):
        return "(SELECT unnest(?::VARCHAR[]))", [keys]
    if not keys:
        return "(NULL)", []
    return "(" + ", ".join("'" + k.replace("'", "''") + "'" for k in keys) + ")", []
