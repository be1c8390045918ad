"""The curated source: contracts from public reporting, loaded from the project's own CSV."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from conftest import table_counts
from typer.testing import CliRunner

from survtrack.cli import app
from survtrack.scrapers.curated import COLUMNS, CSV
from survtrack.warehouse.protocol import categories

HEADER = ",".join(COLUMNS)
GOOD_ROW = (
    'test-good-row,City of Testville,,Flock Safety,,US,2024-03-05,2024,12500.50,USD,exact,'
    '"Ten ALPR cameras",licence_plate_recognition,,https://example.org/news/1,'
    'Example Gazette,2024-03-06,verified against https://example.org/news/1'
)


def rows() -> list[dict]:
    with open(CSV, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def contract(wh, contract_id: str) -> dict:
    cols = ["contract_id", "source", "native_id", "version", "published_on", "title",
            "buyer_id", "vendor_id", "signed_on", "year", "amount", "currency", "procedure",
            "status", "country", "notice_id", "url", "document_id"]
    found = wh.query(f"SELECT {', '.join(cols)} FROM contracts WHERE contract_id = ?",
                     [contract_id])
    assert len(found) == 1, contract_id
    return dict(zip(cols, found[0]))


def test_the_project_csv_holds_checked_rows_across_regions():
    data = rows()
    assert len(data) >= 30
    assert all(r["checked"].startswith("verified") for r in data)
    assert all(r["url"].startswith("http") for r in data)
    countries = {r["country"] for r in data}
    assert {"RU", "US", "GB", "EU"} <= countries
    assert countries - {"RU", "US", "GB", "EU", "FR", "GR"}  # and elsewhere
    assert {c for r in data for c in r["category"].split(";")} <= set(categories())
    seed = next(r for r in data if r["id"] == "ru-moscow-dit-ntechlab-2019")
    assert (seed["amount"], seed["currency"], seed["year"]) == ("200000000", "RUB", "2019")
    assert "news.trust.org/item/20200131110132-vse82" in seed["checked"]


def test_rows_load_field_by_field(warehouse, load):
    counts = load("curated", CSV)
    assert counts["loaded"] == 1 and counts["rejected"] == 0
    assert warehouse.count("contracts") == len(rows())
    assert warehouse.count("rejects") == 0

    doc_id, source, kind, status, origin = warehouse.query(
        "SELECT document_id, source, kind, status, origin FROM documents")[0]
    assert (source, kind, status, origin) == ("curated", "curated_contracts", "loaded", str(CSV))

    ntech = contract(warehouse, "curated:ru-moscow-dit-ntechlab-2019")
    assert ntech["source"] == "curated"
    assert ntech["native_id"] == "ru-moscow-dit-ntechlab-2019"
    assert ntech["version"] == 0
    assert ntech["buyer_id"] == "name:curated:moscow-department-of-information-technology-dit"
    assert ntech["vendor_id"] == "name:curated:ntechlab"
    assert ntech["signed_on"] is None and ntech["year"] == 2019
    assert ntech["amount"] == Decimal("200000000.00") and ntech["currency"] == "RUB"
    assert ntech["country"] == "RU"
    assert ntech["title"].startswith("[curated from reporting] Unified video detection services")
    assert ntech["procedure"] == "curated from public reporting (verified; amount exact)"
    assert ntech["url"] == "https://news.trust.org/item/20200131110132-vse82/"
    assert ntech["published_on"].date() == date(2020, 1, 31)
    assert ntech["document_id"] == doc_id
    assert ntech["notice_id"] is None
    tags = warehouse.query("SELECT category, rule, evidence, score FROM tags WHERE contract_id = ?"
                           " ORDER BY category", ["curated:ru-moscow-dit-ntechlab-2019"])
    evidence = ("Reuters (Alexander Marrow), via Thomson Reuters Foundation; 2020-01-31;"
                " https://news.trust.org/item/20200131110132-vse82/")
    assert tags == [("facial_recognition", "curated", evidence, 1.0),
                    ("video_analytics", "curated", evidence, 1.0)]
    assert warehouse.query("SELECT name, scheme, identifier, country FROM organizations"
                           " WHERE org_id = ?", [ntech["buyer_id"]]) == [
        ("Moscow Department of Information Technology (DIT)", None, None, "RU")]

    cellebrite = contract(warehouse, "curated:us-ice-cellebrite-2019")
    assert cellebrite["signed_on"] == date(2019, 9, 12) and cellebrite["year"] == 2019
    assert cellebrite["amount"] == Decimal("28200000.00") and cellebrite["currency"] == "USD"
    assert cellebrite["vendor_id"] == "name:curated:cellebrite"

    palantir = contract(warehouse, "curated:us-ice-palantir-icm-2022")
    assert palantir["notice_id"] == "usaspending:CONT_AWD_70CTD022FR0000170_7012_GS35F0086U_4730"
    assert palantir["amount"] == Decimal("150703825.00")

    frontex = contract(warehouse, "curated:eu-frontex-crete-airbus-2024")
    assert (frontex["country"], frontex["currency"]) == ("EU", "EUR")
    assert frontex["procedure"] == ("curated from public reporting (verified; ceiling"
                                    " 184,200,000 EUR, not counted as spent)")
    assert frontex["amount"] is None  # a ceiling is not spending

    kenya = contract(warehouse, "curated:ke-interior-safaricom-2014")
    assert kenya["amount"] == Decimal("14900000000.00") and kenya["currency"] == "KES"
    assert kenya["signed_on"] == date(2014, 11, 25)

    uganda = contract(warehouse, "curated:ug-police-huawei")
    assert uganda["year"] is None and uganda["signed_on"] is None  # not stated: left blank


def test_loading_again_changes_nothing(warehouse, load):
    load("curated", CSV)
    before = table_counts(warehouse)
    again = load("curated", CSV)
    assert again["skipped"] == 1 and again["loaded"] == 0
    forced = load("curated", CSV, force=True)
    assert forced["loaded"] == 1
    assert table_counts(warehouse) == before
    assert warehouse.scalar("SELECT sum(amount) FROM contracts WHERE currency = 'RUB'") == \
        sum(Decimal(r["amount"]) for r in rows()
            if r["currency"] == "RUB" and r["amount_basis"] != "ceiling")  # ceilings: NULL


def test_bad_rows_are_rejected_by_field_while_the_others_load(warehouse, load, tmp_path):
    bad = {
        "amount": GOOD_ROW.replace("12500.50", "12.5OO").replace("test-good-row", "bad-amount"),
        "country": GOOD_ROW.replace(",US,", ",XX,").replace("test-good-row", "bad-country"),
        "category": GOOD_ROW.replace("licence_plate_recognition", "mind_reading")
                            .replace("test-good-row", "bad-category"),
        "year": GOOD_ROW.replace(",2024,", ",2023,").replace("test-good-row", "bad-year"),
        "url": GOOD_ROW.replace(",https://example.org/news/1,", ",,")
                       .replace("test-good-row", "bad-url"),
        "checked": GOOD_ROW.replace("verified against https://example.org/news/1", "looks fine")
                           .replace("test-good-row", "bad-checked"),
        "signed_on": GOOD_ROW.replace("2024-03-05", "5 March").replace("test-good-row", "bad-date"),
        "currency": GOOD_ROW.replace(",USD,", ",DOLLARS,").replace("test-good-row", "bad-cur"),
        "amount_basis": GOOD_ROW.replace(",exact,", ",roughly,").replace("test-good-row", "bad-b"),
        "id": GOOD_ROW,  # a second row with the same id
    }
    unverified = GOOD_ROW.replace("verified against https://example.org/news/1", "unverified")\
        .replace("test-good-row", "test-unverified-row")
    path = tmp_path / "curated.csv"
    path.write_text("\n".join([HEADER, GOOD_ROW, *bad.values(), unverified]) + "\n",
                    encoding="utf-8")
    counts = load("curated", path)
    assert counts["loaded"] == 1
    assert warehouse.query("SELECT contract_id, amount, procedure FROM contracts"
                           " ORDER BY contract_id") == [
        ("curated:test-good-row", Decimal("12500.50"),
         "curated from public reporting (verified; amount exact)"),
        ("curated:test-unverified-row", Decimal("12500.50"),
         "curated from public reporting (unverified; amount exact)")]
    assert warehouse.query("SELECT contract_id, score FROM tags ORDER BY contract_id") == [
        ("curated:test-good-row", 1.0), ("curated:test-unverified-row", 0.5)]
    rejects = dict(warehouse.query("SELECT field, reason FROM rejects"))
    assert set(rejects) == set(bad)
    assert rejects["amount"].startswith("line 3 (bad-amount): not an amount")
    assert "'XX' is not an ISO 3166-1 alpha-2 code" in rejects["country"]
    assert "mind_reading not in the taxonomy" in rejects["category"]
    assert "year 2023 disagrees with signed_on 2024-03-05" in rejects["year"]
    assert rejects["url"].endswith("url is empty")
    assert rejects["id"] == "line 12 (test-good-row): duplicate id 'test-good-row'"
    assert all(r[0] == str(path) for r in warehouse.query("SELECT origin FROM rejects"))


def test_a_csv_without_a_column_is_rejected_naming_it(warehouse, load, tmp_path):
    path = tmp_path / "curated.csv"
    header = HEADER.replace(",checked", "")
    path.write_text(header + "\n" + GOOD_ROW.rsplit(",", 1)[0] + "\n", encoding="utf-8")
    counts = load("curated", path)
    assert counts["rejected"] == 1
    assert warehouse.query("SELECT field, reason FROM rejects") == [
        ("checked", "curated CSV lacks column(s) checked")]
    assert warehouse.count("contracts") == 0


def test_ingest_curated_without_a_path_loads_the_project_csv(tmp_path):
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(app, ["--db", str(db), "ingest", "curated"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "source": "curated", "loaded": 1, "not_contract_bearing": 0, "skipped": 0,
        "rejected": 0, "ignored": 0}
    result = CliRunner().invoke(app, ["--db", str(db), "ingest", "eis"])
    assert result.exit_code != 0 and "give the files to load" in result.output


def test_sources_doc_lists_the_curated_source(tmp_path):
    result = CliRunner().invoke(app, ["docs", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "sources.md").read_text(encoding="utf-8")
    assert "## `curated`: Surveillance contracts known from public reporting" in text
    assert Path(CSV).name in text


def test_a_tender_without_a_vendor_loads_with_no_vendor(warehouse, load, tmp_path):
    """A tender reported before its award names no vendor: the contract keeps vendor_id NULL
    and no made-up organization; a vendor id without a name is rejected."""
    tender = GOOD_ROW.replace("Flock Safety", "").replace("test-good-row", "test-tender")\
        .replace(",exact,", ",ceiling,")
    orphan_id = GOOD_ROW.replace("Flock Safety,", ",GB-COH:01234567").replace(
        "test-good-row", "orphan-id")
    path = tmp_path / "curated.csv"
    path.write_text("\n".join([HEADER, tender, orphan_id]) + "\n", encoding="utf-8")
    assert load("curated", path)["loaded"] == 1
    assert warehouse.query("SELECT vendor_id, amount, procedure FROM contracts") == [
        (None, None, "curated from public reporting (verified; ceiling 12,500.50 USD, not"
                     " counted as spent)")]
    assert warehouse.query("SELECT org_id FROM organizations") == [
        ("name:curated:city-of-testville",)]
    assert warehouse.query("SELECT field, reason FROM rejects") == [
        ("vendor", "line 3 (orphan-id): vendor_id given without a vendor name")]
