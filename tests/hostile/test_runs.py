"""Runs whose process is gone, and two processes wanting one warehouse (issue 11, item 4).

Real child processes throughout: a `survtrack ingest` is paused right after recording its run
(tests/hostile/pause: a SIGSTOP the child sends itself, so nothing depends on timing), then
SIGKILLed, or left holding the warehouse's lock while a second command wants it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from hostile.harness import finish, kill, one_line, start, stopped, survtrack

GOOD = "fz44_contract_v6.3_voronezh_2366200608816001262.xml"
OTHER = "fz44_contract_v7.0_murmansk_2510205003117000004.xml"


@pytest.fixture
def inbox(tmp_path, shared):
    folder = tmp_path / "eis"
    folder.mkdir()
    shutil.copy(shared / "eis" / GOOD, folder / GOOD)
    return folder


def runs(outcome) -> list[dict]:
    """`status --json` runs as dicts."""
    names = ("run_id", "command", "source", "status", "loaded", "skipped", "rejected",
             "started_at", "finished_at", "pid", "host", "command_line")
    return [dict(zip(names, r)) for r in json.loads(outcome.stdout)["runs"]]


def test_a_killed_ingest_is_shown_interrupted_then_marked_and_resumed(tmp_path, inbox):
    db = tmp_path / "w.duckdb"
    child = start(db, "ingest", "eis", str(inbox), pause=True)
    stopped(child)  # its run is recorded: it is `running`, by this pid
    kill(child)
    status = survtrack(db, "status", "--json")
    assert status.returncode == 0, status.stderr[-2000:]
    (run,) = runs(status)
    assert run["status"] == "interrupted"  # shown so to a reader, before anyone marks it
    assert run["pid"] == child.pid
    assert run["command_line"] == f"survtrack --db {db} ingest eis {inbox}"
    assert run["finished_at"] is None
    # the next writer marks it for good, says so, and the ingest resumes by running again
    again = survtrack(db, "ingest", "eis", str(inbox))
    assert again.returncode == 0, again.stderr[-2000:]
    line = one_line(again.stderr, "ended without finishing")
    assert run["run_id"] in line and "marked interrupted" in line
    assert again.query("SELECT status FROM runs ORDER BY started_at") == [
        ("interrupted",), ("finished",)]
    assert again.query("SELECT count(*) FROM contracts") == [(1,)]


def test_a_run_whose_process_is_alive_stays_running(tmp_path, inbox):
    """A live process that recorded a run and let the warehouse go (this very process, or a
    file system whose locks do not hold) is not declared gone by another command."""
    db = tmp_path / "w.duckdb"
    assert survtrack(db, "ingest", "eis", str(inbox)).returncode == 0
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\nfrom survtrack.warehouse.store import Warehouse\n"
         f"wh = Warehouse({str(db)!r}, lock_wait=120)\n"
         "print(wh.start_run('eis', 'ingest'), flush=True)\nwh.close()\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        run_id = holder.stdout.readline().strip()
        assert run_id.startswith("ingest-eis-")
        status = survtrack(db, "status", "--json")
        assert {r["run_id"]: r["status"] for r in runs(status)}[run_id] == "running"
        writer = survtrack(db, "ingest", "eis", str(inbox))  # a writer marks the gone only
        assert writer.returncode == 0, writer.stderr[-2000:]
        assert writer.query("SELECT status, pid FROM runs WHERE run_id = ?", [run_id]) == [
            ("running", holder.pid)]
    finally:
        holder.communicate("", timeout=60)  # the process ends: now its run is gone
    status = survtrack(db, "status", "--json")
    assert {r["run_id"]: r["status"] for r in runs(status)}[run_id] == "interrupted"


def test_a_second_writer_waits_for_the_lock_then_names_the_holder(tmp_path, inbox, shared):
    db = tmp_path / "w.duckdb"
    holder = start(db, "ingest", "eis", str(inbox), pause=True)
    try:
        stopped(holder)  # it holds the warehouse, mid-ingest
        other = tmp_path / "other"
        other.mkdir()
        shutil.copy(shared / "eis" / OTHER, other / OTHER)
        # a writer that waits 1 s: gives up with one line naming the holder and its command
        second = survtrack(db, "ingest", "eis", str(other), global_args=("--lock-wait", "1"))
        assert second.returncode == 75, second.stderr[-2000:]  # EX_TEMPFAIL: try again later
        line = one_line(second.stderr)
        assert (f"survtrack: {db}: the warehouse is being written by pid {holder.pid}"
                f" (survtrack --db {db} ingest eis ") in line  # its command, shortened
        assert "waited 1 s (--lock-wait" in line
        # a reader is told the same (DuckDB lets no one read while a process writes)
        reader = survtrack(db, "status", env={"SURVTRACK_LOCK_WAIT": "0.5"})
        assert reader.returncode == 75
        assert f"is being written by pid {holder.pid}" in one_line(reader.stderr)
        # a writer that waits long enough gets the warehouse once the holder is done
        waiting = start(db, "ingest", "eis", str(other), global_args=("--lock-wait", "600"))
        told = waiting.stderr.readline()  # it says so once, then waits
        assert f"is being written by pid {holder.pid}" in told and "waiting up to 600 s" in told
        code, _, err = finish(holder)
        assert code == 0, err[-2000:]
        out, err = waiting.communicate(timeout=300)
        assert waiting.returncode == 0, err[-2000:]
    finally:
        for proc in (holder,):
            if proc.poll() is None:
                kill(proc)
    done = survtrack(db, "status", "--json")
    assert sorted(r["status"] for r in runs(done)) == ["finished", "finished"]
    assert done.query("SELECT count(*) FROM contracts") == [(2,)]
    assert os.path.exists(db)


def test_secrets_never_reach_the_recorded_command_line():
    from survtrack.warehouse.processes import command_line

    assert command_line(["/v/bin/survtrack", "scrape", "eis", "--token", "s3cret", "--mode",
                         "documents", "--api-key=k", "--base-url", "https://u:pw@h.example/x"]
                        ) == ("survtrack scrape eis --token '***' --mode documents"
                              " '--api-key=***' --base-url 'https://***@h.example/x'")
    assert command_line(["/usr/bin/python3", "-m", "survtrack", "status"]) == "survtrack status"
