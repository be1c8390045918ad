"""Loading documents the workers staged as Parquet partitions (partitions.py), in one
transaction, with DuckDB reading the files directly: no parsed row passes through Python.
The local pool's workers send the same partitions as Arrow tables in memory, loaded the same
way.

The rules are rules.py's, the same SQL the store's batches run (store.py `store_parsed`) over
Arrow tables of rows in memory: a document already loaded, or staged twice, is skipped (its
rows are not read). If the transaction fails, each document is loaded again on its own from
the archive (`Warehouse.load`) and fails or loads by itself.
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
    {table: [Arrow table, …]}); return one result per entry of `staged`, in order."""
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
    memory: dict[str, pa.Table] = {}

    def rows(table: str) -> str:
        """The staged rows of `table` from the documents chosen (the same bytes staged twice:
        from the first place only)."""
        if f"staged_{table}" in memory:
            return f"staged_{table}"
        paths = ", ".join("'" + p.replace("'", "''") + "'" for p in sorted(set(files[table])))
        return (f"(SELECT p.* FROM read_parquet([{paths}]) p JOIN staged_fresh f"
                f" ON p._doc = f.document_id AND p._ord = f.ord)")

    try:
        # tables in memory: the rows of the documents chosen, picked here by their place (one
        # C call per table; none when every document is new, as in a first load)
        memory.update((f"staged_{t}", _chosen(parts, chosen["ord"], len(fresh) < len(staged)))
                      for t, parts in files.items() if parts and not isinstance(parts[0], str))
        with wh.using(staged_fresh=chosen, **memory), wh.transaction():
            rules.write(wh, rows, set(files), run_id)
    except Exception as exc:  # noqa: BLE001 - fall back to one transaction per document
        wh._stop_on_storage_fault(exc, f"loading {len(fresh)} staged documents")
        again = {d: wh.load(s.document, parse, run_id) for d, s in fresh.items()}
        results = [again.get(r.document_id, r) if r.status != "skipped" else r
                   for r in results]
    wh.checkpoint_wal()
    return results


def _chosen(parts: list[pa.Table], places: pa.ChunkedArray, some: bool) -> pa.Table:
    """One table of the parts, only the rows whose `_ord` is in `places` when `some`."""
    rows = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    return rows.filter(pc.is_in(rows["_ord"], value_set=places.combine_chunks())) if some \
        else rows
