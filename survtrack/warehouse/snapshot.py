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
import re
import shutil
import threading
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, Protocol

import duckdb

from survtrack import config

from . import changes, faults, processes
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


class Made(Protocol):
    """A derived table too big to make in one statement within the memory limit: `make(con,
    name)` creates it by several; its `str` (the SQL it runs) goes into the snapshot's version."""
    def make(self, con: duckdb.DuckDBPyConnection, name: str) -> None: ...


def make_table(con: duckdb.DuckDBPyConnection, name: str, how: str | Made) -> None:
    """Create (or replace) the derived table `name` from `how`: a SELECT, or a `Made`."""
    if isinstance(how, str):
        con.execute(f"CREATE OR REPLACE TABLE {_identifier(name)} AS {how}")
    else:
        how.make(con, name)


def publish_snapshot(db_path: str | os.PathLike, con: duckdb.DuckDBPyConnection | None = None,
                     lock_wait: float | None = None, *, derived: Mapping[str, str | Made],
                     update: Update | None = None,
                     indexes: Mapping[str, str] | None = None) -> Path:
    """Copy the warehouse into a new snapshot, add the `derived` tables (name -> SELECT over
    the copy, or a `Made`; created in order) and make it current; return its path. When neither the
    warehouse's tables nor `derived` changed since the current snapshot, that one is kept and
    returned (nothing is written).

    With `update`, a publish after a small change starts from a copy of the current snapshot
    (when it was published with the same `derived`) and replaces only the rows that changed
    (`_apply`); `update(snapshot, changed)` then brings the derived tables up to date and
    returns those it did, the rest being recomputed (see Update). The current snapshot is
    never written: readers keep it until the swap. `indexes` (derived table -> column): an
    index made on that column whenever the table is made (an update keeps it up to date).

    Pass `con` (the writer's own connection) to publish from inside a running build; without
    it the warehouse is opened read-only, waiting up to `lock_wait` seconds (config.lock_wait)
    while another process writes it (then faults.WarehouseBusy).
    `survtrack.analysis.facts.publish_snapshot` hands it the spending tables.
    """
    folder = snapshot_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime(STAMP)
    final = folder / f"{stamp}.duckdb"
    tmp = folder / f".{stamp}-{_HOST}-{os.getpid()}.partial.duckdb"
    _remove_abandoned(folder)
    version = _version(derived)
    try:
        with _source(db_path, con, lock_wait, tmp) as (link, source):
            names = _published(link, source)
            current = current_snapshot(db_path)
            before = _contents(current) if current is not None else None
            seq = _latest(link, source)
            # the tables whose changed keys the record gives since the current snapshot's seq:
            # counted, not fingerprinted (a fingerprint reads every row)
            recorded = _recorded(link, source, names, before, version, seq)
            prints = {name: _print(link, source, name, name in recorded) for name in names}
            if before is not None and before.version == version and _unchanged(
                    prints, before.prints, recorded):
                link.execute(f"DROP TABLE IF EXISTS {CHANGES}_keys")
                return current
            changed = None
            if update is not None and before is not None and before.version == version \
                    and not _grown(before):
                copy_file(current, tmp)
                changed = _attached(link, tmp, lambda target: _apply(
                    link, source, target, names, prints, before, recorded, seq))
                if changed is None:  # too much changed, or the tables' columns did
                    # the file only: the copier still spills into its folder (a removed
                    # folder loses the spilled blocks DuckDB will read back)
                    _remove(tmp, spill=False)
            if changed is None:
                _attached(link, tmp, lambda target: _copy(
                    link, source, target, names, prints, version, seq))
            link.execute(f"DROP TABLE IF EXISTS {CHANGES}_keys")
        snap = _connect(tmp)
        try:
            done = update(snap, changed) if changed is not None else None
            again = [name for name in derived if done is None or name not in done]
            for name in again:
                make_table(snap, name, derived[name])
                if name in (indexes or {}):
                    column = indexes[name]
                    snap.execute(f"CREATE INDEX {_identifier(f'{name}_{column}')}"
                                 f" ON {_identifier(name)} ({_identifier(column)})")
            snap.execute("UPDATE snapshot_publish SET recomputed = ?", [again])
            snap.execute(f"DROP SCHEMA IF EXISTS {CHANGES} CASCADE")
            snap.execute("CHECKPOINT")
            if changed is None:  # compact: what later publishes' files are measured against
                snap.execute(f"UPDATE snapshot_publish SET compact = ({_BLOCKS})"
                             " / (SELECT sum(rows) FROM snapshot_tables)")
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


