"""TED: eForms and legacy TED XML notices, field by field, on the recorded real documents
(../shared/data/ted, see its SOURCES.md) and on small documents written for a case."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from survtrack.cli import app
from tests.conftest import table_counts

FIXTURES = Path(__file__).parent / "fixtures" / "ted"

JRC = "eforms_can_2023-OJS165-00522031.xml"           # one lot, one contract, notice total only
KRISTINESTAD = "eforms_can_2024-OJS170-00525037.xml"  # 12 lots, no tender values
OMBUDSMEN = "eforms_can_2024-OJS198-00611835.xml"     # 6 lots, 2 contracts over 5 lots
ANTWERP_CN = "eforms_cn_2024-OJS056-00163529.xml"     # a call for tenders
MAXIMAL = "eforms-sdk-example_can_24_maximal.xml"
LSBU = "eforms-sdk-example_can_24_LSBU.xml"
MODIFICATION = "eforms-sdk-example_can-modif_24_value.xml"
SPATS = "tedxml_21-000061-001-EXP.xml"                # F03, framework with 6 suppliers per lot
LODZ = "tedxml_22-086633-001-EXP.xml"                 # F03, 8 lots, PLN
FCDO = "tedxml_21-139343-001-EXP.xml"                 # F15 voluntary ex ante
LIVV_CN = "tedxml_20-198944-001-EXP.xml"              # F02 contract notice


@pytest.fixture
def ted(shared) -> Path:
    return shared / "ted"


def rows(wh, sql: str, params=()) -> list[dict]:
    cur = wh.con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def contract(wh, contract_id: str) -> dict:
    found = rows(wh, "SELECT * FROM contracts WHERE contract_id = ?", [contract_id])
    assert len(found) == 1, contract_id
    return found[0]


def organization(wh, org_id: str) -> dict:
    found = rows(wh, "SELECT * FROM organizations WHERE org_id = ?", [org_id])
    assert len(found) == 1, org_id
    return found[0]


def codes(wh, contract_id: str) -> list[tuple]:
    return [(r["scheme"], r["code"]) for r in rows(
        wh, "SELECT scheme, code FROM items WHERE contract_id = ? ORDER BY line_no", [contract_id])]


def published_in(path: Path, number: str, day: str) -> bytes:
    """An SDK example as if TED had published it: the Publication block OPP-010/OPP-012."""
    xml = path.read_text(encoding="utf-8")
    block = (f'<efac:Publication><efbc:NoticePublicationID schemeName="ojs-notice-id">{number}'
             f'</efbc:NoticePublicationID><efbc:PublicationDate>{day}</efbc:PublicationDate>'
             "</efac:Publication></efext:EformsExtension>")
    return xml.replace("</efext:EformsExtension>", block, 1).encode("utf-8")


# -- eForms ---------------------------------------------------------------------------------

def test_eforms_single_contract_takes_the_notice_total(ted, load, warehouse):
    assert load("ted", ted / JRC)["loaded"] == 1
    c = contract(warehouse, "ted:522031-2023/CON-0001")
    assert c["source"] == "ted"
    assert c["native_id"] == "522031-2023/CON-0001"
    assert c["version"] == 20230829
    assert c["published_on"] == datetime(2023, 8, 29)
    assert c["signed_on"] == date(2023, 8, 8) and c["year"] == 2023
    # no tender value (BT-720) is published: the lone contract is the whole notice value
    assert (c["amount"], c["currency"]) == (Decimal("660000.00"), "EUR")
    assert c["title"] == "Ultra-low Temperature Freezers"  # the lot title in the notice language
    assert c["procedure"] == "open"
    assert c["status"] == "unknown"
    assert c["country"] == "BE"
    assert c["notice_id"] == "ted:522031-2023"
    assert c["url"] == "https://ted.europa.eu/en/notice/-/detail/522031-2023"
    assert c["buyer_id"] == "name:ted:european-commission-joint-research-centre-jrc"
    assert c["vendor_id"] == "name:ted:templab-luxembourg-sàrl"
    assert codes(warehouse, c["contract_id"]) == [
        ("CPV", "39711124"), ("CPV", "38000000"), ("CPV", "39711120")]
    vendor = organization(warehouse, c["vendor_id"])
    # LU23519355 is a VAT number: no registry scheme, kept as published
    assert (vendor["name"], vendor["scheme"], vendor["identifier"], vendor["country"]) == (
        "Templab Luxembourg sàrl", None, "LU23519355", "LU")
    buyer = organization(warehouse, c["buyer_id"])
    assert (buyer["name"], buyer["identifier"], buyer["country"]) == (
        "European Commission, Joint Research Centre (JRC)", "JRC", "BE")
    [notice] = rows(warehouse, "SELECT * FROM notices")
    assert notice["notice_id"] == "ted:522031-2023" and notice["kind"] == "award"
    assert notice["document_type"] == "ContractAwardNotice/can-standard/29"
    assert (notice["amount"], notice["currency"]) == (Decimal("660000.00"), "EUR")
    [doc] = rows(warehouse, "SELECT * FROM documents")
    assert c["document_id"] == doc["document_id"] and doc["status"] == "loaded"
    assert doc["url"] == c["url"] and doc["kind"] == "award"


def test_eforms_contract_over_several_lots_sums_its_tenders(ted, load, warehouse):
    load("ted", ted / OMBUDSMEN)
    one = contract(warehouse, "ted:611835-2024/CON-0001")
    # CON-0001 "DVIT LOT1-4-6" settles tenders TEN-0001, -0002, -0003: 4535.88 + 714 + 767.3
    assert (one["amount"], one["currency"]) == (Decimal("6017.18"), "EUR")
    assert one["signed_on"] == date(2024, 10, 7)
    assert one["vendor_id"] == "BE-BCE_KBO:0461145522"
    assert codes(warehouse, one["contract_id"]) == [
        ("CPV", "72500000"), ("CPV", "72415000"), ("CPV", "48820000")]
    two = contract(warehouse, "ted:611835-2024/CON-0002")
    assert (two["amount"], two["currency"]) == (Decimal("1656.97"), "EUR")  # 447.97 + 1209
    assert two["vendor_id"] == "BE-BCE_KBO:0898973234"
    assert codes(warehouse, two["contract_id"]) == [("CPV", "48900000"), ("CPV", "32412110")]
    assert warehouse.count("contracts") == 2  # lot 5 was closed without a winner
    assert organization(warehouse, "BE-BCE_KBO:0461145522")["name"] == "DVIT"
    # joint procurement: the first buyer is the contract's, the other three are organizations;
    # the telecom and postal ombudsmen publish the same enterprise number 0243.405.860
    buyer = organization(warehouse, one["buyer_id"])
    assert one["buyer_id"] == "name:ted:consumentenombudsdienst"  # notice language is NLD
    assert (buyer["identifier"], buyer["scheme"]) == ("0553755479_1899", None)
    assert organization(warehouse, "BE-BCE_KBO:0243405860")["country"] == "BE"
    assert organization(warehouse, "BE-BCE_KBO:0308357852")["name"] == (
        "Ombudsdienst voor de treinreizigers")
    [notice] = rows(warehouse, "SELECT amount, currency FROM notices")
    assert notice == {"amount": None, "currency": None}  # no notice value (BT-161) published


def test_eforms_lots_without_values_keep_the_total_on_the_notice(ted, load, warehouse):
    load("ted", ted / KRISTINESTAD)
    contracts = rows(warehouse, "SELECT * FROM contracts ORDER BY contract_id")
    assert len(contracts) == 12
    assert {(c["amount"], c["currency"]) for c in contracts} == {(None, None)}
    assert {c["buyer_id"] for c in contracts} == {"FI-PRO:0216509-5"}
    assert {c["country"] for c in contracts} == {"FI"}
    d1 = contract(warehouse, "ted:525037-2024/CON-0010")
    assert d1["vendor_id"] == "FI-PRO:2626335-1" and d1["signed_on"] == date(2024, 7, 22)
    assert d1["title"].startswith("D1 Krs-Lapväärtti-Härkmeri-Uttermossa-Heden")
    assert codes(warehouse, d1["contract_id"]) == [("CPV", "60140000")]
    c1 = contract(warehouse, "ted:525037-2024/CON-0006")
    assert c1["vendor_id"] == "FI-PRO:2450271-8" and c1["signed_on"] == date(2024, 8, 1)
    # FI19921555 is the VAT form of business ID 1992155-5
    matka = organization(warehouse, "FI-PRO:1992155-5")
    assert (matka["name"], matka["scheme"], matka["identifier"]) == (
        "Matka-Rengas Niemelä Oy", "FI-PRO", "1992155-5")
    assert contract(warehouse, "ted:525037-2024/CON-0001")["vendor_id"] == "FI-PRO:1992155-5"
    assert organization(warehouse, "FI-PRO:2626335-1")["name"] == "Ingves Svanbäck Ab"
    [notice] = rows(warehouse, "SELECT * FROM notices")
    assert (notice["amount"], notice["currency"]) == (Decimal("2100000.00"), "EUR")
    assert notice["published_on"] == datetime(2024, 9, 2)


def test_eforms_framework_suppliers_do_not_each_count_the_ceiling(ted, load, warehouse):
    load("ted", ted / MAXIMAL)
    key = "ted:15377ca1-6cf7-4060-90f0-9290128957a3"  # unpublished example: notice UUID
    first, second = contract(warehouse, f"{key}/CON-0001"), contract(warehouse, f"{key}/CON-0002")
    # both winners of LOT-0001 state 9,999,999.99 EUR = the notice value: a shared ceiling
    assert first["amount"] is None and second["amount"] is None
    assert first["currency"] == second["currency"] == "EUR"
    assert first["title"] == "This is the title of the contract ---"
    assert first["signed_on"] == date(2023, 3, 24)
    assert first["url"] is None  # no publication number, no public page
    assert first["vendor_id"] == "name:ted:gyro-soft-sa"  # the group leader (OPT-170)
    assert organization(warehouse, "name:ted:the-best-app-ltd")["country"] == "DE"
    assert second["vendor_id"] == "name:ted:competitor"
    assert codes(warehouse, second["contract_id"]) == [("CPV", "75121000"), ("CPV", "33185200")]
    [notice] = rows(warehouse, "SELECT amount, currency FROM notices")
    assert notice == {"amount": Decimal("9999999.99"), "currency": "EUR"}
    detail = warehouse.scalar("SELECT detail FROM documents")
    assert "2 contracts each state 9999999.99 EUR" in detail


def test_a_multilot_eforms_notice_sums_to_its_notice_total(load, warehouse):
    """None of the real multi-lot eForms notices can show it: 2024-OJS170 gives no tender
    values and 2024-OJS198 no notice value; the SDK maximal example's values are
    placeholders (two winners of one framework lot each at the notice value). So the
    invariant is shown on a small hand-written notice, and on the real Łódź notice below."""
    load("ted", FIXTURES / "eforms_multilot_sum.xml")
    total = warehouse.scalar("SELECT amount FROM notices WHERE notice_id = 'ted:900001-2024'")
    assert total == Decimal("400000.00")
    assert warehouse.scalar("SELECT sum(amount) FROM contracts") == total
    assert warehouse.scalar("SELECT count(*) FROM contracts") == 2
    assert contract(warehouse, "ted:900001-2024/CON-0002")["amount"] == Decimal("299999.50")
    assert contract(warehouse, "ted:900001-2024/CON-0001")["vendor_id"] == "NL-KVK:87654321"


def test_contracts_above_the_notice_total_are_not_counted(tmp_path, load, warehouse):
    # the hand-written notice with its total lowered below what its contracts add up to
    xml = (FIXTURES / "eforms_multilot_sum.xml").read_text(encoding="utf-8")
    lowered = tmp_path / "lowered.xml"
    lowered.write_text(xml.replace(">400000.00<", ">300000.00<"), encoding="utf-8")
    load("ted", lowered)
    amounts = rows(warehouse, "SELECT amount, currency FROM contracts")
    assert amounts == [{"amount": None, "currency": "EUR"}] * 2
    [flag] = rows(warehouse, "SELECT field, reason FROM rejects")
    assert flag["field"] == "efac:NoticeResult/cbc:TotalAmount (BT-161-NoticeResult)"
    assert "add up to 400000.00 EUR, more than the notice total 300000.00" in flag["reason"]
    assert warehouse.scalar("SELECT amount FROM notices") == Decimal("300000.00")


def test_legacy_multilot_notice_sums_to_its_total_and_flags_a_currency(ted, load, warehouse):
    load("ted", ted / LODZ)
    contracts = rows(warehouse, "SELECT * FROM contracts ORDER BY contract_id")
    assert [c["contract_id"] for c in contracts] == [f"ted:88158-2022/lot-{n}" for n in range(1, 8)]
    total = Decimal("231126.50")
    assert warehouse.scalar("SELECT amount FROM notices") == total
    assert sum(c["amount"] for c in contracts) == total  # lot 8 was not awarded
    lot1 = contracts[0]
    # lot 1 says EUR, yet the lots add up to the PLN total only when it is read as PLN
    assert (lot1["amount"], lot1["currency"]) == (Decimal("47620.00"), "EUR")
    [flag] = rows(warehouse, "SELECT * FROM rejects")
    assert flag["field"] == "AWARD_CONTRACT[1]/AWARDED_CONTRACT/VALUES/VAL_TOTAL"
    assert "read as PLN" in flag["reason"]
    lot2 = contracts[1]
    assert (lot2["amount"], lot2["currency"]) == (Decimal("57231.00"), "PLN")
    assert lot2["signed_on"] == date(2021, 4, 20) and lot2["title"] == "Pakiet nr 2"
    assert contracts[5]["signed_on"] == date(2021, 4, 13)
    assert lot2["buyer_id"] == "PL-NIP:7292345599"
    # ": 648-19-97-718" and "648-19-97-718" are the same NIP
    assert {c["vendor_id"] for c in contracts} == {
        "PL-NIP:6481997718", "PL-NIP:7820006755", "PL-NIP:5213468296"}
    assert lot2["published_on"] == datetime(2022, 2, 18) and lot2["version"] == 20220218
    assert lot2["country"] == "PL" and lot2["procedure"] == "open"
    assert lot2["url"] == "https://ted.europa.eu/en/notice/-/detail/88158-2022"
    assert codes(warehouse, lot2["contract_id"]) == [("CPV", "33151400")]
    zarys = organization(warehouse, "PL-NIP:6481997718")
    assert zarys["name"].startswith("Zarys International Group") and zarys["country"] == "PL"
    assert "1 lots not awarded" in warehouse.scalar("SELECT detail FROM documents")


def test_legacy_framework_lots_state_their_ceiling_once(ted, load, warehouse):
    load("ted", ted / SPATS)
    contracts = rows(warehouse, "SELECT * FROM contracts ORDER BY contract_id")
    # CONTRACT_NO is distinct (1A-1F, 2A-2F) while LOT_NO repeats: the contract number keys
    assert [c["native_id"] for c in contracts] == [
        f"3543-2021/contract-{lot}{x}" for lot in "12" for x in "ABCDEF"]
    # 6 suppliers x 250M (lot 1) and 6 x 50M (lot 2) would be 1.8bn for a 300M notice
    assert {c["amount"] for c in contracts} == {None}
    assert {c["currency"] for c in contracts} == {"GBP"}
    assert warehouse.scalar("SELECT amount FROM notices") == Decimal("300000000.00")
    b = contract(warehouse, "ted:3543-2021/contract-1B")
    assert b["vendor_id"] == "name:ted:atkins-ltd" and b["signed_on"] == date(2020, 9, 9)
    assert organization(warehouse, "name:ted:jacobs-uk-ltd")["country"] == "GB"  # UK -> GB
    assert b["buyer_id"] == "name:ted:highways-england" and b["country"] == "GB"
    assert codes(warehouse, b["contract_id"]) == [
        ("CPV", "73000000"), ("CPV", "71000000"), ("CPV", "71300000"), ("CPV", "71313000"),
        ("CPV", "79300000")]
    assert contract(warehouse, "ted:3543-2021/contract-1F")["signed_on"] == date(2020, 10, 14)


def test_legacy_voluntary_ex_ante_notice(ted, load, warehouse):
    load("ted", ted / FCDO)
    lot1 = contract(warehouse, "ted:140295-2021/lot-1")
    assert (lot1["amount"], lot1["currency"]) == (Decimal("200000000.00"), "GBP")
    assert lot1["signed_on"] == date(2016, 10, 10)
    assert lot1["procedure"] == "award_contract_without_call"
    assert lot1["vendor_id"] == "name:ted:palladium-international-ltd"
    assert lot1["buyer_id"] == "name:ted:foreign-commonwealth-and-development-office"
    lot2 = contract(warehouse, "ted:140295-2021/lot-2")
    assert (lot2["amount"], lot2["currency"]) == (Decimal("200000000.00"), "EUR")
    [flag] = rows(warehouse, "SELECT field, reason FROM rejects")
    assert flag["field"] == "AWARD_CONTRACT[2]/AWARDED_CONTRACT/VALUES/VAL_TOTAL"
    assert "notice total is in GBP" in flag["reason"]
    assert organization(warehouse, "name:ted:ipe-global-ltd")["country"] == "IN"


def test_contract_notices_are_not_contract_bearing(ted, load, warehouse):
    counts = load("ted", ted / ANTWERP_CN, ted / LIVV_CN)
    assert counts["not_contract_bearing"] == 2
    assert warehouse.count("contracts") == 0
    notices = {n["notice_id"]: n for n in rows(warehouse, "SELECT * FROM notices")}
    antwerp = notices["ted:163529-2024"]
    assert antwerp["kind"] == "notice"
    assert antwerp["document_type"] == "ContractNotice/cn-social/21"
    assert antwerp["title"] == "Raamovereenkomst beveiliging Cruiseterminal"
    assert antwerp["buyer_id"] == "BE-BCE_KBO:0248399380"  # published as BE0248.399.380
    assert antwerp["published_on"] == datetime(2024, 3, 19)
    livv = notices["ted:194753-2020"]
    assert (livv["amount"], livv["currency"]) == (Decimal("1200000.00"), "GBP")
    assert livv["title"] == "Empty Homes Security"
    assert livv["document_type"] == "TED_EXPORT/F02_2014"
    assert {d["status"] for d in rows(warehouse, "SELECT status FROM documents")} == {
        "not_contract_bearing"}


def test_modification_versions_the_contract_it_modifies(ted, tmp_path, load, warehouse):
    # the SDK examples are unpublished; as published, the award is 342558-2018 (the number the
    # modification names in BT-1501(n)) and the modification a later notice
    award = tmp_path / "award.xml"
    award.write_bytes(published_in(ted / LSBU, "00342558-2018", "2018-08-07+01:00"))
    change = tmp_path / "modification.xml"
    change.write_bytes(published_in(ted / MODIFICATION, "00400001-2018", "2018-09-03+01:00"))

    load("ted", award)
    before = contract(warehouse, "ted:342558-2018/CON-0001")
    assert (before["amount"], before["currency"]) == (Decimal("4500000.00"), "GBP")
    assert before["signed_on"] == date(2018, 7, 31)
    assert before["vendor_id"] == "name:ted:pwc-uk-llp"
    assert before["buyer_id"] == "name:ted:london-south-bank-university"

    load("ted", change)
    assert warehouse.count("contracts") == 1
    after = contract(warehouse, "ted:342558-2018/CON-0001")
    assert (after["amount"], after["currency"]) == (Decimal("6430000.00"), "GBP")
    assert after["version"] == 20180903
    assert after["url"] == "https://ted.europa.eu/en/notice/-/detail/400001-2018"
    assert codes(warehouse, after["contract_id"]) == [("CPV", "79410000")]
    versions = rows(warehouse, "SELECT version, amount FROM contract_versions ORDER BY version")
    assert versions == [{"version": 20180807, "amount": Decimal("4500000.00")},
                        {"version": 20180903, "amount": Decimal("6430000.00")}]
    kinds = {r["kind"] for r in rows(warehouse, "SELECT kind FROM notices")}
    assert kinds == {"award", "modification"}


def test_modification_arriving_first_is_not_overwritten_by_the_award(ted, tmp_path, load,
                                                                      warehouse):
    award = tmp_path / "award.xml"
    award.write_bytes(published_in(ted / LSBU, "00342558-2018", "2018-08-07+01:00"))
    change = tmp_path / "modification.xml"
    change.write_bytes(published_in(ted / MODIFICATION, "00400001-2018", "2018-09-03+01:00"))
    load("ted", change)
    load("ted", award)
    assert contract(warehouse, "ted:342558-2018/CON-0001")["amount"] == Decimal("6430000.00")
    assert warehouse.count("contract_versions") == 2


def test_unpublished_modification_example_names_its_target(ted, load, warehouse):
    load("ted", ted / MODIFICATION)
    [c] = rows(warehouse, "SELECT * FROM contracts")
    assert c["contract_id"] == "ted:342558-2018/CON-0001"
    assert c["notice_id"] == "ted:3572a106-eb30-4c7a-8ac5-b3502f71742a"
    assert c["published_on"] == datetime(2018, 8, 2, 7, 8, 8)  # 08:08:08+01:00 in UTC


def test_change_notice_does_not_add_the_contracts_again(ted, tmp_path, load, warehouse):
    # a corrigendum republishes the JRC award under a new number, naming it by UUID-version
    xml = (ted / JRC).read_text(encoding="utf-8")
    changes = ("<efext:EformsExtension><efac:Changes><efbc:ChangedNoticeIdentifier>"
               "258bd03d-61ea-4cf0-83f4-043b832a47cd-01</efbc:ChangedNoticeIdentifier>"
               "<efac:ChangeReason><cbc:ReasonCode listName=\"change-corrig-justification\">"
               "cor-buy</cbc:ReasonCode></efac:ChangeReason></efac:Changes>")
    change = tmp_path / "change.xml"
    change.write_text(xml.replace("<efext:EformsExtension>", changes, 1)
                      .replace(">00522031-2023<", ">00530000-2023<"), encoding="utf-8")
    counts = load("ted", ted / JRC, change)
    assert counts["loaded"] == 1 and counts["not_contract_bearing"] == 1
    assert [c["contract_id"] for c in rows(warehouse, "SELECT contract_id FROM contracts")] == [
        "ted:522031-2023/CON-0001"]
    notices = {r["notice_id"]: r for r in rows(warehouse, "SELECT * FROM notices")}
    assert notices["ted:530000-2023"]["kind"] == "change"
    assert notices["ted:530000-2023"]["amount"] is None
    assert notices["ted:522031-2023"]["amount"] == Decimal("660000.00")


# -- idempotence, bad input, command line ----------------------------------------------------

def test_loading_again_changes_nothing(ted, load, warehouse):
    first = load("ted", ted)
    assert first["loaded"] == 9 and first["not_contract_bearing"] == 2 and not first["rejected"]
    before = table_counts(warehouse)
    money = warehouse.query("SELECT contract_id, amount, currency, vendor_id FROM contracts"
                            " ORDER BY 1")
    again = load("ted", ted)
    assert again["skipped"] == 11 and again["loaded"] == 0
    forced = load("ted", ted, force=True)
    assert forced["loaded"] == 9
    assert table_counts(warehouse) == before
    assert warehouse.query("SELECT contract_id, amount, currency, vendor_id FROM contracts"
                           " ORDER BY 1") == money


def test_bad_documents_are_rejected_and_the_good_ones_load(ted, tmp_path, load, warehouse):
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes((ted / JRC).read_bytes()[:20_000])
    unknown = tmp_path / "unknown.xml"
    unknown.write_text('<?xml version="1.0"?><PurchaseOrder xmlns="urn:x"><ID>1</ID>'
                       "</PurchaseOrder>", encoding="utf-8")
    bad_form = tmp_path / "bad_form.xml"
    bad_form.write_text('<TED_EXPORT DOC_ID="000001-2021"><FORM_SECTION><F99_2014 FORM="F99"/>'
                        "</FORM_SECTION></TED_EXPORT>", encoding="utf-8")
    entity = tmp_path / "entity.xml"
    entity.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                      "<TED_EXPORT>&e;</TED_EXPORT>", encoding="utf-8")
    counts = load("ted", truncated, unknown, bad_form, entity, ted / OMBUDSMEN)
    assert counts["rejected"] == 4 and counts["loaded"] == 1
    rejects = {Path(r["origin"]).name: r for r in rows(warehouse, "SELECT * FROM rejects")}
    assert rejects["truncated.xml"]["field"] == "document"
    assert "malformed XML" in rejects["truncated.xml"]["reason"]
    assert rejects["unknown.xml"]["field"] == "PurchaseOrder"
    assert "unknown eForms notice <PurchaseOrder>" in rejects["unknown.xml"]["reason"]
    assert rejects["bad_form.xml"]["reason"] == "unknown TED form F99 <F99_2014>"
    assert rejects["entity.xml"]["field"] == "DOCTYPE"
    assert warehouse.count("contracts") == 2


def test_an_unreadable_tender_value_leaves_its_contract_without_amount(ted, tmp_path, load,
                                                                      warehouse):
    xml = (ted / OMBUDSMEN).read_text(encoding="utf-8")
    broken = tmp_path / "broken.xml"
    broken.write_text(xml.replace('PayableAmount currencyID="EUR">714<',
                                  'PayableAmount currencyID="EUR">7I4<'),
                      encoding="utf-8")
    assert load("ted", broken)["loaded"] == 1
    # CON-0001 would be understated without TEN-0002: unknown instead
    assert contract(warehouse, "ted:611835-2024/CON-0001")["amount"] is None
    assert contract(warehouse, "ted:611835-2024/CON-0002")["amount"] == Decimal("1656.97")
    [flag] = rows(warehouse, "SELECT field, reason FROM rejects")
    assert flag["field"] == "efac:LotTender[TEN-0002]/cac:LegalMonetaryTotal/cbc:PayableAmount"
    assert "not an amount: '7I4'" in flag["reason"]


def test_cli_ingest_ted(ted, tmp_path):
    db = tmp_path / "cli.duckdb"
    result = CliRunner().invoke(app, ["--db", str(db), "ingest", "ted", str(ted / JRC),
                                      str(ted / ANTWERP_CN)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"source": "ted", "loaded": 1, "not_contract_bearing": 1, "skipped": 0,
                       "rejected": 0, "ignored": 0}
