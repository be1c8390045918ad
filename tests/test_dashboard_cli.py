"""`survtrack snapshot` and `survtrack dashboard`, under gunicorn (the default) and Flask's
development server (--dev-server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import requests
from dashboard_fixture import built_dashboard_db

from survtrack.warehouse import changes
from survtrack.warehouse.snapshot import current_snapshot

BELGOROD_DOC = "e0bfbd501e57957cf3da31f6e5156c4c319dd7cdb339d5c0a97298955d16c4c2"
SURVTRACK = [sys.executable, "-m", "survtrack.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            requests.get(url, timeout=10)
            return
        except requests.RequestException:
            time.sleep(0.3)
    pytest.fail(f"server not up at {url}")


def test_snapshot_command(tmp_path, shared):
    db = built_dashboard_db(tmp_path, shared)
    before = current_snapshot(db)
    out = subprocess.run([*SURVTRACK, "--db", str(db), "snapshot"], capture_output=True,
                         text=True, check=True)
    assert Path(out.stdout.strip()) == current_snapshot(db) == before  # nothing new: kept
    with duckdb.connect(str(db)) as con:
        first = con.execute("SELECT min(contract_id) FROM contracts").fetchone()[0]
        con.execute("UPDATE contracts SET title = title || '.' WHERE contract_id = ?", [first])
        changes.record_keys(con, "contracts", [first])  # as the warehouse's writers record it
    out = subprocess.run([*SURVTRACK, "--db", str(db), "snapshot"], capture_output=True,
                         text=True, check=True)
    assert Path(out.stdout.strip()) == current_snapshot(db) != before


@pytest.mark.parametrize("server", [["--dev-server"], ["--workers", "2"]])
def test_dashboard_command_serves(tmp_path, shared, server):
    db = built_dashboard_db(tmp_path, shared)
    port = free_port()
    proc = subprocess.Popen([*SURVTRACK, "--db", str(db), "dashboard", "--port", str(port),
                             *server], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/", proc)
        page = requests.get(base + "/?lang=ru", timeout=10)
        assert page.status_code == 200
        assert 'id="react-entry-point"' in page.text
        doc = requests.get(f"{base}/document/{BELGOROD_DOC}/raw", timeout=10)
        real = (shared / "eis" / "fz44_contract_v6.0_belgorod_3312100001816000003.xml")
        assert doc.content == real.read_bytes()
        csv_text = requests.get(base + "/download/contracts.csv?vendor=RU-INN:7701000002",
                                timeout=10).content.decode("utf-8-sig")
        assert csv_text.count("\nfixture:ntech-") == 2  # one row each (and their page links)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