# update(snapshot, changed): the snapshot's connection, where each changed table's removed
# rows are in CHANGES.<table>_old and its added rows in CHANGES.<table>_new, and `changed`
# names them (table -> rows removed + added); it returns the derived tables it brought up to
# date (the publisher recomputes the others from their SQL), or None to have all recomputed.
Update = Callable[[duckdb.DuckDBPyConnection, Mapping[str, int]], "set[str] | None"]
CHANGES = "publish_changes"
# Row by row while the rows this publish changes stay under this share of all rows: beyond it
# a full copy is as cheap. The rows changed since the last full copy (`drift`) no longer
# bound it: the base tables' appended rows are appended in the warehouse too, and readers find
# a contract's through the index (+6 % a contract page at 35 % drift, 1 M contracts), and the
# derived tables that readers filter by cluster are rewritten in their order by the update
# (facts_update.CLUSTERED_SHARE, TAIL_SHARE).
FULL_SHARE = 0.2
# What only a full copy reclaims: the blocks a row-by-row publish leaves free (a rewritten
# table's old ones, a rewritten column segment's) and the deleted rows left in their row
# groups. A publish copies the current file in full (copy_file: ~1 CPU s per GB in the kernel
# on ext4) and keeps KEEP of them on disk, so each extra block costs every later round; a full
# copy (~50x a row-by-row round) writes the file compact again. It is made once the current
# file's blocks per published row pass this many times those of the last full copy: at 10 M
# contracts (18.4 GB) at most ~4.6 GB more, ~5 CPU s a round and ~14 GB of disk for three.
GROWTH = 1.25
# the blocks of the file of the connection's database, free ones included
_BLOCKS = ("SELECT total_blocks * block_size FROM pragma_database_size()"
           " WHERE database_name = current_database()")


def copy_file(source: Path, target: Path) -> None:
    """Copy the current snapshot's file to start the next one from: by copy_file_range, which
    a filesystem that shares blocks between files (XFS, btrfs, ZFS's block cloning) answers
    by sharing them, so the copy costs no read or write and a block is copied only when the
    publish writes it; others copy in the kernel, as sendfile does. Where copy_file_range is
    missing or refused (another OS, an older kernel across filesystems), shutil's copy."""
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            left = os.fstat(src.fileno()).st_size
            while left > 0:
                done = os.copy_file_range(src.fileno(), dst.fileno(), left)
                if not done:
                    raise OSError(f"{source} ended {left} bytes early")
                left -= done
        return
    except (AttributeError, OSError):
        pass
    shutil.copyfile(source, target)


@contextmanager
def _source(db_path, con, lock_wait, tmp: Path):
    """(connection, name of the warehouse's database in it): the writer's own `con`, or a
    connection of the publisher's own with the warehouse attached read-only."""
    if con is not None:  # the writer's connection: copy from inside its process
        yield con, con.execute("SELECT current_database()").fetchone()[0]
        return
    # in memory: the snapshot file is attached once it is known whether it starts as a copy;
    # what does not fit spills beside it, as a file database's would
    copier = duckdb.connect(":memory:", config={"temp_directory": str(tmp) + ".tmp",
                                                 "memory_limit": config.publish_memory()})
    try:
        faults.waiting(Path(db_path), lambda: copier.execute(
            f"ATTACH {_sql_string(str(db_path))} AS survtrack_source (READ_ONLY)"),
            config.lock_wait(lock_wait))
        yield copier, "survtrack_source"
    finally:
        copier.close()


def _attached(con, path: Path, work: Callable[[str], object]):
    # paths come from configuration, never from a web request; quoted all the same
    con.execute(f"ATTACH {_sql_string(str(path))} AS survtrack_snapshot")
    try:
        return work("survtrack_snapshot")
    finally:
        con.execute("DETACH survtrack_snapshot")


