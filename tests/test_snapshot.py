"""Read-only snapshots: the dashboard keeps reading while the warehouse is written."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time

import duckdb
import pytest
from dashboard_fixture import load_fixture

from survtrack.analysis.facts import publish_snapshot
from survtrack.warehouse import changes, snapshot
from survtrack.warehouse.snapshot import KEEP, SnapshotReader, current_snapshot, snapshot_dir


def test_reader_sees_published_state_and_reopens_on_swap(warehouse, load, shared):
    load("eis", shared / "eis")
    first = publish_snapshot(warehouse.path, warehouse.con)  # from the writer's connection
    reader = SnapshotReader(warehouse.path)
    assert reader.cursor().execute("SELECT count(*) FROM contracts").fetchone()[0] == 5
    load_fixture(warehouse)  # the writer goes on writing
    assert reader.cursor().execute("SELECT count(*) FROM contracts").fetchone()[0] == 5
    second = publish_snapshot(warehouse.path, warehouse.con)
    assert second != first and current_snapshot(warehouse.path) == second
    assert reader.cursor().execute("SELECT count(*) FROM contracts").fetchone()[0] == 13
    assert reader.path == second
    facts = reader.cursor().execute(
        "SELECT vendor_name, tagged, categories FROM contract_facts"
        " WHERE contract_id = 'fixture:vocord-2021'").fetchone()
    assert facts == ("Vocord", True, ["facial_recognition"])


def test_snapshot_is_read_only(warehouse, load, shared):
    load("eis", shared / "eis")
    publish_snapshot(warehouse.path, warehouse.con)
    cur = SnapshotReader(warehouse.path).cursor()
    with pytest.raises(duckdb.Error, match="read-only"):
        cur.execute("DELETE FROM contracts")


def _changed(warehouse, n: int):
    warehouse.con.execute("INSERT INTO runs (run_id, source, command, started_at, status)"
                          " VALUES (?, 'eis', 'build', now(), 'done')", [f"run-{n}"])


def test_old_snapshots_pruned_and_pointer_atomic(warehouse):
    made = []
    for n in range(KEEP + 2):
        _changed(warehouse, n)  # an unchanged warehouse keeps its snapshot (below)
        made.append(publish_snapshot(warehouse.path, warehouse.con))
    folder = snapshot_dir(warehouse.path)
    kept = sorted(p for p in folder.glob("*.duckdb") if not p.name.startswith("."))
    assert kept == made[-KEEP:]
    assert os.readlink(folder / "current") == made[-1].name
    assert not list(folder.glob(".*"))  # no partial files or stray pointers left


def test_a_killed_publishs_files_are_removed_by_the_next(warehouse):
    """A publish killed halfway leaves its partial file, WAL and spill folder (as big as a
    snapshot); the next publish removes them, and not those of a publish still running
    here or on another machine sharing the folder."""

    _changed(warehouse, 0)
    publish_snapshot(warehouse.path, warehouse.con)
    folder = snapshot_dir(warehouse.path)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(gone.stdout)  # a process that has ended
    killed = folder / f".20261202T101010000000Z-{snapshot._HOST}-{dead}.partial.duckdb"
    running = folder / f".20261202T101011000000Z-{snapshot._HOST}-{os.getpid()}.partial.duckdb"
    elsewhere = folder / f".20261202T101012000000Z-other-host-{dead}.partial.duckdb"
    for path in (killed, running, elsewhere):
        path.write_bytes(b"half a snapshot")
        (folder / (path.name + ".wal")).write_bytes(b"wal")
        (folder / (path.name + ".tmp")).mkdir()
        (folder / (path.name + ".tmp") / "spill.bin").write_bytes(b"spilled")
    _changed(warehouse, 1)
    publish_snapshot(warehouse.path, warehouse.con)
    assert not any(p.name.startswith(killed.name) for p in folder.iterdir())
    for path in (running, elsewhere):
        assert path.exists() and (folder / (path.name + ".wal")).exists()
        assert (folder / (path.name + ".tmp") / "spill.bin").exists()


def test_snapshot_holds_the_readers_tables_without_constraints(warehouse, load, shared):
    load("eis", shared / "eis")
    warehouse.con.execute("INSERT INTO build_inputs (contract_id, step, inputs)"
                          " SELECT contract_id, 'flags', 1 FROM contracts")
    snap = publish_snapshot(warehouse.path, warehouse.con)
    con = duckdb.connect(str(snap), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "build_inputs" not in tables  # the build's bookkeeping: no reader needs it
    assert {"contracts", "documents", "flags", "contract_facts", "snapshot_tables"} <= tables
    # every row as in the warehouse, none twice
    for table in ("contracts", "documents", "items", "organizations", "tags"):
        mine = warehouse.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        assert con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() == mine, table
    # no key to check in a read-only copy; one index on each key's first column
    assert con.execute("SELECT count(*) FROM duckdb_constraints()"
                       " WHERE constraint_type = 'PRIMARY KEY'").fetchone()[0] == 0
    indexed = dict(con.execute("SELECT table_name, sql FROM duckdb_indexes()").fetchall())
    assert "(contract_id)" in indexed["contracts"] and "(document_id)" in indexed["documents"]
    assert "(contract_id)" in indexed["flags"]  # of its key (contract_id, flag)
    plan = con.execute("EXPLAIN ANALYZE SELECT title FROM contracts WHERE contract_id = ?",
                       [con.execute("SELECT min(contract_id) FROM contracts").fetchone()[0]]
                       ).fetchone()[1]
    assert "Index Scan" in plan


def _how(path) -> tuple[int, list[str]]:
    """A snapshot's rows changed since its last full copy and the tables its publish updated
    from the record of changes."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT drift, recorded FROM snapshot_publish").fetchone()


