"""`survtrack check` (issue 11, item 4): the warehouse, its archive and the published snapshot,
on a warehouse built from real documents, then damaged one way at a time. Each problem is
one line naming the file; the exit code says whether there is any."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3

import duckdb
import pytest

from hostile.harness import one_line, survtrack
from survtrack.warehouse.archive import Archive
from survtrack.warehouse.schema import TABLES

DOCUMENTS = {"eis": ["fz44_contract_v6.3_voronezh_2366200608816001262.xml",
                     "fz44_contract_v7.0_murmansk_2510205003117000004.xml"],
             "ocds": ["mx-gacm_release_256_cctv.json"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory, shared):
    """Real EIS and OCDS documents ingested and built (which publishes a snapshot)."""
    root = tmp_path_factory.mktemp("check")
    db = root / "w.duckdb"
    for source, names in DOCUMENTS.items():
        done = survtrack(db, "ingest", source, *(str(shared / source / n) for n in names))
        assert done.returncode == 0, done.stderr[-2000:]
    done = survtrack(db, "build")
    assert done.returncode == 0, done.stderr[-2000:]
    return db


@pytest.fixture
def db(built, tmp_path):
    """A copy of the built warehouse, archive and snapshots, to damage."""
    for name in ("w.duckdb", "archive", "w.duckdb.snapshot"):
        src = built.parent / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, symlinks=True)  # `current` stays a link
        else:
            shutil.copy(src, tmp_path / name)
    return tmp_path / "w.duckdb"


def problems(outcome) -> list[str]:
    assert outcome.returncode == 1, outcome.stderr[-3000:]
    assert "Traceback" not in outcome.stderr
    return [line for line in outcome.stderr.splitlines()
            if not line.startswith(("check ", "no snapshot"))]


def test_a_whole_warehouse_checks_clean(built):
    checked = survtrack(built, "check")
    assert checked.returncode == 0, checked.stderr[-3000:]
    line = one_line(checked.stderr, f"check {built}: all good")
    assert f"{len(TABLES)} tables" in line and "invariants" in line and "snapshot" in line
    with duckdb.connect(str(built), read_only=True) as con:  # every document and OCDS blob
        (n,) = con.execute("SELECT count(DISTINCT d) FROM (SELECT document_id AS d FROM"
                           " documents UNION ALL SELECT blob FROM ocds_releases"
                           " WHERE blob IS NOT NULL)").fetchone()
    assert f"{n} archived documents" in line


def test_a_tampered_or_missing_archive_file_is_named(db):
    with duckdb.connect(str(db), read_only=True) as con:
        (changed, origin), (gone, _) = con.execute(
            "SELECT document_id, origin FROM documents WHERE source = 'eis'"
            " ORDER BY document_id").fetchall()
    archive = db.parent / "archive"
    # the ingest packed these small documents into a segment (archive/segments/)
    segment, offset, _ = Archive(archive).packed.locate(changed)
    path = f"{segment}@{offset}+{_}"
    with open(segment, "r+b") as fh:  # one bit, same size: only the hash sees it
        fh.seek(offset + 100)
        bit = fh.read(1)[0] ^ 1
        fh.seek(offset + 100)
        fh.write(bytes([bit]))
    with sqlite3.connect(archive / "segments" / "index.sqlite") as index:  # its bytes lost
        assert index.execute("DELETE FROM packed WHERE sha256 = ?", [gone]).rowcount == 1
    found = problems(survtrack(db, "check"))
    assert len(found) == 2, found
    assert any(line.startswith(f"{path}: SHA-256 is ") and "changed after it was archived"
               in line and origin in line for line in found), found
    assert any(line.startswith(f"{archive / gone[:2] / gone}: missing") for line in found)
    # without hashing, the missing file is still seen (and only it)
    quick = problems(survtrack(db, "check", "--no-hashes"))
    assert [line.split(":")[0] for line in quick] == [str(archive / gone[:2] / gone)]


def test_a_corrupt_snapshot_is_named_by_check_and_the_dashboard(db):
    current = db.with_name(db.name + ".snapshot") / "current"
    target = current.parent / os.readlink(current)
    with open(target, "r+b") as fh:
        fh.truncate(10_000)
    found = problems(survtrack(db, "check"))
    assert len(found) == 1 and found[0].startswith(f"{target}: is damaged"), found
    assert "survtrack snapshot" in found[0]
    # the dashboard says so at start, in one line, instead of serving errors
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    served = survtrack(db, "dashboard", "--port", str(port), timeout=120)
    assert served.returncode == 74, served.stderr[-2000:]
    line = one_line(served.stderr)
    assert f"survtrack: {target}: is damaged" in line and "survtrack snapshot" in line
    # …and a new snapshot mends it
    assert survtrack(db, "snapshot").returncode == 0
    assert survtrack(db, "check").returncode == 0


def test_a_dangling_pointer_and_a_stale_snapshot_are_named(db, shared):
    current = db.with_name(db.name + ".snapshot") / "current"
    os.unlink(current.parent / os.readlink(current))
    found = problems(survtrack(db, "check"))
    assert len(found) == 1 and found[0].startswith(f"{current}: points to "), found
    assert survtrack(db, "snapshot").returncode == 0
    (before,), = survtrack(db, "status").query("SELECT count(*) FROM contracts")
    more = survtrack(db, "ingest", "eis", str(
        shared / "eis" / "fz44_contract_v6.0_belgorod_3312100001816000003.xml"))
    assert more.returncode == 0
    found = problems(survtrack(db, "check"))
    assert len(found) == 1 and "stale" in found[0], found
    assert f"contracts {before} (warehouse {before + 1})" in found[0]


def test_a_broken_invariant_and_an_old_schema_are_named(db):
    with duckdb.connect(str(db)) as con:
        (contract, document), = con.execute(
            "SELECT contract_id, document_id FROM contracts ORDER BY 1 LIMIT 1").fetchall()
        con.execute("DELETE FROM documents WHERE document_id = ?", [document])
        con.execute("ALTER TABLE runs DROP COLUMN command_line")
        # a build table has no key index: a row held twice is caught by check, not by DuckDB
        con.execute("INSERT INTO competition SELECT * FROM competition ORDER BY contract_id"
                    " LIMIT 1")
    found = problems(survtrack(db, "check", "--no-hashes"))
    assert any("contracts with two competition rows" in line for line in found), found
    assert any(f"contracts whose document is not in documents (first: {contract}" in line
               for line in found), found
    assert any("schema: no column runs.command_line" in line for line in found), found
    assert all(line.startswith(str(db)) for line in found if "stale" not in line), found
