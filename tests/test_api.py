"""The JSON API over real HTTP (Flask's test client through the whole WSGI stack) on the demo
warehouse built from every document of ../shared/data."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from urllib.parse import quote

import pytest

from survtrack.analysis import spending
from survtrack.analysis.spending import Filters
from survtrack.dashboard import urls
from survtrack.dashboard.app import create_app
from survtrack.warehouse.snapshot import SnapshotReader


@pytest.fixture(scope="module")
def client(demo_db):
    return create_app(demo_db).server.test_client()


@pytest.fixture(scope="module")
def con(demo_db):
    return SnapshotReader(demo_db).cursor()


def get(client, url: str, status: int = 200):
    response = client.get(url)
    assert response.status_code == status, (url, response.data[:500])
    return response


def every_row(client, url: str) -> list[dict]:
    """Follow `next_url` to the end."""
    rows = []
    while url:
        body = get(client, url).json
        rows += body["rows"]
        url = body["next_url"]
    return rows


def test_paging_to_the_end_gives_every_contract_once(client, con):
    rows = every_row(client, "/api/contracts?scope=all&_size=7")
    ids = [r["contract_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(r[0] for r in con.execute(
        "SELECT contract_id FROM contracts").fetchall())
    # in the dashboard grid's order: newest first, undated last
    grid = spending.contracts(con, Filters(surveillance_only=False), limit=10_000)
    assert ids == list(grid["contract_id"])


@pytest.mark.parametrize("query", ["country=RU&currency=RUB", "currency=USD", "scope=all",
                                   "source=ocds&scope=all&currency=GBP", "from=2019&to=2021",
                                   "flag=no_competition&scope=all"])
def test_filters_give_the_dashboards_figures(client, con, query):
    f = urls.from_query({k: v for k, v in (p.split("=") for p in query.split("&"))})
    totals = spending.totals(con, f).iloc[0]
    rows = every_row(client, f"/api/contracts?{query}&_size=50")
    assert len(rows) == totals["contracts"] == get(client, f"/api/contracts?{query}").json["count"]
    money = "amount_usd" if f.usd else "amount"
    summed = sum(Decimal(r[money]) for r in rows if r[money] is not None and not r["cancelled"])
    api_total = get(client, f"/api/spending/totals?{query}").json["rows"][0]["total"]
    assert abs(summed - Decimal(api_total)) <= Decimal("0.01") * max(1, len(rows))
    assert abs(float(api_total) - float(totals["total"])) < 0.01


def test_money_is_decimal_strings_and_dates_iso(client):
    rows = get(client, "/api/contracts?scope=all&currency=RUB&_size=1000").json["rows"]
    assert rows and all(isinstance(r["amount"], str) for r in rows if r["amount"] is not None)
    dated = [r for r in rows if r["signed_on"]]
    assert dated and all(len(r["signed_on"]) == 10 and r["signed_on"][4] == "-" for r in dated)


def test_every_row_leads_to_its_pages_and_document(client):
    rows = get(client, "/api/contracts?scope=all&_size=1000").json["rows"]
    for r in rows:
        assert r["links"]["contract"] == "/contract/" + quote(r["contract_id"], safe="")
        assert r["links"]["source_url"] == r["url"]
    for r in rows[:: max(1, len(rows) // 15)]:  # a spread of sources
        one = get(client, r["links"]["api"]).json
        assert one["contract_id"] == r["contract_id"]
        assert one["record"]["contract_id"] == r["contract_id"]
        assert r["document_id"] in {d["document_id"] for d in one["documents"]}
        assert get(client, r["links"]["document"]).data


def test_every_contract_vendor_buyer_and_view_answers(client, con):
    """No 5xx anywhere on the full demo: each contract, vendor and buyer, every spending view
    in every shape and format."""
    for (cid,) in con.execute("SELECT contract_id FROM contracts").fetchall():
        get(client, "/api/contracts/" + quote(cid, safe=""))
    for role, plural in (("vendor", "vendors"), ("buyer", "buyers")):
        keys = {r[0] for r in con.execute(f"SELECT DISTINCT {role}_key FROM contract_facts").fetchall()}
        for key in keys:
            body = get(client, f"/api/{plural}/" + quote(key, safe="")).json
            assert body["key"] == key
        found = get(client, f"/api/{plural}?q=a&_size=5").json["rows"]
        assert 0 < len(found) <= 5
    for view in ("totals", "vendor-year", "vendors", "buyers", "countries", "categories",
                 "years", "concentration"):
        for query in ("", "?scope=all&currency=RUB", "?measure=paid&_shape=arrays"):
            get(client, f"/api/spending/{view}{query}")
        get(client, f"/api/spending/{view}.csv?scope=all")


def test_a_bar_leads_to_its_contracts(client):
    bars = get(client, "/api/spending/vendor-year?scope=all").json["rows"]
    bar = next(b for b in bars if b.get("links") and b["year"])
    rows = every_row(client, bar["links"]["contracts"])
    assert len(rows) == bar["contracts"]
    assert {r["vendor_key"] for r in rows} == {bar["vendor_key"]}


def test_csv_and_array_shapes_hold_the_same_rows(client):
    page = get(client, "/api/contracts?scope=all&_size=20").json
    arrays = get(client, "/api/contracts?scope=all&_size=20&_shape=arrays").json
    assert [r[arrays["columns"].index("contract_id")] for r in arrays["rows"]] == \
        [r["contract_id"] for r in page["rows"]]
    response = get(client, "/api/contracts.csv?scope=all&_size=20")
    assert response.mimetype == "text/csv"
    assert 'rel="next"' in response.headers["Link"]
    rows = list(csv.DictReader(io.StringIO(response.data.decode())))
    assert [r["contract_id"] for r in rows] == [r["contract_id"] for r in page["rows"]]
    assert rows[0]["contract_page"] == page["rows"][0]["links"]["contract"]


@pytest.mark.parametrize("url,status", [
    ("/api/contracts/eis:0000", 404), ("/api/vendors/nobody:0", 404),
    ("/api/buyers/nobody:0", 404), ("/api/spending/nothing", 404), ("/api/nothing", 404),
    ("/api/contracts?from=20x", 400), ("/api/contracts?colour=red", 400),
    ("/api/contracts?_size=0", 400), ("/api/contracts?_size=100000", 400),
    ("/api/contracts?_next=not-a-cursor", 400), ("/api/contracts?_shape=tree", 400),
    ("/api/contracts?currency=roubles", 400), ("/api/contracts?measure=x", 400),
    ("/api/contracts?flag=no_such_flag", 400),
    ("/api/contracts.xml", 404), ("/api/search", 400), ("/api/contracts?country=RU&country=US", 400),
])
def test_errors_are_json_with_their_status(client, url, status):
    body = get(client, url, status).json
    assert body["status"] == status and body["error"]


def test_read_only(client):
    response = client.post("/api/contracts")
    assert response.status_code == 405 and response.json["status"] == 405


def test_user_text_never_becomes_sql(client, con):
    before = con.execute("SELECT count(*) FROM contracts").fetchone()[0]
    for text in ("'; DROP TABLE contracts; --", "%", "_", "\\", "x' OR '1'='1"):
        body = get(client, "/api/contracts?scope=all&q=" + quote(text)).json
        assert body["count"] == len(body["rows"]) == 0 or text in ("%", "_")
        get(client, "/api/search?q=" + quote(text))
        get(client, "/api/contracts?vendor=" + quote(text))
    assert con.execute("SELECT count(*) FROM contracts").fetchone()[0] == before


def test_etag_cors_and_openapi(client):
    response = get(client, "/api/contracts?_size=5")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Last-Modified"]
    again = client.get("/api/contracts?_size=5", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    spec = get(client, "/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for path in spec["paths"]:
        concrete = path.replace("{view}", "totals").replace("{contract_id}", "curated:x") \
            .replace("{key}", "x")
        status = client.get(concrete + ("?q=x" if path == "/api/search" else "")).status_code
        assert status in (200, 404), path
