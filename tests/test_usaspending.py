"""USAspending: the real award detail and recipient responses (../shared/data/usaspending), a
spending_by_award page and bulk CSVs written from the API contract and download columns."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import table_counts
from typer.testing import CliRunner

from survtrack.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "usaspending"
PAGE = FIXTURES / "spending_by_award_page1.json"
TRANSACTIONS = FIXTURES / "Contracts_PrimeTransactions_fixture.csv"
SUMMARIES = FIXTURES / "Contracts_PrimeAwardSummaries_fixture.csv"

MCKESSON = "usaspending:CONT_AWD_H907_9700_SPE2DX16D1500_9700"
CAMERAS = "usaspending:CONT_AWD_70B02C24C00000017_7014_-NONE-_-NONE-"
IDIQ = "usaspending:CONT_IDV_70B02C22D00000045_7014"
ORDER = "usaspending:CONT_AWD_70B02C23F00000101_7014_70B02C22D00000045_7014"
BATTERIES = "usaspending:CONT_AWD_70B02C24P00000222_7014_-NONE-_-NONE-"
FORENSICS = "usaspending:CONT_AWD_15F06719P0000123_1549_-NONE-_-NONE-"


@pytest.fixture
def award_detail(shared) -> Path:
    return shared / "usaspending" / "awards__award_id__response0.json"


@pytest.fixture
def recipient_profile(shared) -> Path:
    return shared / "usaspending" / "recipient__recipient_id__response0.json"


def contract(wh, contract_id: str) -> dict:
    cur = wh.con.execute("SELECT * FROM contracts WHERE contract_id = ?", [contract_id])
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    return dict(zip(names, row)) if row else {}


def items(wh, contract_id: str) -> list[tuple]:
    return wh.query("SELECT line_no, scheme, code, description, amount FROM items"
                    " WHERE contract_id = ? ORDER BY line_no", [contract_id])


def org(wh, org_id: str) -> tuple | None:
    rows = wh.query("SELECT name, short_name, scheme, identifier, country FROM organizations"
                    " WHERE org_id = ?", [org_id])
    return rows[0] if rows else None


def rejects(wh) -> list[tuple]:
    return wh.query("SELECT field, reason FROM rejects ORDER BY field, reason")


# -- the real award detail -----------------------------------------------------------------

def test_award_detail_field_by_field(warehouse, load, award_detail):
    assert load("usaspending", award_detail) == {"loaded": 1}
    c = contract(warehouse, MCKESSON)
    assert c["source"] == "usaspending"
    assert c["native_id"] == "CONT_AWD_H907_9700_SPE2DX16D1500_9700"
    assert c["amount"] == Decimal("61241.34")  # total_obligation
    assert c["currency"] == "USD"
    assert c["signed_on"] == date(2016, 6, 24)  # date_signed
    assert c["year"] == 2016
    assert c["published_on"] == datetime(2019, 10, 27, 20, 6, 44)  # last_modified_date
    assert c["version"] == 201910273  # that day, then 3 for an award detail
    assert c["title"] == "4534723185!PV PHARM BRANCH, VENDOR, CAGE 0U9U0"
    assert c["procedure"] == ("award: DELIVERY ORDER; order under IDV CONT_IDV_SPE2DX16D1500_9700;"
                              " FULL AND OPEN COMPETITION; NEGOTIATED PROPOSAL/QUOTE")
    assert c["vendor_id"] == "US-UEI:JTAPCFM4NSL4"
    assert c["buyer_id"] == "US-FED:097/97AS"
    assert c["country"] == "US"
    assert c["status"] == "unknown"
    assert c["url"] == "https://www.usaspending.gov/award/CONT_AWD_H907_9700_SPE2DX16D1500_9700"
    assert items(warehouse, MCKESSON) == [
        (1, "PSC", "6505", "DRUGS AND BIOLOGICALS", None),
        (2, "NAICS", "325411", "MEDICINAL AND BOTANICAL MANUFACTURING", None),
    ]
    # recipient (UEI; its DUNS 105919864 is not kept, see docs), parent, department, agency
    assert org(warehouse, "US-UEI:JTAPCFM4NSL4") == (
        "MCKESSON CORPORATION", None, "US-UEI", "JTAPCFM4NSL4", "US")
    assert org(warehouse, "US-UEI:S1RUKWWRYFL6") == (
        "MCKESSON CORPORATION", None, "US-UEI", "S1RUKWWRYFL6", None)
    assert warehouse.scalar("SELECT parent_id FROM organizations WHERE org_id = ?",
                            ["US-UEI:JTAPCFM4NSL4"]) == "US-UEI:S1RUKWWRYFL6"
    assert org(warehouse, "US-FED:097") == ("Department of Defense", None, "US-FED", "097", "US")
    assert org(warehouse, "US-FED:097/97AS") == (
        "Defense Logistics Agency", "DLA", "US-FED", "97AS", "US")
    assert warehouse.query("SELECT version, amount, currency FROM contract_versions") == [
        (201910273, Decimal("61241.34"), "USD")]
    doc = warehouse.query("SELECT url, kind, status, detail FROM documents")[0]
    assert doc == ("https://api.usaspending.gov/api/v2/awards/CONT_AWD_H907_9700_SPE2DX16D1500_9700/",
                   "award_detail", "loaded",
                   ("contract CONT_AWD_H907_9700_SPE2DX16D1500_9700: DELIVERY ORDER, obligated"
                   " 61241.34 USD"))
    assert c["document_id"] == warehouse.scalar("SELECT document_id FROM documents")


def test_recipient_profile_is_organization_info(warehouse, load, recipient_profile):
    assert load("usaspending", recipient_profile) == {"not_contract_bearing": 1}
    assert warehouse.count("contracts") == 0
    assert org(warehouse, "US-UEI:NUDGYLBB4S99") == (
        "ART LINE WHOLESALERS, INC.", None, "US-UEI", "NUDGYLBB4S99", "US")
    assert org(warehouse, "US-UEI:D1RMTDTMKLE8") == (
        "ART LINE WHOLESALERS, INC.", None, "US-UEI", "D1RMTDTMKLE8", None)
    assert warehouse.scalar("SELECT detail FROM documents") == (
        "recipient profile of US-UEI:NUDGYLBB4S99, parent US-UEI:D1RMTDTMKLE8;"
        " not contract-bearing")


# -- a spending_by_award page --------------------------------------------------------------

def test_search_page_rows(warehouse, load):
    assert load("usaspending", PAGE) == {"loaded": 1}
    assert warehouse.count("contracts") == 3  # bad amount rejected, grant skipped
    c = contract(warehouse, CAMERAS)
    assert c["amount"] == Decimal("125000.50")
    assert c["signed_on"] == date(2024, 3, 11)  # Base Obligation Date before Start Date
    assert c["published_on"] == datetime(2024, 6, 2, 9, 30)
    assert c["version"] == 202406021
    assert c["vendor_id"] == "US-UEI:EXMPLVSN1234"
    assert c["buyer_id"] == "US-FED:070/7014"
    assert c["procedure"] == "award: DEFINITIVE CONTRACT"
    assert c["title"] == "MOBILE VIDEO SURVEILLANCE SYSTEMS AND INSTALLATION (FIXTURE)"
    assert items(warehouse, CAMERAS) == [
        (1, "PSC", "5836", "VIDEO RECORDING AND REPRODUCING EQUIPMENT", None),
        (2, "NAICS", "334290", "OTHER COMMUNICATIONS EQUIPMENT MANUFACTURING", None),
    ]
    assert org(warehouse, "US-UEI:EXMPLVSN1234")[4] == "US"  # Recipient Location country
    idv = contract(warehouse, IDIQ)
    assert idv["amount"] == Decimal("0.00")
    assert idv["procedure"] == "IDV: INDEFINITE DELIVERY CONTRACT"
    assert contract(warehouse, MCKESSON)["amount"] == Decimal("61241.34")
    assert rejects(warehouse) == [
        ('results[3]."Award Amount"',
         "results[3] (CONT_AWD_70B02C24P00000099_7014_-NONE-_-NONE-): not an amount: 'N/A'")]
    assert warehouse.scalar("SELECT detail FROM documents") == (
        "spending_by_award page 1: 3 contract awards and IDVs, 1 assistance awards skipped"
        " (not procurement), 1 results rejected; more pages follow")


def test_detail_outranks_search_row_of_same_day_in_either_order(tmp_path, award_detail):
    from survtrack import scrapers
    from survtrack.scrapers.ingest import ingest
    from survtrack.warehouse.store import Warehouse

    for order in ((award_detail, PAGE), (PAGE, award_detail)):
        with Warehouse(tmp_path / f"{order[0].stem}.duckdb") as wh:
            for path in order:
                ingest(wh, scrapers.get("usaspending"), [path])
            c = contract(wh, MCKESSON)
            assert c["version"] == 201910273
            assert c["procedure"].startswith("award: DELIVERY ORDER; order under IDV")
            assert len(items(wh, MCKESSON)) == 2
            assert wh.query("SELECT version FROM contract_versions WHERE contract_id = ?"
                            " ORDER BY version", [MCKESSON]) == [(201910271,), (201910273,)]


# -- bulk CSVs -----------------------------------------------------------------------------

def test_transactions_fold_into_awards(warehouse, load):
    assert load("usaspending", TRANSACTIONS) == {"loaded": 1}
    assert warehouse.count("contracts") == 4  # A, B, C, E; D withheld
    a = contract(warehouse, CAMERAS)
    # three actions 100000.00 + 25000.50 - 5000.00, written out of order: the latest
    # transaction's cumulative total_dollars_obligated, never a sum of the cumulative totals
    assert a["amount"] == Decimal("120000.50")
    assert a["signed_on"] == date(2024, 3, 11)  # the base transaction (modification 0)
    assert a["published_on"] == datetime(2024, 9, 30, 14, 2, 11)
    assert a["version"] == 202409302
    assert a["vendor_id"] == "US-UEI:EXMPLVSN1234"
    assert a["buyer_id"] == "US-FED:070/7014"
    assert a["title"] == "MOBILE VIDEO SURVEILLANCE SYSTEMS AND INSTALLATION (FIXTURE)"
    assert a["procedure"] == ("award: DEFINITIVE CONTRACT; FULL AND OPEN COMPETITION;"
                              " NEGOTIATED PROPOSAL/QUOTE")
    assert a["url"] == ("https://www.usaspending.gov/award/"
                        "CONT_AWD_70B02C24C00000017_7014_-NONE-_-NONE-")
    assert items(warehouse, CAMERAS) == [
        (1, "PSC", "5836", "VIDEO RECORDING AND REPRODUCING EQUIPMENT", None),
        (2, "NAICS", "334290", "OTHER COMMUNICATIONS EQUIPMENT MANUFACTURING", None),
    ]
    b = contract(warehouse, IDIQ)
    assert b["amount"] == Decimal("0.00")  # not its 50,000,000.00 ceiling
    assert b["procedure"].startswith("IDV: IDC")
    c = contract(warehouse, ORDER)
    assert c["amount"] == Decimal("50000.25")  # no stated total: 40000.00 + 10000.25
    assert c["procedure"] == "award: DELIVERY ORDER; order under IDV 70B02C22D00000045"
    assert c["signed_on"] == date(2023, 1, 10)
    e = contract(warehouse, FORENSICS)
    assert e["amount"] == Decimal("80000.00")  # stated 75000.00, then an action of 5000.00
    assert e["vendor_id"] == "US-DUNS:123456789"
    assert e["buyer_id"] == "US-FED:015/1549"
    assert e["year"] == 2019
    assert org(warehouse, "US-DUNS:123456789") == (
        "EXAMPLE FORENSICS CORP", None, "US-DUNS", "123456789", "US")
    assert org(warehouse, "US-UEI:EXMPLHLD0001") == (
        "EXAMPLE VISION HOLDINGS INC", None, "US-UEI", "EXMPLHLD0001", None)
    assert org(warehouse, "US-FED:070/7014") == (
        "U.S. Customs and Border Protection", None, "US-FED", "7014", "US")
    assert contract(warehouse, BATTERIES) == {}
    assert rejects(warehouse) == [
        ("contract_award_unique_key",
         ("award CONT_AWD_70B02C24P00000222_7014_-NONE-_-NONE- withheld: its transaction on"
         " line 9 was rejected, so its total would be wrong")),
        ("federal_action_obligation",
         "line 9 (CONT_AWD_70B02C24P00000222_7014_-NONE-_-NONE-): not an amount: '12,3x'"),
    ]
    assert warehouse.scalar("SELECT detail FROM documents") == (
        "prime transactions file: 9 transactions of 4 awards and IDVs; amounts: stated total 2,"
        " stated total + later actions 1, sum of actions 1; 2 rows or awards rejected")
    # one money figure per award: no transaction is a contract of its own
    assert warehouse.scalar("SELECT sum(amount) FROM contracts") == Decimal("250000.75")


def test_award_summaries(warehouse, load):
    assert load("usaspending", SUMMARIES) == {"loaded": 1}
    f = contract(warehouse, "usaspending:CONT_IDV_47QTCA21D00AB_4732")
    assert f["amount"] == Decimal("1500.00")  # total_obligated_amount, not the 50 M potential
    assert f["procedure"] == "IDV: FSS"
    assert f["signed_on"] == date(2021, 7, 1)
    assert f["buyer_id"] == "US-FED:047/4732"
    g = contract(warehouse, "usaspending:CONT_AWD_1333BJ22C00020006_1333_-NONE-_-NONE-")
    assert g["amount"] == Decimal("312500.00")
    assert g["signed_on"] == date(2022, 9, 26)  # award_base_action_date
    assert g["published_on"] == datetime(2023, 9, 21, 7, 30)
    assert g["title"] == "FACE RECOGNITION EVALUATION DATASETS (FIXTURE)"
    assert [i[1:3] for i in items(warehouse, g["contract_id"])] == [
        ("PSC", "AJ11"), ("NAICS", "541715")]


def test_newer_bulk_file_replaces_older_search_row_in_either_order(tmp_path):
    from survtrack import scrapers
    from survtrack.scrapers.ingest import ingest
    from survtrack.warehouse.store import Warehouse

    for order in ((PAGE, TRANSACTIONS), (TRANSACTIONS, PAGE)):
        with Warehouse(tmp_path / f"{order[0].stem}.duckdb") as wh:
            for path in order:
                ingest(wh, scrapers.get("usaspending"), [path])
            assert contract(wh, CAMERAS)["amount"] == Decimal("120000.50")
            assert wh.scalar("SELECT count(*) FROM contracts WHERE contract_id = ?",
                             [CAMERAS]) == 1
            assert wh.query("SELECT version, amount FROM contract_versions"
                            " WHERE contract_id = ? ORDER BY version", [CAMERAS]) == [
                (202406021, Decimal("125000.50")), (202409302, Decimal("120000.50"))]


def test_page_whose_rows_are_all_older_still_loads(warehouse, load, award_detail):
    load("usaspending", award_detail, TRANSACTIONS)
    before = {c: contract(warehouse, c)["version"] for c in (MCKESSON, CAMERAS, IDIQ)}
    assert load("usaspending", PAGE) == {"loaded": 1}  # every row loses to a newer version
    assert {c: contract(warehouse, c)["version"] for c in before} == before
    assert len(items(warehouse, MCKESSON)) == 2
    assert warehouse.scalar("SELECT count(*) FROM contract_versions WHERE document_id ="
                            " (SELECT document_id FROM documents WHERE kind = 'search_page')") == 3


# -- idempotence ---------------------------------------------------------------------------

def test_reingest_changes_nothing(warehouse, load, award_detail, recipient_profile):
    everything = (award_detail, recipient_profile, PAGE, TRANSACTIONS, SUMMARIES)
    first = load("usaspending", *everything)
    assert first == {"loaded": 4, "not_contract_bearing": 1}
    before = table_counts(warehouse)
    assert load("usaspending", *everything) == {"skipped": 5}
    assert table_counts(warehouse) == before
    total = warehouse.scalar("SELECT sum(amount) FROM contracts")
    load("usaspending", *everything, force=True)
    assert table_counts(warehouse) == before
    assert warehouse.scalar("SELECT sum(amount) FROM contracts") == total


def test_cli_ingest(tmp_path, award_detail):
    db = tmp_path / "cli.duckdb"
    result = CliRunner().invoke(app, ["ingest", "usaspending", str(award_detail), str(PAGE),
                                      "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "source": "usaspending", "loaded": 2, "not_contract_bearing": 0, "skipped": 0,
        "rejected": 0, "ignored": 0}


# -- bad input -----------------------------------------------------------------------------

def write(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_malformed_json(warehouse, load, tmp_path):
    path = write(tmp_path, "award.json", '{"generated_unique_award_id": "CONT_AWD_X", ')
    assert load("usaspending", path) == {"rejected": 1}
    assert rejects(warehouse) == [
        ("JSON", ("malformed JSON: Expecting property name enclosed in double quotes at line 1"
                 " column 45"))]
    assert warehouse.scalar("SELECT status FROM documents") == "rejected"


@pytest.mark.parametrize("text, reason", [
    ('{"detail": "Sample error message"}',
     ("JSON of unknown shape: not an award detail, spending_by_award page or recipient profile"
     " (keys: detail)")),
    ("[1, 2]", "JSON of unknown shape: a top-level list, not an object"),
])
def test_json_of_unknown_shape(warehouse, load, tmp_path, text, reason):
    assert load("usaspending", write(tmp_path, "odd.json", text)) == {"rejected": 1}
    assert rejects(warehouse) == [("(root)", reason)]


def test_award_detail_with_bad_amount(warehouse, load, tmp_path, award_detail):
    data = json.loads(award_detail.read_text())
    data["total_obligation"] = "61,241.34"
    path = write(tmp_path, "award.json", json.dumps(data))
    assert load("usaspending", path) == {"rejected": 1}
    assert rejects(warehouse) == [("total_obligation", "not an amount: '61,241.34'")]
    assert warehouse.count("contracts") == 0


def test_transaction_page_is_not_taken_for_awards(warehouse, load, tmp_path):
    page = {"limit": 1, "page_metadata": {"page": 1, "hasNext": False},
            "results": [{"Award ID": "HSSCCG10J00265", "Transaction Amount": "15639242.36",
                         "generated_internal_id": "CONT_AWD_HSSCCG10J00265_7003_HSHQDC06D00026"
                                                  "_7001"}]}
    assert load("usaspending", write(tmp_path, "t.json", json.dumps(page))) == {"rejected": 1}
    assert rejects(warehouse)[0][0] == "results[0].Transaction Amount"


def test_csv_missing_required_columns(warehouse, load, tmp_path):
    path = write(tmp_path, "t.csv", "contract_transaction_unique_key,contract_award_unique_key,"
                 "award_id_piid\nK,CONT_AWD_X_1_-NONE-_-NONE-,X\n")
    assert load("usaspending", path) == {"rejected": 1}
    assert rejects(warehouse) == [(
        "federal_action_obligation, action_date",
        "CSV (transactions file) lacks required columns: federal_action_obligation, action_date")]


def test_csv_thousands_separator_is_refused_not_misread(warehouse, load, tmp_path):
    header = TRANSACTIONS.read_text().splitlines()[0]
    cols = header.split(",")
    row = dict.fromkeys(cols, "")
    row.update(contract_award_unique_key="CONT_AWD_P1_1_-NONE-_-NONE-", action_date="2024-01-02",
               federal_action_obligation='"1,234"', modification_number="0")
    good = dict(row, contract_award_unique_key="CONT_AWD_P2_1_-NONE-_-NONE-",
                federal_action_obligation="10.00")
    path = write(tmp_path, "t.csv", "\n".join(
        [header, ",".join(row[c] for c in cols), ",".join(good[c] for c in cols)]) + "\n")
    assert load("usaspending", path) == {"loaded": 1}
    assert contract(warehouse, "usaspending:CONT_AWD_P1_1_-NONE-_-NONE-") == {}
    assert contract(warehouse, "usaspending:CONT_AWD_P2_1_-NONE-_-NONE-")["amount"] == \
        Decimal("10.00")
    assert ("federal_action_obligation",
            "line 2 (CONT_AWD_P1_1_-NONE-_-NONE-): not an amount: '1,234'") in rejects(warehouse)


def test_csv_row_with_wrong_field_count_withholds_its_award(warehouse, load, tmp_path):
    lines = TRANSACTIONS.read_text().splitlines()
    lines[4] = lines[4] + ",EXTRA"  # line 5: award B, the IDV
    path = write(tmp_path, "t.csv", "\n".join(lines) + "\n")
    assert load("usaspending", path) == {"loaded": 1}
    assert contract(warehouse, IDIQ) == {}
    assert contract(warehouse, CAMERAS)["amount"] == Decimal("120000.50")
    assert ("row", ("line 5 (CONT_IDV_70B02C22D00000045_7014): 53 fields, not as many as the"
                   " header")) in rejects(warehouse)


def test_transaction_listed_twice_is_counted_once(warehouse, load, tmp_path):
    lines = TRANSACTIONS.read_text().splitlines()
    order_rows = [line for line in lines if ",CONT_AWD_70B02C23F00000101_" in line]
    path = write(tmp_path, "t.csv", "\n".join(lines + order_rows) + "\n")
    assert load("usaspending", path) == {"loaded": 1}
    assert contract(warehouse, ORDER)["amount"] == Decimal("50000.25")
    assert "duplicate rows ignored 2" in warehouse.scalar("SELECT detail FROM documents")


def test_sum_without_the_base_award_says_so(warehouse, load, tmp_path):
    lines = TRANSACTIONS.read_text().splitlines()
    rows = [lines[0]] + [line for line in lines if "_70B02C23F00000101_P00001_" in line]
    assert load("usaspending", write(tmp_path, "t.csv", "\n".join(rows) + "\n")) == {"loaded": 1}
    c = contract(warehouse, ORDER)
    assert c["amount"] == Decimal("10000.25")
    # no base row: no signing date, the year from the period of performance start
    assert c["signed_on"] is None and c["dated_on"] == date(2023, 1, 15)
    assert (c["year"], c["date_basis"]) == (2023, "performance_start")
    assert warehouse.scalar("SELECT detail FROM documents") == (
        "prime transactions file: 1 transactions of 1 awards and IDVs; amounts: sum of actions"
        " (base award not in the file) 1")


def test_zip_of_bulk_csv(warehouse, load, tmp_path):
    import zipfile

    path = tmp_path / "PrimeTransactions.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(TRANSACTIONS, "Contracts_PrimeTransactions_2024-10-01_H10M00S00_1.csv")
    assert load("usaspending", path) == {"loaded": 1}
    assert contract(warehouse, CAMERAS)["amount"] == Decimal("120000.50")
    assert warehouse.scalar("SELECT origin FROM documents").endswith(
        "PrimeTransactions.zip!Contracts_PrimeTransactions_2024-10-01_H10M00S00_1.csv")


def test_award_detail_with_byte_order_mark(warehouse, load, tmp_path, award_detail):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + award_detail.read_bytes())
    assert load("usaspending", path) == {"loaded": 1}
    assert contract(warehouse, MCKESSON)["amount"] == Decimal("61241.34")


def test_assistance_award_detail_is_not_contract_bearing(warehouse, load, tmp_path, award_detail):
    data = json.loads(award_detail.read_text())
    data.update(generated_unique_award_id="ASST_NON_2024DJBX0001_1501", category="grant")
    assert load("usaspending", write(tmp_path, "g.json", json.dumps(data))) == {
        "not_contract_bearing": 1}
    assert warehouse.count("contracts") == 0


def test_empty_and_headerless_documents(warehouse, load, tmp_path):
    assert load("usaspending", write(tmp_path, "empty.csv", "")) == {"rejected": 1}
    assert rejects(warehouse) == [("(document)", "empty document")]
