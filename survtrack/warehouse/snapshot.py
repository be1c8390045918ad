"""Read-only snapshots of the warehouse, for readers that must not block the writer.

DuckDB lets one process write a file and nobody else open it meanwhile. The dashboard therefore
never opens the warehouse itself: a finished build (or `survtrack snapshot`) copies the
warehouse into `<db>.snapshot/<timestamp>.duckdb` and then swaps the `current` symlink in one
`rename`, so a reader sees either the old complete copy or the new complete copy, never a
half-written one. Readers notice the swap (`SnapshotReader`) and re-open.

Each snapshot also carries derived tables that the publisher is handed (`derived`): the
analysis floor's `contract_facts` and cubes (`survtrack/analysis/facts.py`), so the dashboard's
group-bys read small tables. This module knows how to copy and swap, not what spending is.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from survtrack import config

from . import faults
from .faults import StorageFault
from .schema import TABLES

KEEP = 3  # snapshots kept on disk: the current one and two a slow reader may still hold

def snapshot_dir(db_path: str | os.PathLike) -> Path:
    db = Path(db_path)
    return db.with_name(db.name + ".snapshot")


def current_snapshot(db_path: str | os.PathLike) -> Path | None:
    """The snapshot the `current` pointer names, or None if none was published."""
    link = snapshot_dir(db_path) / "current"
    try:
        return link.parent / os.readlink(link)
    except FileNotFoundError:
        return None


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish_snapshot(db_path: str | os.PathLike, con: duckdb.DuckDBPyConnection | None = None,
                     lock_wait: float | None = None, *, derived: Mapping[str, str]) -> Path:
    """Copy the warehouse into a new snapshot, add the `derived` tables (name -> SELECT over
    the copy, created in order) and make it current; return its path. When neither the
    warehouse's tables nor `derived` changed since the current snapshot, that one is kept and
    returned (nothing is written).

    Pass `con` (the writer's own connection) to publish from inside a running build; without
    it the warehouse is opened read-only, waiting up to `lock_wait` seconds (config.lock_wait)
    while another process writes it (then faults.WarehouseBusy).
    `survtrack.analysis.facts.publish_snapshot` hands it the spending tables.
    """
    folder = snapshot_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = folder / f"{stamp}.duckdb"
    tmp = folder / f".{stamp}.partial.duckdb"
    version = _version(derived)
    try:
        if con is not None:  # the writer's connection: copy from inside its process
            source = con.execute("SELECT current_database()").fetchone()[0]
            # paths come from configuration, never from a web request; quoted all the same
            con.execute(f"ATTACH {_sql_string(str(tmp))} AS survtrack_snapshot")
            try:
                kept = _copy(con, source, "survtrack_snapshot", db_path, version)
            finally:
                con.execute("DETACH survtrack_snapshot")
        else:
            copier = _connect(tmp)
            try:
                target = copier.execute("SELECT current_database()").fetchone()[0]
                faults.waiting(Path(db_path), lambda: copier.execute(
                    f"ATTACH {_sql_string(str(db_path))} AS survtrack_source (READ_ONLY)"),
                    config.lock_wait(lock_wait))
                kept = _copy(copier, "survtrack_source", target, db_path, version)
                copier.execute("DETACH survtrack_source")
            finally:
                copier.close()
        if kept is not None:
            _remove(tmp)
            return kept
        snap = _connect(tmp)
        try:
            for name, sql in derived.items():
                snap.execute(f"CREATE OR REPLACE TABLE {_identifier(name)} AS {sql}")
            snap.execute("CHECKPOINT")
        finally:
            snap.close()
    except BaseException:
        _remove(tmp)
        raise
    os.replace(tmp, final)
    pointer = folder / f".current-{stamp}"
    os.symlink(final.name, pointer)
    os.replace(pointer, folder / "current")  # the atomic swap
    _prune(folder, final)
    return final


# What the snapshot's file holds and how, besides the tables: raise it when that changes, so
# the next publish writes a new snapshot even where the warehouse did not change.
LAYOUT = "tables copied without constraints, an index on each key's first column; 1"


def _version(derived: Mapping[str, str]) -> str:
    """A hash of the snapshot's layout and of the derived tables' SQL: the code they come from."""
    digest = hashlib.sha256(LAYOUT.encode())
    for name, sql in derived.items():
        digest.update(f"\0{name}\0{sql}".encode())
    return digest.hexdigest()[:16]


def _copy(con: duckdb.DuckDBPyConnection, source: str, target: str, db_path,
          version: str) -> Path | None:
    """Copy the readers' tables of database `source` into `target` (both attached to `con`),
    table by table, without their constraints; None, or, when every table and `version` are
    as in the current snapshot, that snapshot (then nothing is copied).

    A read-only copy needs no primary key: DuckDB would build and hold every key's index
    while copying (a whole-database copy of 10 M contracts ran out of 4 GB in them), and the
    build's bookkeeping (schema `published=False`) no reader needs. Each table keeps one index,
    on its key's first column (contract_id, document_id…): the readers' lookups of one
    contract or document read it instead of every row group.
    """
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY table_name",
        [source]).fetchall()]
    names = [n for n in names if n not in TABLES or TABLES[n].published]
    prints = {name: con.execute(
        f"SELECT count(*), coalesce(bit_xor(hash(snapshot_row)), 0)::VARCHAR"
        f" FROM {_identifier(source)}.{_identifier(name)} snapshot_row").fetchone()
        for name in names}
    current = current_snapshot(db_path)
    if current is not None and _contents(current) == (version, prints):
        return current
    src, dst = _identifier(source), _identifier(target)
    for name in names:
        table = _identifier(name)
        con.execute(f"CREATE TABLE {dst}.{table} AS SELECT * FROM {src}.{table}")
        if name in TABLES:
            column = TABLES[name].key[0]
            con.execute(f"CREATE INDEX {_identifier(f'{name}_{column}')}"
                        f" ON {dst}.{table} ({_identifier(column)})")
    con.execute(f"CREATE TABLE {dst}.snapshot_tables (table_name VARCHAR, rows BIGINT,"
                " fingerprint VARCHAR, version VARCHAR)")
    con.executemany(f"INSERT INTO {dst}.snapshot_tables VALUES (?, ?, ?, ?)",
                    [[name, rows, fingerprint, version]
                     for name, (rows, fingerprint) in prints.items()])
    return None


def _contents(path: Path) -> tuple[str, dict] | None:
    """What snapshot `path` was published from (`snapshot_tables`), None if it cannot say."""
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            rows = con.execute("SELECT table_name, rows, fingerprint, version"
                               " FROM snapshot_tables").fetchall()
    except duckdb.Error:  # published by an earlier survtrack, or unreadable: publish anew
        return None
    versions = {version for *_, version in rows}
    if len(versions) != 1:
        return None
    return versions.pop(), {name: (n, fingerprint) for name, n, fingerprint, _ in rows}


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    Path(str(path) + ".wal").unlink(missing_ok=True)


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection of the publisher's own, within config.publish_memory when one is set."""
    limit = config.publish_memory()
    return duckdb.connect(str(path), config={"memory_limit": limit} if limit else {})


def _prune(folder: Path, keep: Path) -> None:
    snaps = sorted(p for p in folder.glob("*.duckdb") if not p.name.startswith("."))
    for old in snaps[:-KEEP]:
        if old != keep:
            old.unlink(missing_ok=True)
            Path(str(old) + ".wal").unlink(missing_ok=True)


class SnapshotReader:
    """Read-only DuckDB cursors on the current snapshot, re-opened when the pointer moves.

    A DuckDB connection is not safe to share between threads, so each thread gets its own
    cursor of the shared read-only connection.
    """

    def __init__(self, db_path: str | os.PathLike,
                 publish: Callable[[Path], object] | None = None):
        """`publish(db_path)` is called when no snapshot exists yet (the dashboard passes
        `analysis.facts.publish_snapshot`); without it a missing snapshot is an error."""
        self.db_path = Path(db_path)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._path: Path | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._generation = 0
        if publish is not None and current_snapshot(self.db_path) is None:
            publish(self.db_path)
        if current_snapshot(self.db_path) is not None:
            self.cursor()  # a damaged snapshot is said at start, not as a server error later

    @property
    def path(self) -> Path | None:
        return self._path

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            self._con, self._path = None, None
            self._generation += 1

    def cursor(self) -> duckdb.DuckDBPyConnection:
        target = current_snapshot(self.db_path)
        if target is None:
            raise FileNotFoundError(f"no snapshot of {self.db_path} published yet:"
                                    " run `survtrack snapshot`")
        with self._lock:
            if target != self._path:
                try:
                    self._con = duckdb.connect(str(target), read_only=True)
                except duckdb.Error as exc:
                    fault = StorageFault.of(exc, target, "opening the published snapshot",
                                            hint="publish a new one: survtrack snapshot")
                    if fault is None:
                        raise
                    raise fault from exc
                self._path = target
                self._generation += 1
            con, generation = self._con, self._generation
        local = self._local
        if getattr(local, "generation", None) != generation:
            local.cursor = con.cursor()
            local.generation = generation
        return local.cursor
