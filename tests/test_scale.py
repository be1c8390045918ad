"""Parallel ingest (process pool, Dask) gives the warehouse a serial ingest gives, row for row.

Input: every real EIS document of ../shared/data/eis, a ZIP archive of real documents (one of
them also loose, so the same bytes come twice) and a malformed document, written at test time.
With Dask (and the local pool when asked) the workers write Parquet partitions the ingest
process loads; the workers really write them, and send back no rows. A killed ingest resumes
without parsing again what it had loaded; a failed Dask ingest resumes too.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from survtrack import scrapers
from survtrack.cli import app
from survtrack.scrapers import ingest as pool
from survtrack.scrapers.ingest import INGESTED, STAGING, ingest
from survtrack.scrapers.stage import stage_files
from survtrack.warehouse.partitions import StagedDocument
from survtrack.warehouse.schema import TABLES
from survtrack.warehouse.store import Warehouse
from tests.conftest import table_contents

# when a row was written and by which run: the only columns that differ between two ingests
WHEN = {"fetched_at", "rejected_at", "run_id", "classified_at", "flagged_at"}


@pytest.fixture(scope="module")
def inputs(shared, tmp_path_factory) -> list[Path]:
    extra = tmp_path_factory.mktemp("extra")
    with zipfile.ZipFile(extra / "members.zip", "w") as zf:
        for name in ("fz44_contractProcedure_2790000171516000234_version1.xml",
                     "fz44_contract_v7.0_murmansk_2510205003117000004.xml"):
            zf.write(shared / "eis" / name, f"inner/{name}")
    (extra / "broken.xml").write_bytes(b"<export><contract><regNum>1</regNum></export>")
    return [shared / "eis", extra]


def tables(wh: Warehouse) -> dict[str, list[tuple]]:
    return table_contents(wh, WHEN)


@pytest.fixture(scope="module")
def serial(inputs, tmp_path_factory):
    with Warehouse(tmp_path_factory.mktemp("serial") / "w.duckdb") as wh:
        counts = ingest(wh, scrapers.get("eis"), inputs, workers=1)
        return counts, tables(wh)


def test_process_pool_equals_serial_and_reloads_as_a_no_op(inputs, serial, tmp_path):
    counts, expected = serial
    assert counts["loaded"] > 0 and counts["rejected"] >= 1 and counts["skipped"] >= 1
    assert any(r[2].endswith("broken.xml") and "malformed XML" in r[5]
               for r in expected["rejects"])  # (source, origin, …, reason) names the document
    with Warehouse(tmp_path / "w.duckdb") as wh:
        assert ingest(wh, scrapers.get("eis"), inputs, workers=2) == counts
        assert tables(wh) == expected
        again = ingest(wh, scrapers.get("eis"), inputs, workers=2)
        assert again["loaded"] == 0 and again["skipped"] == counts["loaded"] + counts[
            "not_contract_bearing"] + counts["skipped"]
        assert tables(wh) == expected


def test_documents_loaded_one_at_a_time_equal_the_batches(inputs, serial, tmp_path):
    """A batch is written by rules.py's SQL (store_parsed); a document loaded on its own
    (Warehouse.load: a big document, each document of a failed batch, `--force`) by the
    store's per-document upserts. Both give the same tables, row for row."""
    counts, expected = serial
    with Warehouse(tmp_path / "w.duckdb") as wh:
        alone = ingest(wh, scrapers.get("eis"), inputs, workers=1, force=True)
        assert alone["loaded"] == counts["loaded"] + counts["skipped"]  # the same bytes again
        assert tables(wh) == expected


def test_dask_local_cluster_equals_serial(inputs, serial, tmp_path):
    pytest.importorskip("distributed")
    counts, expected = serial
    with Warehouse(tmp_path / "w.duckdb") as wh:
        assert ingest(wh, scrapers.get("eis"), inputs, engine="dask", workers=2) == counts
        assert tables(wh) == expected


