"""Watchlists through the real command line on real EIS documents: a watchlist on a vendor
reports the contract a later ingest adds, once; the match survives a rebuild; the Atom feed
served by the dashboard's server parses with that entry."""

from __future__ import annotations

import json
from urllib.parse import quote

import feedparser
import pytest
from typer.testing import CliRunner

from survtrack.cli import app

VORONEZH = "fz44_contract_v6.3_voronezh_2366200608816001262.xml"
VENDOR = "RU-INN:6829057730"  # ООО «Р-ЛАБ», the supplier of that contract
CONTRACT = "eis:2366200608816001262"


def run(db, *args) -> str:
    result = CliRunner().invoke(app, [*args, "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def site(tmp_path_factory, shared):
    """A warehouse with the other recorded EIS contracts, a watchlist on the vendor of the
    Voronezh contract and one on a title word; then the Voronezh contract is ingested."""
    db = tmp_path_factory.mktemp("watch") / "survtrack.duckdb"
    others = [str(p) for p in sorted((shared / "eis").glob("*.xml")) if p.name != VORONEZH]
    run(db, "ingest", "eis", *others)
    run(db, "watch", "add", "r-lab", "--vendor", VENDOR)
    run(db, "watch", "add", "reagents", "--query", "Cobas", "--country", "RU")
    out = run(db, "ingest", "eis", str(shared / "eis" / VORONEZH))
    return db, out


def test_a_later_ingest_is_reported_once(site, shared):
    db, ingest_output = site
    assert "watch r-lab: 1 new contract" in ingest_output
    listed = {w["name"]: w for w in json.loads(run(db, "watch", "list", "--json"))}
    assert listed["r-lab"]["new"] == 1 and listed["r-lab"]["baseline"] == 0
    report = json.loads(run(db, "watch", "report", "r-lab", "--json"))
    assert [m["contract_id"] for m in report] == [CONTRACT]
    assert report[0]["amount"] and report[0]["currency"] == "RUB"
    assert json.loads(run(db, "watch", "report", "r-lab", "--json")) == []
    # the same document again changes nothing, and a rebuild keeps the watchlists
    again = run(db, "ingest", "eis", str(shared / "eis" / VORONEZH))
    assert "new contract" not in again
    run(db, "build")
    assert json.loads(run(db, "watch", "report", "r-lab", "--json")) == []
    listed = {w["name"]: w for w in json.loads(run(db, "watch", "list", "--json"))}
    assert listed["r-lab"]["matches"] == 1 and listed["r-lab"]["new"] == 0
    # the text watchlist found the same contract by its title
    assert [m["contract_id"] for m in json.loads(
        run(db, "watch", "report", "reagents", "--json"))] == [CONTRACT]


def test_the_feed_parses_with_the_new_contract(site):
    from survtrack.dashboard.app import create_app

    db, _ = site
    run(db, "snapshot")
    client = create_app(db).server.test_client()
    response = client.get("/feeds/r-lab.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "survtrack watchlist r-lab"
    assert [e.link for e in feed.entries] == \
        ["http://localhost/contract/" + quote(CONTRACT, safe="")]
    assert client.get("/feeds/nobody.atom").status_code == 404
    listed = client.get("/api/watchlists").json["rows"]
    assert {w["name"] for w in listed} == {"r-lab", "reagents"}
    one = client.get("/api/watchlists/r-lab").json
    assert [m["contract_id"] for m in one["matches"]] == [CONTRACT]
    assert client.get("/api/watchlists/nobody").status_code == 404


def test_bad_watchlists_are_refused(site):
    db, _ = site
    for args in (["bad name", "--vendor", "x"], ["empty"], ["r-lab", "--vendor", "x"]):
        result = CliRunner().invoke(app, ["watch", "add", *args, "--db", str(db)])
        assert result.exit_code != 0
    result = CliRunner().invoke(app, ["watch", "report", "nobody", "--db", str(db)])
    assert result.exit_code != 0 and "no watchlist" in result.output
