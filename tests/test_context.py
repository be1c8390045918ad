"""The context source and EIS complaints: court cases, rulings, complaints and sanctions as
events with their parties, linked to buyers and vendors, shown on profiles and the overview's
timeline, exported, in the notebook API; and the leads' verifying commands."""

from __future__ import annotations

import csv
import io
import json
import shlex
from datetime import date
from pathlib import Path

import plotly
import pytest
from conftest import ROOT
from typer.testing import CliRunner
from werkzeug import Response

from survtrack import scrapers
from survtrack.analysis import context
from survtrack.analysis.build import run_build
from survtrack.analysis.facts import publish_snapshot
from survtrack.analysis.leads import leads, verify_command
from survtrack.cli import app
from survtrack.dashboard import figures
from survtrack.dashboard.app import _is_context, render
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.snapshot import SnapshotReader
from survtrack.warehouse.store import Warehouse

EVENTS = scrapers.get("context").default_inputs[0]
FIXTURES = ROOT / "tests" / "fixtures" / "eis"
COMPLAINTS = FIXTURES / "complaints"
DIT_CURATED = "ent:name:curated:moscow-department-of-information-technology-dit"
DIT_EIS = "ent:RU-INN:7700000001"  # the hand-written DIT contracts' and complaints' INN
EVENT = """
[[event]]
id = "{id}"
date = 2021-03-04
date_basis = "event"
kind = "{kind}"
jurisdiction = "{where}"
forum = "A court"
title = "A case"
outcome = "dismissed"
url = "https://example.org/case"
outlet = "Example Gazette"
checked = "verified 2026-12-01 against stored page https://example.org/case: 'a case'"
{parties}"""
PARTY = """
  [[event.party]]
  role = "{role}"
  name = "{name}"
  match = ["Testville Police"]
"""


def as_json(page) -> str:
    return json.dumps(page, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)


def toml(tmp_path: Path, *events: str, name: str = "events.toml") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(events), encoding="utf-8")
    return path


def event(id_="a-case", kind="ruling", where="RU", parties=("respondent",)) -> str:
    return EVENT.format(id=id_, kind=kind, where=where, parties="".join(
        PARTY.format(role=r, name=f"Party {i}") for i, r in enumerate(parties)))


def test_the_project_events_load_field_by_field(warehouse, load):
    counts = load("context", EVENTS)
    assert counts == {"not_contract_bearing": 1}
    assert warehouse.count("context_events") == 11 and warehouse.count("rejects") == 0
    kind, status = warehouse.query("SELECT kind, status FROM documents")[0]
    assert (kind, status) == ("context_events", "not_contract_bearing")
    glukhin = dict(zip(
        ["kind", "occurred_on", "date_basis", "jurisdiction", "forum", "case_number", "url",
         "outcome"],
        warehouse.query("""SELECT kind, occurred_on, date_basis, jurisdiction, forum, case_number,
                                  url, outcome FROM context_events
                           WHERE event_id = 'context:glukhin-echr-judgment-2023'""")[0]))
    assert glukhin == {
        "kind": "judgment", "occurred_on": date(2023, 7, 4), "date_basis": "event",
        "jurisdiction": "CoE", "forum": "European Court of Human Rights (Third Section)",
        "case_number": "11519/20",
        "url": "https://app.lexploria.com/document/930179-case-of-glukhin-v-russia",
        "outcome": "violation of Article 8 (private life) and Article 10 (expression); final on"
                   " 4 October 2023"}
    assert warehouse.query("""SELECT position, role, name, match FROM context_parties
                              WHERE event_id = 'context:glukhin-echr-judgment-2023'
                              ORDER BY position""") == [
        (1, "complainant", "Nikolay Glukhin", None), (2, "respondent", "Russia", None),
        (3, "subject", "Moscow Metro (CCTV cameras installed in underground stations)",
         ["Moscow Metro", "Московский метрополитен"])]
    # the month-only date keeps its basis; a report's date says so
    assert warehouse.query("""SELECT event_id, occurred_on, date_basis FROM context_events
                              WHERE date_basis <> 'event' ORDER BY occurred_on""")[:2] == [
        ("context:fas-metro-smart-cameras-complaint-2015", date(2015, 5, 15), "report"),
        ("context:glukhin-meshchansky-fine-2019", date(2019, 9, 1), "month")]


