"""The DuckDB warehouse: schema, idempotent loads, runs and rejects.

One document is loaded in one transaction: its `documents` row and every row parsed from it
commit together or not at all. A document whose bytes are already loaded is skipped, so
re-running an ingest (or resuming a killed one) adds nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb

from .archive import Archive
from .schema import TABLES, ddl_statements


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class Document:
    """A raw document in the archive, as a parser sees it."""

    document_id: str
    source: str
    origin: str
    path: Path
    size: int
    media_type: str | None = None
    url: str | None = None

    def open(self):
        return open(self.path, "rb")

    def read(self) -> bytes:
        return self.path.read_bytes()


class Rejected(Exception):
    """A document (or part of one) the parser cannot load; names the field at fault."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


RETRACT_FROM = ("items", "contract_versions", "payments", "tags", "contracts")


@dataclass
class LoadContext:
    """What a parser is given: the document, and `emit` for every row it finds.

    Rows are buffered per table and written when the parser is done, inside the document's
    transaction. `describe` says what the document was; `reject_part` records a bad part
    (an item in a daily file) without losing the good ones around it.
    """

    document: Document
    rows: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    kind: str | None = None
    detail: str | None = None
    contract_bearing: bool = True
    url: str | None = None
    part_rejects: list[Rejected] = field(default_factory=list)
    # for sources whose documents continue each other (OCDS releases of one process):
    archive: Archive | None = None  # to keep parts of the document by their own hash
    query: Callable[..., list[tuple]] | None = None  # read what the warehouse already holds
    retracted: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # write the rows buffered so far, inside the document's transaction (big documents)
    flush: Callable[[], None] | None = None

    def emit(self, table: str, **row: Any) -> None:
        if table not in TABLES:
            raise KeyError(f"unknown table {table}")
        unknown = set(row) - set(TABLES[table].column_names)
        if unknown:
            raise KeyError(f"unknown columns for {table}: {sorted(unknown)}")
        self.rows[table].append(row)

    def describe(self, kind: str, detail: str | None = None, contract_bearing: bool = True,
                 url: str | None = None) -> None:
        self.kind, self.detail, self.contract_bearing = kind, detail, contract_bearing
        if url:
            self.url = url

    def reject_part(self, reason: str, field: str | None = None) -> None:
        self.part_rejects.append(Rejected(reason, field))

    def retract(self, contract_id: str, tables: tuple[str, ...] = RETRACT_FROM) -> None:
        """Rows this document shows to be gone, removed in the document's transaction before
        its own rows are written: a contract that no longer exists as such (an OCDS award
        now carried by its contract), or the versions of one about to be restated."""
        self.retracted.append((contract_id, tables))


Parser = Callable[[LoadContext], None]


@dataclass
class LoadResult:
    status: str  # loaded | skipped | rejected | not_contract_bearing
    document_id: str | None
    kind: str | None = None
    reason: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


# Tables whose rows carry the version of the contract they belong to are written by
# _write_contracts; every other table is a plain upsert on its key.
VERSIONED = ("contracts", "items")
ORDER = ["organizations", "contracts", "contract_versions", "items", "payments",
         "contract_events", "notices", "tags", "fx_rates", "entities", "ocds_releases"]