def test_staged_local_pool_equals_serial_and_cleans_its_staging(inputs, serial, tmp_path,
                                                               monkeypatch):
    """The partitions path on the local pool, in chunks of 4 loaded 10 at a time: versions of
    one contract meet across chunks and loads, and resolve as in a serial ingest."""
    counts, expected = serial
    monkeypatch.setattr(pool, "STAGED_CHUNK", 4)
    monkeypatch.setattr(pool, "LOAD_STEP", 10)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        assert ingest(wh, scrapers.get("eis"), inputs, workers=2, staged=True) == counts
        assert tables(wh) == expected
        assert not any((wh.archive.root / STAGING).iterdir())  # the run's folder is gone
        again = ingest(wh, scrapers.get("eis"), inputs, workers=2, staged=True)
        assert again["loaded"] == 0 and tables(wh) == expected


def test_workers_write_the_partitions_and_send_back_no_rows(shared, inputs, tmp_path):
    """The worker function itself, on real documents and the malformed one: one Parquet file
    per table for the chunk, named the same when the task runs again (a retry overwrites),
    and only a few hundred bytes per document sent back."""
    tasks = sorted((shared / "eis").glob("fz44_contract*.xml")) + [inputs[1] / "broken.xml"]
    folder = tmp_path / "staging" / "run"
    files, entries = stage_files("eis", str(tmp_path / "archive"), str(folder), 7, tasks)
    assert {"documents", "contracts", "rejects"} <= files.keys()
    assert all(what == "staged" and isinstance(value, StagedDocument)
               for what, value in entries)  # no RowBuffer: the rows stayed on the worker
    assert len(pickle.dumps(entries)) < 1000 * len(tasks)
    con = duckdb.connect()
    statuses = dict(con.execute(
        f"SELECT origin, status FROM '{files['documents']}'").fetchall())
    assert statuses[str(tasks[-1])] == "rejected" and "loaded" in statuses.values()
    assert con.execute(f"SELECT count(*) FROM '{files['contracts']}'").fetchone()[0] > 0
    assert con.execute(f"SELECT reason FROM '{files['rejects']}'").fetchone()[0].startswith(
        "malformed XML")
    written = sorted(folder.iterdir())
    assert stage_files("eis", str(tmp_path / "archive"), str(folder), 7, tasks)[0] == files
    assert sorted(folder.iterdir()) == written  # the same files again, no second copy


def test_failed_dask_run_resumes(inputs, serial, tmp_path, monkeypatch):
    """A Dask ingest that fails after its first load (here the caller's callback raises) keeps
    what it loaded and leaves the partitions its workers wrote meanwhile; run again, it loads
    the rest, skips what was loaded, removes the failed run's folder and equals a serial
    ingest."""
    pytest.importorskip("distributed")
    counts, expected = serial
    monkeypatch.setattr(pool, "STAGED_CHUNK", 3)  # many chunks and loads, for a failure midway
    monkeypatch.setattr(pool, "LOAD_STEP", 3)
    reported = []

    def fail_midway(origin, result):
        if getattr(result, "status", None) == "loaded":
            reported.append(result)
        if len(reported) == 4:
            raise RuntimeError("the caller stopped")

    with Warehouse(tmp_path / "w.duckdb") as wh:
        with pytest.raises(RuntimeError, match="the caller stopped"):
            ingest(wh, scrapers.get("eis"), inputs, engine="dask", workers=2,
                   on_result=fail_midway)
        (run_id, status), = wh.query("SELECT run_id, status FROM runs")
        assert status == "failed"
        loaded = wh.scalar("SELECT count(*) FROM documents WHERE status <> 'rejected'")
        assert 4 <= loaded < counts["loaded"] + counts["not_contract_bearing"]
        left = wh.archive.root / STAGING / run_id
        assert list(left.glob("contracts-*.parquet"))  # written by workers, not loaded yet
        again = ingest(wh, scrapers.get("eis"), inputs, engine="dask", workers=2)
        assert again["skipped"] >= loaded
        assert tables(wh) == expected
        assert not left.exists() and not any((wh.archive.root / STAGING).iterdir())