def test_an_unchanged_warehouse_keeps_its_snapshot(warehouse, load, shared):
    load("eis", shared / "eis")
    first = publish_snapshot(warehouse.path, warehouse.con)
    assert publish_snapshot(warehouse.path, warehouse.con) == first  # nothing new, no copy
    assert not list(snapshot_dir(warehouse.path).glob(".*"))
    # one value of one row is a change (recorded, as the warehouse's writers record theirs)
    warehouse.con.execute("UPDATE contracts SET title = title || '.'"
                          " WHERE contract_id = (SELECT min(contract_id) FROM contracts)")
    changes.record(warehouse, "contracts", "SELECT min(contract_id) FROM contracts")
    second = publish_snapshot(warehouse.path, warehouse.con)
    assert second != first and current_snapshot(warehouse.path) == second
    assert _how(second)[0] == 2 and "contracts" in _how(second)[1]  # the old row and the new
    # a row deleted without a record still changes the table's rows: a full copy
    warehouse.con.execute("DELETE FROM items WHERE rowid = (SELECT min(rowid) FROM items)")
    again = publish_snapshot(warehouse.path, warehouse.con)
    assert again != second and _how(again) == (0, [])  # copied whole, none from the record
    with duckdb.connect(str(again), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM items").fetchone()[0] == \
            warehouse.con.execute("SELECT count(*) FROM items").fetchone()[0]
    second = again
    # so is other code for the derived tables (an upgrade of survtrack)
    third = snapshot.publish_snapshot(warehouse.path, warehouse.con,
                                      derived={"answer": "SELECT 42 AS a"})
    assert third != second
    # the build's bookkeeping is not the readers' data
    warehouse.con.execute("INSERT INTO build_inputs VALUES ('x', 'flags', 1)")
    assert snapshot.publish_snapshot(warehouse.path, warehouse.con,
                                     derived={"answer": "SELECT 42 AS a"}) == third
    warehouse.close()  # and from a connection of its own, the warehouse opened read-only
    assert snapshot.publish_snapshot(warehouse.path, derived={"answer": "SELECT 42 AS a"}) \
        == third


def test_a_row_by_row_publish_copies_the_snapshot_with_or_without_copy_file_range(
        warehouse, load, shared, monkeypatch, tmp_path):
    load("eis", shared / "eis")
    first = publish_snapshot(warehouse.path, warehouse.con)
    copy = tmp_path / "copy.duckdb"
    snapshot.copy_file(first, copy)  # copy_file_range: shared blocks or a copy in the kernel
    assert copy.read_bytes() == first.read_bytes()

    def refused(*args):
        raise OSError(errno.EXDEV, "across filesystems")

    monkeypatch.setattr(os, "copy_file_range", refused)  # shutil's copy instead
    copy.unlink()
    snapshot.copy_file(first, copy)
    assert copy.read_bytes() == first.read_bytes()
    warehouse.con.execute("UPDATE contracts SET title = title || '.'"
                          " WHERE contract_id = (SELECT min(contract_id) FROM contracts)")
    changes.record(warehouse, "contracts", "SELECT min(contract_id) FROM contracts")
    second = publish_snapshot(warehouse.path, warehouse.con)
    assert _how(second)[0] == 2  # row by row, from the copy
    with duckdb.connect(str(second), read_only=True) as con:
        assert con.execute("SELECT title FROM contracts ORDER BY contract_id").fetchall() == \
            warehouse.con.execute("SELECT title FROM contracts ORDER BY contract_id").fetchall()


WRITER = """
import sys, time
from survtrack.warehouse.store import Warehouse
wh = Warehouse(sys.argv[1])
wh.con.execute("INSERT INTO runs (run_id, source, command, started_at, status)"
               " VALUES ('writer', 'eis', 'build', now(), 'running')")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
wh.close()
"""


def test_dashboard_reads_while_another_process_writes(tmp_path, shared):
    from survtrack.warehouse.store import Warehouse

    db = tmp_path / "w.duckdb"
    with Warehouse(db) as wh:
        load_fixture(wh)
    publish_snapshot(db)
    reader = SnapshotReader(db)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), "5"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "holding"
        # the warehouse itself is locked by the writer ...
        with pytest.raises(duckdb.IOException):
            duckdb.connect(str(db), read_only=True)
        # ... but the snapshot answers
        started = time.monotonic()
        assert reader.cursor().execute("SELECT count(*) FROM contracts").fetchone()[0] == 8
        assert time.monotonic() - started < 5
    finally:
        writer.wait(timeout=30)
    assert writer.returncode == 0