def test_an_edited_event_replaces_itself_and_its_parties(warehouse, load, tmp_path):
    load("context", toml(tmp_path, event(parties=("complainant", "respondent", "subject"))))
    assert warehouse.count("context_parties") == 3
    again = load("context", toml(tmp_path, event(parties=("complainant", "respondent", "subject"))))
    assert again == {"skipped": 1}
    load("context", toml(tmp_path, event(kind="judgment", parties=("complainant",)),
                         name="edited.toml"))
    assert warehouse.query("SELECT event_id, kind FROM context_events") == [
        ("context:a-case", "judgment")]
    assert warehouse.query("SELECT position, role FROM context_parties") == [(1, "complainant")]


def test_bad_events_are_rejected_by_field_while_the_others_load(warehouse, load, tmp_path):
    bad = {
        "kind": event("bad-kind", kind="gossip"),
        "jurisdiction": event("bad-where", where="Mordor"),
        "party": event("no-party", parties=()),
        "role": event("bad-role", parties=("witness",)),
        "date": event("bad-date").replace("date = 2021-03-04", 'date = "4 March"'),
        "url": event("bad-url").replace('url = "https://example.org/case"', 'url = "example"'),
        "checked": event("bad-checked").replace('checked = "verified', 'checked = "looks'),
        "id": event(),  # a second event with the same id
    }
    counts = load("context", toml(tmp_path, event(), *bad.values()))
    assert counts == {"not_contract_bearing": 1}
    assert warehouse.query("SELECT event_id FROM context_events") == [("context:a-case",)]
    rejects = dict(warehouse.query("SELECT field, reason FROM rejects"))
    assert set(rejects) == set(bad)
    assert rejects["kind"].startswith("event 2 (bad-kind): kind 'gossip' is not one of")
    assert "'Mordor' is neither ISO 3166-1 alpha-2 nor EU/CoE" in rejects["jurisdiction"]
    assert rejects["party"].endswith("an event needs at least one [[event.party]]")
    assert rejects["id"] == "event 9 (a-case): duplicate id 'a-case'"
    broken = tmp_path / "broken.toml"
    broken.write_text('[[event]]\nid = "x\n', encoding="utf-8")
    assert load("context", broken) == {"rejected": 1}
    reason = warehouse.scalar("SELECT reason FROM rejects WHERE field = 'event'")
    assert reason.startswith("not a TOML document of events") and "line 2" in reason


def test_eis_complaints_and_decisions_become_events(warehouse, load):
    counts = load("eis", COMPLAINTS)
    assert counts == {"not_contract_bearing": 4, "rejected": 1, "ignored": 1}  # ignored: README
    rows = {r[0]: r[1:] for r in warehouse.query(
        """SELECT event_id, kind, occurred_on, forum, outcome, case_number, procurement_id
           FROM context_events""")}
    assert rows["eis:complaint:202099900000001"] == (
        "complaint", date(2019, 11, 20), "Управление Федеральной антимонопольной службы по г."
        " Москве", "registered; decision planned for 2019-11-28", "202099900000001",
        "eis:9990000000019000101")
    decision = rows["eis:checkResult:202099900000011"]
    assert decision[:2] == ("complaint_decision", date(2019, 11, 28))
    assert decision[3].startswith("Жалоба признана необоснованной; Комиссия решила")
    assert decision[4:] == ("202099900000001", "eis:9990000000019000101")
    assert rows["eis:complaintCancel:202099900000002"][0] == "complaint_withdrawn"
    assert rows["eis:complaint223:22399900000001"][0::5] == ("complaint", "eis:31999000000")
    assert warehouse.query("""SELECT event_id, role, name, org_id FROM context_parties
                              ORDER BY event_id, position""") == [
        ("eis:complaint223:22399900000001", "complainant", "Иванов Иван Иванович", None),
        ("eis:complaint223:22399900000001", "respondent",
         'АКЦИОНЕРНОЕ ОБЩЕСТВО "ЭЛЕКТРОННАЯ МОСКВА"', "RU-INN:7700000003"),
        ("eis:complaint:202099900000001", "complainant",
         'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "ВИДЕОТЕСТ"', "RU-INN:7700000009"),
        ("eis:complaint:202099900000001", "respondent",
         "ДЕПАРТАМЕНТ ИНФОРМАЦИОННЫХ ТЕХНОЛОГИЙ ГОРОДА МОСКВЫ", "RU-INN:7700000001")]
    assert warehouse.query("SELECT field, reason FROM rejects") == [
        ("complaintNumber", "complaint without complaintNumber or purchaseNumber")]
    assert warehouse.count("contracts") == 0  # complaints bear no contract, nothing is summed


