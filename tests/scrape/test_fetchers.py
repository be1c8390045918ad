"""usaspending, ted and cbr fetchers against local servers in the publishers' formats.

Each fetched document is archived whole, counted in its run, checkpointed, and loaded through
its source's parser (a document of a source without a parser would stay 'archived').
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from werkzeug import Response

from survtrack import scrapers
from survtrack.scrapers.http import Policy, PoliteClient
from survtrack.scrapers.scrape import load_archived, scrape
from survtrack.scrapers.ted.fetch import expert_query
from survtrack.warehouse.protocol import Document

FIXTURES = Path(__file__).parents[1] / "fixtures"


def client():
    return PoliteClient(policy=Policy(backoff_factor=0.001, retries=2, body_retries=1))


def documents(wh):
    return wh.query("SELECT origin, url, status, media_type FROM documents ORDER BY origin")


# -- usaspending ---------------------------------------------------------------------------
@pytest.fixture
def usaspending_api(httpserver, shared):
    real = json.loads((shared / "usaspending" / "awards__award_id__response0.json").read_bytes())
    awards = ["CONT_AWD_H907_9700_SPE2DX16D1500_9700", "CONT_AWD_A1_9700_X_9700",
              "CONT_AWD_A2_9700_X_9700"]
    searches: list[dict] = []
    details: Counter = Counter()

    def search(request):
        body = request.get_json()
        searches.append(body)
        if "last_record_unique_id" in body:  # keyset page: the last one
            assert body["last_record_unique_id"] == 2 and body["last_record_sort_value"] == "5"
            rows, meta = awards[2:], {"page": 1, "hasNext": False}
        else:
            rows = awards[:2] if body["page"] == 1 else []
            meta = {"page": body["page"], "hasNext": True, "last_record_unique_id": 2,
                    "last_record_sort_value": "5"}
        results = [{"internal_id": n, "Award ID": a.split("_")[2], "generated_internal_id": a}
                   for n, a in enumerate(rows, 1)]
        return Response(json.dumps({"limit": body["limit"], "results": results,
                                    "page_metadata": meta, "messages": []}),
                        content_type="application/json")

    def award(request):
        award_id = request.path.rstrip("/").rsplit("/", 1)[-1]
        details[award_id] += 1
        body = real if award_id == awards[0] else {**real, "generated_unique_award_id": award_id}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v2/search/spending_by_award/",
                              method="POST").respond_with_handler(search)
    for a in awards:
        httpserver.expect_request(f"/api/v2/awards/{a}/").respond_with_handler(award)
    return awards, searches, details


def test_usaspending_pages_then_keyset_archives_each_award(warehouse, httpserver,
                                                           usaspending_api):
    awards, searches, details = usaspending_api
    params = {"query": "facial recognition", "since": "2019-01-01", "until": "2020-12-31",
              "base_url": httpserver.url_for("/"), "page_size": 2, "keyset_after": 2}
    outcome = scrape(warehouse, "usaspending", params, client(), rate=1000)
    assert outcome.status == "finished" and outcome.parser
    assert outcome.counts == {"loaded": 3}
    first = searches[0]
    assert first["filters"]["keywords"] == ["facial recognition"]
    assert first["filters"]["award_type_codes"] == ["A", "B", "C", "D"]
    assert first["filters"]["time_period"] == [{"start_date": "2019-01-01",
                                                "end_date": "2020-12-31"}]
    assert first["page"] == 1 and "last_record_unique_id" not in first
    assert searches[1]["last_record_unique_id"] == 2  # past the page window: keyset
    assert dict(details) == {a: 1 for a in awards}
    rows = documents(warehouse)
    # the document's public URL is the API's own, named by the parser
    assert [r[1] for r in rows] == sorted(f"https://api.usaspending.gov/api/v2/awards/{a}/"
                                          for a in awards)
    assert {r[2] for r in rows} == {"loaded"} and {r[3] for r in rows} == {"application/json"}
    # each fetched award detail went through the USAspending parser
    assert warehouse.query("SELECT contract_id, amount FROM contracts ORDER BY 1") == [
        (f"usaspending:{a}", Decimal("61241.34")) for a in sorted(awards)]
    (status, loaded, checkpoint), = warehouse.query("SELECT status, loaded, checkpoint FROM runs")
    assert (status, loaded, json.loads(checkpoint)) == ("finished", 3, {"search": 1, "page": 1})
    again = scrape(warehouse, "usaspending", params, client(), rate=1000)
    assert again.counts == {"skipped": 3}


def test_usaspending_preset_one_search_per_filter_kind():
    from survtrack.scrapers.usaspending.fetch import searches

    todo = searches({"preset": "surveillance"})
    assert {"psc_codes": ["5836", "6350", "6710", "H163"]} in todo
    assert {"naics_codes": ["334310", "334290", "561621"]} in todo
    assert any("facial recognition" in s.get("keywords", []) for s in todo)


# -- ted -----------------------------------------------------------------------------------
TED_NOTICES = {"00525037-2024": "eforms_can_2024-OJS170-00525037.xml",
               "00611835-2024": "eforms_can_2024-OJS198-00611835.xml",
               "00163529-2024": "eforms_cn_2024-OJS056-00163529.xml"}


def test_ted_iteration_tokens_and_notice_xml(warehouse, httpserver, shared):
    numbers = list(TED_NOTICES)
    bodies = []

    def search(request):
        body = request.get_json()
        bodies.append(body)
        page = 0 if "iterationNextToken" not in body else int(body["iterationNextToken"][-1])
        chunk = numbers[page * 2:page * 2 + 2]
        token = f"token-{page + 1}" if page * 2 + 2 < len(numbers) else None
        return Response(json.dumps({"notices": [{"publication-number": n} for n in chunk],
                                    "totalNoticeCount": 3, "iterationNextToken": token,
                                    "timedOut": False}), content_type="application/json")

    httpserver.expect_request("/v3/notices/search", method="POST").respond_with_handler(search)
    for n, name in TED_NOTICES.items():
        httpserver.expect_request(f"/en/notice/{n}/xml").respond_with_data(
            (shared / "ted" / name).read_bytes(), content_type="application/xml")
    params = {"preset": "surveillance", "since": "2024-01-01", "page_size": 2,
              "base_url": httpserver.url_for("/")}
    outcome = scrape(warehouse, "ted", params, client(), rate=1000)
    # two award notices load contracts, the contract notice is recognised as not bearing one
    assert outcome.counts == {"loaded": 2, "not_contract_bearing": 1}
    assert outcome.status == "finished"
    assert warehouse.scalar("SELECT count(DISTINCT document_id) FROM contracts") == 2
    assert bodies[0]["paginationMode"] == "ITERATION" and bodies[0]["limit"] == 2
    assert bodies[1]["iterationNextToken"] == "token-1"
    assert bodies[0]["query"].startswith("(classification-cpv IN (35125300 32323500 35120000")
    assert bodies[0]["query"].endswith("AND publication-date >= 20240101")
    rows = documents(warehouse)
    assert [r[0] for r in rows] == sorted(httpserver.url_for(f"/en/notice/{n}/xml")
                                          for n in numbers)
    sizes = warehouse.query("SELECT bytes FROM documents ORDER BY origin")
    assert sorted(s for (s,) in sizes) == sorted(
        (shared / "ted" / f).stat().st_size for f in TED_NOTICES.values())


def test_ted_query_from_words_and_dates():
    assert expert_query({"query": "CCTV", "since": "2023-01-01", "until": "2023-12-31"}) == (
        'FT ~ ("CCTV") AND publication-date >= 20230101 AND publication-date <= 20231231')


# -- cbr -----------------------------------------------------------------------------------
def test_cbr_date_window_resumes_by_day(warehouse, httpserver):
    asked = []

    def daily(request):
        asked.append(request.args["date_req"])
        iso = "-".join(reversed(request.args["date_req"].split("/")))
        return Response((FIXTURES / "cbr" / f"XML_daily_{iso}.xml").read_bytes(),
                        content_type="application/xml; charset=windows-1251")

    httpserver.expect_request("/scripts/XML_daily.asp").respond_with_handler(daily)
    params = {"since": "2024-03-01", "until": "2024-03-02", "base_url": httpserver.url_for("/")}
    first = scrape(warehouse, "cbr", params, client(), rate=1000, max_pages=1)
    assert first.status == "stopped" and first.counts == {"not_contract_bearing": 1}
    resumed = scrape(warehouse, "cbr", params, client(), rate=1000, resume=True)
    assert resumed.resumed_from == {"date": "2024-03-02"}
    assert resumed.counts == {"not_contract_bearing": 1}
    # the rates reached fx_rates, one day each
    days = warehouse.query("SELECT DISTINCT date FROM fx_rates WHERE source = 'cbr' ORDER BY 1")
    assert [str(d) for (d,) in days] == ["2024-03-01", "2024-03-02"]
    assert asked == ["01/03/2024", "02/03/2024"]
    assert [r[0] for r in documents(warehouse)] == [
        httpserver.url_for("/scripts/XML_daily.asp?date_req=01/03/2024"),
        httpserver.url_for("/scripts/XML_daily.asp?date_req=02/03/2024")]


# -- archived documents meet their parser --------------------------------------------------
def test_archived_documents_are_parsed_once_the_parser_exists(warehouse, shared):
    path = shared / "eis" / "fz44_contract_v7.0_murmansk_2510205003117000004.xml"
    document_id, size = warehouse.archive.put_bytes(path.read_bytes())
    doc = Document(document_id, "eis", "https://zakupki.gov.ru/x", warehouse.archive.path(
        document_id), size, "application/xml", "https://zakupki.gov.ru/x")
    assert warehouse.archive_only(doc).status == "archived"
    assert warehouse.archive_only(doc).status == "skipped"
    assert not warehouse.has_document(document_id)
    counts = load_archived(warehouse, scrapers.get("eis"), None)
    assert counts == {"loaded": 1}
    assert warehouse.query("SELECT status FROM documents") == [("loaded",)]
    assert warehouse.query("SELECT contract_id FROM contracts") == [("eis:2510205003117000004",)]


# -- rates come from the source's declaration ------------------------------------------------
def test_each_run_uses_its_sources_declared_rate(warehouse, httpserver):
    from survtrack.scrapers.scrape import LayoutChanged

    httpserver.expect_request("/epz/contract/search/results.html").respond_with_data(
        "<div class='redesigned'></div>", content_type="text/html")
    polite = client()
    with pytest.raises(LayoutChanged):
        scrape(warehouse, "eis", {"query": "x", "base_url": httpserver.url_for("/")}, polite)
    host = httpserver.url_for("/").split("/")[2]
    assert polite.rates[host] == scrapers.get("eis").rate_limit == 0.5


def test_ocds_publisher_preset_rate_and_dates():
    from survtrack.scrapers.ocds import fetch as ocds

    params = {"preset": "uk-find-a-tender", "since": "2024-01-01T00:00:00"}
    assert ocds.start_url(params) == ("https://www.find-tender.service.gov.uk/api/1.0/"
                                      "ocdsReleasePackages?updatedFrom=2024-01-01T00%3A00%3A00")
    assert ocds.rate_for(params) == 1.0
    with pytest.raises(ValueError, match="unknown OCDS publisher preset 'nope'"):
        ocds.start_url({"preset": "nope"})


def test_prozorro_style_list_then_each_tender_as_ocds(warehouse, httpserver, shared):
    """The ProZorro list pages by next_page.uri; each tender is fetched with opt_schema=ocds."""
    release = json.loads((shared / "ocds" / "ua-prozorro_release_UA-2016-12-29-000657-c.json")
                         .read_bytes())
    after = {"uri": httpserver.url_for("/api/2.5/tenders?offset=2")}
    lists = {"": {"data": [{"id": "a1"}, {"id": "b2"}], "next_page": after},
             "2": {"data": [], "next_page": after}}
    httpserver.expect_request("/api/2.5/tenders").respond_with_handler(
        lambda r: Response(json.dumps(lists[r.args.get("offset", "")]),
                           content_type="application/json"))
    for tid in ("a1", "b2"):
        package = {"uri": tid, "releases": [{**release, "id": tid}]}
        httpserver.expect_request(f"/api/2.5/tenders/{tid}",
                                  query_string="opt_schema=ocds").respond_with_json(package)
    outcome = scrape(warehouse, "ocds", {"url": httpserver.url_for("/api/2.5/tenders")},
                     client(), rate=1000)
    assert outcome.status == "finished" and outcome.counts == {"loaded": 2}
    assert [r[0] for r in documents(warehouse)] == [
        httpserver.url_for("/api/2.5/tenders/a1?opt_schema=ocds"),
        httpserver.url_for("/api/2.5/tenders/b2?opt_schema=ocds")]


def test_ocds_dates_without_a_publisher_are_refused_not_ignored(warehouse):
    with pytest.raises(ValueError, match="--since/--until apply to publisher presets"):
        scrape(warehouse, "ocds", {"url": "http://127.0.0.1:9/x", "since": "2024-01-01"},
               client(), rate=1000)