def test_floors_import_only_downwards():
    """Imports follow the data (scrapers → warehouse → analysis → dashboard): the snapshot
    publisher is handed the spending tables instead of importing them, and the spending
    views never import the dashboard's URL codec."""
    import ast
    from pathlib import Path

    import survtrack

    package = Path(survtrack.__file__).parent
    above = {"warehouse": ("survtrack.scrapers", "survtrack.analysis", "survtrack.dashboard",
                           "survtrack.cli"),
             "analysis": ("survtrack.scrapers", "survtrack.dashboard", "survtrack.cli")}
    for floor, forbidden in above.items():
        for path in (package / floor).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                for name in names:
                    assert not name.startswith(forbidden), f"{path.name} imports {name}"


def test_a_publish_falling_back_to_a_full_copy_keeps_what_it_spilled(warehouse, monkeypatch):
    """A row-by-row publish that finds too much changed copies the tables whole instead, in
    the same connection. What that connection spilled beside the partial file while it
    compared must survive the partial file's removal: a publish of 10 M contracts within 4 GB
    failed when it did not ('Cannot open file …partial.duckdb.tmp/duckdb_temp_…')."""
    rows = 300_000
    warehouse.con.execute(f"""
        INSERT INTO contracts (contract_id, source, native_id, version, title, amount, currency,
                               status, url, document_id)
        SELECT 'spill:' || i, 'eis', i::VARCHAR, 1, 'Contract ' || i || ' ' || md5(i::VARCHAR),
               i, 'RUB', 'active', 'https://example.org/c/' || i, md5(i::VARCHAR)
        FROM range({rows}) t(i)""")
    changes.record(warehouse, "contracts", "SELECT contract_id FROM contracts")
    derived, kept = {"answer": "SELECT 42 AS a"}, (lambda snap, changed: set())
    first = snapshot.publish_snapshot(warehouse.path, warehouse.con, derived=derived,
                                      update=kept)
    warehouse.con.execute("UPDATE contracts SET title = title || '.'")  # every row changed
    changes.record(warehouse, "contracts", "SELECT contract_id FROM contracts")
    warehouse.close()
    # the publisher's own connection, held small enough that comparing the rows spills
    monkeypatch.setenv("SURVTRACK_BUILD_MEMORY", "40MB")
    second = snapshot.publish_snapshot(warehouse.path, derived=derived, update=kept)
    assert second != first and _how(second) == (0, [])  # copied whole
    with duckdb.connect(str(second), read_only=True) as con:
        assert con.execute("SELECT count(*), count(*) FILTER (WHERE title LIKE '%.')"
                           " FROM contracts").fetchone() == (rows, rows)
    assert not list(snapshot_dir(warehouse.path).glob(".*"))  # nor the spill folder left


def test_the_publishers_own_connection_is_bounded_as_a_build_is(tmp_path, monkeypatch):
    """Unbounded, DuckDB takes up to 80 % of the machine: a 10 M publish beside other work was
    killed for memory. The publisher's own connections take the build's bound."""
    def bound() -> str:
        with snapshot._connect(tmp_path / "bound.duckdb") as con:
            return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]

    monkeypatch.delenv("SURVTRACK_BUILD_MEMORY", raising=False)
    default = bound()
    monkeypatch.setenv("SURVTRACK_BUILD_MEMORY", "4GB")
    assert default == bound()
    monkeypatch.setenv("SURVTRACK_BUILD_MEMORY", "1GB")
    assert bound() != default
