"""The parser contract: what a parser is given, what it may emit, how it refuses.

A parser is `parse(ctx: LoadContext) -> None`. It reads `ctx.document` (an archived file),
calls `ctx.emit(table, **row)` for every row it finds, `ctx.describe(...)` to say what the
document was, `ctx.reject_part(...)` for one bad record of a bigger file, and raises
`Rejected(reason, field)` for a document it cannot load. This module imports neither duckdb
nor pyarrow: parsers, `scrapers/http.py` and tests depend on it alone, and the warehouse's
store (`store.py`) implements it, writing what `RowBuffer` gathered in one transaction.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from survtrack.datafiles import rows

from .schema import TABLES

if TYPE_CHECKING:
    from .archive import Archive

# The tables a parser may emit rows into, in the order the store writes them (contracts
# before the rows that follow their version); each row's columns are the table's in schema.py.
EMITTED: tuple[str, ...] = ("organizations", "contracts", "contract_versions", "items",
                            "payments", "contract_events", "notices", "tags", "fx_rates",
                            "entities", "ocds_releases", "context_events", "context_parties",
                            "procurement_facts")
# The tables a document's `retract` clears for a contract, children first.
RETRACT_FROM: tuple[str, ...] = ("items", "contract_versions", "payments", "tags", "contracts")
# Tables a document may retract rows from, and the column naming what is retracted: besides a
# contract's rows, the facts of a procurement compiled again (an OCDS process whose newest
# release now sits in another document states its facts once, from that document).
RETRACT_BY: dict[str, str] = {**{t: "contract_id" for t in RETRACT_FROM},
                              "procurement_facts": "subject_id"}


# The surveillance categories, the vocabulary of `tags.category`: the classifier's taxonomy and
# the curated source both tag with them, so the one list sits with the tables they write.
CATEGORIES = Path(__file__).with_name("categories.csv")


@cache
def categories() -> dict[str, dict]:
    """category -> its row (label, description), in display order."""
    return {r["category"]: r for r in rows(CATEGORIES, ("category", "label", "description"))}


def row_columns(table: str) -> tuple[str, ...]:
    """The columns a row emitted into `table` may have (all optional but the key)."""
    if table not in EMITTED:
        raise KeyError(f"parsers emit no rows into {table!r}; they may emit {', '.join(EMITTED)}")
    return tuple(TABLES[table].column_names)


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
    # the archived bytes, when the process that archived a small document parses it: read
    # from memory instead of again from the archive. Never pickled (a worker's documents
    # travel back to the writer without them).
    data: bytes | None = field(default=None, repr=False, compare=False)

    def open(self):
        if self.data is not None:
            return io.BytesIO(self.data)
        try:
            return open(self.path, "rb")
        except FileNotFoundError:  # packed into a segment of the archive (no file of its own)
            return io.BytesIO(self._packed())

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return self._packed()

    def _packed(self) -> bytes:
        """The bytes from the segment they are packed in; FileNotFoundError if none."""
        from .archive import Archive

        data = Archive.at(self.path.parent.parent).packed.read(self.document_id)
        if data is None:
            raise FileNotFoundError(2, "No such file or directory", str(self.path))
        return data

    @classmethod
    def at(cls, document_id: str, source: str, origin: str, path: str, size: int,
           media_type: str | None = None, url: str | None = None,
           data: bytes | None = None) -> Document:
        """A Document whose `path` is given as a string and made a Path on its first use: a
        worker archiving and parsing a document from memory never uses it, and a Path costs
        ~2 us to make (docs/scale.md)."""
        doc = object.__new__(cls)
        doc.__dict__.update(document_id=document_id, source=source, origin=origin, _path=path,
                            size=size, media_type=media_type, url=url, data=data)
        return doc

    def __reduce__(self):
        """Pickled without its bytes, and its path as a string: a Path costs more to unpickle
        than the rest of a worker's entry for the document (the writer unpickles one per
        document: 3,000 paths ~22 ms CPU, docs/scale.md). The Path is made on first use."""
        path = self.__dict__.get("_path")
        return _unpickled, (self.document_id, self.source, self.origin,
                            str(self.path) if path is None else path, self.size,
                            self.media_type, self.url)

    def __getattr__(self, name: str):  # only for an attribute not set: `path` once unpickled
        if name == "path" and "_path" in self.__dict__:
            self.path = Path(self.__dict__.pop("_path"))
            return self.path
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _unpickled(document_id: str, source: str, origin: str, path: str, size: int,
               media_type: str | None, url: str | None) -> Document:
    return Document.at(document_id, source, origin, path, size, media_type, url)


class Rejected(Exception):
    """A document (or part of one) the parser cannot load; names the field at fault."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


