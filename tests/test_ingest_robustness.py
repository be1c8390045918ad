"""Versions, bad input, encodings and archives: the warehouse never loses or doubles a record."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal

import pytest
from conftest import table_counts

VORONEZH = "fz44_contract_v6.3_voronezh_2366200608816001262.xml"
CID = "eis:2366200608816001262"


def later_version(xml: bytes) -> bytes:
    """Version 2 of the real Voronezh contract: a price cut and one product line dropped,
    written the way EIS publishes an amendment (same regNum, higher versionNumber)."""
    text = xml.decode("utf-8")
    text = text.replace("<versionNumber>1</versionNumber>", "<versionNumber>2</versionNumber>")
    text = text.replace("<publishDate>2016-11-21T13:44:22.541+03:00</publishDate>",
                        "<publishDate>2016-12-05T09:00:00+03:00</publishDate>")
    text = text.replace("<price>1207680.35</price>", "<price>1195409.35</price>", 1)
    text = re.sub(r"<product>.*?</product>", "", text, count=1, flags=re.DOTALL)
    return text.encode("utf-8")


def test_later_version_replaces_earlier_whatever_the_order(shared, load, warehouse, tmp_path):
    v2 = tmp_path / "contract_v2.xml"
    v2.write_bytes(later_version((shared / "eis" / VORONEZH).read_bytes()))
    load("eis", v2)  # the amendment arrives first
    load("eis", shared / "eis" / VORONEZH)
    wh = warehouse
    c = wh.query("SELECT version, amount FROM contracts WHERE contract_id = ?", [CID])
    assert c == [(2, Decimal("1195409.35"))]
    versions = wh.query("SELECT version, amount FROM contract_versions WHERE contract_id = ?"
                        " ORDER BY version", [CID])
    assert versions == [(1, Decimal("1207680.35")), (2, Decimal("1195409.35"))]
    # product lines are those of the version shown
    assert wh.scalar("SELECT count(*) FROM items WHERE contract_id = ?", [CID]) == 20
    assert wh.scalar("SELECT sum(amount) FROM items WHERE contract_id = ?", [CID]) == Decimal(
        "1195409.35")


def test_termination_overrides_stage_in_either_order(shared, load, warehouse, tmp_path):
    """A contract whose execution record reports a termination shows status 'terminated',
    whether the record is loaded before or after the contract."""
    xml = (shared / "eis" / VORONEZH).read_bytes().decode()
    proc = (shared / "eis" / "fz44_contractProcedure_termination_1790400359017000002.xml"
            ).read_bytes().decode().replace("1790400359017000002", "2366200608816001262")
    (tmp_path / "proc.xml").write_text(proc, encoding="utf-8")
    load("eis", tmp_path / "proc.xml")
    (tmp_path / "contract.xml").write_text(xml, encoding="utf-8")
    load("eis", tmp_path / "contract.xml")
    assert warehouse.scalar("SELECT status FROM contracts WHERE contract_id = ?", [CID]) == (
        "terminated")


BAD = {
    "truncated.xml": None,  # filled from a real document below
    "xxe.xml": b"""<?xml version="1.0"?>
<!DOCTYPE export [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<export xmlns="http://zakupki.gov.ru/oos/export/1"><contract><regNum>&xxe;</regNum></contract></export>""",
    "laughs.xml": b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<export><contract><regNum>&lol3;</regNum></contract></export>""",
    "unknown.xml": b"""<?xml version="1.0" encoding="UTF-8"?>
<ns2:export xmlns="http://zakupki.gov.ru/oos/types/1" xmlns:ns2="http://zakupki.gov.ru/oos/export/1">
<ns2:fcsSomethingNew schemeVersion="99.0"><id>1</id></ns2:fcsSomethingNew></ns2:export>""",
    "empty.xml": b"",
    "no_regnum.xml": b"""<?xml version="1.0" encoding="UTF-8"?>
<ns2:export xmlns="http://zakupki.gov.ru/oos/types/1" xmlns:ns2="http://zakupki.gov.ru/oos/export/1">
<ns2:contract schemeVersion="7.0"><id>1</id><versionNumber>1</versionNumber></ns2:contract></ns2:export>""",
    "bad_price.xml": b"""<?xml version="1.0" encoding="UTF-8"?>
<ns2:export xmlns="http://zakupki.gov.ru/oos/types/1" xmlns:ns2="http://zakupki.gov.ru/oos/export/1">
<ns2:contract schemeVersion="7.0"><regNum>1000000000000000001</regNum><versionNumber>1</versionNumber>
<signDate>2019-12-01</signDate><priceInfo><price>two hundred million</price></priceInfo></ns2:contract>
</ns2:export>""",
}
REASONS = {
    "truncated.xml": ("document", "malformed XML"),
    "xxe.xml": ("DOCTYPE", "DTD"),
    "laughs.xml": ("DOCTYPE", "entity expansion"),
    "unknown.xml": ("fcsSomethingNew", "unknown EIS 44-FZ document <fcsSomethingNew>"),
    "empty.xml": ("document", "empty document"),
    "no_regnum.xml": ("contract/regNum", "contract without regNum"),
    "bad_price.xml": ("contract/priceInfo/price", "not an amount: 'two hundred million'"),
}


