"""OCDS source: every shape of OCDS file in ../shared/data/ocds, field by field, plus small
documents written for the cases the real ones do not show (tests/fixtures/ocds)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import table_contents, table_counts

FIXTURES = Path(__file__).parent / "fixtures" / "ocds"


@pytest.fixture
def ocds(shared) -> Path:
    return shared / "ocds"


def one(wh, sql: str, params=()) -> dict:
    cur = wh.con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, f"expected one row, got {len(rows)}: {rows}"
    return dict(zip(names, rows[0]))


def contract(wh, contract_id: str) -> dict:
    return one(wh, "SELECT * FROM contracts WHERE contract_id = ?", [contract_id])


def org(wh, org_id: str) -> dict:
    return one(wh, "SELECT * FROM organizations WHERE org_id = ?", [org_id])


def items(wh, contract_id: str) -> list[tuple]:
    return wh.query("SELECT line_no, description, scheme, code, quantity, unit, unit_price"
                    " FROM items WHERE contract_id = ? ORDER BY line_no", [contract_id])


def versions(wh, contract_id: str) -> list[tuple]:
    return wh.query("SELECT version, published_on, amount, currency FROM contract_versions"
                    " WHERE contract_id = ? ORDER BY version", [contract_id])


# -- real documents, one test per shape ----------------------------------------------------------

def test_prozorro_bare_release_tender_award_contract(load, warehouse, ocds):
    assert load("ocds", ocds / "ua-prozorro_release_UA-2016-12-29-000657-c.json")["loaded"] == 1
    c = contract(warehouse,
                 "ocds:ocds-be6bcu-UA-2016-12-29-000657-c/0afad9fedf664dbf8c693f2997a55e9a")
    assert c["native_id"] == "ocds-be6bcu-UA-2016-12-29-000657-c/0afad9fedf664dbf8c693f2997a55e9a"
    assert (c["amount"], c["currency"]) == (Decimal("1130184.00"), "UAH")
    assert c["buyer_id"] == "UA-EDR:00032106"
    assert c["vendor_id"] == "UA-EDR:00131564"  # published as XM-EORI, an EDRPOU in fact
    assert c["signed_on"] is None  # the contract is still pending; its award dates it
    assert (c["dated_on"], c["year"], c["date_basis"]) == (date(2017, 1, 13), 2017,
                                                          "award_decision")
    assert c["status"] == "unknown"
    assert c["procedure"] == "limited (negotiation.quick)"
    assert c["title"] == "Енергія електрична"
    assert c["country"] == "UA"
    assert c["published_on"] == datetime(2017, 1, 13, 14, 11, 16, 863956)  # +02:00 -> UTC
    assert c["notice_id"] == "ocds:ocds-be6bcu-UA-2016-12-29-000657-c"
    assert c["url"] == "https://prozorro.gov.ua/tender/UA-2016-12-29-000657-c"
    assert c["version"] == 1
    buyer = org(warehouse, "UA-EDR:00032106")
    assert (buyer["name"], buyer["scheme"], buyer["identifier"], buyer["country"]) == (
        "Національний банк України", "UA-EDR", "00032106", "UA")  # countryName "Україна"
    vendor = org(warehouse, "UA-EDR:00131564")
    assert vendor["name"] == 'ПАТ "Прикарпаттяобленерго"'
    assert items(warehouse, c["contract_id"]) == [
        (1, "Енергія електрична", "CPV", "09310000-5", 478105.0, "kilowatt hour", None)]


def test_prozorro_bare_record_uses_compiled_release(load, warehouse, ocds):
    assert load("ocds", ocds / "ua-prozorro_record_UA-2017-01-31-001299-b.json")["loaded"] == 1
    c = contract(warehouse,
                 "ocds:ocds-be6bcu-UA-2017-01-31-001299-b/f2598fb22e9e40bf9e849a5b394aeef6")
    assert (c["amount"], c["currency"]) == (Decimal("10000.00"), "UAH")
    assert c["signed_on"] == date(2017, 1, 25) and c["year"] == 2017
    assert c["status"] == "active"
    assert c["buyer_id"] == "UA-EDR:03071271"
    assert c["vendor_id"] == "UA-EDR:31411114"
    assert org(warehouse, "UA-EDR:31411114")["name"] == 'СТОВ "Степ-Агро"'
    assert c["procedure"] == "limited (reporting)"
    assert items(warehouse, c["contract_id"]) == [
        (1, "Хлібобулочні вироби", "CPV", "15811000-6", 2100.0, "piece", None)]
    # the embedded release and the compiledRelease that restates it: one version
    assert versions(warehouse, c["contract_id"]) == [
        (1, datetime(2017, 1, 31, 11, 56, 19, 496847), Decimal("10000.00"), "UAH")]


def test_process_published_as_several_releases_gives_one_contract(load, warehouse, ocds):
    """CDMX: two releases of one ocid (OCDS 1.0 style: no version, no parties)."""
    assert load("ocds", ocds / "mx-cdmx_release-package-1.json")["loaded"] == 1
    assert warehouse.count("contracts") == 1
    c = contract(warehouse, "ocds:OCDS-87SD3T-AD-SF-DRM-063-2015/1")
    assert (c["amount"], c["currency"]) == (Decimal("1311264.00"), "MXN")
    assert c["version"] == 2 and c["published_on"] == datetime(2017, 6, 5, 6, 0)
    assert c["title"] == "CA-004/2016"
    assert c["signed_on"] == date(2015, 12, 30)
    assert c["buyer_id"] == "MX-RFC:GDF9712054NA"  # RFC published with no scheme
    assert c["vendor_id"] == "MX-RFC:C&C021030KX2"
    assert c["procedure"] == "selective"
    assert c["url"] == ("http://www.contratosabiertos.cdmx.gob.mx/api/contrato/"
                        "OCDS-87SD3T-AD-SF-DRM-063-2015")
    assert versions(warehouse, c["contract_id"]) == [
        (1, datetime(2015, 12, 22, 6, 0), Decimal("1311264.00"), "MXN"),
        (2, datetime(2017, 6, 5, 6, 0), Decimal("1311264.00"), "MXN")]
    # eleven transactions, each repeated in both releases, stored once: they add up to the value
    assert warehouse.scalar("SELECT count(*) FROM payments") == 11
    assert warehouse.scalar("SELECT sum(amount) FROM payments") == Decimal("1311264.00")
    assert one(warehouse, "SELECT paid_on, amount, currency FROM payments WHERE payment_id = ?",
               ["CLC0010000247-2016"]) == {"paid_on": date(2016, 5, 24),
                                           "amount": Decimal("218544.00"), "currency": "MXN"}
    assert items(warehouse, c["contract_id"]) == [
        (1, "COMPUTADORA PORTATIL TIPO 1", None, None, 471.0, "SER", None)]


def test_iso_8859_1_package(load, warehouse, ocds):
    assert load("ocds", ocds / "mx-cdmx_release-package_encoding-iso-8859-1.json")["loaded"] == 1
    doc = one(warehouse, "SELECT kind, detail, url FROM documents")
    assert doc["kind"] == "release_package" and "read as ISO-8859-1" in doc["detail"]
    assert doc["url"] == ("http://www.contratosabiertos.cdmx.gob.mx/api/contrato/"
                          "OCDS-87SD3T-SEFIN-DRM-AD-024-2016")
    c = contract(warehouse, "ocds:OCDS-87SD3T-SEFIN-DRM-AD-024-2016/1")
    assert (c["amount"], c["currency"]) == (Decimal("193817.35"), "MXN")
    assert c["version"] == 3 and c["status"] == "unknown" and c["signed_on"] is None
    assert org(warehouse, c["buyer_id"])["name"] == "SECRETARÍA DE FINANZAS"
    assert c["vendor_id"] == "MX-RFC:CES031203IG0"
    # releases 1 and 2 carried only the award (amount 0, no currency): no contract yet
    assert versions(warehouse, c["contract_id"]) == [
        (3, datetime(2017, 6, 1, 6, 0), Decimal("193817.35"), "MXN")]
    assert warehouse.scalar("SELECT sum(amount) FROM payments") == Decimal("193817.35")


def test_compranet_record_package(load, warehouse, ocds):
    assert load("ocds", ocds / "mx-compranet_record-package-1.json")["loaded"] == 1
    first = contract(warehouse, "ocds:ocds-07smqs-993235/991324")
    second = contract(warehouse, "ocds:ocds-07smqs-993235/1322806")
    assert (first["amount"], first["currency"]) == (Decimal("189654.00"), "MXN")
    assert (second["amount"], second["currency"]) == (Decimal("37930.71"), "MXN")
    assert first["signed_on"] == date(2016, 1, 29) and second["signed_on"] is None
    assert first["status"] == second["status"] == "completed"  # OCDS terminated
    assert first["vendor_id"] == second["vendor_id"] == "MX-RFC:GAB0709244G5"
    assert first["buyer_id"] == "name:ocds:instituto-nacional-de-antropología-e-historia"
    assert first["procedure"] == "direct"
    vendor = org(warehouse, "MX-RFC:GAB0709244G5")
    assert (vendor["scheme"], vendor["identifier"], vendor["country"]) == (
        "MX-RFC", "GAB0709244G5", "MX")  # countryName "MÉXICO"
    assert org(warehouse, first["buyer_id"])["scheme"] is None  # the buyer has no identifier


def test_dncp_release_package(load, warehouse, ocds):
    assert load("ocds", ocds / "py-dncp_release-package_1.1-2.json")["loaded"] == 1
    c = contract(warehouse, "ocds:ocds-03ad3f-246807/246807-11-setiembre-srl-4")
    assert (c["amount"], c["currency"]) == (Decimal("17875000.00"), "PYG")
    assert c["signed_on"] == date(2013, 4, 5)
    assert c["buyer_id"] is None  # the release names no buyer
    assert c["country"] == "PY"  # from the publisher's ocid prefix
    assert c["vendor_id"] == "name:ocds:11-de-setiembre-srl"
    assert c["url"] == "https://www.contrataciones.gov.py/datos/id/contratos/246807-11-setiembre-srl-4"
    lines = items(warehouse, c["contract_id"])
    assert len(lines) == 5
    assert lines[0] == (1, "Placa Radiografica Medica", "PY-DNCP", "42201810-001", 10.0,
                        "Unidad", Decimal("445000"))
    assert lines[4][1:4] == ("Pinza para laboratorio", "PY-DNCP", "41122404-001")
    assert one(warehouse, "SELECT payment_id, paid_on, amount, currency FROM payments") == {
        "payment_id": "92885", "paid_on": date(2012, 5, 31), "amount": Decimal("2372509.00"),
        "currency": "PYG"}


def test_dncp_bare_release_with_supplier_object(load, warehouse, ocds):
    assert load("ocds", ocds / "py-dncp_release_277004-data-lab-sa-5-contract.json")["loaded"] == 1
    c = contract(warehouse, "ocds:ocds-03ad3f-277004/277004-data-lab-sa-5")
    assert (c["amount"], c["currency"]) == (Decimal("1400029440.00"), "PYG")
    assert c["vendor_id"] == "PY-RUC:80030218-4"
    assert org(warehouse, "PY-RUC:80030218-4")["name"] == "DATA LAB SA"
    assert c["signed_on"] == date(2015, 7, 14)
    assert [line[3] for line in items(warehouse, c["contract_id"])] == [
        "43211508-001", "43212105-002", "43212104-002", "43212110-001"]
    assert items(warehouse, c["contract_id"])[1][4:] == (2.0, "Unidad", Decimal("28453350"))


def test_secop_repeated_awards_and_contracts_count_once(load, warehouse, ocds):
    """The SECOP release lists each award and contract three times: two contracts result."""
    assert load("ocds", ocds / "co-secop_release_ocds-k50g02-16-13-5279502.json")["loaded"] == 1
    rows = warehouse.query("SELECT contract_id, amount, currency, signed_on, vendor_id"
                           " FROM contracts ORDER BY contract_id")
    assert rows == [
        ("ocds:ocds-k50g02-16-13-5279502/160177-0-2016", Decimal("6000000.00"), "COP",
         date(2016, 7, 19), "CO-NIT:860536079"),
        ("ocds:ocds-k50g02-16-13-5279502/160178-0-2016", Decimal("2605500.00"), "COP",
         date(2016, 7, 19), "CO-NIT:860536079")]
    assert org(warehouse, "CO-NIT:860536079")["name"] == "RIELCO LTDA"
    buyer = org(warehouse, "name:ocds:bogotá-d-c-secretaría-de-hacienda-distrital")
    assert buyer["country"] == "CO" and buyer["identifier"] is None  # scheme NIT, no id
    assert items(warehouse, rows[0][0]) == [
        (1, "Servicios de mantenimiento y reparación de equipo de manufactura", "UNSPSC", None,
         None, None, None)]


def test_gacm_cctv_release_local_classification(load, warehouse, ocds):
    assert load("ocds", ocds / "mx-gacm_release_256_cctv.json")["loaded"] == 1
    c = contract(warehouse, "ocds:256/AD-AS-DCAGI-SC-121/15")
    assert (c["amount"], c["currency"]) == (Decimal("117820.00"), "MXN")
    assert c["signed_on"] == date(2015, 12, 9) and c["status"] == "completed"
    assert "cctv en circuito cerrado" in c["title"]
    # the buyer's scheme MK-009KDH999 is no org-id.guide code; the supplier states none
    assert c["buyer_id"] == "name:ocds:grupo-aeroportuario-de-la-ciudad-de-mexico-s-a-de-c-v"
    assert c["vendor_id"] == "name:ocds:norma-delia-lopez-gomez"
    assert c["country"] == "MX"
    assert items(warehouse, c["contract_id"]) == [
        (1, "Servicio Tecnico Especializado para la captura en video y transmision via internet"
            " mediante la produccion y streaming de 4 eventos de licitacion publ",
         "MX-COG", "3390", 1.0, "srv", Decimal("117820"))]
    assert warehouse.count("payments") == 0  # the one transaction states 0 and no date


def test_tender_only_gives_no_contract(load, warehouse, ocds):
    counts = load("ocds", ocds / "uk-contracts-finder_release_ocds-b5fd17-2c44d7bf.json",
                  ocds / "uk-contracts-finder_record_ocds-b5fd17-2c470411.json")
    assert counts["not_contract_bearing"] == 2 and counts["loaded"] == 0
    assert warehouse.count("contracts") == 0
    notice = one(warehouse, "SELECT * FROM notices WHERE notice_id = ?",
                 ["ocds:ocds-b5fd17-2c44d7bf-adc8-11e6-9901-0019b9f3037b"])
    assert notice["title"] == "CP1089-14 Secure confidential waste collection, shredding and" \
        " disposal service"
    assert (notice["amount"], notice["currency"]) == (Decimal("600000.00"), "GBP")
    assert notice["published_on"] == datetime(2014, 12, 17, 16, 44, 59)
    assert notice["buyer_id"] == "name:ocds:devon-county-council"
    assert org(warehouse, "name:ocds:devon-county-council")["country"] == "GB"
    detail = warehouse.scalar("SELECT detail FROM documents WHERE origin LIKE '%record%'")
    assert "0 contracts" in detail and "1 processes without award or contract" in detail


def test_fictional_release_package_six_stages(load, warehouse, ocds):
    package = ocds / "fictional_release-package_ocds-213czf-000-00001.json"
    assert load("ocds", package)["loaded"] == 1
    c = contract(warehouse, "ocds:ocds-213czf-000-00001/ocds-213czf-000-00001-contract-01")
    assert (c["amount"], c["currency"]) == (Decimal("11000000.00"), "GBP")
    assert c["buyer_id"] == "GB-LAC:E09000003"
    assert c["vendor_id"] == "GB-COH:11111111"  # published as 11111111.0
    assert c["signed_on"] == date(2010, 6, 10) and c["status"] == "active"
    assert c["version"] == 6
    assert [v[0] for v in versions(warehouse, c["contract_id"])] == [5, 6]  # from the contract on
    assert items(warehouse, c["contract_id"]) == [
        (1, "Cycle lane improvements", "CPV", "45233130", 8.0, "Miles", Decimal("137000"))]
    assert warehouse.query("SELECT paid_on, amount FROM payments ORDER BY paid_on") == [
        (date(2010, 8, 1), Decimal("50000.00")), (date(2010, 10, 1), Decimal("10000.00"))]
    assert warehouse.count("ocds_releases") == 6


@pytest.mark.parametrize("order", ["record first", "releases first"])
def test_record_and_releases_of_one_process_in_two_documents(load, warehouse, ocds, order):
    record = ocds / "fictional_record-package_ocds-213czf-000-00001.json"
    package = ocds / "fictional_release-package_ocds-213czf-000-00001.json"
    for path in ([record, package] if order == "record first" else [package, record]):
        load("ocds", path)
    assert warehouse.count("contracts") == 1
    c = contract(warehouse, "ocds:ocds-213czf-000-00001/ocds-213czf-000-00001-contract-01")
    assert c["version"] == 6 and c["amount"] == Decimal("11000000.00")
    # the compiledRelease is dated like the last release: it restates it, no version of its own
    assert [v[0] for v in versions(warehouse, c["contract_id"])] == [5, 6]
    assert warehouse.count("payments") == 2


# -- cases written for the purpose -----------------------------------------------------------------

def test_award_without_contract_counted_once(load, warehouse):
    load("ocds", FIXTURES / "award-and-contract.json")
    rows = warehouse.query("SELECT contract_id, amount, vendor_id, signed_on, dated_on,"
                           " date_basis FROM contracts ORDER BY contract_id")
    assert rows == [
        ("ocds:ocds-test01-drone-2/C1", Decimal("30000.00"), "name:ocds:skyeye-bv",
         date(2024, 4, 30), date(2024, 4, 30), "signed"),
        # an award's date is the award decision: it dates the award, it signs nothing
        ("ocds:ocds-test01-drone-2/award:A2", Decimal("5000.00"), "name:ocds:rotor-gmbh",
         None, date(2024, 4, 21), "award_decision")]
    assert items(warehouse, "ocds:ocds-test01-drone-2/award:A2") == [
        (1, "Drone batteries", None, None, 10.0, "piece", Decimal("500"))]


def test_award_then_its_contract_in_a_later_document(load, warehouse):
    load("ocds", FIXTURES / "award-then-contract_1-award.json")
    award = contract(warehouse, "ocds:ocds-test01-cam-7/award:A1")
    assert (award["amount"], award["currency"]) == (Decimal("120000.50"), "GBP")  # "120000.50"
    assert award["vendor_id"] == "GB-COH:12345678" and award["buyer_id"] == "GB-COH:00000001"
    load("ocds", FIXTURES / "award-then-contract_2-contract.json")
    # the contract replaces the award's row: the money is there once
    assert warehouse.query("SELECT contract_id, version, amount, vendor_id, signed_on,"
                           " notice_id FROM contracts") == [
        ("ocds:ocds-test01-cam-7/C1", 3, Decimal("120000.50"), "GB-COH:12345678",
         date(2024, 4, 1), "ocds:ocds-test01-cam-7")]
    assert warehouse.scalar("SELECT count(*) FROM contract_versions WHERE contract_id LIKE"
                            " '%award:%'") == 0
    # the tender's items, as the process has one contract and neither award nor contract has any
    assert items(warehouse, "ocds:ocds-test01-cam-7/C1") == [
        (1, "CCTV camera", "CPV", "32323500", 40.0, None, None)]


def test_older_release_arriving_late_does_not_overwrite(load, warehouse):
    load("ocds", FIXTURES / "late-older-release_new.json")
    load("ocds", FIXTURES / "late-older-release_old.json")
    c = contract(warehouse, "ocds:ocds-test01-lpr-3/C1")
    assert (c["amount"], c["version"]) == (Decimal("200000.00"), 2)
    assert c["vendor_id"] == "name:ocds:platereader-inc"  # from the older release's award
    assert c["title"] == "Licence plate readers" and c["signed_on"] == date(2024, 1, 10)
    assert versions(warehouse, c["contract_id"]) == [
        (1, datetime(2024, 1, 15), Decimal("100000.00"), "USD"),
        (2, datetime(2024, 6, 1), Decimal("200000.00"), "USD")]


def test_reingest_changes_nothing(load, warehouse, ocds):
    first = load("ocds", ocds)
    counts = table_counts(warehouse)
    again = load("ocds", ocds)
    assert again["skipped"] == first["loaded"] + first["not_contract_bearing"]
    assert table_counts(warehouse) == counts
    forced = load("ocds", ocds, force=True)
    assert forced["loaded"] == first["loaded"]
    assert table_counts(warehouse) == counts
    assert warehouse.scalar("SELECT sum(amount) FROM contracts WHERE currency = 'MXN'") == (
        Decimal("1311264.00") + Decimal("193817.35") + Decimal("189654.00")
        + Decimal("37930.71") + Decimal("117820.00"))


def test_packages_stream_part_by_part(load, warehouse, ocds):
    # every package is read release by release (jsonsafe.Guard in front of ijson), whatever
    # its size: the results are those of reading it whole
    load("ocds", ocds / "fictional_release-package_ocds-213czf-000-00001.json",
         ocds / "mx-compranet_record-package-1.json",
         ocds / "mx-cdmx_release-package_encoding-iso-8859-1.json")
    assert warehouse.query("SELECT kind FROM documents ORDER BY kind") == [
        ("record_package",), ("release_package",), ("release_package",)]
    assert warehouse.query("SELECT contract_id, amount FROM contracts ORDER BY 1") == [
        ("ocds:OCDS-87SD3T-SEFIN-DRM-AD-024-2016/1", Decimal("193817.35")),
        ("ocds:ocds-07smqs-993235/1322806", Decimal("37930.71")),
        ("ocds:ocds-07smqs-993235/991324", Decimal("189654.00")),
        ("ocds:ocds-213czf-000-00001/ocds-213czf-000-00001-contract-01",
         Decimal("11000000.00"))]
    assert org(warehouse, "MX-RFC:GDF9712054NA")["name"] == "SECRETARÍA DE FINANZAS"


def test_concatenated_json(load, warehouse):
    load("ocds", FIXTURES / "concatenated.json")
    assert warehouse.scalar("SELECT kind FROM documents") == "concatenated"
    assert warehouse.query("SELECT contract_id, amount FROM contracts ORDER BY 1") == [
        ("ocds:ocds-test01-c1/K1", Decimal("1.00")), ("ocds:ocds-test01-c2/K1", Decimal("2.00"))]


def test_jsonl_bad_lines_and_junk_amounts_cost_only_themselves(load, warehouse):
    assert load("ocds", FIXTURES / "lines-with-bad-ones.jsonl")["loaded"] == 1
    assert warehouse.scalar("SELECT kind FROM documents") == "jsonl"
    assert warehouse.query("SELECT contract_id, amount, currency FROM contracts ORDER BY 1") == [
        ("ocds:ocds-test01-l1/C1", Decimal("10.00"), "EUR"),
        ("ocds:ocds-test01-l3/C2", Decimal("30.00"), "EUR"),  # C1 beside it had junk
        ("ocds:ocds-test01-l4/C1", Decimal("40.25"), "EUR")]  # "40.25", "eur"
    rejects = dict(warehouse.query("SELECT field, reason FROM rejects"))
    assert rejects["line 2"].startswith("line 2: malformed JSON")
    assert rejects["contracts[id=C1].value.amount"] == "ocds-test01-l3: not an amount: '12O0'"
    assert "no ocid" in rejects["line 5"]


def test_json_lines_read_by_orjson_load_as_a_package_does(ocds, tmp_path):
    """JSON Lines are read by orjson where it reads them exactly (jsonsafe.loads_fast), a
    package by ijson with Decimal numbers: every real release of ../shared/data/ocds, as lines
    and as one package, gives the same rows and the same spooled releases (blob, offset)."""
    from survtrack import scrapers
    from survtrack.scrapers.ingest import ingest
    from survtrack.scrapers.ocds.compiling import _number
    from survtrack.warehouse import store

    releases = []
    for path in sorted(ocds.glob("*.json")):
        try:
            value = json.loads(path.read_bytes(), parse_float=Decimal)
        except UnicodeDecodeError:  # the ISO-8859-1 package: read whole, not line by line
            continue
        if "releases" in value and "ocid" not in value:
            releases += [r for r in value["releases"] if isinstance(r, dict) and "ocid" in r]
        elif "ocid" in value and "compiledRelease" not in value and "releases" not in value:
            releases.append(value)
    lines = [json.dumps(r, default=_number, ensure_ascii=False) for r in releases]
    assert len(lines) >= 10
    (tmp_path / "lines").mkdir()
    (tmp_path / "package").mkdir()
    (tmp_path / "lines" / "releases.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    (tmp_path / "package" / "releases.json").write_text(
        '{"releases": [' + ",\n".join(lines) + "]}", "utf-8")
    contents = []
    for shape in ("lines", "package"):
        with store.Warehouse(tmp_path / f"{shape}.duckdb") as wh:
            assert ingest(wh, scrapers.get("ocds"), [tmp_path / shape]) == {"loaded": 1}
            got = table_contents(wh, {"fetched_at", "rejected_at", "run_id", "reject_id",
                                      "document_id"})
            got.pop("documents")
            contents.append(got)
    assert contents[0] == contents[1]
    assert len(contents[0]["ocds_releases"]) == len(lines)


def test_malformed_json_rejects_the_document(load, warehouse):
    assert load("ocds", FIXTURES / "truncated-package.json")["rejected"] == 1
    doc = one(warehouse, "SELECT status, detail FROM documents")
    assert doc["status"] == "rejected" and doc["detail"].startswith("malformed JSON")
    assert warehouse.count("contracts") == 0 and warehouse.count("rejects") == 1


def test_bad_releases_in_a_package_and_missing_dates(load, warehouse):
    assert load("ocds", FIXTURES / "undated-release-in-package.json")["loaded"] == 1
    c = contract(warehouse, "ocds:ocds-test01-u1/C1")  # no date: the package's publishedDate
    assert c["published_on"] == datetime(2024, 7, 1) and c["amount"] == Decimal("7.00")
    rejects = dict(warehouse.query("SELECT field, reason FROM rejects"))
    assert rejects == {
        "releases[2]": "releases[2]: release is a str, not an object",
        "releases[3].date": "releases[3]: release of ocds-test01-u2: not a timestamp:"
                            " 'next tuesday'"}


def test_not_ocds_json_is_rejected_with_its_reason(load, warehouse, ocds):
    assert load("ocds", ocds / "schema-1.1.5" / "release-package-schema.json")["rejected"] == 1
    detail = warehouse.scalar("SELECT detail FROM documents")
    assert detail.startswith("no OCDS release or record with an ocid and a date; first problem:")
    assert "no ocid" in detail


def _contents(wh) -> dict[str, list[tuple]]:
    """Every loaded table, without the columns that record when or by which run."""
    return table_contents(wh, {"fetched_at", "rejected_at", "run_id", "reject_id"})


def test_flushing_and_bulk_writes_load_the_same_rows(load, warehouse, ocds, tmp_path,
                                                    monkeypatch):
    """Big documents are written in batches inside their transaction: with a flush forced
    after every release, the warehouse ends up the same."""
    import survtrack.scrapers.ocds as source
    from survtrack import scrapers
    from survtrack.scrapers.ingest import ingest
    from survtrack.warehouse import store

    load("ocds", ocds)
    expected = _contents(warehouse)
    monkeypatch.setattr(source, "FLUSH_ROWS", 1)
    with store.Warehouse(tmp_path / "batched" / "w.duckdb") as batched:
        ingest(batched, scrapers.get("ocds"), [ocds])
        assert _contents(batched) == expected


def test_a_big_document_commits_batch_by_batch_and_a_failed_one_loads_again(
        load, warehouse, ocds, tmp_path, monkeypatch):
    """A document flushed in batches commits each (memory bounded by the batch): failing
    midway, the batches written stay but the document is not recorded as loaded, so the next
    run loads it again, and the warehouse ends up as if it had loaded once."""
    import survtrack.scrapers.ocds as source
    from survtrack import scrapers
    from survtrack.scrapers.ingest import ingest
    from survtrack.scrapers.ocds.compiling import Processes
    from survtrack.warehouse import store

    package = tmp_path / "several-processes.json"  # five real releases of five processes
    releases = [json.loads((ocds / name).read_text(encoding="utf-8")) for name in (
        "co-secop_release_ocds-k50g02-16-13-5279502.json", "mx-gacm_release_256_cctv.json",
        "py-dncp_release_277004-data-lab-sa-5-contract.json",
        "ua-prozorro_release_UA-2016-12-29-000657-c.json",
        "uk-contracts-finder_release_ocds-b5fd17-2c44d7bf.json")]
    package.write_text(json.dumps({"uri": "https://example.org/package.json",
                                   "publishedDate": "2024-01-01T00:00:00Z",
                                   "releases": releases}), encoding="utf-8")
    load("ocds", package)
    expected = _contents(warehouse)
    monkeypatch.setattr(source, "FLUSH_ROWS", 1)
    # as a big document (a small one shares a transaction with others, never flushing)
    monkeypatch.setattr("survtrack.scrapers.ingest.SMALL_DOCUMENT", 0)
    compile_process = Processes.compile
    calls = []

    def failing_compile(self, entries):
        calls.append(1)
        if len(calls) == 2:  # the first process was written and committed by now
            raise RuntimeError("the machine ran out of something")
        return compile_process(self, entries)

    with store.Warehouse(tmp_path / "failed" / "w.duckdb") as wh:
        monkeypatch.setattr(Processes, "compile", failing_compile)
        assert ingest(wh, scrapers.get("ocds"), [package])["rejected"] == 1
        assert wh.count("ocds_releases") > 0  # the committed batch stayed
        assert wh.scalar("SELECT status FROM documents") == "rejected"
        monkeypatch.setattr(Processes, "compile", compile_process)
        assert ingest(wh, scrapers.get("ocds"), [package])["loaded"] == 1
        again = _contents(wh)
        # the first run's rejection stays on record, as every rejection does
        assert len(again.pop("rejects")) == 1
        expected.pop("rejects")
        assert again == expected


@pytest.mark.parametrize("parser_bug", [False, True])
def test_small_documents_share_a_transaction_each_reading_those_before(
        ocds, tmp_path, monkeypatch, parser_bug):
    """Small OCDS documents are loaded many to a transaction, parsed one after another inside
    it (Warehouse.load_chained): a process spread over documents of one chain compiles as
    when they load one by one, a malformed document is rejected alone inside the chain, and
    one the parser fails on rolls the chain back to one transaction per document, where it
    alone is rejected. Running again loads nothing new."""
    from survtrack import scrapers
    from survtrack.scrapers.ingest import ingest
    from survtrack.scrapers.ocds.compiling import Processes
    from survtrack.warehouse import store

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n, path in enumerate([  # in this order: later releases of a process after earlier
            ocds / "fictional_release-package_ocds-213czf-000-00001.json",
            ocds / "fictional_record-package_ocds-213czf-000-00001.json",
            FIXTURES / "award-then-contract_1-award.json",
            FIXTURES / "truncated-package.json",
            ocds / "mx-gacm_release_256_cctv.json",
            FIXTURES / "award-then-contract_2-contract.json",
            FIXTURES / "late-older-release_new.json",
            FIXTURES / "late-older-release_old.json"]):
        (inbox / f"{n}-{path.name}").write_bytes(path.read_bytes())
    compile_process = Processes.compile

    def failing_compile(self, entries):
        if parser_bug and entries[0].ocid == "256":  # the GACM release's process
            raise RuntimeError("a parser bug")
        return compile_process(self, entries)

    monkeypatch.setattr(Processes, "compile", failing_compile)
    calls = []
    for name in ("load", "load_chained"):
        method = getattr(store.Warehouse, name)
        monkeypatch.setattr(store.Warehouse, name, lambda self, docs, *a, _m=method, _n=name,
                            **kw: calls.append((_n, len(docs) if _n == "load_chained" else 1))
                            or _m(self, docs, *a, **kw))
    source = scrapers.get("ocds")
    with store.Warehouse(tmp_path / "one-by-one" / "w.duckdb") as alone:
        for path in sorted(inbox.iterdir()):
            ingest(alone, source, [path])
        expected = _contents(alone)
    calls.clear()
    with store.Warehouse(tmp_path / "chained" / "w.duckdb") as wh:
        counts = ingest(wh, source, [inbox])
        # one transaction for the eight; with the parser bug, then one for each
        assert calls == [("load_chained", 8)] + ([("load", 1)] * 8 if parser_bug else [])
        assert counts == {"loaded": 8 - 1 - parser_bug, "rejected": 1 + parser_bug}
        assert _contents(wh) == expected
        assert wh.scalar("SELECT count(*) FROM documents WHERE status = 'rejected'"
                         " AND detail LIKE '%parser bug%'") == parser_bug
        again = ingest(wh, source, [inbox])  # rejected documents are tried again
        assert again == {"skipped": 8 - 1 - parser_bug, "rejected": 1 + parser_bug}
        assert _contents(wh) == expected


def test_unreadable_update_keeps_what_the_warehouse_holds(load, warehouse):
    load("ocds", FIXTURES / "late-older-release_old.json", FIXTURES / "late-older-release_new.json")
    load("ocds", FIXTURES / "late-older-release_junk-amendment.json")
    c = contract(warehouse, "ocds:ocds-test01-lpr-3/C1")
    assert (c["amount"], c["version"]) == (Decimal("200000.00"), 2)
    assert len(versions(warehouse, c["contract_id"])) == 2
    assert warehouse.scalar("SELECT reason FROM rejects") == (
        "ocds-test01-lpr-3: not an amount: 'two hundred thousand'")


# -- the one-release fast path equals ocdsmerge --------------------------------------------------

def _releases_of(path: Path):
    from survtrack.scrapers.ocds.reader import Part, Reader

    for part in Reader(path):
        if not isinstance(part, Part):
            continue
        if part.kind == "release":
            yield part.obj
        else:
            yield from (r for r in part.obj.get("releases") or [] if isinstance(r, dict)
                        and set(r) - {"url", "date", "tag", "ocid"})
            if isinstance(part.obj.get("compiledRelease"), dict):
                yield part.obj["compiledRelease"]


SINGLE_CASES = [  # what the real releases may not show: each way ocdsmerge drops or merges
    {"ocid": "o", "date": "2020", "id": "r", "tag": ["award"], "a": None, "b": {}, "c": [],
     "d": {"e": None}, "f": {"g": {}}, "h": [{"x": None}, {}, {"id": 1, "y": []}],
     "tender": {"submissionMethod": [], "items": [{"id": "1", "additionalClassifications": [
         {"id": "a"}, {"id": "a"}]}]}, "i": [1, {"j": None}], "k": [{"l": 1}, {"l": 1}]},
    {"ocid": "o", "date": "2020", "awards": [{"id": "1", "v": 1}, {"id": 1, "v": 2}]},
    {"ocid": "o", "date": "2020", "awards": [{"id": "1", "v": 1}, {"id": "1", "v": 2}]},
    {"ocid": "o", "date": "2020", "awards": [{"id": None, "v": 1}]},
    {"ocid": "o", "date": "2020", "awards": [{"id": True}], "parties": [{"id": 2.5}]},
]


def test_one_release_compiles_as_ocdsmerge_does(shared):
    """compile_one (a process of one release skips ocdsmerge) gives ocdsmerge's compiled
    release for every release of every real OCDS document, or steps aside (None)."""
    import copy
    import warnings

    from ocdsmerge.merge import CompiledRelease

    from survtrack.scrapers.ocds import codes
    from survtrack.scrapers.ocds.compiling import compile_one

    rules = codes.merge_rules()
    folders = [shared / "ocds", shared / "outside" / "ocds", shared / "surveillance" / "ocds-uk"]
    releases = [r for folder in folders for p in sorted(folder.glob("*.json"))
                for r in _releases_of(p)] + SINGLE_CASES
    same = stepped_aside = 0
    for release in releases:
        fast = compile_one(copy.deepcopy(release), rules)
        merged = CompiledRelease(merge_rules=rules)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            merged.append(copy.deepcopy(release))
        if fast is None:
            stepped_aside += 1
            continue
        assert fast == merged.asdict(), release.get("id")
        same += 1
    assert same >= 35, (same, stepped_aside)  # 45 releases; SECOP repeats an award id
    assert compile_one(copy.deepcopy(SINGLE_CASES[0]), rules) is not None
    assert all(compile_one(copy.deepcopy(c), rules) is None for c in SINGLE_CASES[1:])
