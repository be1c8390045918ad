"""`survtrack check`: is the warehouse whole, is its archive, is the published snapshot?

Each problem is one line naming the file at fault (`Problem`); the checks go on after one, so
a run lists every problem it can see.

- The warehouse opens; its schema is the one this survtrack declares (schema.py: every table
  and column, of its type; there is no version number to trust instead, the columns are
  compared themselves); every table reads whole (a damaged or missing block fails the read);
  the invariants of invariants.csv hold (every contract's document is in documents, …).
- The archive: every document's file (and every OCDS release blob) is there, of the size
  documents records, and its SHA-256 is its name (streamed, a file at a time).
- The snapshot the dashboard reads: the `current` pointer names a file that exists, opens,
  reads whole, and counts the rows the warehouse counts (a snapshot published before the
  last load is stale: `survtrack build` or `survtrack snapshot` publishes a new one).

What it cannot see: DuckDB keeps no checksum a reader can ask for over its indexes, so a
damaged index block shows only when a write uses it.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from . import faults, snapshot
from .faults import StorageFault
from .schema import TABLES
from .store import Warehouse

INVARIANTS_FILE = Path(__file__).with_name("invariants.csv")
NOT_COMPARED = {"runs"}  # a run changes no figure the snapshot shows
SNAPSHOT_HINT = "publish a new one: survtrack snapshot"


@dataclass(frozen=True)
class Problem:
    file: Path
    what: str

    def __str__(self) -> str:
        return f"{self.file}: {self.what}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # what was looked at, counted
    notes: list[str] = field(default_factory=list)          # what could not be looked at


def invariants() -> list[dict]:
    with open(INVARIANTS_FILE, encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def check(db: Path, archive: Path | None = None, *, hashes: bool = True,
          lock_wait: float | None = None,
          on_problem: Callable[[Problem], None] | None = None,
          derived: Iterable[str] = ("contract_facts",)) -> Report:
    """Check the warehouse `db`, its archive and its current snapshot; see the module.
    `derived`: the tables the snapshot's publisher was handed besides the warehouse's own
    (`survtrack check` passes `analysis.facts.DERIVED`)."""
    report = Report()

    def problem(file: Path, what: str) -> None:
        found = Problem(Path(file), what)
        report.problems.append(found)
        if on_problem:
            on_problem(found)

    counts: dict[str, int] | None = None
    try:
        wh = Warehouse(db, read_only=True, archive=archive, lock_wait=lock_wait)
    except StorageFault as exc:
        problem(db, f"{exc.kind.says} ({faults.detail(exc.cause)}); {exc.hint}")
        report.notes.append("archive not checked: the warehouse cannot be read")
    else:
        with wh:
            counts = _check_database(wh.con, db, problem, report, tables=True)
            if counts is not None:
                _check_schema(wh.con, db, problem)
                _check_invariants(wh.con, db, problem, report)
                _check_archive(wh, problem, report, hashes)
    _check_snapshot(db, counts, problem, report, tuple(derived))
    return report


def _check_database(con: duckdb.DuckDBPyConnection, path: Path, problem, report: Report,
                    tables: bool) -> dict[str, int] | None:
    """Read every table whole; return its row counts, or None (after a problem) if the file
    cannot be read."""
    counts: dict[str, int] = {}
    names = [t for (t,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog ="
        " current_database() AND table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
    for name in names:
        try:  # hashing every row reads every column's blocks, so a damaged one fails here
            counts[name], _ = con.execute(
                f'SELECT count(*), bit_xor(hash(t)) FROM "{name}" t').fetchone()
        except duckdb.Error as exc:
            fault = StorageFault.of(exc, path)
            says = fault.kind.says if fault else "cannot be read"
            problem(path, f"{says}: table {name} fails to read ({faults.detail(exc)})")
            return None
    report.checked["tables" if tables else "snapshot tables"] = len(names)
    return counts


def _check_schema(con: duckdb.DuckDBPyConnection, db: Path, problem) -> None:
    found: dict[str, dict[str, str]] = {}
    for table, column, typ in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_catalog = current_database()").fetchall():
        found.setdefault(table, {})[column] = typ
    upgrade = "made by an earlier survtrack: any writing command (ingest, build) adds it"
    for table in TABLES.values():
        if table.name not in found:
            problem(db, f"schema: no table {table.name} ({upgrade})")
            continue
        for column in table.columns:
            typ = found[table.name].get(column.name)
            if typ is None:
                problem(db, f"schema: no column {table.name}.{column.name} ({upgrade})")
            elif typ != column.type:
                problem(db, f"schema: column {table.name}.{column.name} is {typ}, survtrack"
                        f" declares {column.type}")


def _check_invariants(con: duckdb.DuckDBPyConnection, db: Path, problem,
                      report: Report) -> None:
    rules = invariants()
    for rule in rules:
        try:
            n, first = con.execute(
                f"SELECT count(*), min(k::VARCHAR) FROM ({rule['sql']}) AS v(k)").fetchone()
        except duckdb.Error as exc:
            problem(db, f"invariant {rule['invariant']} could not be checked"
                    f" ({faults.detail(exc)})")
            continue
        if n:
            problem(db, f"{n} {rule['says']} (first: {first}; invariant {rule['invariant']})")
    report.checked["invariants"] = len(rules)


def _check_archive(wh: Warehouse, problem, report: Report, hashes: bool) -> None:
    n = size_total = 0
    for document_id, size, origin in wh.iter_rows(
            "SELECT document_id, bytes, origin FROM documents UNION ALL"
            " SELECT DISTINCT blob, NULL, 'an OCDS release blob' FROM ocds_releases"
            " WHERE blob IS NOT NULL AND blob NOT IN (SELECT document_id FROM documents)"
            " ORDER BY 1"):
        path = wh.archive.where(document_id)  # its file, or where it is packed
        n += 1
        try:
            actual = wh.archive.size(document_id)
        except OSError as exc:
            problem(path, f"cannot be read ({exc.strerror}): the archived bytes of {origin}")
            continue
        if actual is None:
            problem(path, f"missing: the archived bytes of {origin}")
            continue
        size_total += actual
        if size is not None and actual != size:
            problem(path, f"{actual:,} bytes where documents records {size:,}: changed after it"
                    f" was archived ({origin})")
            continue
        if not hashes:
            continue
        try:
            with wh.archive.open(document_id) as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError as exc:
            problem(path, f"cannot be read ({exc.strerror}): the archived bytes of {origin}")
            continue
        if digest != document_id:
            problem(path, f"SHA-256 is {digest}, not its name: changed after it was archived"
                    f" ({origin})")
    report.checked["archived documents"] = n
    report.checked["archived bytes" + ("" if hashes else " (sizes only, not hashed)")] = \
        size_total


def _check_snapshot(db: Path, counts: dict[str, int] | None, problem,
                    report: Report, derived: tuple[str, ...]) -> None:
    link = snapshot.snapshot_dir(db) / "current"
    if not link.is_symlink():
        report.notes.append("no snapshot published (the dashboard publishes one when it"
                            " starts; survtrack build does after each build)")
        return
    target = link.parent / os.readlink(link)
    if not target.is_file():
        problem(link, f"points to {target.name}, which does not exist; {SNAPSHOT_HINT}")
        return
    try:
        con = duckdb.connect(str(target), read_only=True)
    except duckdb.Error as exc:
        fault = StorageFault.of(exc, target)
        says = fault.kind.says if fault else "cannot be opened"
        problem(target, f"{says} ({faults.detail(exc)}); {SNAPSHOT_HINT}")
        return
    with con:
        snap = _check_database(con, target, problem, report, tables=False)
        if snap is None:
            return
        published = [t for t, table in TABLES.items() if table.published]
        expected = [*published, *derived]
        missing = [t for t in expected if t not in snap]
        if missing:
            problem(target, f"no table {', '.join(missing)}; {SNAPSHOT_HINT}")
            return
        if snap["contract_facts"] != snap["contracts"]:
            problem(target, f"contract_facts has {snap['contract_facts']:,} rows for"
                    f" {snap['contracts']:,} contracts; {SNAPSHOT_HINT}")
        if counts is not None:
            stale = [f"{t} {snap[t]:,} (warehouse {counts.get(t, 0):,})" for t in published
                     if t not in NOT_COMPARED and snap[t] != counts.get(t, 0)]
            if stale:
                problem(target, "stale, published before the warehouse last changed: "
                        + ", ".join(stale) + "; survtrack build (or snapshot) publishes a"
                        " new one")
    report.checked["snapshot"] = 1
