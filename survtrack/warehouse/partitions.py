"""A chunk of parsed documents as Parquet partitions, written by the worker that parsed them.

On a Dask cluster the parsed rows do not travel back to the ingest process: each worker writes
one Parquet file per table for its chunk into a staging folder on shared storage, and the
ingest process loads them with DuckDB reading the files directly (staged.py). The local
pool's workers build the same tables and send them back as Arrow IPC streams (`to_ipc`):
column buffers, which cost the ingest process far less to receive than the rows as pickled
dicts and nothing to turn into tables (docs/scale.md). Besides the
tidy tables a chunk has a `documents` partition (every parsed document, its status and what
the parser said of it), `rejects` (a rejected document, a rejected part) and `warnings`
(suspicious.flags over the chunk's rows). Every row carries `_doc` (the document parsed) and
`_ord` (the chunk's number << 20 | the document's place in it) and `_row` (the row's place in
its file): input order, which breaks ties between versions as a serial load does (the later
one wins).

A file is named by a hash of the chunk's number and document ids and written under a
temporary name, then renamed: a task Dask runs again (a worker lost) writes the same file
over, never a second one. Imports pyarrow (pyarrow.parquet only when writing files), not
DuckDB.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pyarrow as pa

from . import suspicious
from .protocol import Document, Rejected, RowBuffer
from .schema import arrow_schema, fitted

ORDER_BITS = 20  # documents a chunk may hold: far more than ingest.CHUNK
# columns of the `documents` partition (the table's, less fetched_at: set when loaded)
DOCUMENT_COLUMNS = ("document_id", "source", "url", "origin", "media_type", "bytes", "kind",
                    "status", "detail")
REJECT_COLUMNS = ("reject_id", "source", "origin", "document_id", "field", "reason")


@dataclass
class StagedDocument:
    """What a worker sends back for a document it parsed and staged: no rows."""

    order: int  # the document's `_ord`: its chunk's number << ORDER_BITS | its place there
    document: Document
    status: str  # loaded | not_contract_bearing | rejected
    kind: str | None
    detail: str | None  # the parser's, or why it was rejected


def write_chunk(folder: Path, chunk: int, parsed: list[RowBuffer | Rejected]) -> dict[str, str]:
    """Write the chunk's partitions into `folder`; return {table: file} of those written."""
    if not parsed:
        return {}
    import pyarrow.parquet as pq  # here: the local pool's workers write no files

    ids = "\n".join([str(chunk)] + [p.document.document_id for p in parsed])
    name = hashlib.sha256(ids.encode()).hexdigest()[:24]
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for table, data in chunk_tables(chunk, parsed).items():
        target = folder / f"{table}-{name}.parquet"
        partial = folder / f".{target.name}.{uuid.uuid4().hex}.partial"
        pq.write_table(data, partial)
        os.replace(partial, target)
        written[table] = str(target)
    return written


def chunk_tables(chunk: int, parsed: list[RowBuffer | Rejected]) -> dict[str, pa.Table]:
    """The partitions of a chunk of parsed documents as Arrow tables ({table: rows}): what a
    worker writes to Parquet, and what the store loads from memory (store_parsed, chunk 0).
    Marks the parsed rows in place (they are the chunk's own)."""
    tables: dict[str, list[dict]] = defaultdict(list)
    now = datetime.now(UTC).replace(tzinfo=None)
    for position, outcome in enumerate(parsed):
        doc = outcome.document
        mark = {"_doc": doc.document_id, "_ord": chunk << ORDER_BITS | position}
        if isinstance(outcome, Rejected):
            tables["documents"].append({
                **_document_row(doc, getattr(outcome, "kind", None), "rejected",
                                outcome.reason, doc.url), **mark})
            tables["rejects"].append({**reject_row(doc, outcome.reason, outcome.field), **mark})
            continue
        status = "loaded" if outcome.contract_bearing else "not_contract_bearing"
        tables["documents"].append({
            **_document_row(doc, outcome.kind, status, outcome.detail, outcome.url), **mark})
        for part in outcome.part_rejects:
            tables["rejects"].append({**reject_row(doc, part.reason, part.field), **mark})
        for table, rows in outcome.rows.items():
            for row in rows:
                if table == "contracts":
                    row.setdefault("document_id", doc.document_id)
                row.update(mark)
            tables[table].extend(rows)
        flagged = suspicious.flags(outcome.rows, doc.document_id, doc.source, now)
        tables["warnings"].extend({**w, **mark} for w in flagged)
    return {table: _arrow(table, rows) for table, rows in tables.items() if rows}


def to_ipc(data: pa.Table) -> bytes:
    """A table as an Arrow IPC stream: its column buffers as they are. Pickling a pa.Table
    cost ~5x more here (measured on the chunks of 3,000 EIS documents, docs/scale.md)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as out:
        out.write_table(data)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def reject_row(doc, reason: str, field: str | None) -> dict:
    """A `rejects` row less its run and time (runs.reject's key: origin, document, field,
    reason)."""
    key = hashlib.sha256(f"{doc.origin}|{doc.document_id}|{field}|{reason}".encode())
    return {"reject_id": key.hexdigest()[:32], "source": doc.source, "origin": doc.origin,
            "document_id": doc.document_id, "field": field, "reason": reason[:2000]}


def _document_row(doc, kind, status, detail, url) -> dict:
    return {"document_id": doc.document_id, "source": doc.source, "url": url,
            "origin": doc.origin, "media_type": doc.media_type, "bytes": doc.size,
            "kind": kind, "status": status, "detail": detail}


@cache  # asked for each table of every chunk: ~20 us to make
def partition_schema(table: str) -> pa.Schema:
    """A partition's columns: the table's (`documents` and `rejects` less what is set when
    loaded), then `_doc`, `_ord` and `_row` (the row's place in the file)."""
    schema = arrow_schema(table)
    if table == "documents":
        schema = pa.schema([schema.field(c) for c in DOCUMENT_COLUMNS])
    elif table == "rejects":
        schema = pa.schema([schema.field(c) for c in REJECT_COLUMNS])
    for name, typ in (("_doc", pa.string()), ("_ord", pa.int64()), ("_row", pa.int64())):
        schema = schema.append(pa.field(name, typ))
    return schema


def _arrow(table: str, rows: list[dict]) -> pa.Table:
    """The rows as a partition (pyarrow converts the list of dicts itself: several times
    faster than a list per column); a Decimal finer than its column's scale is rounded first
    (schema.fitted), as the table's type would, when pyarrow refuses to lose the digits."""
    schema = partition_schema(table)
    given = _given(table)
    try:
        data = pa.Table.from_pylist(rows, schema=given)
    except pa.ArrowInvalid:
        data = pa.Table.from_arrays(
            [pa.array(fitted(table, f.name, [r.get(f.name) for r in rows]), type=f.type)
             for f in given], schema=given)
    return data.append_column(schema.field("_row"), pa.array(range(len(rows)), pa.int64()))


@cache
def _given(table: str) -> pa.Schema:
    """The partition's columns less `_row` (added as a range)."""
    return pa.schema([f for f in partition_schema(table) if f.name != "_row"])
