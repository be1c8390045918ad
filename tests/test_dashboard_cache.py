"""Callback answers cached per (snapshot, callback, inputs): a hit gives the very bytes a fresh
render gives, a new snapshot is never answered from the old one's cache, and another process
serving the same warehouse (a second gunicorn worker) shares the answers (issue 11 item 7).

Real warehouse (EIS documents plus the dashboard fixture), real Flask test client posting what
the browser posts to Dash; the uncached app over the same snapshot is the reference.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import duckdb
import pytest
from dashboard_fixture import built_dashboard_db

from survtrack import scrapers
from survtrack.analysis.facts import publish_snapshot
from survtrack.dashboard import warm
from survtrack.dashboard.app import create_app
from survtrack.dashboard.cache import HEADER, cache_folder
from survtrack.dashboard.callback_bodies import UPDATE, grid_rows, render, vendor_search
from survtrack.dashboard.urls import href
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.snapshot import current_snapshot
from survtrack.warehouse.store import Warehouse

ALL = "?scope=all"
ASKED = {"overview": render("/", ""), "overview, all contracts, ru": render("/", ALL + "&lang=ru"),
         "contracts page": render("/contracts", ALL), "grid rows": grid_rows(ALL, 0),
         "vendor profile": render("/vendor", "?id=RU-INN:7701000002"),
         "vendor search": vendor_search("ntech")}


@pytest.fixture(scope="module")
def db(tmp_path_factory, shared):
    return built_dashboard_db(tmp_path_factory.mktemp("cache"), shared)


def test_a_repeated_view_is_answered_from_the_cache_with_the_same_bytes(db):
    cached = create_app(db).server.test_client()
    fresh = create_app(db, cache_entries=0).server.test_client()
    answers = {}
    for name, body in ASKED.items():
        first, again = cached.post(UPDATE, json=body), cached.post(UPDATE, json=body)
        reference = fresh.post(UPDATE, json=body)
        assert (first.status_code, again.status_code) == (200, 200), name
        assert (first.headers[HEADER], again.headers[HEADER]) == ("miss", "hit"), name
        assert again.data == first.data == reference.data, name
        assert HEADER not in reference.headers
        answers[name] = first.data
    assert len(set(answers.values())) == len(answers)  # each view its own answer
    assert b"NtechLab" in answers["vendor search"]
    # other filters are another view: not answered from the first one's entry
    other = cached.post(UPDATE, json=render("/", "?country=US"))
    assert other.headers[HEADER] == "miss" and other.data != answers["overview"]
    # a callback that only rewrites the URL is not kept
    url_only = {"output": "url.search", "outputs": {"id": "url", "property": "search"},
                "inputs": [{"id": f"f-{c}", "property": "value", "value": None}
                           for c in ("country", "source", "category")],
                "changedPropIds": ["f-country.value"],
                "state": [{"id": "url", "property": "search", "value": ""}]}
    assert HEADER not in cached.post(UPDATE, json=url_only).headers


def test_a_new_snapshot_is_never_answered_from_the_old_ones_cache(db, shared):
    cached = create_app(db).server.test_client()
    page, rows = ASKED["contracts page"], ASKED["grid rows"]
    before = cached.post(UPDATE, json=page)
    before_rows = cached.post(UPDATE, json=rows)
    assert cached.post(UPDATE, json=page).headers[HEADER] == "hit"
    with Warehouse(db) as wh:  # more contracts, then a new snapshot
        ingest(wh, scrapers.get("ocds"), [shared / "ocds" / "mx-gacm_release_256_cctv.json"])
        publish_snapshot(db, wh.con)
    after, after_rows = cached.post(UPDATE, json=page), cached.post(UPDATE, json=rows)
    assert (after.headers[HEADER], after_rows.headers[HEADER]) == ("miss", "miss")
    fresh = create_app(db, cache_entries=0).server.test_client()
    assert after.data == fresh.post(UPDATE, json=page).data != before.data
    assert after_rows.data == fresh.post(UPDATE, json=rows).data != before_rows.data
    assert b"streaming de 4 eventos" in after_rows.data  # the new contract is listed
    assert b"streaming de 4 eventos" not in before_rows.data
    assert cached.post(UPDATE, json=page).headers[HEADER] == "hit"


SHARED_HIT = """
import sys
from survtrack.dashboard.app import create_app
from survtrack.dashboard.cache import HEADER
from survtrack.dashboard.callback_bodies import UPDATE, render
answer = create_app(sys.argv[1]).server.test_client().post(UPDATE, json=render("/", "?country=RU"))
sys.stdout.write(answer.headers.get(HEADER, "none") + " " + str(len(answer.data)))
"""


def test_another_process_is_answered_from_the_same_cache(db):
    """What gunicorn's workers do: a second process serving the same warehouse finds the
    answer the first one computed (the answers are kept on disk per snapshot)."""
    cached = create_app(db).server.test_client()
    first = cached.post(UPDATE, json=render("/", "?country=RU"))
    assert first.headers[HEADER] == "miss"
    other = subprocess.run([sys.executable, "-c", SHARED_HIT, str(db)], capture_output=True,
                           text=True, timeout=300, check=True)
    assert other.stdout.split() == ["hit", str(len(first.data))]
    folders = sorted(p.name for p in cache_folder(db).iterdir())
    stem = current_snapshot(db).stem  # the older snapshot's answers and locks are gone
    assert folders == [stem, f"{stem}.locks"]


def test_the_views_a_visitor_lands_on_are_warmed_for_a_snapshot_published_while_serving(
        db, shared, monkeypatch):
    """A serving process notices a new snapshot and has a child process compute the landing
    views into the shared cache before anyone asks (warm.py): the first visitor's answer is a
    hit, the same bytes an uncached app gives, and only one process warms a snapshot."""
    monkeypatch.setattr(warm, "POLL_SECONDS", 0.2)
    # the snapshot being served was warmed when the server started (its marker)
    served = cache_folder(db) / f"{current_snapshot(db).stem}.locks"
    served.mkdir(parents=True, exist_ok=True)
    (served / "warmed").touch()
    warmer = warm.Warmer(db)
    with Warehouse(db) as wh:  # more contracts, then a new snapshot while serving
        ingest(wh, scrapers.get("ocds"), [shared / "ocds" / "mx-gacm_release_256_cctv.json"])
        publish_snapshot(db, wh.con)
    snapshot = current_snapshot(db)
    marker = cache_folder(db) / f"{snapshot.stem}.locks" / "warmed"
    deadline = time.monotonic() + 900
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists() and warmer.seen == snapshot
    with duckdb.connect(str(snapshot), read_only=True) as con:
        landing = warm.bodies(con)
    asked = {json.dumps(b["inputs"]) for b in landing}
    for path, search in [("/", ""), ("/", "?lang=ru"), ("/contracts", "?scope=all"),
                         ("/countries", "?scope=all&lang=ru"), ("/", "?country=MX")]:
        assert json.dumps(render(path, search)["inputs"]) in asked, (path, search)
    client = create_app(db).server.test_client()  # another worker, after the warm-up
    fresh = create_app(db, cache_entries=0).server.test_client()
    for body in (render("/", ""), render("/", "?country=MX"), grid_rows("?scope=all", 100),
                 # the front page's link to a vendor (its id URL-encoded, as the browser asks)
                 render("/vendor", href("/vendor", None, id="RU-INN:7701000002")[7:])):
        answer = client.post(UPDATE, json=body)
        assert answer.headers[HEADER] == "hit", body["inputs"]
        assert answer.data == fresh.post(UPDATE, json=body).data
    warmer.stop()
    # the warmed snapshot is not warmed again by another process
    other = warm.Warmer(db)
    other.stop()
    assert other.warm_once(snapshot) == 0