def test_dask_output_is_a_parquet_dataset_equal_to_serial(inputs, serial, tmp_path):
    """`ingest --engine dask --output DIR` (LocalCluster, 2 workers): each ingested table is a
    Parquet file DuckDB reads directly, row for row what a single-process ingest loads; the
    user's warehouse is not touched, and running it again is a no-op."""
    pytest.importorskip("distributed")
    counts, expected = serial
    out = tmp_path / "dataset"
    db = tmp_path / "user" / "survtrack.duckdb"
    command = ["--db", str(db), "ingest", "eis", *map(str, inputs), "--engine", "dask",
               "--workers", "2", "--output", str(out)]
    done = CliRunner().invoke(app, command)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout.strip().splitlines()[-1])["loaded"] == counts["loaded"]
    assert not db.exists()  # only the archive beside it is written
    assert (db.parent / "archive").is_dir()
    assert not any((out / ".survtrack" / "staging").iterdir())  # loaded, then removed
    con = duckdb.connect()
    for table in INGESTED:
        rows = expected[table]
        columns = [c for c in TABLES[table].column_names if c not in WHEN]
        got = con.execute(f"SELECT {', '.join(columns)} FROM '{out / table}.parquet'").fetchall()
        assert sorted(got, key=repr) == rows, table
    assert con.execute(f"SELECT count(*) FROM '{out}/contracts.parquet'").fetchone()[0] > 0
    again = CliRunner().invoke(app, command)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout.strip().splitlines()[-1])["loaded"] == 0
    assert con.execute(f"SELECT count(*) FROM '{out}/contracts.parquet'").fetchone()[0] == len(
        expected["contracts"])


REG_NUM = re.compile(rb"(<(?:\w+:)?regNum>)(\d+)(</)")
DRIVER = """
import sys
from pathlib import Path
from survtrack import scrapers
from survtrack.scrapers import ingest as pool
from survtrack.warehouse.store import Warehouse
pool.BATCH_PARALLEL = 40  # small batches: the first commits early
with Warehouse(Path(sys.argv[1])) as wh:
    pool.ingest(wh, scrapers.get("eis"), [Path(sys.argv[2])], workers=2,
                on_result=lambda origin, result: print(result.status, flush=True))
"""


def test_killed_run_resumes_without_parsing_what_it_loaded(shared, tmp_path):
    """A real ingest process is killed (SIGKILL) after its first batches commit; the run
    again loads the rest, and the documents already loaded are not sent to a worker: their
    archived copies, removed after the kill, are not written again; every document reads back
    as its exact bytes (the killed process left no wrong bytes behind an index entry)."""
    templates = [p.read_bytes() for p in sorted((shared / "eis").glob("fz44_contract*.xml"))]
    folder = tmp_path / "in"
    folder.mkdir()
    n = 400
    for i in range(n):  # the real documents, each copy with its own regNum (its own bytes)
        body = REG_NUM.sub(lambda m, i=i: m[1] + m[2][:-7] + f"{i:07d}".encode() + m[3],
                           templates[i % len(templates)])
        (folder / f"doc{i:04d}.xml").write_bytes(body)
    db = tmp_path / "w.duckdb"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(db), str(folder)],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        seen = [proc.stdout.readline() for _ in range(60)]  # a batch of 40 reported: committed
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert seen.count("loaded\n") >= 40
    with Warehouse(db) as wh:
        done = [d for (d,) in wh.query("SELECT document_id FROM documents")]
        assert 40 <= len(done) < n  # killed mid-run, its committed batches kept
        with sqlite3.connect(wh.archive.packed.index) as index:  # packed: forget their bytes
            index.executemany("DELETE FROM packed WHERE sha256 = ?", [(d,) for d in done])
        assert not any(wh.archive.has(d) for d in done)
        counts = ingest(wh, scrapers.get("eis"), [folder], workers=2)
        assert counts["skipped"] == len(done) and counts["loaded"] == n - len(done)
        assert wh.count("documents") == n
        assert not any(wh.archive.has(d) for d in done)  # never sent to a worker
        rest = [d for (d,) in wh.query("SELECT document_id FROM documents WHERE document_id"
                                       " NOT IN (SELECT unnest(?::VARCHAR[]))", [done])]
        assert all(hashlib.sha256(wh.archive.read(d)).hexdigest() == d for d in rest)


