"""The load rules as SQL, over relations holding a batch of parsed documents' rows: the one
implementation behind the store's batches (store.py `store_parsed`: Arrow tables built from
the rows in memory) and the Dask workers' partitions (staged.py: Parquet files).

A relation of a table has the table's columns plus `_doc` (the document parsed), `_ord` (the
document's place in input order) and `_row` (the row's place): partitions.py builds both.
The rules: of rows sharing a key the newest by the table's `newest` columns wins, input order
breaking ties (the later wins, as in a serial load); a stored row is replaced only by one at
least as new; a described thing (KEEP_KNOWN) keeps from older rows what the newer leaves
NULL; an item line belongs to the version shown in `contracts`; an event states all its
parties; a reported termination overrides the stage. Which documents are in the batch
(those already loaded, or given twice, are not) is the caller's: it hands in their rows only,
or has `claim_documents` tell which are loaded while it writes their `documents` rows.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from . import changes
from .partitions import DOCUMENT_COLUMNS, REJECT_COLUMNS
from .protocol import EMITTED
from .runs import utcnow
from .schema import TABLES

# Tables describing things (not versions of them): a NULL in a new row keeps the known value.
KEEP_KNOWN = {"organizations"}


# A stored document with one of these statuses (or none) is loaded again; any other status
# means its rows are stored (`Warehouse.loaded_ids` and `has_document` read the same rule).
RELOADED_STATUSES = ("rejected", "archived")
RELOADED_LIST = "(" + ", ".join(f"'{status}'" for status in RELOADED_STATUSES) + ")"  # SQL
RELOADED = f"documents.status IS NULL OR documents.status IN {RELOADED_LIST}"


def _documents_upsert(rows: Callable[[str], str], only_reloaded: bool) -> str:
    columns = ", ".join(DOCUMENT_COLUMNS)
    return (f"INSERT INTO documents ({columns}, fetched_at) SELECT {columns}, ?::TIMESTAMP"
            f" FROM {rows('documents')} ON CONFLICT (document_id) DO UPDATE SET kind ="
            " excluded.kind, status = excluded.status, detail = excluded.detail,"
            " url = coalesce(excluded.url, documents.url)"
            + (f" WHERE {RELOADED} RETURNING document_id" if only_reloaded else ""))


class StoredDocument(Exception):
    """A document of the batch is stored already: its rows must be claimed one by one."""


def claim_documents(wh, rows: Callable[[str], str], stored: bool) -> set[str]:
    """Write the batch's `documents` rows inside the caller's transaction, except those of
    documents already loaded (left as stored); return the ids written: the documents whose
    other rows the caller then writes (`write` with `claimed`).

    `stored` False: a plain INSERT, the key index probed by the insert itself; a stored key
    raises StoredDocument (the transaction aborted: the caller begins again with `stored`
    True). True: an upsert that leaves the loaded ones alone. DuckDB's ON CONFLICT costs ~20
    µs a row more than a plain insert at 4 M documents, and a look-up before the insert (a
    scan of the keys or literal lists) grew with the warehouse too (docs/scale.md)."""
    if stored:
        return {d for (d,) in wh.query(_documents_upsert(rows, True), [utcnow()])}
    columns = ", ".join(DOCUMENT_COLUMNS)
    try:
        wh.execute(f"INSERT INTO documents ({columns}, fetched_at) SELECT {columns},"
                   f" ?::TIMESTAMP FROM {rows('documents')}", [utcnow()])
    except duckdb.ConstraintException as exc:
        if "duplicate key" not in str(exc).lower():
            raise
        raise StoredDocument(str(exc)) from exc
    return {d for (d,) in wh.query(f"SELECT document_id FROM {rows('documents')}")}


def write(wh, rows: Callable[[str], str], present: set[str], run_id: str | None,
          claimed: bool = False) -> None:
    """Write a batch inside the caller's transaction: `rows(table)` is SQL naming the batch's
    rows of a table in `present` (documents, rejects, warnings and the tables parsers emit);
    `claimed`: the documents' rows are written already (`claim_documents`)."""
    now = utcnow()
    written: list[tuple[str, str]] = []  # (table, its rows): their keys recorded at once
    if "documents" in present:
        written.append(("documents", rows("documents")))
        if not claimed:
            wh.execute(_documents_upsert(rows, False), [now])
    if "rejects" in present:
        columns = ", ".join(REJECT_COLUMNS)
        wh.execute(
            f"INSERT INTO rejects ({columns}, run_id, rejected_at) SELECT {columns}, ?, ?"
            f" FROM {newest('rejects', rows('rejects'))} ON CONFLICT (reject_id) DO UPDATE"
            " SET run_id = excluded.run_id, rejected_at = excluded.rejected_at", [run_id, now])
    for table in EMITTED:
        if table not in present:
            continue
        source = rows(table)
        if table == "items":
            if "contracts" in present:  # else no contract in these documents: no line shown
                _write_items(wh, source, rows("contracts"), written)
            continue
        if table == "context_parties":  # an event states all its parties
            events = f"SELECT event_id FROM {source}" + (
                f" UNION SELECT event_id FROM {rows('context_events')}"
                if "context_events" in present else "")
            wh.execute(f"DELETE FROM context_parties WHERE event_id IN ({events})")
        if table in changes.KEYS:
            recorded(wh, table, source)
            written.append((table, source))
        _insert(wh, table, newest(table, source))
    changes.record_many(wh, written)
    touched = [f"SELECT contract_id FROM {rows(t)}" for t in ("contracts", "contract_events")
               if t in present]
    if touched:
        ids = [c for (c,) in wh.query(" UNION ".join(touched))]
        wh._apply_events(sorted(ids))
    if "warnings" in present:
        _insert(wh, "warnings", newest("warnings", rows("warnings")))


