"""`survtrack scrape ocds --url` over a paged local API built from real OCDS packages."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from typer.testing import CliRunner
from werkzeug import Response

from survtrack.cli import app

PACKAGES = ["mx-cdmx_release-package-1.json", "py-dncp_release-package_1.1-2.json",
            "fictional_release-package_ocds-213czf-000-00001.json"]


@pytest.fixture
def paged_api(httpserver, shared):
    """Three release-package pages chained by links.next; page 2 answers 503 once and
    page 3 is cut short once, as a flaky publisher would."""
    hits: Counter = Counter()
    bodies = {}
    for n, name in enumerate(PACKAGES, 1):
        package = json.loads((shared / "ocds" / name).read_bytes())
        if n < len(PACKAGES):
            package.setdefault("links", {})["next"] = httpserver.url_for(f"/api/releases/{n + 1}")
        bodies[n] = json.dumps(package, ensure_ascii=False).encode()

    def page(n):
        def handler(request):
            hits[n] += 1
            if n == 2 and hits[n] == 1:
                return Response("busy", status=503, headers={"Retry-After": "0"})
            if n == 3 and hits[n] == 1:  # a body cut in half: well-formedness fails
                return Response(bodies[n][: len(bodies[n]) // 2],
                                content_type="application/json")
            return Response(bodies[n], content_type="application/json")
        return handler

    for n in bodies:
        httpserver.expect_request(f"/api/releases/{n}").respond_with_handler(page(n))
    return hits, bodies


def scrape(db, *args):
    result = CliRunner().invoke(app, ["scrape", "ocds", "--db", str(db), "--rate", "1000",
                                      "--backoff", "0.01", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_paged_api_fetched_once_despite_failures_and_rerun_adds_nothing(
        tmp_path, httpserver, paged_api, shared):
    from survtrack.warehouse.store import Warehouse

    hits, bodies = paged_api
    db = tmp_path / "wh.duckdb"
    start = httpserver.url_for("/api/releases/1")
    first = scrape(db, "--url", start)
    assert first["status"] == "finished"
    # every page went through the OCDS parser
    assert first["loaded"] == 3 and first["rejected"] == 0
    assert hits == {1: 1, 2: 2, 3: 2}  # one 503 and one truncated body, each retried once

    second = scrape(db, "--url", start)
    assert second["status"] == "finished"
    assert second["loaded"] == 0 and second["skipped"] == 3

    with Warehouse(db) as wh:
        docs = wh.query("SELECT origin, status, bytes FROM documents ORDER BY origin")
        assert docs == [(httpserver.url_for(f"/api/releases/{n}"), "loaded", len(bodies[n]))
                        for n in (1, 2, 3)]
        # every contract once: the same contracts as ingesting the three packages from disk
        scraped = wh.query("SELECT contract_id, version, amount FROM contracts ORDER BY 1")
    with Warehouse(tmp_path / "reference.duckdb") as ref:
        from survtrack import scrapers
        from survtrack.scrapers.ingest import ingest

        ingest(ref, scrapers.get("ocds"), [shared / "ocds" / name for name in PACKAGES])
        assert scraped == ref.query("SELECT contract_id, version, amount FROM contracts"
                                    " ORDER BY 1") and len(scraped) >= 3
    with Warehouse(db) as wh:
        for (document_id,) in wh.query("SELECT document_id FROM documents"):
            json.loads(wh.archive.read(document_id))  # every stored page is whole
        runs = wh.query("SELECT status, checkpoint, loaded, skipped FROM runs"
                        " ORDER BY started_at")
        assert [r[0] for r in runs] == ["finished", "finished"]
        assert json.loads(runs[0][1]) == {"next": None}
        assert runs[0][2:] == (3, 0) and runs[1][2:] == (0, 3)


def test_cli_names_a_changed_layout_and_records_it(tmp_path, httpserver):
    from pathlib import Path

    from survtrack.warehouse.store import Warehouse

    page = (Path(__file__).parents[1] / "fixtures" / "eis" /
            "contract_search_changed_layout.html").read_bytes()
    httpserver.expect_request("/epz/contract/search/results.html").respond_with_data(
        page, content_type="text/html; charset=utf-8")
    db = tmp_path / "wh.duckdb"
    result = CliRunner().invoke(app, ["scrape", "eis", "--db", str(db), "--query", "камера",
                                      "--base-url", httpserver.url_for("/"), "--rate", "1000"])
    assert result.exit_code == 1
    assert "page layout changed: div.search-registry-entry-block" in result.output
    with Warehouse(db) as wh:
        assert wh.query("SELECT status FROM runs") == [("failed",)]
        (field, reason), = wh.query("SELECT field, reason FROM rejects")
        assert field.startswith("div.search-registry-entry-block") and "layout" in reason


def test_cli_resume_continues_a_stopped_ocds_run(tmp_path, httpserver, paged_api):
    hits, _ = paged_api
    db = tmp_path / "wh.duckdb"
    start = httpserver.url_for("/api/releases/1")
    first = scrape(db, "--url", start, "--max-pages", "1")
    assert (first["status"], first["loaded"]) == ("stopped", 1)
    resumed = scrape(db, "--url", start, "--resume")
    assert resumed["resumed"] and resumed["run_id"] == first["run_id"]
    assert (resumed["status"], resumed["loaded"]) == ("finished", 2)
    assert hits[1] == 1  # the first page was not fetched again


def test_ocds_surveillance_preset_is_refused_with_a_reason(tmp_path):
    result = CliRunner().invoke(app, ["scrape", "ocds", "--db", str(tmp_path / "w.duckdb"),
                                      "--preset", "surveillance"])
    assert result.exit_code == 1 and "offer no product search" in result.output


def test_bulk_jsonl_streamed_to_archive_and_checked(tmp_path, httpserver, shared):
    from survtrack.warehouse.store import Warehouse

    releases = [json.loads((shared / "ocds" / name).read_bytes())
                for name in ("ua-prozorro_release_UA-2016-12-29-000657-c.json",
                             "co-secop_release_ocds-k50g02-16-13-5279502.json")]
    good = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in releases)
    served = []

    def bulk(request):
        served.append(1)
        body = good if len(served) > 1 else good[: len(good) - 40]  # cut mid-release
        return Response(body, content_type="application/x-ndjson")

    httpserver.expect_request("/bulk/releases.jsonl").respond_with_handler(bulk)
    db = tmp_path / "wh.duckdb"
    out = scrape(db, "--url", httpserver.url_for("/bulk/releases.jsonl"))
    assert (out["status"], out["loaded"]) == ("finished", 1) and len(served) == 2
    with Warehouse(db) as wh:
        (document_id, size, media), = wh.query(
            "SELECT document_id, bytes, media_type FROM documents")
        assert wh.archive.read(document_id) == good and size == len(good)
        assert media == "application/x-ndjson"
        # the cut copy never entered the archive: it holds the document and the parser's
        # spool of its releases (ocds_releases.blob), nothing else
        import hashlib

        files = {p.name for p in wh.archive.root.rglob("*") if p.is_file()}
        blobs = {b for (b,) in wh.query("SELECT DISTINCT blob FROM ocds_releases")}
        assert files == {document_id} | blobs
        assert hashlib.sha256(good[: len(good) - 40]).hexdigest() not in files


def test_a_killed_process_is_resumed_from_its_checkpoint(tmp_path, httpserver, shared):
    """SIGKILL a real `survtrack scrape` while it waits for page 2; --resume finishes."""
    import subprocess
    import sys
    import threading
    from pathlib import Path

    from survtrack.warehouse.store import Warehouse

    bodies = {}
    for n, name in enumerate(PACKAGES, 1):
        package = json.loads((shared / "ocds" / name).read_bytes())
        if n < len(PACKAGES):
            package["links"] = {"next": httpserver.url_for(f"/kill/{n + 1}")}
        bodies[n] = json.dumps(package).encode()
    hits: Counter = Counter()
    waiting, release = threading.Event(), threading.Event()

    def page(n):
        def handler(request):
            hits[n] += 1
            if n == 2 and hits[n] == 1:  # hold the first request for page 2 until killed
                waiting.set()
                release.wait(30)
            return Response(bodies[n], content_type="application/json")
        return handler

    for n in bodies:
        httpserver.expect_request(f"/kill/{n}").respond_with_handler(page(n))
    db = tmp_path / "wh.duckdb"
    start = httpserver.url_for("/kill/1")
    survtrack = Path(sys.executable).with_name("survtrack")  # the installed command
    proc = subprocess.Popen([str(survtrack), "scrape", "ocds", "--db",
                             str(db), "--url", start, "--rate", "1000", "--timeout", "60"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert waiting.wait(60), "the scrape never asked for page 2"
        proc.kill()
        proc.wait(10)
    finally:
        release.set()
    with Warehouse(db) as wh:
        (run_id, status, checkpoint), = wh.query("SELECT run_id, status, checkpoint FROM runs")
        assert status == "interrupted"  # killed: the next process to open it marks it so
        assert wh.interrupted == [run_id]
        assert json.loads(checkpoint) == {"next": httpserver.url_for("/kill/2")}
        assert wh.count("documents") == 1

    resumed = scrape(db, "--url", start, "--resume")
    assert resumed["run_id"] == run_id and resumed["resumed"]
    assert (resumed["status"], resumed["loaded"]) == ("finished", 2)
    assert hits[1] == 1  # page 1 was not fetched again
    with Warehouse(db) as wh:
        assert wh.count("documents") == 3
        assert wh.query("SELECT status FROM runs") == [("finished",)]
