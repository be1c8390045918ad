"""When the warehouse's storage fails (issue 11, item 4; finding 7): disk full, a read-only
file, a damaged file. Each command ends by itself with one line naming the file and the
cause, and nothing committed is lost.

Disk full is simulated with RLIMIT_FSIZE on the child: a write past the limit fails with
EFBIG, a real failed write of the WAL at COMMIT, which is the code path of ENOSPC (a small
tmpfs or loop mount would need root, which CI may not have). Read-only: the file's mode; as
root, the child first gives up CAP_DAC_OVERRIDE so the mode applies to it too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import duckdb
import pytest

from hostile.harness import (
    SURVTRACK,
    WALL_BOUND,
    file_size_limit,
    modes_apply,
    one_line,
    survtrack,
    without_dac_override,
)

GOOD = "fz44_contract_v6.3_voronezh_2366200608816001262.xml"
RELEASES = 120


@pytest.fixture(scope="module")
def base(tmp_path_factory, shared):
    """A warehouse holding one real EIS contract (copied by each test that changes it)."""
    root = tmp_path_factory.mktemp("storage")
    db = root / "w.duckdb"
    done = survtrack(db, "ingest", "eis", str(shared / "eis" / GOOD))
    assert done.returncode == 0, done.stderr[-2000:]
    return db


def copy_of(base, tmp_path):
    shutil.copy(base, tmp_path / "w.duckdb")
    shutil.copytree(base.parent / "archive", tmp_path / "archive")
    return tmp_path / "w.duckdb"


def releases(folder, n: int = RELEASES):
    folder.mkdir()
    for i in range(n):
        release = {"ocid": f"ocds-disk-{i}", "id": "1", "date": "2020-01-01T00:00:00Z",
                   "tag": ["contract"], "buyer": {"name": f"Buyer {i}"},
                   "contracts": [{"id": "c1", "title": "Cameras " * 20,
                                  "value": {"amount": 100 + i, "currency": "USD"}}]}
        (folder / f"r{i:03}.json").write_text(json.dumps({"uri": "x", "releases": [release]}))
    return folder


def test_disk_full_at_commit_says_so_and_loses_nothing(base, tmp_path):
    """Finding 7: the COMMIT failed, the ROLLBACK after it raised "no transaction is
    active", and that was all the user saw."""
    db = copy_of(base, tmp_path)
    inbox = releases(tmp_path / "ocds")
    full = survtrack(db, "ingest", "ocds", str(inbox), limits=file_size_limit(64 * 1024))
    assert full.returncode == 74, full.stderr[-2000:]  # EX_IOERR
    line = one_line(full.stderr)
    assert f"survtrack: {db}: the disk is full, or a file size limit was reached" in line
    assert "while loading" in line and "File too large" in line and ".wal" in line
    assert "no transaction is active" not in full.stderr and "Traceback" not in full.stderr
    loaded = full.query("SELECT count(*) FROM contracts WHERE source = 'ocds'")[0][0]
    # it stopped before the end (small documents commit up to 200 at a time, so none of the
    # first such transaction stayed): nothing rejected for the disk's fault
    assert 0 <= loaded < RELEASES
    assert full.query("SELECT count(*) FROM rejects") == [(0,)]
    # with room again, the same command continues after the last committed document
    again = survtrack(db, "ingest", "ocds", str(inbox))
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.summary()["skipped"] == loaded
    assert again.query("SELECT count(*) FROM contracts") == [(RELEASES + 1,)]


def test_the_archive_filling_up_stops_the_run_instead_of_rejecting_every_document(
        base, tmp_path, shared):
    db = copy_of(base, tmp_path)
    inbox = tmp_path / "eis"
    inbox.mkdir()
    for name in ("fz44_contract_v6.0_belgorod_3312100001816000003.xml",
                 "fz44_contract_v7.0_murmansk_2510205003117000004.xml"):
        shutil.copy(shared / "eis" / name, inbox / name)  # 32 KB and 16 KB
    full = survtrack(db, "ingest", "eis", str(inbox), limits=file_size_limit(20_000))
    assert full.returncode == 74, full.stderr[-2000:]
    line = one_line(full.stderr)
    assert f"{tmp_path / 'archive'}" in line and "while writing the archive" in line
    assert "the disk is full, or a file size limit was reached" in line
    assert full.query("SELECT count(*) FROM rejects") == [(0,)]


@pytest.fixture
def read_only_applies(tmp_path):
    if not modes_apply(tmp_path):
        pytest.skip("this machine lets the test's root child write read-only files"
                    " (prctl(PR_CAPBSET_DROP) refused)")


def test_a_read_only_warehouse_is_said_in_one_line_and_still_read(base, tmp_path,
                                                                  read_only_applies):
    db = copy_of(base, tmp_path)
    os.chmod(db, 0o444)
    write = survtrack(db, "ingest", "curated", limits=without_dac_override)
    assert write.returncode == 74, write.stderr[-2000:]
    line = one_line(write.stderr)
    assert f"survtrack: {db}: cannot be written: the file or its folder is read-only" in line
    assert "Permission denied" in line
    for reader in (("status",), ("check",)):  # commands that only read still work
        read = survtrack(db, *reader, limits=without_dac_override)
        assert read.returncode == 0, read.stderr[-2000:]