# What the snapshot's file holds and how, besides the tables: raise it when that changes, so
# the next publish writes a new snapshot even where the warehouse did not change. 4: documents
# and ocds_releases are read from the record, which the writes before it did not reach: the
# first publish after it copies in full. 5: snapshot_publish.compact (GROWTH).
LAYOUT = ("tables copied without constraints, an index on each key's first column;"
          " snapshot_publish with the record's seq and the last full copy's bytes per row; 5")


def _version(derived: Mapping[str, str | Made]) -> str:
    """A hash of the snapshot's layout and of the derived tables' SQL: the code they come from."""
    digest = hashlib.sha256(LAYOUT.encode())
    for name, sql in derived.items():
        digest.update(f"\0{name}\0{sql}".encode())
    return digest.hexdigest()[:16]


def _published(con, source: str) -> list[str]:
    """The tables of `source` the readers use (not the build's bookkeeping)."""
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'"
        " ORDER BY table_name", [source]).fetchall()]
    return [n for n in names if n not in TABLES or TABLES[n].published]


def _latest(con, source: str) -> int | None:
    """The warehouse's last seq recorded in `changes` (0: none yet), or None where it keeps no
    record (a warehouse of an earlier survtrack, opened read-only: not migrated)."""
    row = con.execute("SELECT coalesce(last_value, 0) FROM duckdb_sequences()"
                      " WHERE database_name = ? AND sequence_name = 'change_seq'",
                      [source]).fetchone()
    return None if row is None else row[0]


def _recorded(con, source: str, names: list[str], before: Contents | None, version: str,
              seq: int | None) -> dict[str, int]:
    """The published tables the record of changes says the changes of since the current
    snapshot's seq (changes.PUBLISHED), each with the number of its keys recorded since (0:
    unchanged); none (all hashed, as before the record) when the snapshot has no seq or is
    of another version, the warehouse keeps no record, has pruned rows past the seq, or is
    behind the snapshot (an older copy of it)."""
    if before is None or before.version != version or before.seq is None or seq is None:
        return {}
    since = before.seq
    src = _identifier(source)
    pruned = con.execute(f"SELECT max(seq) FROM {src}.change_cursors WHERE consumer = ?",
                         [changes.PRUNED]).fetchone()[0]
    if since > seq or (pruned or 0) > since:
        return {}
    tables = [n for n in names if n in changes.PUBLISHED]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {CHANGES}_keys AS SELECT DISTINCT table_name,"
                f" key FROM {src}.changes WHERE seq > ? AND seq <= ?", [since, seq])
    counts = dict(con.execute(f"SELECT table_name, count(*) FROM {CHANGES}_keys"
                              " GROUP BY ALL").fetchall())
    return {n: sum(counts.get(t, 0) for t in changes.read_with(n)) for n in tables}


def _print(con, source: str, name: str, counted: bool) -> tuple:
    """A table's (rows, fingerprint: bit_xor of its rows' hashes); only its rows where
    `counted` (the record says what changed)."""
    table = f"{_identifier(source)}.{_identifier(name)}"
    if counted:
        return con.execute(f"SELECT count(*), NULL FROM {table}").fetchone()
    return con.execute(f"SELECT count(*), coalesce(bit_xor(hash(snapshot_row)), 0)::VARCHAR"
                       f" FROM {table} snapshot_row").fetchone()


def _unchanged(prints: dict, old: dict, recorded: dict[str, int]) -> bool:
    """Whether the warehouse's tables are those the snapshot was published from: the same
    tables, the recorded ones with no key recorded since and as many rows, the others of the
    same fingerprints."""
    return set(prints) == set(old) and all(
        (not recorded[n] and prints[n][0] == old[n][0]) if n in recorded else prints[n] == old[n]
        for n in prints)


def _copy(con: duckdb.DuckDBPyConnection, source: str, target: str, names: list[str],
          prints: dict, version: str, seq: int | None) -> None:
    """Copy the tables `names` of database `source` into `target` (both attached to `con`),
    table by table, without their constraints, and record what they were (`_record`).

    A read-only copy needs no primary key: DuckDB would build and hold every key's index
    while copying (a whole-database copy of 10 M contracts ran out of 4 GB in them), and the
    build's bookkeeping (schema `published=False`) no reader needs. Each table keeps one index,
    on its key's first column (contract_id, document_id…): the readers' lookups of one
    contract or document read it instead of every row group.
    """
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
    con.execute(f"CREATE TABLE {dst}.snapshot_publish (drift BIGINT, recomputed VARCHAR[],"
                " seq BIGINT, recorded VARCHAR[], compact DOUBLE)")
    _record(con, target, prints, version, 0, seq, [], None)


