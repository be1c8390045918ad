"""Every page renders on a warehouse of contracts that lack what real records lack: no signing
date, no year, no exchange rate, no country, no vendor, no buyer, no amount (the hand-written
thin fixture). pandas reads DuckDB's NULL as NaN, NaT or NA; a page must never see them."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import quote

import pandas as pd
import plotly
import pytest
from dashboard_fixture import thin_dashboard_db

from survtrack import config
from survtrack.analysis import provenance, spending
from survtrack.analysis.spending import CONTRACT_COLUMNS, Filters
from survtrack.dashboard import formats
from survtrack.dashboard.app import create_app, render
from survtrack.dashboard.i18n import t
from survtrack.dashboard.pages.contracts import page_rows
from survtrack.dashboard.urls import contract_href
from survtrack.warehouse.archive import Archive
from survtrack.warehouse.snapshot import SnapshotReader

ODD = "thin:odd id/with:colons?and#hash 1"


@pytest.fixture(scope="module")
def thin(tmp_path_factory):
    db = thin_dashboard_db(tmp_path_factory.mktemp("thin"))
    reader = SnapshotReader(db)
    return db, reader, Archive(config.archive_path(db))


def strict(component) -> str:
    """The JSON Dash sends to the browser, refusing NaN (which browsers cannot parse)."""
    return json.dumps(json.loads(json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder)),
                      allow_nan=False, ensure_ascii=False)


def page(thin, path: str, search: str = "") -> str:
    _, reader, archive = thin
    _, (body, _footer) = render(reader, path, search, archive)
    return strict(body)


@pytest.mark.parametrize("search", ["", "?scope=all", "?scope=all&lang=ru", "?currency=RUB",
                                    "?currency=XOF&scope=all", "?undated=1", "?from=2019&to=2019",
                                    "?vendor=(unpublished)", "?buyer=(unpublished)&scope=all",
                                    "?country=unknown&scope=all", "?not_vendor=x&scope=all"])
@pytest.mark.parametrize("path", ["/", "/contracts", "/countries"])
def test_list_pages_render(thin, path, search):
    assert "not-found" not in page(thin, path, search)


def test_profiles_of_unpublished_and_hostile_parties_render(thin):
    text = page(thin, "/vendor", "?id=(unpublished)&scope=all")
    assert t("vendor_profile") in text
    text = page(thin, "/vendor", "?id=RU-INN:7709000001&scope=all")
    assert "=HYPERLINK" in text  # shown as text: Dash components never render markup
    assert "profile-largest" in text and contract_href("thin:undated-rub") in text
    assert "not-found" in page(thin, "/buyer", "?id=nobody")


@pytest.mark.parametrize("column", [None, *CONTRACT_COLUMNS])
def test_grid_rows_are_plain_json_in_any_order(thin, column):
    _, reader, _ = thin
    sort = [{"colId": column, "sort": "asc"}] if column else []
    for lang in ("en", "ru"):
        reply = page_rows(reader.cursor(), Filters(surveillance_only=False),
                          {"startRow": 0, "endRow": 100, "sortModel": sort}, lang)
        strict(reply)
        assert reply["rowCount"] == 5
        bare = next(r for r in reply["rowData"] if r["contract_id"] == "thin:bare")
        assert bare["signed_on"] == bare["amount_text"] == bare["amount_usd_text"] == "–"
        assert bare["vendor_name"] == "(vendor not published)"
        odd = next(r for r in reply["rowData"] if r["contract_id"] == ODD)
        assert odd["contract_href"] == "/contract/" + quote(ODD, safe="") + (
            "?lang=ru" if lang == "ru" else "")


@pytest.mark.parametrize("contract_id", ["thin:bare", "thin:undated-rub", "thin:year-only-usd",
                                         "thin:no-rate-xof", ODD])
def test_every_contract_page_renders(thin, contract_id):
    text = page(thin, contract_href(contract_id))
    assert "contract-page" in text and "not-found" not in text


def test_contract_page_says_what_is_missing_and_why(thin):
    bare = page(thin, contract_href("thin:bare"))
    assert t("vendor_not_published") in bare and t("buyer_not_published") in bare
    assert t("no_amount_published") in bare
    xof = page(thin, contract_href("thin:no-rate-xof"))
    assert "not converted: no rate within the look-back" in xof
    assert "by agreement" in xof  # the termination event
    undated = page(thin, contract_href("thin:undated-rub"))
    assert "not converted: no date or year" in undated
    assert t("not_published") in undated and t("undated") in undated  # in no year
    assert t("paid_none") in undated and "contract-cancelled" not in undated
    year_only = page(thin, contract_href("thin:year-only-usd"))
    assert f"2020 ({t('date_basis_reported')})" in year_only
    annulled = page(thin, contract_href("thin:bare"))  # listed, never summed: said in words
    assert "contract-cancelled" in annulled
    assert t("cancelled_statement").format(status="annulled") in annulled


def test_contract_page_holds_versions_items_payments_and_documents(thin):
    db, reader, archive = thin
    record = provenance.contract_record(reader.cursor(), ODD, archive)
    assert record["paid"] == {"GBP": Decimal("1000.00")}
    assert [i["description"] for i in record["items"]] == ["Face matching licence"]
    assert record["money"]["rate"] == pytest.approx(1000 / 1370.5)
    versions = provenance.contract_record(reader.cursor(), "thin:year-only-usd")["versions"]
    assert [v["changes"] for v in versions] == [["first version seen"],
                                                ["amount -200,000.00 -> 250,000.00"]]
    warned = page(thin, contract_href("thin:year-only-usd"))  # the store flagged the sign
    assert "contract-warnings" in warned and "negative_amount" in warned
    text = page(thin, contract_href(ODD))
    assert "£1,000.00" in text and "£400.00" in text and "Face matching licence" in text
    assert f"({t('date_basis_signed')})" in text
    # the paid measure: p2 has no date, so no rate: the USD sum is not given, and says why
    assert record["paid_usd"] is None and t("paid_not_converted") in text and "$548.20" in text
    (doc,) = record["documents"]
    assert doc["known"] and "payments" in doc["roles"] and "the version shown" in doc["roles"]


def test_document_page_shows_what_it_fed_and_its_content(thin):
    _, reader, _ = thin
    (document_id,) = reader.cursor().execute("SELECT document_id FROM documents").fetchone()
    text = page(thin, f"/document/{document_id}")
    assert "document-page" in text and ODD in text
    assert f"/document/{document_id}/view" in text  # the content, framed
    assert "not-found" in page(thin, "/document/" + "0" * 64)
    assert "not-found" in page(thin, "/document/not-an-id")
    db, _, _ = thin
    client = create_app(db).server.test_client()
    view = client.get(f"/document/{document_id}/view")
    assert view.status_code == 200 and view.mimetype == "text/html"
    assert view.headers["Content-Security-Policy"].startswith("sandbox")
    body = view.data.decode()
    assert '<span class="k">"contracts"</span>' in body  # the JSON laid out as a tree
    assert "&lt;b&gt;bold&lt;/b&gt;" in body and "<b>bold" not in body  # text, never markup
    assert client.get(f"/document/{'0' * 64}/view").status_code == 404
    assert client.get("/document/xyz/view").status_code == 400


def test_unknown_filter_values_are_refused_in_words(thin):
    text = page(thin, "/", "?currency=XYZ")
    assert "unknown-filter" in text and "kpi-total" not in text
    assert "No contract in this warehouse has Currency “XYZ”" in text
    assert "GBP, RUB, USD, XOF" in text  # what it does have
    for path, search in [("/contracts", "?country=ZZ"), ("/countries", "?category=nothing"),
                         ("/", "?vendor=nobody"), ("/", "?source=nowhere")]:
        assert "unknown-filter" in page(thin, path, search)
    db, _, _ = thin
    assert create_app(db).server.test_client().get(
        "/download/contracts.csv?currency=XYZ").status_code == 400


def test_empty_selection_says_so_without_axes(thin):
    _, reader, archive = thin
    _, (body, _) = render(reader, "/", "?from=1990&to=1990", archive)
    text = strict(body)
    assert t("no_data") in text
    chart = json.loads(strict(body))
    figure = _find(chart, "overview-chart")["props"]["figure"]
    assert figure["layout"]["xaxis"]["visible"] is False
    assert figure["layout"]["annotations"][0]["text"] == t("no_data")


def _find(component, id_):
    if isinstance(component, dict):
        if component.get("props", {}).get("id") == id_:
            return component
        children = component.get("props", {}).get("children")
        return _find(children, id_)
    if isinstance(component, list):
        for child in component:
            found = _find(child, id_)
            if found:
                return found
    return None


def test_contracts_without_a_country_have_their_bar_and_filter(thin):
    _, reader, _ = thin
    con = reader.cursor()
    everything = Filters(surveillance_only=False)
    countries = spending.by_country(con, everything)
    assert "unknown" in set(countries["key"])
    unknown = spending.count_contracts(con, everything.with_(country="unknown"))
    assert unknown == int(countries.set_index("key").loc["unknown", "contracts"]) == 3
    assert "unknown" in spending.choices(con)["country"]


@pytest.mark.parametrize("value", [None, float("nan"), pd.NaT, pd.NA])
def test_every_missing_value_formats_as_a_dash(value):
    assert formats.day(value) == formats.money(value, "USD") == formats.number(value) == "–"
    assert formats.country_name(value) == t("unknown_country")


def test_downloads_neutralise_formulas_and_never_store_one(thin):
    import csv
    import io
    import zipfile

    from openpyxl import load_workbook

    db, _, _ = thin
    client = create_app(db).server.test_client()
    text = client.get("/download/contracts.csv?scope=all").data.decode("utf-8-sig")
    lines = text.splitlines()
    skip = int(lines[0].split("after the ")[1].split(" ")[0])
    rows = {r["contract_id"]: r for r in csv.DictReader(io.StringIO("\n".join(lines[skip:])))}
    assert rows["thin:undated-rub"]["vendor"] == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert rows["thin:undated-rub"]["title"] == "'-2+3 cameras without a date"
    assert rows["thin:year-only-usd"]["buyer"].startswith("'@SUM(1+1)")
    assert rows["thin:year-only-usd"]["title"] == "'\tTab-led CCTV maintenance"
    assert rows[ODD]["amount"] == "1000.00"  # numbers stay numbers
    # issue 17's facts travel with each row: an annulled contract says it is never summed
    assert rows["thin:bare"]["cancelled"] == "True" and rows[ODD]["cancelled"] == "False"
    assert (rows[ODD]["dated_on"], rows[ODD]["date_basis"]) == ("2021-01-15", "signed")
    assert rows["thin:year-only-usd"]["date_basis"] == "reported"
    assert rows[ODD]["paid"] == "1000.00" and rows[ODD]["paid_usd"] == ""  # p2: no rate
    data = client.get("/download/contracts.xlsx?scope=all").data
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)
    sheet = load_workbook(io.BytesIO(data))["contracts"]
    header = [c.value for c in sheet[1]]
    values = {r[0]: dict(zip(header, r)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert values["thin:undated-rub"]["vendor"].startswith("'=HYPERLINK")
    assert values["thin:bare"]["amount"] is None and values[ODD]["amount"] == 1000.0
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_every_csv_and_xlsx_the_project_writes_neutralises_formulas(thin, tmp_path):
    """`survtrack export`, `classify --csv` and the notebook's export, not only downloads."""
    import csv
    import subprocess
    import sys

    from openpyxl import load_workbook

    from survtrack.analysis.classify_csv import classify_csv
    from survtrack.analysis.notebook import open_warehouse

    db, _, _ = thin
    out = tmp_path / "orgs.csv"
    subprocess.run([sys.executable, "-m", "survtrack.cli", "--db", str(db), "export",
                    "organizations", "--format", "csv", "--output", str(out)], check=True,
                   capture_output=True)
    names = {r["org_id"]: r["name"] for r in csv.DictReader(open(out, encoding="utf-8"))}
    assert names["RU-INN:7709000001"] == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert names["name:thin:plain-vendor"] == "Plain Vendor LLC"

    source = tmp_path / "in.csv"
    source.write_text("title,note\n=cmd|' /C calc'!A0,+1\nCCTV cameras,plain\n",
                      encoding="utf-8")
    classify_csv(source, "title", tmp_path / "out.csv")
    rows = list(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert rows[0]["title"] == "'=cmd|' /C calc'!A0" and rows[0]["note"] == "'+1"
    assert rows[1]["categories"] == "video_surveillance"

    with open_warehouse(db) as st:
        frame = st.sql("SELECT org_id, name FROM organizations ORDER BY org_id")
        st.export(frame, tmp_path / "orgs.xlsx")
        st.export(frame, tmp_path / "orgs2.csv")
    sheet = load_workbook(tmp_path / "orgs.xlsx").active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in [c.value for c in cells]
    assert "'@SUM(1+1)" in (tmp_path / "orgs2.csv").read_text(encoding="utf-8")