class Warehouse:
    def __init__(self, path: str | Path, read_only: bool = False, archive: Path | None = None):
        self.path = Path(path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.read_only = read_only
        self.con = duckdb.connect(str(self.path), read_only=read_only)
        self.archive = Archive(archive or self.path.parent / "archive")
        if not read_only:
            for stmt in ddl_statements():
                self.con.execute(stmt)

    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- queries ---------------------------------------------------------------------------
    def query(self, sql: str, params: list | tuple | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: list | tuple | None = None):
        row = self.con.execute(sql, params or []).fetchone()
        return row[0] if row else None

    def df(self, sql: str, params: list | tuple | None = None):
        return self.con.execute(sql, params or []).df()

    def count(self, table: str) -> int:
        return self.scalar(f"SELECT count(*) FROM {TABLES[table].name}")

    def has_document(self, document_id: str) -> bool:
        return bool(self.scalar(
            "SELECT count(*) FROM documents WHERE document_id = ? AND status <> 'rejected'",
            [document_id]))

    # -- runs ------------------------------------------------------------------------------
    def start_run(self, source: str, command: str, parameters: dict | None = None,
                  run_id: str | None = None) -> str:
        run_id = run_id or f"{command}-{source}-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.con.execute(
            "INSERT INTO runs (run_id, source, command, parameters, started_at, status, loaded,"
            " skipped, rejected) VALUES (?, ?, ?, ?, ?, 'running', 0, 0, 0)"
            " ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL",
            [run_id, source, command, json.dumps(parameters or {}, default=str), utcnow()])
        return run_id

    def checkpoint(self, run_id: str, checkpoint: dict) -> None:
        self.con.execute("UPDATE runs SET checkpoint = ? WHERE run_id = ?",
                         [json.dumps(checkpoint, default=str), run_id])

    def finish_run(self, run_id: str, counts: dict[str, int], status: str = "finished") -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, loaded = loaded + ?,"
            " skipped = skipped + ?, rejected = rejected + ? WHERE run_id = ?",
            [utcnow(), status, counts.get("loaded", 0) + counts.get("not_contract_bearing", 0),
             counts.get("skipped", 0), counts.get("rejected", 0), run_id])

    # -- rejects ---------------------------------------------------------------------------
    def reject(self, source: str, origin: str, reason: str, field: str | None = None,
               document_id: str | None = None, run_id: str | None = None) -> None:
        key = hashlib.sha256(f"{origin}|{document_id}|{field}|{reason}".encode()).hexdigest()[:32]
        self.con.execute(
            "INSERT INTO rejects VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (reject_id) DO UPDATE"
            " SET run_id = excluded.run_id, rejected_at = excluded.rejected_at",
            [key, run_id, source, origin, document_id, field, reason[:2000], utcnow()])

    # -- loading ---------------------------------------------------------------------------
    def load(self, doc: Document, parse: Parser, run_id: str | None = None,
             force: bool = False) -> LoadResult:
        """Parse one archived document and load it in one transaction."""
        if not force and self.has_document(doc.document_id):
            return LoadResult("skipped", doc.document_id)
        ctx = LoadContext(doc, url=doc.url, archive=self.archive, query=self.query)
        counts: Counter = Counter()
        ctx.flush = lambda: counts.update(self._write_rows(ctx))
        self.con.execute("BEGIN TRANSACTION")
        try:
            parse(ctx)
        except Rejected as exc:
            self.con.execute("ROLLBACK")
            return self._reject_document(doc, exc.reason, exc.field, run_id, ctx.kind)
        except Exception as exc:  # a parser bug or an input it does not understand
            self.con.execute("ROLLBACK")
            return self._reject_document(doc, f"{type(exc).__name__}: {exc}", None, run_id,
                                         ctx.kind)
        status = "loaded" if ctx.contract_bearing else "not_contract_bearing"
        try:
            self._upsert_document(doc, ctx.kind, status, ctx.detail, ctx.url)
            counts.update(self._write_rows(ctx))
            for part in ctx.part_rejects:
                self.reject(doc.source, doc.origin, part.reason, part.field, doc.document_id,
                            run_id)
            self.con.execute("COMMIT")
        except Exception as exc:
            self.con.execute("ROLLBACK")
            return self._reject_document(doc, f"load failed: {type(exc).__name__}: {exc}", None,
                                         run_id, ctx.kind)
        return LoadResult(status, doc.document_id, ctx.kind, ctx.detail, dict(counts))

    def _reject_document(self, doc: Document, reason: str, field: str | None,
                         run_id: str | None, kind: str | None) -> LoadResult:
        self.con.execute("BEGIN TRANSACTION")
        self._upsert_document(doc, kind, "rejected", reason, doc.url)
        self.reject(doc.source, doc.origin, reason, field, doc.document_id, run_id)
        self.con.execute("COMMIT")
        return LoadResult("rejected", doc.document_id, kind, reason)

    def _upsert_document(self, doc: Document, kind, status, detail, url) -> None:
        self.con.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (document_id)"
            " DO UPDATE SET kind = excluded.kind, status = excluded.status,"
            " detail = excluded.detail, url = coalesce(excluded.url, documents.url)",
            [doc.document_id, doc.source, url, doc.origin, utcnow(), doc.media_type, doc.size,
             kind, status, detail])

    def _write_rows(self, ctx: LoadContext) -> dict[str, int]:
        counts: dict[str, int] = {}
        unknown = set(ctx.rows) - set(ORDER)
        if unknown:
            raise KeyError(f"no load rule for tables {sorted(unknown)}")
        for table in RETRACT_FROM:
            ids = {c for c, tables in ctx.retracted if table in tables}
            if ids:
                self._delete(table, ids)
        for table in ORDER:
            rows = ctx.rows.get(table)
            if not rows:
                continue
            if table == "contracts":
                winners = self._write_contracts(rows, ctx.document.document_id)
            elif table == "items":
                rows = [r for r in rows if r["contract_id"] in winners]
                self._delete("items", winners)
                self._upsert("items", rows)
            else:
                self._upsert(table, rows)
            counts[table] = len(rows)
        touched = {r["contract_id"] for t in ("contracts", "contract_events")
                   for r in ctx.rows.get(t, [])}
        if touched:
            self._apply_events(sorted(touched))
        ctx.rows.clear()  # written: a parser that flushes goes on with an empty buffer
        ctx.retracted.clear()
        return counts

    def _write_contracts(self, rows: list[dict], document_id: str) -> set[str]:
        """Upsert contracts where the incoming version is not older; return the winners."""
        current = {cid: (version, published) for cid, version, published in self.con.execute(
            "SELECT contract_id, version, published_on FROM contracts"
            " WHERE contract_id IN (SELECT unnest(?::VARCHAR[]))",
            [sorted({r["contract_id"] for r in rows})]).fetchall()}
        accepted: dict[str, dict] = {}
        for row in rows:  # in order: a later row of the same document meets the earlier one
            row.setdefault("document_id", document_id)
            cid = row["contract_id"]
            if cid in current and _older(row, current[cid]):
                continue
            accepted[cid] = row
            current[cid] = (row["version"], row.get("published_on"))
        self._upsert("contracts", list(accepted.values()))
        return set(accepted)

    def _delete(self, table: str, contract_ids) -> None:
        self.con.execute(f"DELETE FROM {table} WHERE contract_id IN"
                         " (SELECT unnest(?::VARCHAR[]))", [sorted(contract_ids)])

    def _upsert(self, table: str, rows: list[dict]) -> None:
        spec = TABLES[table]
        cols = spec.column_names
        updates = [c for c in cols if c not in spec.key]
        conflict = (f" ON CONFLICT ({', '.join(spec.key)}) DO "
                    + ("UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updates)
                       if updates else "NOTHING"))
        if len(rows) >= BULK_FROM and self._bulk_upsert(spec, rows, conflict):
            return
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
               + conflict)
        self.con.executemany(sql, [[r.get(c) for c in cols] for r in rows])

    def _bulk_upsert(self, spec, rows: list[dict], conflict: str) -> bool:
        """Many rows as one Arrow batch (row-by-row executemany costs ~2 ms a row). Rows with
        the same key keep the last, as row-by-row upserts would. False where a value does
        not fit its Arrow type: the caller then goes row by row."""
        import pyarrow as pa

        latest = {tuple(r.get(k) for k in spec.key): r for r in rows}
        try:
            batch = pa.table({c.name: pa.array([_arrow_value(r.get(c.name), c.type)
                                                for r in latest.values()],
                                               type=_arrow_type(c.type))
                              for c in spec.columns})
        except (pa.ArrowException, TypeError, ValueError):
            return False
        select = ", ".join(f"CAST({c.name} AS {c.type})" for c in spec.columns)
        self.con.register("_incoming_rows", batch)
        try:
            self.con.execute(f"INSERT INTO {spec.name} ({', '.join(spec.column_names)})"
                             f" SELECT {select} FROM _incoming_rows" + conflict)
        finally:
            self.con.unregister("_incoming_rows")
        return True

    def _apply_events(self, contract_ids: list[str]) -> None:
        """A reported termination (or completion) overrides the stage a contract states."""
        self.con.execute(
            """UPDATE contracts SET status = e.event
               FROM (SELECT contract_id, arg_max(event, CASE event WHEN 'annulled' THEN 3
                            WHEN 'terminated' THEN 2 ELSE 1 END) AS event
                     FROM contract_events GROUP BY contract_id) e
               WHERE contracts.contract_id = e.contract_id
                 AND contracts.contract_id IN (SELECT unnest(?::VARCHAR[]))""",
            [contract_ids])

    # -- status ----------------------------------------------------------------------------
    def counts_by_source(self) -> dict[str, dict[str, int]]:
        """Rows per source for each table (joined through the document they came from)."""
        out: dict[str, dict[str, int]] = defaultdict(dict)
        sql = {t: f"SELECT source, count(*) FROM {t} GROUP BY 1"
               for t in ("documents", "contracts", "rejects")}
        sql |= {t: f"SELECT d.source, count(*) FROM {t} JOIN documents d USING (document_id)"
                   " GROUP BY 1" for t in ("contract_versions", "payments", "contract_events",
                                           "notices")}
        sql["items"] = ("SELECT c.source, count(*) FROM items JOIN contracts c USING (contract_id)"
                        " GROUP BY 1")
        for table, query in sql.items():
            for source, n in self.query(query):
                out[source][table] = n
        return dict(out)

    def iter_rows(self, sql: str, params=None, batch: int = 10_000) -> Iterator[tuple]:
        cur = self.con.execute(sql, params or [])
        while rows := cur.fetchmany(batch):
            yield from rows


BULK_FROM = 50  # rows of one table in one document: from here on they go in as one batch


def _arrow_type(sql_type: str):
    import pyarrow as pa

    if sql_type.endswith("[]"):
        return pa.list_(pa.string())
    return {"INTEGER": pa.int64(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
            "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us"), "BOOLEAN": pa.bool_()
            }.get(sql_type, pa.string())  # VARCHAR, JSON and DECIMAL (cast by DuckDB)


def _arrow_value(value, sql_type: str):
    if value is None or sql_type in ("INTEGER", "BIGINT", "DOUBLE", "DATE", "TIMESTAMP",
                                     "BOOLEAN") or sql_type.endswith("[]"):
        return value
    return str(value)


def _older(row: dict, current: tuple) -> bool:
    version, published = current
    if row["version"] != version:
        return row["version"] < version
    new_pub = row.get("published_on")
    return bool(published and new_pub and new_pub < published)