def _record(con, target: str, prints: dict, version: str, drift: int, seq: int | None,
            recorded: list[str], compact: float | None) -> None:
    """Write what the snapshot was published from: each table's rows and fingerprint (NULL
    where the record of changes said what changed), the code's `version` and the rows
    changed since its last full copy (`snapshot_publish`, with the derived tables this
    publish recomputed whole, written after them; the warehouse's `seq` it was copied
    through, the publisher's cursor in the record; the tables updated from the record; the
    last full copy's bytes per published row, `compact`, which GROWTH bounds)."""
    dst = _identifier(target)
    con.execute(f"DELETE FROM {dst}.snapshot_tables")
    con.executemany(f"INSERT INTO {dst}.snapshot_tables VALUES (?, ?, ?, ?)",
                    [[name, rows, fingerprint, version]
                     for name, (rows, fingerprint) in prints.items()])
    con.execute(f"DELETE FROM {dst}.snapshot_publish")
    con.execute(f"INSERT INTO {dst}.snapshot_publish VALUES (?, NULL, ?, ?, ?)",
                [drift, seq, recorded, compact])


def _apply(con: duckdb.DuckDBPyConnection, source: str, target: str, names: list[str],
           prints: dict, before: Contents, recorded: dict[str, int],
           seq: int | None) -> dict[str, int] | None:
    """Make the tables of `target`, a copy of the current snapshot, those of `source`: in
    each changed table, delete the rows no longer in the warehouse and insert the new ones
    (a changed row is both), found by each row's hash (rows are unique: each table has a
    key). Keep both in CHANGES.<table>_old/_new for the derived tables.

    Which rows to hash: in a table of `recorded`, only those of the keys the record of
    changes gives since the snapshot's seq (`_recorded`), on both sides; in the others,
    every row of each table whose fingerprint changed.

    The changed tables (-> rows removed + added), or None, having changed nothing that
    matters, where this is no cheaper than a full copy: a table is new, gone, of other
    columns or not one of the schema's (no key), or this change's rows exceed FULL_SHARE of
    all rows. The rows changed since the last full copy (`drift`) are recorded, not bounded.
    """
    version, old, drift = before.version, before.prints, before.drift
    change = 0
    src, dst = _identifier(source), _identifier(target)

    def touched(n: str) -> bool:
        return bool(recorded[n]) if n in recorded else prints[n] != old[n]

    if set(old) != set(names) or any(
            touched(n) and (n not in TABLES or _columns(con, source, n)
                            != _columns(con, target, n)) for n in names):
        return None
    if any(not touched(n) and prints[n][0] != old[n][0] for n in recorded):
        return None  # rows added or deleted that the record does not name: copy them all
    con.execute(f"CREATE SCHEMA {dst}.{CHANGES}")
    changed = {}
    total = sum(rows for rows, _ in prints.values())
    try:
        for name in names:
            if not touched(name):
                continue
            table, keep = _identifier(name), f"{dst}.{CHANGES}.{_identifier(name + '_old')}"
            add = f"{dst}.{CHANGES}.{_identifier(name + '_new')}"
            for side, database in (("src", src), ("dst", dst)):
                con.execute(f"CREATE OR REPLACE TEMP TABLE publish_{side} AS SELECT rowid AS r,"
                            f" hash(t) AS h FROM {database}.{table} t"
                            f"{_keyed_rows(database, name) if name in recorded else ''}")
            # each side's rows the other lacks, found once (one hash join each), counted
            # before any row is copied: a change too large for row by row copies nothing
            con.execute("CREATE OR REPLACE TEMP TABLE publish_gone AS"
                        " SELECT r FROM publish_dst ANTI JOIN publish_src USING (h)")
            con.execute("CREATE OR REPLACE TEMP TABLE publish_added AS"
                        " SELECT r FROM publish_src ANTI JOIN publish_dst USING (h)")
            changed[name] = con.execute("SELECT (SELECT count(*) FROM publish_gone)"
                                        " + (SELECT count(*) FROM publish_added)").fetchone()[0]
            if name in recorded and prints[name][0] != old[name][0] + con.execute(
                    "SELECT (SELECT count(*) FROM publish_added)"
                    " - (SELECT count(*) FROM publish_gone)").fetchone()[0]:
                return None  # rows changed that the record does not name: copy them all
            drift += changed[name]
            change += changed[name]
            if change > FULL_SHARE * total:
                return None
            gone = "rowid IN (SELECT r FROM publish_gone)"
            con.execute(f"CREATE TABLE {keep} AS SELECT * FROM {dst}.{table} WHERE {gone}")
            con.execute(f"CREATE TABLE {add} AS SELECT * FROM {src}.{table}"
                        " WHERE rowid IN (SELECT r FROM publish_added)")
            _replace(con, f"{dst}.{table}", add, name, _columns(con, source, name))
    finally:
        for temp in ("publish_src", "publish_dst", "publish_gone", "publish_added",
                     "publish_pairs"):
            con.execute(f"DROP TABLE IF EXISTS {temp}")
    _record(con, target, prints, version, drift, seq, sorted(recorded), before.compact)
    return changed


