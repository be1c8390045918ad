"""Loading documents the workers staged as Parquet partitions (partitions.py), in one
transaction, with DuckDB reading the files directly: no parsed row passes through Python.
The local pool's workers send the same partitions as Arrow tables in memory, loaded the same
way.

The rules are rules.py's, the same SQL the store's batches run (store.py `store_parsed`) over
Arrow tables of rows in memory: a document already loaded (told by its `documents` row's
insert, rules.claim_documents), or staged twice, is skipped (its other rows are not read).
If the transaction fails, each document is loaded again on its own from the archive
(`Warehouse.load`) and fails or loads by itself.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from . import rules
from .partitions import StagedDocument
from .protocol import Parser
from .store import LoadResult, Warehouse


def load_staged(wh: Warehouse, files: dict[str, list[str] | list[pa.Table]],
                staged: list[StagedDocument], parse: Parser, run_id: str | None
                ) -> list[LoadResult]:
    """Load the staged documents whose partitions are `files` ({table: [Parquet file, …]} or
    {table: [Arrow table, …]}); return one result per entry of `staged`, in order.

    Which are loaded already is told inside the transaction by their `documents` rows'
    insert (rules.claim_documents: a plain INSERT, its key index refusing a stored key, then
    the batch again by an upsert that leaves the loaded ones alone), not by a look-up before
    it: a scan of the stored keys or literal lists, whose cost grew with the warehouse."""
    first: dict[str, StagedDocument] = {}  # the same bytes staged twice: the first place
    for s in staged:
        first.setdefault(s.document.document_id, s)
    claimed = set(first)
    if first:
        try:
            claimed = _write(wh, files, first, len(first) < len(staged), run_id)
        except Exception as exc:  # noqa: BLE001 - fall back to one transaction per document
            wh._stop_on_storage_fault(exc, f"loading {len(first)} staged documents")
            again = {d: wh.load(s.document, parse, run_id) for d, s in first.items()}
            return [again[s.document.document_id] if first[s.document.document_id] is s
                    else LoadResult("skipped", s.document.document_id) for s in staged]
        wh.checkpoint_wal()
    return [LoadResult(s.status, d, s.kind, s.detail)
            if first[d] is s and d in claimed else LoadResult("skipped", d)
            for s in staged for d in [s.document.document_id]]


def _write(wh: Warehouse, files: dict[str, list[str] | list[pa.Table]],
           first: dict[str, StagedDocument], twice: bool, run_id: str | None) -> set[str]:
    """Write the rows of the documents `first` holds, in one transaction, but those of the
    documents the warehouse has loaded; return the ids written. `twice`: some document was
    staged more than once (only its first place's rows are read)."""
    chosen = pa.table({"document_id": list(first), "ord": [s.order for s in first.values()]})
    # tables in memory: the rows of the documents chosen, picked here by their place (one C
    # call per table; none when every document is new, as in a first load)
    memory = {f"staged_{t}": _chosen(parts, chosen["ord"], twice)
              for t, parts in files.items() if parts and not isinstance(parts[0], str)}

    def rows(table: str) -> str:
        """The staged rows of `table` from the documents chosen."""
        if f"staged_{table}" in memory:
            return f"staged_{table}"
        paths = ", ".join("'" + p.replace("'", "''") + "'" for p in sorted(set(files[table])))
        return (f"(SELECT p.* FROM read_parquet([{paths}]) p JOIN staged_fresh f"
                f" ON p._doc = f.document_id AND p._ord = f.ord)")

    claimed = "documents" in files
    try:  # first as if none were stored (a daily run's documents are new), else again
        return _transaction(wh, rows, chosen, memory, files, run_id, claimed, False)
    except rules.StoredDocument:
        return _transaction(wh, rows, chosen, memory, files, run_id, claimed, True)


def _transaction(wh: Warehouse, rows, chosen: pa.Table, memory: dict[str, pa.Table],
                 files: dict, run_id: str | None, claimed: bool, stored: bool) -> set[str]:
    """The batch's one transaction; `stored`: some of its documents may be stored already."""
    with wh.transaction():
        if claimed:
            with wh.using(staged_fresh=chosen, **memory):
                written = rules.claim_documents(wh, rows, stored)
        else:  # no documents rows to claim by (none in a chunk of parsed documents)
            written = set(chosen["document_id"].to_pylist()) - wh.loaded_ids(
                chosen["document_id"].to_pylist())
        if len(written) < len(chosen):  # some were loaded: the others' rows only
            chosen = chosen.filter(pc.is_in(chosen["document_id"],
                                            value_set=pa.array(sorted(written), pa.string())))
            # rows() reads this same dict: its tables narrowed in place
            memory.update((name, _chosen([part], chosen["ord"], True))
                          for name, part in memory.items())
        if written:
            with wh.using(staged_fresh=chosen, **memory):
                rules.write(wh, rows, set(files), run_id, claimed=claimed)
    return written


def _chosen(parts: list[pa.Table], places: pa.ChunkedArray, some: bool) -> pa.Table:
    """One table of the parts, only the rows whose `_ord` is in `places` when `some`."""
    rows = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    return rows.filter(pc.is_in(rows["_ord"], value_set=places.combine_chunks())) if some \
        else rows
