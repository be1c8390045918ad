"""Loading documents the workers staged as Parquet partitions (partitions.py), in one
transaction, with DuckDB reading the files directly: no parsed row passes through Python.

The rules are the store's (store.py `store_parsed` and `_write_rows`), written as SQL over the
partitions: a document already loaded, or staged twice, is skipped (its rows are not read);
of rows sharing a key the newest by the table's `newest` columns wins, input order breaking
ties (the later wins, as in a serial load), and a described thing (KEEP_KNOWN) keeps from older
rows what the newer leaves NULL; an item line belongs to the version shown in `contracts`;
a reported termination overrides the stage. If the transaction fails, each document is loaded
again on its own from the archive (`Warehouse.load`) and fails or loads by itself.
"""

from __future__ import annotations

import pyarrow as pa

from .partitions import DOCUMENT_COLUMNS, REJECT_COLUMNS, StagedDocument
from .protocol import EMITTED, Parser
from .runs import utcnow
from .schema import TABLES
from .store import KEEP_KNOWN, LoadResult, Warehouse, upsert_conflict


def load_staged(wh: Warehouse, files: dict[str, list[str]], staged: list[StagedDocument],
                parse: Parser, run_id: str | None) -> list[LoadResult]:
    """Load the staged documents whose partitions are `files` ({table: [file, …]}); return one
    result per entry of `staged`, in order."""
    known = wh.loaded_ids([s.document.document_id for s in staged])
    fresh: dict[str, StagedDocument] = {}
    results = []
    for s in staged:
        document_id = s.document.document_id
        if document_id in known or document_id in fresh:
            results.append(LoadResult("skipped", document_id))
        else:
            fresh[document_id] = s
            results.append(LoadResult(s.status, document_id, s.kind, s.detail))
    if not fresh:
        return results
    chosen = pa.table({"document_id": list(fresh), "ord": [s.order for s in fresh.values()]})
    try:
        with wh.using(staged_fresh=chosen), wh.transaction():
            _write(wh, files, run_id)
    except Exception as exc:  # noqa: BLE001 - fall back to one transaction per document
        wh._stop_on_storage_fault(exc, f"loading {len(fresh)} staged documents")
        again = {d: wh.load(s.document, parse, run_id) for d, s in fresh.items()}
        results = [again.get(r.document_id, r) if r.status != "skipped" else r
                   for r in results]
    wh.checkpoint_wal()
    return results


def _write(wh: Warehouse, files: dict[str, list[str]], run_id: str | None) -> None:
    def rows(table: str) -> str:
        """The staged rows of `table` from the documents chosen (the same bytes staged twice:
        from the first place only)."""
        paths = ", ".join("'" + p.replace("'", "''") + "'" for p in sorted(set(files[table])))
        return (f"(SELECT p.* FROM read_parquet([{paths}]) p JOIN staged_fresh f"
                f" ON p._doc = f.document_id AND p._ord = f.ord)")

    now = utcnow()
    columns = ", ".join(DOCUMENT_COLUMNS)
    wh.execute(
        f"INSERT INTO documents ({columns}, fetched_at) SELECT {columns}, ?::TIMESTAMP"
        f" FROM {rows('documents')} ON CONFLICT (document_id) DO UPDATE SET kind ="
        " excluded.kind, status = excluded.status, detail = excluded.detail,"
        " url = coalesce(excluded.url, documents.url)", [now])
    if "rejects" in files:
        columns = ", ".join(REJECT_COLUMNS)
        wh.execute(
            f"INSERT INTO rejects ({columns}, run_id, rejected_at) SELECT {columns}, ?, ?"
            f" FROM {_newest('rejects', rows('rejects'))} ON CONFLICT (reject_id) DO UPDATE"
            " SET run_id = excluded.run_id, rejected_at = excluded.rejected_at", [run_id, now])
    for table in EMITTED:
        if table not in files:
            continue
        source = rows(table)
        if table == "items" and "contracts" in files:
            source = _shown_items(source, rows("contracts"))
        elif table == "items":
            continue  # no contract in these documents: no line is shown (as the store does)
        if table == "items":
            wh.execute("DELETE FROM items WHERE contract_id IN (SELECT contract_id FROM"
                       f" {_winners(rows('contracts'))})")
        if table == "context_parties":  # an event states all its parties
            events = f"SELECT event_id FROM {source}" + (
                f" UNION SELECT event_id FROM {rows('context_events')}"
                if "context_events" in files else "")
            wh.execute(f"DELETE FROM context_parties WHERE event_id IN ({events})")
        _insert(wh, table, _newest(table, source))
    touched = [f"SELECT contract_id FROM {rows(t)}" for t in ("contracts", "contract_events")
               if t in files]
    if touched:
        ids = [c for (c,) in wh.query(" UNION ".join(touched))]
        wh._apply_events(sorted(ids))
    if "warnings" in files:
        _insert(wh, "warnings", _newest("warnings", rows("warnings")))


def _insert(wh: Warehouse, table: str, source: str) -> None:
    columns = ", ".join(TABLES[table].column_names)
    wh.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {source}"
               + upsert_conflict(table))


def _newest(table: str, source: str) -> str:
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
    """The item lines emitted beside the contract row that won (store._write_rows: the row
    names its document, which need not be the document parsed)."""
    return (f"(SELECT i.* FROM {items} i JOIN {_winners(contracts)} w USING (contract_id)"
            f" LEFT JOIN (SELECT contract_id, _doc, last(document_id ORDER BY _ord, _row)"
            f" AS shown FROM {contracts} GROUP BY contract_id, _doc) s"
            f" ON s.contract_id = i.contract_id AND s._doc = i._doc"
            f" WHERE w.document_id = coalesce(s.shown, i._doc))")