def _write_items(wh, items: str, contracts: str, written: list[tuple[str, str]]) -> None:
    """The lines shown with the contract rows that won replace their contracts' stored lines.
    Those are deleted first, so no line inserted meets a stored one: a plain INSERT (an
    upsert cost ~15 ms more a batch of 3,000 EIS documents, docs/scale.md), and the keys
    recorded are the contracts' (lines deleted and none added are a change too), which
    spares evaluating the lines' join a second time."""
    winners = _winners(contracts)
    wh.execute(f"DELETE FROM items WHERE contract_id IN (SELECT contract_id FROM {winners})")
    written.append(("items", winners))
    _insert(wh, "items", newest("items", _shown_items(items, contracts)), conflict=False)


def recorded(wh, table: str, source: str) -> None:
    """Record in `changes` the stored keys of the rows `source` is about to replace in `table`
    where the recorded key is not the table's key (a row replaced takes its stored key with
    it: a complaint moved to another procurement). The keys of `source`'s rows themselves
    are recorded by the caller, all tables' in one statement (`changes.record_many`)."""
    key, pk = changes.KEYS[table], TABLES[table].key
    if key not in pk:
        same = " AND ".join(f"s.{k} = t.{k}" for k in pk)
        changes.record(wh, table, f"SELECT t.{key} FROM {table} t WHERE EXISTS"
                                  f" (SELECT 1 FROM {source} s WHERE {same})")


def _insert(wh, table: str, source: str, conflict: bool = True) -> None:
    """Insert `source`'s rows into `table`, as an upsert (`upsert_conflict`) unless the caller
    knows none of them meets a stored row (`conflict` False)."""
    columns = ", ".join(TABLES[table].column_names)
    wh.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {source}"
               + (upsert_conflict(table) if conflict else ""))


def newest(table: str, source: str) -> str:
    """One row per key of `source`: the newest by `newest`, the later in input order of rows
    as new; for KEEP_KNOWN, each column from the newest row that states it."""
    spec = TABLES[table]
    order = ", ".join([f"{c} IS NOT NULL DESC, {c} DESC" for c in spec.newest]
                      + ["_ord DESC", "_row DESC"])
    key = ", ".join(spec.key)
    if table in KEEP_KNOWN:
        picked = ", ".join(
            f"first({c} ORDER BY {order}) FILTER (WHERE {c} IS NOT NULL) AS {c}"
            for c in spec.column_names if c not in spec.key)
        return f"(SELECT {key}, {picked} FROM {source} GROUP BY {key})"
    return (f"(SELECT * FROM {source} QUALIFY row_number() OVER"
            f" (PARTITION BY {key} ORDER BY {order}) = 1)")


def _winners(contracts: str) -> str:
    """The contracts now shown from a document of these contract rows, with that document."""
    return (f"(SELECT contract_id, document_id FROM contracts WHERE contract_id IN"
            f" (SELECT contract_id FROM {contracts}) AND document_id IN"
            f" (SELECT document_id FROM {contracts}))")


def _shown_items(items: str, contracts: str) -> str:
    """The item lines emitted beside the contract row that won (the row names its document,
    which need not be the document parsed: OCDS compiles a contract from several)."""
    return (f"(SELECT i.* FROM {items} i JOIN {_winners(contracts)} w USING (contract_id)"
            f" LEFT JOIN (SELECT contract_id, _doc, last(document_id ORDER BY _ord, _row)"
            f" AS shown FROM {contracts} GROUP BY contract_id, _doc) s"
            f" ON s.contract_id = i.contract_id AND s._doc = i._doc"
            f" WHERE w.document_id = coalesce(s.shown, i._doc))")


def upsert_conflict(table: str) -> str:
    """The ON CONFLICT clause of an upsert into `table`: a stored row is replaced only by one
    at least as new (`newest`); in a table of things described (KEEP_KNOWN) the older row
    fills what the newer leaves NULL."""
    spec = TABLES[table]
    updates = [c for c in spec.column_names if c not in spec.key]
    newer = _newer_sql(table, spec.newest)
    if not updates:
        return f" ON CONFLICT ({', '.join(spec.key)}) DO NOTHING"
    if table in KEEP_KNOWN:
        return f" ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET " + ", ".join(
            f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE {table}.{c} END"
            if c in spec.newest else
            f"{c} = CASE WHEN {newer} THEN coalesce(excluded.{c}, {table}.{c})"
            f" ELSE coalesce({table}.{c}, excluded.{c}) END" for c in updates)
    return (f" ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in updates)
            + (f" WHERE {newer}" if spec.newest else ""))


def _newer_sql(table: str, columns: tuple[str, ...]) -> str:
    """SQL: the incoming row is at least as new as the stored one (NULL lowest)."""
    if not columns:
        return "TRUE"

    def rank(alias: str) -> str:
        return ", ".join(f"{alias}.{c} IS NOT NULL, {alias}.{c}" for c in columns)

    return f"(({rank('excluded')}) >= ({rank(table)}))"