def _copies(shared, folder: Path, numbers) -> None:
    """The real 44-FZ contracts, copy i with its own regNum (its own bytes), as doc{i}.xml."""
    templates = [p.read_bytes() for p in sorted((shared / "eis").glob("fz44_contract*.xml"))]
    folder.mkdir(exist_ok=True)
    for i in numbers:
        (folder / f"doc{i:04d}.xml").write_bytes(REG_NUM.sub(
            lambda m, i=i: m[1] + m[2][:-7] + f"{i:07d}".encode() + m[3],
            templates[i % len(templates)]))


@pytest.fixture
def hashed(monkeypatch) -> list[str]:
    """The files the ingest process hashes before sending them to a worker (`_unseen`), with
    its lookups 4 files at a time."""
    seen: list[str] = []
    sha256 = pool._sha256
    monkeypatch.setattr(pool, "_sha256", lambda path: seen.append(path.name) or sha256(path))
    monkeypatch.setattr(pool, "UNSEEN_CHUNK", 4, raising=False)
    return seen


def test_new_files_are_sent_unhashed_once_a_chunk_holds_none_loaded(shared, tmp_path, hashed):
    """A run of new files into a warehouse holding documents of the source (a daily run)
    hashes only its first chunk in the ingest process: the rest go to the workers as they
    are, and all load."""
    _copies(shared, tmp_path / "old", range(3))
    _copies(shared, tmp_path / "new", range(3, 23))
    with Warehouse(tmp_path / "w.duckdb") as wh:
        ingest(wh, scrapers.get("eis"), [tmp_path / "old"], workers=2)
        hashed.clear()
        counts = ingest(wh, scrapers.get("eis"), [tmp_path / "new"], workers=2)
        assert counts["loaded"] == 20 and counts["skipped"] == 0
        assert hashed == ["doc0003.xml", "doc0004.xml", "doc0005.xml", "doc0006.xml"]
        assert wh.count("documents") == 23


def test_a_resumed_run_skips_its_loaded_files_over_several_chunks(shared, tmp_path, hashed):
    """The documents a run loaded before it stopped (here: a run whose input files were not
    recorded) are hashed and skipped chunk after chunk, never sent to a worker, until a chunk
    holds none loaded; the rest load."""
    folder = tmp_path / "in"
    _copies(shared, folder, range(10))
    with Warehouse(tmp_path / "w.duckdb") as wh:
        ingest(wh, scrapers.get("eis"), [folder], workers=2)
        done = [d for (d,) in wh.query("SELECT document_id FROM documents")]
        wh.execute("DELETE FROM input_files")  # as a killed run leaves them: unrecorded
        with sqlite3.connect(wh.archive.packed.index) as index:  # packed: forget their bytes
            index.executemany("DELETE FROM packed WHERE sha256 = ?", [(d,) for d in done])
        _copies(shared, folder, range(10, 20))
        hashed.clear()
        counts = ingest(wh, scrapers.get("eis"), [folder], workers=2)
        assert counts["skipped"] == 10 and counts["loaded"] == 10
        assert len(hashed) == 16  # three chunks holding loaded documents, then one without
        assert not any(wh.archive.has(d) for d in done)  # never sent to a worker
        assert wh.count("documents") == 20