class LoadContext(Protocol):
    """What a parser is given for one document (see the module docstring)."""

    document: Document
    rows: dict[str, list[dict]]
    kind: str | None
    detail: str | None
    contract_bearing: bool
    url: str | None
    part_rejects: list[Rejected]
    # for sources whose documents continue each other (OCDS releases of one process):
    archive: Archive | None  # keeps parts of the document by their own hash
    query: Callable[..., list[tuple]] | None  # reads what the warehouse already holds
    # the ingest's workers, to which a document's independent parts may go (OCDS processes):
    # `pool.map(fn, args)` yields fn(*args) in order; None: parse in this process alone
    pool: PartPool | None

    def emit(self, table: str, **row: Any) -> None: ...

    def describe(self, kind: str, detail: str | None = None, contract_bearing: bool = True,
                 url: str | None = None) -> None: ...

    def reject_part(self, reason: str, field: str | None = None) -> None: ...

    def record_done(self) -> None: ...

    def flush(self) -> None: ...

    def retract(self, contract_id: str, tables: tuple[str, ...] | None = None) -> None: ...


Parser = Callable[[LoadContext], None]


class PartPool(Protocol):
    """Workers for the parts of one big document (scrapers/parts.py): worth it for a
    document of at least `min_parts` parts (the parser says what it counts: OCDS, the
    releases it compiles)."""

    min_parts: int

    def map(self, fn: Callable, args: Iterable[tuple]) -> Iterator: ...


@cache
def _columns(table: str) -> frozenset[str]:
    if table not in TABLES:
        raise KeyError(f"unknown table {table}")
    return frozenset(TABLES[table].column_names)


@dataclass
class RowBuffer:
    """The `LoadContext` every load uses: rows are buffered per table and handed to `writer`
    (the store, inside the document's transaction) when the parser is done, or at record
    boundaries of a big file (`record_done`), so memory stays flat."""

    document: Document
    rows: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    kind: str | None = None
    detail: str | None = None
    contract_bearing: bool = True
    url: str | None = None
    part_rejects: list[Rejected] = field(default_factory=list)
    writer: Callable[[RowBuffer], None] | None = None
    batch_rows: int = 20_000
    archive: Archive | None = None
    query: Callable[..., list[tuple]] | None = None
    retracted: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    pool: PartPool | None = None

    def emit(self, table: str, **row: Any) -> None:
        if not _columns(table).issuperset(row):  # no set built for the usual, valid row
            raise KeyError(f"unknown columns for {table}: {sorted(row.keys() - _columns(table))}")
        self.rows[table].append(row)

    def describe(self, kind: str, detail: str | None = None, contract_bearing: bool = True,
                 url: str | None = None) -> None:
        self.kind, self.detail, self.contract_bearing = kind, detail, contract_bearing
        if url:
            self.url = url

    def flush(self) -> None:
        """Write the rows buffered so far, inside the document's transaction."""
        if self.writer:
            self.writer(self)

    def retract(self, contract_id: str, tables: tuple[str, ...] | None = None) -> None:
        """Rows this document shows to be gone, removed in the document's transaction before
        its own rows are written: a contract that no longer exists as such (an OCDS award
        now carried by its contract), or the versions of one about to be restated; with
        `tables=("procurement_facts",)` the facts whose subject_id is `contract_id`."""
        self.retracted.append((contract_id, tables or RETRACT_FROM))

    def record_done(self) -> None:
        """Called by parsers after each complete record of a many-record file: writes the
        buffered rows once enough have gathered, keeping memory flat."""
        if self.writer and sum(map(len, self.rows.values())) >= self.batch_rows:
            self.writer(self)

    def reject_part(self, reason: str, field: str | None = None) -> None:
        self.part_rejects.append(Rejected(reason, field))