@pytest.fixture(scope="module")
def moscow(tmp_path_factory):
    """Curated leads, the project's events, the hand-written DIT contracts and complaints,
    built (entities) and published as a snapshot."""
    folder = tmp_path_factory.mktemp("moscow")
    db = folder / "survtrack.duckdb"
    with Warehouse(db) as wh:
        for name in ("curated", "context"):
            source = scrapers.get(name)
            ingest(wh, source, list(source.default_inputs))
        ingest(wh, scrapers.get("eis"), [COMPLAINTS, *FIXTURES.glob("contract_moscow_dit_*")])
        run_build(wh)
        publish_snapshot(db, wh.con)
    return db


def test_events_link_to_buyers_and_vendors_by_pattern_and_registry_id(moscow):
    with Warehouse(moscow, read_only=True) as wh:
        curated = context.events_for(wh.con, DIT_CURATED)
        registry = context.events_for(wh.con, DIT_EIS)
        ntech = context.events_for(wh.con, context.keys_named(wh.con, "NtechLab|НТЕХ ЛАБ"))
        metro = context.events_for(wh.con, context.keys_named(wh.con, "Moscow Metro"),
                                   years=(2019, 2023))
        listed = context.parties(wh.con)
    ids = set(curated["event_id"])
    assert len(ids) == 8 and "context:eu-sanctions-moscow-facial-recognition-2023" in ids
    assert dict(zip(curated["event_id"], curated["roles"]))[
        "context:popova-milov-echr-application-2020"] == "subject"
    # the registry's DIT (found by its Russian name) gets the same events, its own complaint and
    # the decision on it (which names no party: it follows the complaint's case number)
    assert set(registry["event_id"]) == ids | {"eis:complaint:202099900000001",
                                               "eis:checkResult:202099900000011"}
    assert list(ntech["event_id"]) == ["context:popova-milov-tverskoy-hearing-2020"]
    assert list(metro["event_id"]) == ["context:glukhin-meshchansky-fine-2019",
                                       "context:glukhin-echr-judgment-2023"]
    dit = listed[(listed["event_id"] == "context:popova-savyolovsky-claim-2019")
                 & (listed["position"] == 2)].iloc[0]
    assert sorted(dit["linked"]) == ["RU-INN:7700000001",
                                     "name:curated:moscow-department-of-information-technology-dit"]


def test_events_are_exported_like_any_table(moscow, tmp_path):
    runner = CliRunner()
    done = runner.invoke(app, ["--db", str(moscow), "export", "context_events",
                               "--format", "csv", "--output", str(tmp_path / "e.csv")])
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "e.csv").read_text("utf-8"))))
    assert len(rows) == 15 and rows[0]["event_id"] == "context:eu-sanctions-moscow-facial-recognition-2023"
    done = runner.invoke(app, ["--db", str(moscow), "export", "context_parties",
                               "--format", "json"])
    assert any(p["match"] == ["Moscow Metro", "Московский метрополитен"]
               for p in json.loads(done.stdout))


def test_profiles_list_the_party_s_events(moscow):
    reader = SnapshotReader(moscow)
    _, (page, _) = render(reader, "/buyer", f"?id={DIT_EIS}")
    text = as_json(page)
    assert text.count('"context-event"') == 10
    assert "Decision on complaint 202099900000001 about purchase 9990000000019000101" in text
    assert "(date of the report)" in text and "https://tass.com/society/1081751" in text
    _, (page, _) = render(reader, "/buyer", f"?id={DIT_EIS}&from=2023&lang=ru")
    text = as_json(page)
    assert text.count('"context-event"') == 2 and "Суды, жалобы и санкции" in text
    _, (page, _) = render(reader, "/vendor", "?id=ent:name:curated:maxima-telecom")
    text = as_json(page)
    assert "No court case, complaint or sanction names this party." in text