def _replace(con, table: str, add: str, name: str, columns: list[tuple]) -> None:
    """Replace the rows `publish_gone` names in `table` (the snapshot's) with those of `add`.
    A gone row and an added row of the same key (a row whose other columns changed: a flag's
    value, a contract's status) are one row updated in place; the other gone rows are deleted,
    the other added rows inserted. A delete costs DuckDB the removal of each row from the
    table's index, which reads the row's key column again (a dictionary's scan state made per
    row: ~30 µs a row at 1 M contracts, `flags` the dearest statement of a +1 % publish at
    10 M), where an update of columns outside the index leaves the index alone. Only columns
    of plain types are updated in place (DuckDB updates a list by deleting and inserting)."""
    key = TABLES[name].key
    rest = [c for c, kind in columns if c not in key]
    pairs = bool(rest) and not any(
        kind.endswith("]") or kind.startswith(("STRUCT", "MAP", "UNION"))
        for c, kind in columns)
    if pairs:
        on = " AND ".join(f"o.{_identifier(c)} = n.{_identifier(c)}" for c in key)
        # one gone and one added row per key (the table's key is unique: the build and the
        # store keep it so); a key twice on either side is deleted and inserted instead
        con.execute(f"""CREATE OR REPLACE TEMP TABLE publish_pairs AS
            SELECT o.rowid AS r, n.rowid AS n
            FROM (SELECT rowid, * FROM {table} WHERE rowid IN (SELECT r FROM publish_gone)) o
            JOIN {add} n ON {on}
            QUALIFY count(*) OVER (PARTITION BY o.rowid) = 1
                AND count(*) OVER (PARTITION BY n.rowid) = 1""")
        sets = ", ".join(f"{_identifier(c)} = n.{_identifier(c)}" for c in rest)
        con.execute(f"UPDATE {table} t SET {sets} FROM (SELECT p.r AS publish_r, a.* FROM"
                    f" publish_pairs p JOIN (SELECT rowid AS publish_n, * FROM {add}) a"
                    " ON a.publish_n = p.n) n WHERE t.rowid = n.publish_r")
    paired = " AND rowid NOT IN (SELECT {} FROM publish_pairs)" if pairs else ""
    con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT r FROM publish_gone)"
                + paired.format("r"))
    con.execute(f"INSERT INTO {table} SELECT * FROM {add} WHERE true" + paired.format("n"))


def _keyed_rows(database: str, name: str) -> str:
    """SQL: WHERE the rows of table `name` of `database` whose key the record gives since the
    snapshot's seq (CHANGES_keys). Found by their row ids from a scan of the key column alone,
    then read by row id: a join on the key read every column of every row (~0.3 CPU s per
    table and side at 1 M contracts, ~0.05 so)."""
    named_by = ", ".join(_sql_string(t) for t in changes.read_with(name))
    return (f" WHERE rowid IN (SELECT rowid FROM {database}.{_identifier(name)}"
            f" WHERE {_identifier(changes.KEYS[name])} IN (SELECT key FROM {CHANGES}_keys"
            f" WHERE table_name IN ({named_by})))")


