"""EIS: search pages parsed with BeautifulSoup, print forms loaded by the EIS parser,
a changed layout named, and a killed or stopped run resumed from its checkpoint."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from werkzeug import Response

from survtrack.scrapers.eis.fetch import result_numbers, searches
from survtrack.scrapers.http import FetchError, Policy, PoliteClient
from survtrack.scrapers.scrape import LayoutChanged, scrape

FIXTURES = Path(__file__).parents[1] / "fixtures" / "eis"
CONTRACTS = {"2366200608816001262": "fz44_contract_v6.3_voronezh_2366200608816001262.xml",
             "2510205003117000004": "fz44_contract_v7.0_murmansk_2510205003117000004.xml",
             "3312100001816000003": "fz44_contract_v6.0_belgorod_3312100001816000003.xml"}


def test_real_order_results_fragment_gives_its_ten_notices(shared):
    page = (shared / "eis" / "html_order_search_results_fz44_fragment.html").read_text("utf-8")
    found = result_numbers(page, "https://zakupki.gov.ru/epz/order/extendedsearch/results.html",
                           "regNumber")
    assert [n for n, _ in found] == [
        "0338200002226000330", "0138100003126000026", "0338300047926000273",
        "0338300006126000098", "0338300004726000162", "0361200015026003236",
        "0888600000126000050", "0888600000126000049", "0888600001026000069",
        "0888600001026000068"]
    assert found[0][1] == ("https://zakupki.gov.ru/epz/order/notice/ezt20/view/common-info.html"
                           "?regNumber=0338200002226000330")


def test_changed_layout_names_what_is_missing():
    page = (FIXTURES / "contract_search_changed_layout.html").read_text("utf-8")
    with pytest.raises(LayoutChanged, match=r"div\.search-registry-entry-block .*"
                                            r"div\.search-results__total"):
        result_numbers(page, "http://x/epz/contract/search/results.html", "reestrNumber")
    no_link = (FIXTURES / "contract_search_page2.html").read_text("utf-8").replace(
        "registry-entry__header-mid__number", "registry-entry__number")
    with pytest.raises(LayoutChanged, match=r"header-mid__number a\[href\].*entry 1"):
        result_numbers(no_link, "http://x/r", "reestrNumber")


def test_empty_search_is_not_a_layout_change():
    assert result_numbers('<div class="search-results__total">0 записей</div>', "u",
                          "reestrNumber") == []


def test_surveillance_preset_searches_words_and_codes():
    todo = searches({"preset": "surveillance"})
    assert {"searchString": "видеонаблюдение"} in todo
    assert {"searchString": "распознавание лиц"} in todo
    assert {"okpd2IdsCodes": "26.70.13", "okpd2IdsWithNested": "true"} in todo
    assert searches({"query": "СОРМ"}) == [{"searchString": "СОРМ"}]


@pytest.fixture
def eis_site(httpserver, shared):
    """Two result pages and three print forms; `broken` makes a print form fail."""
    hits: Counter = Counter()
    broken: set[str] = set()
    pages = {"1": (FIXTURES / "contract_search_page1.html").read_bytes(),
             "2": (FIXTURES / "contract_search_page2.html").read_bytes()}

    def search(request):
        page = request.args["pageNumber"]
        hits[f"page{page}"] += 1
        assert request.args["fz44"] == "on" and request.args["searchString"] == "камера"
        assert request.args["contractDateFrom"] == "01.01.2016"
        return Response(pages[page], content_type="text/html; charset=utf-8")

    def print_form(request):
        number = request.args["contractReestrNumber"]
        hits[number] += 1
        if number in broken:
            return Response("gateway", status=502)
        return Response((shared / "eis" / CONTRACTS[number]).read_bytes(),
                        content_type="application/xml")

    httpserver.expect_request("/epz/contract/search/results.html").respond_with_handler(search)
    httpserver.expect_request("/epz/contract/printForm/viewXml.html").respond_with_handler(
        print_form)
    return hits, broken


def run(warehouse, httpserver, **kw):
    client = PoliteClient(policy=Policy(backoff_factor=0.001, retries=1, body_retries=0))
    params = {"query": "камера", "since": "2016-01-01", "base_url": httpserver.url_for("/"),
              "page_size": 2}
    return scrape(warehouse, "eis", params, client, rate=1000, **kw)


def test_contract_search_loads_print_forms_through_the_eis_parser(warehouse, httpserver,
                                                                  eis_site):
    outcome = run(warehouse, httpserver)
    assert outcome.status == "finished" and outcome.parser
    assert outcome.counts == {"loaded": 3}
    rows = warehouse.query("SELECT contract_id, amount, currency FROM contracts ORDER BY 1")
    assert rows == [("eis:2366200608816001262", Decimal("1207680.35"), "RUB"),
                    ("eis:2510205003117000004", Decimal("214562.64"), "RUB"),
                    ("eis:3312100001816000003", Decimal("6987268.99"), "RUB")]
    origins = warehouse.query("SELECT origin FROM documents ORDER BY origin")
    assert origins[0][0] == httpserver.url_for(
        "/epz/contract/printForm/viewXml.html?contractReestrNumber=2366200608816001262")
    again = run(warehouse, httpserver)
    assert again.counts == {"skipped": 3}
    assert warehouse.count("contracts") == 3


def test_stopped_by_max_pages_then_resumed(warehouse, httpserver, eis_site):
    hits, _ = eis_site
    first = run(warehouse, httpserver, max_pages=1)
    assert first.status == "stopped" and first.counts == {"loaded": 2}
    (status, checkpoint), = warehouse.query("SELECT status, checkpoint FROM runs")
    assert status == "stopped" and json.loads(checkpoint) == {"search": 0, "page": 2}

    resumed = run(warehouse, httpserver, resume=True)
    assert resumed.run_id == first.run_id and resumed.resumed_from == {"search": 0, "page": 2}
    assert resumed.status == "finished" and resumed.counts == {"loaded": 1}
    assert hits["page1"] == 1 and hits["page2"] == 1  # page 1 was not asked again
    assert warehouse.query("SELECT status, loaded FROM runs") == [("finished", 3)]
    assert warehouse.count("contracts") == 3


def test_killed_run_resumes_where_it_failed(warehouse, httpserver, eis_site):
    hits, broken = eis_site
    broken.add("3312100001816000003")
    with pytest.raises(FetchError, match="HTTP 502"):
        run(warehouse, httpserver)
    (run_id, status, checkpoint, loaded), = warehouse.query(
        "SELECT run_id, status, checkpoint, loaded FROM runs")
    assert status == "failed" and loaded == 2 and json.loads(checkpoint) == {"search": 0,
                                                                           "page": 2}
    reject = warehouse.query("SELECT origin, reason FROM rejects")
    assert "contractReestrNumber=3312100001816000003" in reject[0][0]
    assert "HTTP 502" in reject[0][1]

    broken.clear()
    resumed = run(warehouse, httpserver, resume=True)
    assert resumed.run_id == run_id and resumed.counts == {"loaded": 1}
    assert hits["page1"] == 1 and hits["2366200608816001262"] == 1
    assert warehouse.count("contracts") == 3


def test_resume_needs_the_same_parameters(warehouse, httpserver, eis_site):
    run(warehouse, httpserver, max_pages=1)
    client = PoliteClient(policy=Policy(backoff_factor=0.001))
    other = scrape(warehouse, "eis", {"query": "камера", "since": "2016-01-01",
                                      "base_url": httpserver.url_for("/"), "page_size": 5},
                   client, rate=1000, resume=True)
    assert other.resumed_from is None  # a different search starts afresh


def raw_server(body: bytes):
    """A one-shot socket server: werkzeug drops headers with underscores, EIS needs one."""
    import socket
    import threading

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    seen: list[bytes] = []

    def serve():
        conn, _ = sock.accept()
        seen.append(conn.recv(65536))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: %d"
                     b"\r\nConnection: close\r\n\r\n" % len(body) + body)
        conn.close()
        sock.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}/dl/1", seen


def test_document_service_downloads_archives_with_the_token(warehouse, httpserver, shared,
                                                            tmp_path):
    import zipfile

    bundle = tmp_path / "contract_77_2025-03-01.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.write(shared / "eis" / CONTRACTS["2366200608816001262"],
                 "contract_2366200608816001262_30400522.xml")
    soap = []
    download_url, download_requests = raw_server(bundle.read_bytes())

    def service(request):
        soap.append(request.get_data(as_text=True))
        kind = "contract" if "<documentType44>contract<" in soap[-1] else None
        urls = f"<archiveUrl><![CDATA[{download_url}]]></archiveUrl>" if kind else ""
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap='
                        f'"http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                        f"<getDocsByOrgRegionResponse><dataInfo>{urls}</dataInfo>"
                        f"</getDocsByOrgRegionResponse></soap:Body></soap:Envelope>",
                        content_type="text/xml")

    httpserver.expect_request("/eis-integration/services/getDocsIP",
                              method="POST").respond_with_handler(service)
    client = PoliteClient(policy=Policy(backoff_factor=0.001))
    params = {"mode": "documents", "region": "36", "since": "2025-03-01",
              "base_url": httpserver.url_for("/")}
    outcome = scrape(warehouse, "eis", params, client, rate=1000,
                     secrets={"token": "secret-token"})
    assert outcome.status == "finished" and outcome.counts == {"loaded": 1}
    assert "<orgRegion>36</orgRegion>" in soap[0] and "<exactDate>2025-03-01</exactDate>" in soap[0]
    assert "<subsystemType>RGK</subsystemType>" in soap[0]
    assert "<individualPerson_token>secret-token</individualPerson_token>" in soap[0]
    assert b"individualPerson_token: secret-token" in download_requests[0]
    assert len(soap) == 2  # contract and contractProcedure for the one day
    assert warehouse.query("SELECT contract_id FROM contracts") == [("eis:2366200608816001262",)]
    (origin,), = warehouse.query("SELECT origin FROM documents")
    assert origin == download_url + "!contract_2366200608816001262_30400522.xml"
    (parameters,), = warehouse.query("SELECT parameters FROM runs")
    assert "secret-token" not in parameters


def test_document_service_without_token_says_how_to_get_one(warehouse):
    with pytest.raises(ValueError, match="personal token: --token or EIS_TOKEN"):
        scrape(warehouse, "eis", {"mode": "documents", "region": "77", "since": "2025-03-01"},
               PoliteClient(), rate=1000)