def test_a_read_only_archive_folder_is_said_in_one_line(base, tmp_path, shared,
                                                        read_only_applies):
    db = copy_of(base, tmp_path)
    archive = tmp_path / "archive"  # its folders too (segments/ holds packed documents)
    folders = [archive, *(p for p in archive.rglob("*") if p.is_dir())]
    for folder in folders:
        os.chmod(folder, 0o555)
    write = survtrack(db, "ingest", "eis",
                      str(shared / "eis" / "fz44_contract_v7.0_murmansk_2510205003117000004.xml"),
                      limits=without_dac_override)
    for folder in folders:
        os.chmod(folder, 0o755)
    assert write.returncode == 74, write.stderr[-2000:]
    line = one_line(write.stderr)
    assert f"{tmp_path / 'archive'}: cannot be written" in line and "writing the archive" in line


@pytest.mark.parametrize("damage", ["truncated header", "truncated data", "overwritten data"])
def test_a_damaged_warehouse_is_said_in_one_line(base, tmp_path, damage):
    db = copy_of(base, tmp_path)
    with duckdb.connect(str(db), read_only=True) as con:  # where the documents table lives
        (block,) = con.execute("SELECT min(block_id) FROM pragma_storage_info('documents')"
                               " WHERE block_id >= 0").fetchone()
    offset = 3 * 4096 + block * 256 * 1024  # three headers, then 256 KB blocks
    with open(db, "r+b") as fh:
        if damage == "truncated header":
            fh.truncate(5000)
        elif damage == "truncated data":
            fh.truncate(offset + 100)
        else:
            fh.seek(offset + 64)
            fh.write(os.urandom(4096))
    checked = survtrack(db, "check")
    assert checked.returncode == 1, checked.stderr[-2000:]
    assert f"{db}: is damaged: not a readable DuckDB database" in checked.stderr
    assert "Traceback" not in checked.stderr
    for command in (("status",), ("ingest", "curated")):
        failed = survtrack(db, *command)
        if failed.returncode == 0:  # the damage lies where this command does not read
            assert damage != "truncated header"
            continue
        assert failed.returncode == 74, failed.stderr[-2000:]
        assert f"survtrack: {db}: is damaged: not a readable DuckDB database" in one_line(
            failed.stderr)


def test_a_failure_names_the_warehouse_given_to_the_command_itself(base, tmp_path):
    """`survtrack snapshot --db DB`, the command's own option (not the global one before it):
    a storage failure names DB, not the default warehouse (it named data/survtrack.duckdb
    when a 10 M publish ran out of memory)."""
    db = copy_of(base, tmp_path)
    with open(db, "r+b") as fh:
        fh.truncate(5000)
    env = {**os.environ, "COLUMNS": "200", "SURVTRACK_DB": str(tmp_path / "elsewhere.duckdb")}
    failed = subprocess.run([str(SURVTRACK), "snapshot", "--db", str(db)], capture_output=True,
                            text=True, timeout=WALL_BOUND, cwd=tmp_path, env=env)
    assert failed.returncode == 74, failed.stderr[-2000:]
    assert f"survtrack: {db}: is damaged" in one_line(failed.stderr), failed.stderr[-2000:]


def test_out_of_memory_rejects_only_its_document_with_that_reason(tmp_path):
    """DuckDB out of memory inside a document's transaction: the transaction is rolled back
    before anything else is tried (no "(please ROLLBACK)" in its place), the document is
    rejected saying it ran out of memory, and the document beside it loads."""
    from survtrack import scrapers
    from survtrack.scrapers.ingest import ingest
    from survtrack.warehouse.store import Warehouse

    inbox = tmp_path / "ocds"
    inbox.mkdir()
    lines = [{"id": str(j), "description": "y" * 2000} for j in range(50)]
    big = {"ocid": "ocds-big", "id": "1", "date": "2020-01-01T00:00:00Z", "tag": ["contract"],
           "buyer": {"name": "B"}, "contracts": [
               {"id": f"c{i}", "title": "x" * 1000, "items": lines,
                "value": {"amount": 1, "currency": "USD"}} for i in range(200)]}
    (inbox / "big.json").write_text(json.dumps({"uri": "x", "releases": [big]}))
    small = {**big, "ocid": "ocds-small", "contracts": [
        {"id": "c1", "value": {"amount": 1, "currency": "USD"}}]}
    (inbox / "small.json").write_text(json.dumps({"uri": "x", "releases": [small]}))
    with Warehouse(tmp_path / "w.duckdb") as wh:
        # a real DuckDB memory bound, nowhere to spill: ~20 MB of rows cannot be held
        wh.execute("SET memory_limit = '8MB'")
        wh.execute("SET temp_directory = ''")
        counts = ingest(wh, scrapers.get("ocds"), [inbox])
        (reason,), = wh.query("SELECT reason FROM rejects WHERE origin LIKE '%big.json'")
        assert reason.startswith("ran out of memory while loading it: Out of Memory Error")
        assert "ROLLBACK" not in reason
        assert counts["loaded"] == 1 and counts["rejected"] == 1
        assert wh.query("SELECT contract_id FROM contracts") == [("ocds:ocds-small/c1",)]
        assert wh.query("SELECT status FROM runs") == [("finished",)]