def _chart(reader, search: str) -> dict:
    _, (page, _) = render(reader, "/", search)
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("props", {}).get("id") == "overview-chart":
                found.append(node["props"]["figure"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(json.loads(as_json(page)))
    return found[0]


def test_the_overview_timeline_marks_a_chosen_party_s_events(moscow):
    reader = SnapshotReader(moscow)
    plain = _chart(reader, "?country=RU&currency=RUB&scope=all")
    assert not [t for t in plain["data"] if t.get("meta") == figures.CONTEXT_TRACE]
    chosen = _chart(reader, f"?country=RU&currency=RUB&scope=all&buyer={DIT_EIS}")
    markers = [i for i, t in enumerate(chosen["data"]) if t.get("meta") == figures.CONTEXT_TRACE]
    assert len(markers) == 1
    trace = chosen["data"][markers[0]]
    assert trace["x"] == ["2019", "2020", "2023"]  # years with events join the bars' axis
    assert "2019" in chosen["layout"]["xaxis"]["categoryarray"]
    assert "6 Nov 2019: ruling — Savyolovsky court dismisses Popova" in trace["hovertext"][0]
    # a click or a legend toggle on the markers opens no contracts
    assert _is_context(chosen["data"], markers[0]) and not _is_context(chosen["data"], 0)
    assert not _is_context(chosen["data"], 99)


def test_leads_carry_the_command_that_verifies_them(moscow):
    with Warehouse(moscow, read_only=True) as wh:
        found = leads(wh.con, buyer="Москв|Moscow", country="RU")
    assert len(found) >= 30 and found["verify"].notna().all()
    turnstiles = found[found["contract_id"] == "curated:ru-moscow-metro-turnstile-cameras-2019"]
    assert turnstiles["verify"].iloc[0] == (
        "survtrack scrape eis --mode orders --query"
        " 'видеофиксации прохода турникеты метрополитен' --since 2019-01-01 --until 2019-12-31")
    assert (turnstiles["amount_basis"].iloc[0], turnstiles["reported_amount"].iloc[0]) == \
        ("ceiling", 101_600_000)
    assert verify_command(basis="exact", year=2019, notice_id="eis:0373200000119000001",
                          query="x") == ("survtrack scrape eis --mode contracts --query"
                                         " 0373200000119000001")


def test_a_lead_s_command_runs_as_printed(httpserver, tmp_path):
    """The printed command, as a user would paste it, asks EIS for its words and dates."""
    asked = []

    def search(request):
        asked.append(dict(request.args))
        return Response('<div class="search-results__total">0 записей</div>',
                        content_type="text/html; charset=utf-8")

    httpserver.expect_request("/epz/order/extendedsearch/results.html").respond_with_handler(
        search)
    command = verify_command(basis="ceiling", year=2019, notice_id=None,
                             query="видеофиксации прохода турникеты метрополитен")
    args = shlex.split(command)
    assert args[:3] == ["survtrack", "scrape", "eis"]
    done = CliRunner().invoke(app, ["--db", str(tmp_path / "w.duckdb"), *args[1:],
                                    "--base-url", httpserver.url_for("/"), "--rate", "1000"])
    assert done.exit_code == 0, done.output
    assert asked and asked[0]["searchString"] == "видеофиксации прохода турникеты метрополитен"
    assert (asked[0]["publishDateFrom"], asked[0]["publishDateTo"]) == ("01.01.2019", "31.12.2019")


def test_the_claims_report_gives_each_lead_its_command(moscow):
    runner = CliRunner()
    text = runner.invoke(app, ["--db", str(moscow), "claims"]).stdout
    assert ("    verify online: survtrack scrape eis --mode contracts --query 'НТЕХ ЛАБ'"
            " --since 2019-01-01 --until 2019-12-31") in text.splitlines()
    verdicts = json.loads(runner.invoke(app, ["--db", str(moscow), "claims", "--json"]).stdout)
    hardware = next(v for v in verdicts if v["claim"]["id"] == "seed-moscow-fr-hardware")
    assert hardware["leads"] and all(lead["verify"].startswith("survtrack scrape eis --mode ")
                                     for lead in hardware["leads"])
