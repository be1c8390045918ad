"""EIS documents end to end: every real document in ../shared/data/eis, field by field.

Expected values were read from the XML files themselves (see ../shared/data/eis/SOURCES.md).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from conftest import table_counts


@pytest.fixture
def eis(shared, load, warehouse):
    counts = load("eis", shared / "eis")
    return warehouse, counts


def row(wh, sql, params=()):
    cur = wh.con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    found = cur.fetchone()
    assert found is not None, f"no row for {sql} {params}"
    return dict(zip(names, found))


def contract(wh, reg):
    return row(wh, "SELECT * FROM contracts WHERE contract_id = ?", [f"eis:{reg}"])


def org(wh, org_id):
    return row(wh, "SELECT * FROM organizations WHERE org_id = ?", [org_id])


def test_every_document_loads_or_is_reported(eis, shared):
    wh, counts = eis
    xml_files = sorted((shared / "eis").glob("*.xml"))
    assert counts["loaded"] + counts["not_contract_bearing"] == len(xml_files)
    assert counts["rejected"] == 0
    # every other file of the folder (README, reference CSVs, HTML fragments) is named
    assert counts["ignored"] == len([p for p in (shared / "eis").iterdir()]) - len(xml_files)
    statuses = dict(wh.query("SELECT origin, status FROM documents"))
    for path in xml_files:
        assert statuses[str(path)] in ("loaded", "not_contract_bearing"), path.name
    kinds = dict(wh.query("SELECT kind, count(*) FROM documents GROUP BY 1"))
    assert kinds == {"contract": 5, "contract_procedure": 5, "contract_performance": 1,
                     "contract_sign": 1, "placement_result": 1, "notice": 2, "protocol": 3}


def test_contract_v63_voronezh(eis):
    wh, _ = eis
    c = contract(wh, "2366200608816001262")
    assert c["version"] == 1
    assert c["published_on"] == datetime(2016, 11, 21, 10, 44, 22, 541000)  # 13:44 MSK
    assert c["signed_on"] == date(2016, 11, 21) and c["year"] == 2016
    assert c["amount"] == Decimal("1207680.35") and c["currency"] == "RUB"
    assert c["buyer_id"] == "RU-INN:3662006088"
    assert c["vendor_id"] == "RU-INN:6829057730"
    assert c["notice_id"] == "eis:0131200001016005027"
    assert c["status"] == "active"  # currentContractStage E
    assert c["country"] == "RU"
    assert c["url"] == ("https://zakupki.gov.ru/epz/contract/contractCard/common-info.html"
                        "?reestrNumber=2366200608816001262")
    assert c["title"].startswith("Щелочная Фосфотаза Фасовка: 400 тестов")
    supplier = org(wh, "RU-INN:6829057730")
    assert supplier["name"] == 'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "Р-ЛАБ"'
    assert supplier["short_name"] == 'ООО "Р-ЛАБ"'
    assert supplier["kpp"] == "682901001" and supplier["identifier"] == "6829057730"
    buyer = org(wh, "RU-INN:3662006088")
    assert buyer["kpp"] == "366201001" and buyer["short_name"] == "БУЗ ВО ВОКБ №1"
    items = wh.query("SELECT line_no, scheme, code, quantity, unit, unit_price, amount"
                     " FROM items WHERE contract_id = 'eis:2366200608816001262' ORDER BY 1")
    assert len(items) == 21
    assert items[0] == (1, "OKPD2", "21.20.23.111", 7.0, "НАБОР", Decimal(1753),
                        Decimal("12271.00"))
    assert items[1][3:] == (15.0, "НАБОР", Decimal(2629), Decimal("39435.00"))
    # the product lines add up to the contract price, to the kopeck
    assert sum(i[6] for i in items) == Decimal("1207680.35")
    # the document's provenance: archived bytes and the public card
    doc = row(wh, "SELECT * FROM documents WHERE document_id = ?", [c["document_id"]])
    assert doc["url"].endswith("reestrNumber=2366200608816001262")
    assert wh.archive.read(c["document_id"]).startswith(b"<?xml")


def test_contract_v70_murmansk_empty_products_and_suppliers(eis):
    wh, _ = eis
    c = contract(wh, "2510205003117000004")
    assert (c["signed_on"], c["amount"], c["currency"]) == (date(2017, 1, 9),
                                                             Decimal("214562.64"), "RUB")
    assert c["buyer_id"] == "RU-INN:5102050031"
    assert c["vendor_id"] is None and c["title"] is None
    assert c["notice_id"] == "eis:0149200002316005002"
    assert wh.scalar("SELECT count(*) FROM items WHERE contract_id = ?", [c["contract_id"]]) == 0


def test_contract_v60_belgorod_single_supplier(eis):
    wh, _ = eis
    c = contract(wh, "3312100001816000003")
    assert c["signed_on"] == date(2016, 1, 22)
    assert c["amount"] == Decimal("6987268.99")
    assert c["buyer_id"] == "RU-INN:3121000018"
    assert c["vendor_id"] == "RU-INN:6901067107"
    assert org(wh, "RU-INN:6901067107")["kpp"] == "312302001"  # the branch's KPP
    assert c["procedure"].startswith("single supplier: Закупка вследствие признания")
    item = row(wh, "SELECT * FROM items WHERE contract_id = ?", [c["contract_id"]])
    assert (item["scheme"], item["code"]) == ("OKPD2", "35.12.10.110")
    assert item["quantity"] == pytest.approx(15189715.19)
    assert item["unit_price"] == Decimal("0.46") and item["amount"] == Decimal("6987268.99")


def test_fz223_contract_daily_file(eis):
    wh, _ = eis
    c = contract(wh, "50105018196190002040000")  # contractRegNumber, not registrationNumber
    assert c["native_id"] == "50105018196190002040000"
    assert c["version"] == 1 and c["signed_on"] == date(2019, 12, 16)
    assert c["amount"] == Decimal(1750000) and c["currency"] == "RUB"
    assert c["buyer_id"] == "RU-INN:0105018196" and c["vendor_id"] is None
    assert c["title"] == "Поставка газа природного компримированного"
    assert c["procedure"] == "Закупка у единственного поставщика"
    assert c["notice_id"] == "eis:31908645944"
    item = row(wh, "SELECT * FROM items WHERE contract_id = ?", [c["contract_id"]])
    assert (item["scheme"], item["code"], item["quantity"]) == ("OKPD2", "19.20.3", 102339.18129)


def test_fz223_contract_2015_with_supplier_and_okdp(eis):
    wh, _ = eis
    c = contract(wh, "51511012960150000010000")
    assert c["signed_on"] == date(2015, 1, 15) and c["amount"] == Decimal(3984420)
    assert c["buyer_id"] == "RU-INN:1511012960"
    assert c["vendor_id"] == "RU-INN:1513030845"
    assert org(wh, "RU-INN:1513030845")["short_name"] == 'ООО "ТЗК АЭРОПОРТ"'
    assert c["title"] == "поставка авиационного керосина ТС-1"
    item = row(wh, "SELECT * FROM items WHERE contract_id = ?", [c["contract_id"]])
    assert (item["scheme"], item["code"], item["quantity"]) == ("OKDP", "2320221", 120.74)


def test_procedure_execution_payment_and_completion(eis):
    wh, _ = eis
    pays = wh.query("SELECT paid_on, amount, currency, reference FROM payments"
                    " WHERE contract_id = 'eis:0378100003211000006'")
    assert pays == [(date(2011, 12, 14), Decimal("600000.00"), "RUB", "1245632")]
    events = wh.query("SELECT event FROM contract_events WHERE contract_id = ?",
                      ["eis:0378100003211000006"])
    assert events == [("completed",)]


def test_termination_only_is_an_event_not_a_payment(eis):
    wh, _ = eis
    cid = "eis:1790400359017000002"
    assert wh.scalar("SELECT count(*) FROM payments WHERE contract_id = ?", [cid]) == 0
    e = row(wh, "SELECT * FROM contract_events WHERE contract_id = ?", [cid])
    assert e["event"] == "terminated" and e["occurred_on"] == date(2018, 1, 10)
    assert e["reported_paid"] == Decimal("193168.93") and e["reason"] == "Соглашение сторон"


def test_several_payments_and_termination_sum_once(eis):
    """Two versions of one execution record list the same two payment orders and a
    termination stating the total paid: the payments sum to that total, once."""
    wh, _ = eis
    cid = "eis:2790000171516000234"
    pays = wh.query("SELECT paid_on, amount, reference FROM payments WHERE contract_id = ?"
                    " ORDER BY paid_on", [cid])
    assert pays == [(date(2017, 10, 3), Decimal("3133.94"), "135328"),
                    (date(2017, 10, 31), Decimal("7186.06"), "181349")]
    total = wh.scalar("SELECT sum(amount) FROM payments WHERE contract_id = ?", [cid])
    stated = wh.scalar("SELECT DISTINCT reported_paid FROM contract_events WHERE contract_id = ?",
                       [cid])
    assert total == stated == Decimal("10320.00")
    # one payment and a termination whose paid total equals it: still one payment
    cid = "eis:1790000066217000002"
    assert wh.query("SELECT amount FROM payments WHERE contract_id = ?", [cid]) == [
        (Decimal("256336.02"),)]


def test_fz223_performance_payment(eis):
    wh, _ = eis
    pays = wh.query("SELECT paid_on, amount, reference FROM payments"
                    " WHERE contract_id = 'eis:80105015580170000110000'")
    assert pays == [(date(2017, 9, 30), Decimal("264204.07"), "71169")]


def test_notices_protocols_and_results_are_recognised(eis):
    wh, _ = eis
    notices = {(r[0], r[1]): r[2:] for r in wh.query(
        "SELECT notice_id, kind, document_type, amount, bidders FROM notices")}
    assert notices[("eis:0111100000217000017", "contract_sign")] == (
        "fcsContractSign", Decimal(189140), None)
    assert notices[("eis:0111100000217000017", "placement_result")] == (
        "fcsPlacementResult", Decimal(189140), 1)
    assert notices[("eis:0111100008417000189", "notice")][0] == "fcs_notificationEFDateChange"
    assert notices[("eis:0873500000820003425", "protocol")] == ("fcsProtocolEF3", None, 6)
    assert notices[("eis:0373200554120000039", "protocol")] == ("epProtocolEZK2", None, 2)
    assert notices[("eis:31603913641", "notice")] == (
        "purchaseNoticeData", Decimal("3077055.86"), None)
    # a signing notice never becomes a contract: its price would be counted twice
    assert wh.scalar("SELECT count(*) FROM contracts WHERE native_id LIKE '0111100000217%'") == 0
    details = dict(wh.query("SELECT kind, any_value(detail) FROM documents"
                            " WHERE status = 'not_contract_bearing' GROUP BY 1"))
    assert all("not contract-bearing" in d or "carries the contract" in d
               for d in details.values())


def test_loading_twice_changes_nothing(eis, load, shared):
    wh, first = eis
    before = table_counts(wh)
    again = load("eis", shared / "eis")
    assert again["skipped"] == first["loaded"] + first["not_contract_bearing"]
    assert again["loaded"] == 0 and again["ignored"] == first["ignored"]
    assert table_counts(wh) == before