def test_the_writer_skips_the_loaded_documents_that_reach_it(shared, tmp_path, hashed):
    """Loaded files that reach the writer among new ones (the ingest process stopped hashing
    after a first chunk holding none loaded) are skipped there, told by their `documents`
    rows' upsert in the batch's transaction: their rows stay as stored, and one stored as
    archived only (its rows never written) loads."""
    folder = tmp_path / "in"
    _copies(shared, folder, range(10, 16))
    with Warehouse(tmp_path / "w.duckdb") as wh:
        ingest(wh, scrapers.get("eis"), [folder], workers=2)
        contracts = wh.query("SELECT * FROM contracts ORDER BY contract_id")
        archived = wh.scalar("SELECT min(document_id) FROM documents")
        wh.execute("DELETE FROM input_files")  # every file read again
        wh.execute("UPDATE documents SET detail = 'stored' WHERE document_id <> ?", [archived])
        wh.execute("UPDATE documents SET status = 'archived' WHERE document_id = ?", [archived])
        _copies(shared, folder, range(4))  # new files walked first: a chunk of none loaded
        hashed.clear()
        counts = ingest(wh, scrapers.get("eis"), [folder], workers=2)
        assert hashed == ["doc0000.xml", "doc0001.xml", "doc0002.xml", "doc0003.xml"]
        assert counts["skipped"] == 5 and counts["loaded"] == 5
        assert dict(wh.query("SELECT document_id, status FROM documents WHERE detail ="
                             " 'stored'")) == {d: "loaded" for (d,) in wh.query(
            "SELECT document_id FROM documents WHERE document_id <> ? AND origin LIKE"
            " '%doc001%'", [archived])}
        assert wh.query("SELECT status FROM documents WHERE document_id = ?",
                        [archived]) == [("loaded",)]
        assert wh.count("documents") == 10
        assert set(contracts) <= set(wh.query("SELECT * FROM contracts"))


def test_an_ingest_holds_the_key_indexes_beside_its_allowance(shared, tmp_path, monkeypatch):
    """DuckDB holds the key indexes a load writes in memory, all of them once the batch's keys
    spread over them: the ingest's memory limit is SURVTRACK_INGEST_MEMORY plus what the
    stored rows' indexes take, so an allowance that loads these documents into an empty
    warehouse loads them beside 200,000 stored ones too (it ran out of memory)."""
    monkeypatch.setenv("SURVTRACK_INGEST_MEMORY", "32MB")
    _copies(shared, tmp_path / "in", range(30))
    with Warehouse(tmp_path / "w.duckdb") as wh:
        wh.execute("INSERT INTO documents (document_id, source, origin, fetched_at, bytes,"
                   " status) SELECT sha256(i::VARCHAR), 'eis', 'earlier', now(), 1, 'loaded'"
                   " FROM range(200000) t(i)")
        wh.execute("CHECKPOINT")
        counts = ingest(wh, scrapers.get("eis"), [tmp_path / "in"], workers=1)
        assert counts["loaded"] == 30 and counts["rejected"] == 0
        assert wh.count("documents") == 200030


def test_the_pool_s_writer_runs_duckdb_on_the_cores_the_workers_leave(shared, tmp_path,
                                                                       monkeypatch):
    """While a local pool parses, the writer's DuckDB runs on the cores its workers leave (at
    least one thread), and gets its own number back when the ingest ends; the collector
    leaves the objects made before the ingest alone meanwhile (frozen), and has them back
    after. What each document's report sees, in the writer, is what the load ran under."""
    monkeypatch.setattr(pool, "default_workers", lambda: 3)
    _copies(shared, tmp_path / "in", range(6))
    with Warehouse(tmp_path / "w.duckdb") as wh:
        wh.execute("SET threads = 4")
        seen = []

        def look(origin, result):
            if result.status == "loaded":  # not a file skipped unread, before the pool starts
                seen.append((wh.scalar("SELECT current_setting('threads')"),
                             gc.get_freeze_count() > 0))

        counts = ingest(wh, scrapers.get("eis"), [tmp_path / "in"], workers=2, on_result=look)
        assert counts["loaded"] == 6 and set(seen) == {(1, True)}  # 3 cores less 2 workers
        assert wh.scalar("SELECT current_setting('threads')") == 4
        assert gc.get_freeze_count() == 0
        monkeypatch.setattr(pool, "default_workers", lambda: 8)
        seen.clear()
        _copies(shared, tmp_path / "in", range(6, 9))
        ingest(wh, scrapers.get("eis"), [tmp_path / "in"], workers=2, on_result=look)
        assert len(seen) == 3 and {threads for threads, _ in seen} == {6}
        assert wh.scalar("SELECT current_setting('threads')") == 4


def test_an_ingest_leaves_a_caller_s_frozen_objects_frozen(shared, tmp_path):
    _copies(shared, tmp_path / "in", range(2))
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with Warehouse(tmp_path / "w.duckdb") as wh:
            assert ingest(wh, scrapers.get("eis"), [tmp_path / "in"], workers=1)["loaded"] == 2
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