def test_bad_documents_are_rejected_and_the_good_ones_load(shared, load, warehouse, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    real = (shared / "eis" / VORONEZH).read_bytes()
    for name, data in BAD.items():
        (folder / name).write_bytes(data if data is not None else real[: len(real) // 2])
    (folder / "good.xml").write_bytes(real)
    counts = load("eis", folder)
    assert counts["loaded"] == 1 and counts["rejected"] == len(BAD)
    assert warehouse.scalar("SELECT count(*) FROM contracts") == 1
    rejects = {r[0].rsplit("/", 1)[-1]: (r[1], r[2]) for r in warehouse.query(
        "SELECT origin, field, reason FROM rejects")}
    for name, (field, words) in REASONS.items():
        assert rejects[name][0] == field, name
        assert words in rejects[name][1], (name, rejects[name])
    # the secret never reached the warehouse
    assert not warehouse.query("SELECT * FROM organizations WHERE name LIKE '%root:%'")
    # rejects are idempotent too
    before = table_counts(warehouse)
    load("eis", folder)
    assert table_counts(warehouse) == before


CP1251_CONTRACT = """<?xml version="1.0" encoding="windows-1251"?>
<ns2:export xmlns="http://zakupki.gov.ru/oos/types/1" xmlns:ns2="http://zakupki.gov.ru/oos/export/1">
<ns2:contract schemeVersion="5.2"><regNum>0373200000119000001</regNum><versionNumber>0</versionNumber>
<publishDate>2019-12-20T10:00:00+03:00</publishDate><signDate>2019-12-19</signDate>
<customer><fullName>ДЕПАРТАМЕНТ ИНФОРМАЦИОННЫХ ТЕХНОЛОГИЙ ГОРОДА МОСКВЫ</fullName><inn>7710878000</inn>
<kpp>771001001</kpp></customer>
<price>200000000.00</price><currency><code>RUB</code></currency>
<suppliers><supplier><participantType>U</participantType><inn>7700000001</inn><kpp>770501001</kpp>
<organizationName>ООО «Тест Видео»</organizationName></supplier></suppliers>
<products><product><OKPD2><code>62.01.29.000</code></OKPD2>
<name>Оказание услуг видеоаналитики (распознавание лиц)</name><price>200000000.00</price>
<quantity>1</quantity><sum>200000000.00</sum></product></products>
<currentContractStage>E</currentContractStage></ns2:contract></ns2:export>
"""


@pytest.mark.parametrize("declared", [True, False])
def test_windows_1251_documents(declared, load, warehouse, tmp_path):
    """A hand-written 5.x-style contract in Windows-1251, with and without its declaration."""
    text = CP1251_CONTRACT if declared else CP1251_CONTRACT.split("\n", 1)[1]
    path = tmp_path / "cp1251.xml"
    path.write_bytes(text.encode("windows-1251"))
    assert load("eis", path)["loaded"] == 1
    c = warehouse.query("SELECT amount, currency, vendor_id, title FROM contracts")
    assert c == [(Decimal("200000000.00"), "RUB", "RU-INN:7700000001",
                  "Оказание услуг видеоаналитики (распознавание лиц)")]
    assert warehouse.scalar("SELECT name FROM organizations WHERE org_id = 'RU-INN:7700000001'"
                            ) == "ООО «Тест Видео»"
    assert warehouse.scalar("SELECT name FROM organizations WHERE org_id = 'RU-INN:7710878000'"
                            ) == "ДЕПАРТАМЕНТ ИНФОРМАЦИОННЫХ ТЕХНОЛОГИЙ ГОРОДА МОСКВЫ"


def test_zip_archives_as_eis_publishes_them(shared, load, warehouse, tmp_path):
    """A nested ZIP with real documents, a junk member, a corrupt member and a zip bomb
    member: the documents load, the rest is reported with its member name."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(shared / "eis" / "fz44_contract_v6.0_belgorod_3312100001816000003.xml",
                "contract_3312100001816000003_25649142.xml")
    outer = tmp_path / "contract_Belgorodskaja_obl_2016010100_2016020100_001.xml.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(shared / "eis" / VORONEZH, "contract_2366200608816001262_30400522.xml")
        z.writestr("inner.zip", inner.getvalue())
        z.writestr("readme.sig", b"signature")
        z.writestr("bomb.xml", b"<" + b"0" * (40 * 1024 * 1024))  # ratio ~1000:1
    counts = load("eis", outer)
    assert counts["loaded"] == 2 and counts["rejected"] == 2
    assert warehouse.scalar("SELECT count(*) FROM contracts") == 2
    origins = {r[0].split("!", 1)[1]: r[1] for r in warehouse.query(
        "SELECT origin, reason FROM rejects")}
    assert "refused" in origins["bomb.xml"] and "ratio" in origins["bomb.xml"]
    assert "skipped by extension" in origins["readme.sig"]
    docs = {r[0].split("!", 1)[1] for r in warehouse.query("SELECT origin FROM documents")}
    assert docs == {"contract_2366200608816001262_30400522.xml",
                    "inner.zip!contract_3312100001816000003_25649142.xml"}
    not_zip = tmp_path / "broken.zip"
    not_zip.write_bytes(b"PK\x03\x04 this is not really a zip")
    assert load("eis", not_zip)["rejected"] == 1


def test_bad_item_in_a_223_daily_file_costs_only_itself(shared, load, warehouse, tmp_path):
    """A daily file with the real item, a copy with a broken price and a second good copy."""
    text = (shared / "eis" / "fz223_contract_adygeya_2019-12-17_daily.xml").read_text("utf-8")
    real_item = re.search(r"<(?:\w+:)?item>.*?</(?:\w+:)?item>", text, re.DOTALL).group(0)
    broken = real_item.replace("<ns2:price>1750000</ns2:price>", "<ns2:price>1 750 000 руб</ns2:price>")
    broken = broken.replace("50105018196190002040000", "50105018196190002050000")
    second = real_item.replace("50105018196190002040000", "50105018196190002060000")
    path = tmp_path / "daily.xml"
    path.write_text(text.replace(real_item, real_item + broken + second), encoding="utf-8")
    assert load("eis", path)["loaded"] == 1
    ids = {r[0] for r in warehouse.query("SELECT contract_id FROM contracts")}
    assert ids == {"eis:50105018196190002040000", "eis:50105018196190002060000"}
    field, reason = warehouse.query("SELECT field, reason FROM rejects")[0]
    assert field == "contractData/price" and "item 2" in reason and "1 750 000" in reason


def test_a_killed_ingest_resumes_by_running_again(shared, warehouse, tmp_path, monkeypatch):
    """Interrupted at the fifth document (as by Ctrl-C) while loading four to a transaction,
    the ingest has committed two whole batches; run again, it loads the rest, and the
    warehouse ends up as a clean ingest leaves it."""
    from survtrack import scrapers
    from survtrack.scrapers import ingest as ingesting
    from survtrack.scrapers.ingest import ingest
    from survtrack.warehouse.store import LoadResult, Warehouse

    monkeypatch.setattr(ingesting, "BATCH_DOCUMENTS", 4)

    seen = []

    def interrupt_after_five(origin, result):
        if isinstance(result, LoadResult):  # files that are no documents are only named
            seen.append(origin)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest(warehouse, scrapers.get("eis"), [shared / "eis"], on_result=interrupt_after_five)
    assert warehouse.query("SELECT status FROM runs") == [("failed",)]
    assert warehouse.count("documents") == 8
    again = ingest(warehouse, scrapers.get("eis"), [shared / "eis"])
    assert again["skipped"] == 8 and again["loaded"] + again["not_contract_bearing"] == 10
    with Warehouse(tmp_path / "clean" / "w.duckdb") as clean:
        ingest(clean, scrapers.get("eis"), [shared / "eis"])
        assert table_counts(clean) == table_counts(warehouse)


@pytest.mark.parametrize("names", [("a_v2.xml", "b_v1.xml"), ("a_v1.xml", "b_v2.xml")])
def test_two_versions_in_one_batch(names, shared, load, warehouse, tmp_path):
    """Both versions loaded in the same transaction, in either order: the later version is
    shown with its own product lines, and both versions are kept."""
    real = (shared / "eis" / VORONEZH).read_bytes()
    for name in names:
        (tmp_path / name).write_bytes(later_version(real) if "v2" in name else real)
    assert load("eis", tmp_path)["loaded"] == 2
    assert warehouse.query("SELECT version, amount FROM contracts") == [
        (2, Decimal("1195409.35"))]
    assert warehouse.scalar("SELECT count(*) FROM contract_versions") == 2
    assert warehouse.scalar("SELECT count(*) FROM items") == 20
    assert warehouse.scalar("SELECT sum(amount) FROM items") == Decimal("1195409.35")


def test_a_batch_that_cannot_be_written_falls_back_to_one_document_at_a_time(warehouse):
    """A document whose rows break the warehouse (here a contract without its source) makes
    the batch's transaction fail; every document is then loaded alone, and only the bad one
    is rejected."""
    from datetime import date

    from survtrack.warehouse.store import Document

    def parse(ctx):  # a test parser: each document names one contract
        name = ctx.document.read().decode()
        ctx.emit("contracts", contract_id=f"test:{name}", source=None if name == "bad" else
                 "test", native_id=name, version=1, signed_on=date(2020, 1, 1), year=2020)

    docs = []
    for name in ("one", "bad", "two"):
        document_id, size = warehouse.archive.put_bytes(name.encode())
        docs.append(Document(document_id, "test", name, warehouse.archive.path(document_id),
                             size))
    results = warehouse.load_many(docs, parse)
    assert [r.status for r in results] == ["loaded", "rejected", "loaded"]
    assert "NOT NULL" in results[1].reason or "source" in results[1].reason
    assert sorted(r[0] for r in warehouse.query("SELECT contract_id FROM contracts")) == [
        "test:one", "test:two"]