def _columns(con, database: str, table: str) -> list[tuple]:
    return con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name"
                       " = ? AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
                       [database, table]).fetchall()


def swap_table(con: duckdb.DuckDBPyConnection, new: str, old: str) -> None:
    """Put table `new` in the place of `old` in the snapshot being written (`con`): the
    schema of a snapshot, like the warehouse's, is changed on this floor only."""
    con.execute(f"DROP TABLE {_identifier(old)}")
    con.execute(f"ALTER TABLE {_identifier(new)} RENAME TO {_identifier(old)}")


class Contents(NamedTuple):
    """What a snapshot was published from (`_contents`)."""
    version: str  # of the code (_version)
    prints: dict  # table -> (rows, fingerprint)
    drift: int  # rows changed since its last full copy
    seq: int | None  # of the record of changes it was copied through (None: none)
    compact: float | None  # its last full copy's bytes per published row
    size: int  # its file's bytes (blocks, free ones included)


def _contents(path: Path) -> Contents | None:
    """What snapshot `path` was published from (`snapshot_tables`, `snapshot_publish`);
    None if it cannot say."""
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            rows = con.execute("SELECT table_name, rows, fingerprint, version"
                               " FROM snapshot_tables").fetchall()
            drift, seq, compact = con.execute("SELECT max(drift), max(seq), max(compact)"
                                              " FROM snapshot_publish").fetchone()
            size = con.execute(_BLOCKS).fetchone()[0]
    except duckdb.Error:  # published by an earlier survtrack, or unreadable: publish anew
        return None
    versions = {version for *_, version in rows}
    if len(versions) != 1:
        return None
    prints = {name: (n, fingerprint) for name, n, fingerprint, _ in rows}
    return Contents(versions.pop(), prints, drift or 0, seq, compact, size)


def growth(contents: Contents) -> float | None:
    """The snapshot's file's bytes per published row against its last full copy's (None:
    not known)."""
    rows = sum(n for n, _ in contents.prints.values())
    if not contents.compact or not rows:
        return None
    return contents.size / rows / contents.compact


def _grown(contents: Contents) -> bool:
    """Whether the current snapshot's file has grown past GROWTH (or cannot say): the next
    publish copies in full, writing it compact."""
    grown = growth(contents)
    return grown is None or grown > GROWTH


def published_seq(db_path: str | os.PathLike) -> int | None:
    """The seq of the record of changes the current snapshot was copied through (the
    publisher's cursor: `changes.prune` keeps what comes after it), or None."""
    current = current_snapshot(db_path)
    contents = _contents(current) if current is not None else None
    return contents[3] if contents is not None else None


def _remove(path: Path, spill: bool = True) -> None:
    """A database file, its WAL and (`spill`) its spill folder."""
    path.unlink(missing_ok=True)
    Path(str(path) + ".wal").unlink(missing_ok=True)
    if spill:
        shutil.rmtree(str(path) + ".tmp", ignore_errors=True)


# A publish writes `.<stamp>-<host>-<pid>.partial.duckdb` (with its .wal and .tmp spill
# folder) and renames it when done; a killed one leaves them, as big as a snapshot. The next
# publish removes those whose process is gone: on this host only (a snapshot folder on a
# shared filesystem may hold another machine's publish in progress).
_HOST = re.sub(r"[^A-Za-z0-9_.]", "_", processes.HOST)
STAMP = "%Y%m%dT%H%M%S%fZ"
_PARTIAL = re.compile(r"^\.(?P<stamp>\d{8}T\d+Z)-(?P<host>.+)-(?P<pid>\d+)\.partial\.duckdb$")


def _remove_abandoned(folder: Path) -> list[Path]:
    removed = []
    for path in folder.glob(".*.partial.duckdb"):
        found = _PARTIAL.match(path.name)
        if found and found["host"] == _HOST and processes.gone(
                int(found["pid"]), processes.HOST, datetime.strptime(found["stamp"], STAMP)):
            _remove(path)
            removed.append(path)
    return removed


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection of the publisher's own, within config.publish_memory."""
    return duckdb.connect(str(path), config={"memory_limit": config.publish_memory()})


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
