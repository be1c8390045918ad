"""`survtrack demo`: a fresh warehouse, offline, from the curated source and the inbox."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from survtrack.warehouse.store import Warehouse

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def demo(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "survtrack.cli", *args], capture_output=True,
                          text=True, env=ENV, timeout=300, **kw)


def test_demo_without_serving_builds_the_seed_contract(tmp_path):
    db = tmp_path / "demo" / "survtrack.duckdb"
    done = demo("--db", str(db), "demo", "--no-serve", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["contracts"] >= 30 and summary["tagged"] >= 30
    assert set(summary["built"]) == {"classify", "entities", "money", "competition", "threads",
                                     "flags"}
    with Warehouse(db, read_only=True) as wh:
        rows = wh.query(
            """SELECT c.year, c.amount, c.currency, c.amount_usd, c.source
               FROM contracts c JOIN organizations v ON v.org_id = c.vendor_id
               WHERE v.name ILIKE '%ntechlab%' AND c.year = 2019""")
    assert len(rows) == 1
    year, amount, currency, usd, source = rows[0]
    assert (year, float(amount), currency, source) == (2019, 200_000_000.0, "RUB", "curated")
    assert usd is None or 2_500_000 < usd < 3_500_000  # about 62-66 roubles to the dollar
    # the Moscow story: leads across the years, and the challenges around Moscow's buyers
    from survtrack.analysis import context
    from survtrack.analysis.leads import leads

    with Warehouse(db, read_only=True) as wh:
        moscow = leads(wh.con, buyer="Москв|Moscow", country="RU")
        events = context.events_for(wh.con, context.keys_named(
            wh.con, "Москв|Moscow|NtechLab|НТЕХ ЛАБ"))
    assert len(moscow) >= 30 and moscow["year"].dropna().nunique() >= 5
    assert len(events) >= 8 and summary["loaded"]["context"] == {"not_contract_bearing": 1}
    assert (db.parent / "survtrack.duckdb.snapshot").is_dir() or any(
        p.name.endswith(".snapshot") for p in db.parent.iterdir())
    again = demo("--db", str(db), "demo", "--no-serve")  # for a person: a few lines, no JSON
    lines = again.stdout.strip().splitlines()
    assert lines[0].startswith(f"{summary['contracts']:,} contracts ({summary['tagged']:,} tagged")
    assert f"curated {summary['by_source']['curated']:,}" in lines[1]
    assert lines[-1] == f"dashboard: survtrack --db {db} dashboard   (then open" \
        " http://127.0.0.1:8050/)" and len(lines) == 4 and "{" not in again.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_the_dashboard(tmp_path, shared):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "eis").symlink_to(shared / "eis")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "survtrack.cli", "--db", str(tmp_path / "w.duckdb"), "demo",
         "--inbox", str(inbox), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"demo did not serve: {proc.stderr.read()[-2000:]}")
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_demo_follows_folders_linked_into_the_inbox_and_ends_a_link_loop(tmp_path, shared):
    from survtrack.demo import build_demo

    inbox = tmp_path / "inbox"
    (inbox / "ted").mkdir(parents=True)
    (inbox / "ted" / "recorded").symlink_to(shared / "ted")
    (inbox / "ted" / "loop").symlink_to(inbox / "ted")  # a link back up: walked once
    with Warehouse(tmp_path / "w.duckdb") as wh:
        result = build_demo(wh, inbox, say=lambda _: None)
        linked = result["loaded"]["ted"]
        documents = wh.scalar("SELECT count(*) FROM documents WHERE source = 'ted'")
    with Warehouse(tmp_path / "direct.duckdb") as wh:
        from survtrack import scrapers
        from survtrack.scrapers.ingest import ingest

        direct = ingest(wh, scrapers.get("ted"), [shared / "ted"])
        assert documents == wh.scalar("SELECT count(*) FROM documents WHERE source = 'ted'")
    assert linked == dict(direct) and documents > 5
