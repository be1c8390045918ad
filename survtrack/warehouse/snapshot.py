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

import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from survtrack import config

from . import faults
from .faults import StorageFault

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
    the copy, created in order) and make it current; return its path.

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
    if con is not None:  # the writer's connection: copy from inside its process
        source_db = con.execute("SELECT current_database()").fetchone()[0]
        # paths come from configuration, never from a web request; quoted all the same
        con.execute(f"ATTACH {_sql_string(str(tmp))} AS survtrack_snapshot")
        try:
            con.execute(f"COPY FROM DATABASE {_identifier(source_db)} TO survtrack_snapshot")
        finally:
            con.execute("DETACH survtrack_snapshot")
    else:
        copier = _connect(tmp)
        try:
            target = copier.execute("SELECT current_database()").fetchone()[0]
            faults.waiting(Path(db_path), lambda: copier.execute(
                f"ATTACH {_sql_string(str(db_path))} AS survtrack_source (READ_ONLY)"),
                config.lock_wait(lock_wait))
            copier.execute(f"COPY FROM DATABASE survtrack_source TO {_identifier(target)}")
            copier.execute("DETACH survtrack_source")
        finally:
            copier.close()
    snap = _connect(tmp)
    try:
        for name, sql in derived.items():
            snap.execute(f"CREATE OR REPLACE TABLE {_identifier(name)} AS {sql}")
        snap.execute("CHECKPOINT")
    finally:
        snap.close()
    os.replace(tmp, final)
    pointer = folder / f".current-{stamp}"
    os.symlink(final.name, pointer)
    os.replace(pointer, folder / "current")  # the atomic swap
    _prune(folder, final)
    return final


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
