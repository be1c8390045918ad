"""Suspicious values load as published and raise a `warnings` row that status counts."""

from __future__ import annotations

import json
from decimal import Decimal

from survtrack.warehouse import suspicious

CONTRACT = """<?xml version="1.0" encoding="windows-1251"?>
<ns2:export xmlns="http://zakupki.gov.ru/oos/types/1" xmlns:ns2="http://zakupki.gov.ru/oos/export/1">
<ns2:contract schemeVersion="5.2"><regNum>0373200000119000009</regNum><versionNumber>0</versionNumber>
<publishDate>2019-12-20T10:00:00+03:00</publishDate><signDate>SIGNED</signDate>
<customer><fullName>ДЕПАРТАМЕНТ ТРАНСПОРТА ГОРОДА МОСКВЫ</fullName><inn>7710878000</inn>
<kpp>771001001</kpp></customer>
<price>PRICE</price><currency><code>RUB</code></currency>
<suppliers><supplier><participantType>U</participantType><inn>7700000001</inn><kpp>770501001</kpp>
<organizationName>ООО «Тест Видео»</organizationName></supplier></suppliers>
<products><product><OKPD2><code>62.01.29.000</code></OKPD2>
<name>Видеоаналитика</name><price>100.00</price><quantity>1</quantity><sum>100.00</sum></product></products>
<currentContractStage>E</currentContractStage></ns2:contract></ns2:export>
"""


def test_rules_are_data_with_a_doc_line():
    first = suspicious.RULES_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# ")
    assert {r.rule for rules in suspicious.rules().values() for r in rules} == {
        "negative_amount", "date_out_of_range", "replacement_characters", "wrong_encoding"}


def test_mojibake_is_told_from_real_text():
    assert suspicious.mojibake("ДЕПАРТАМЕНТ".encode().decode("cp1251"))
    assert suspicious.mojibake("Compañía".encode().decode("latin-1"))
    for real in ("ДЕПАРТАМЕНТ", "Compañía", "Ελλάδα", "plain ascii", "Ð‘ is odd"):
        assert not suspicious.mojibake(real), real


def test_suspicious_values_load_flagged_and_status_counts_them(load, warehouse, tmp_path):
    # a negative price and year 9999, in a document declared windows-1251 but written in UTF-8
    # (text without И: its UTF-8 holds byte 0x98, which Windows-1251 lacks, and is refused)
    bad = CONTRACT.replace("SIGNED", "9999-12-19").replace("PRICE", "-5000.00")
    (tmp_path / "utf8_as_1251.xml").write_bytes(bad.encode("utf-8"))
    (tmp_path / "fine.xml").write_bytes(CONTRACT.replace("0009", "0010").replace(
        "SIGNED", "2019-12-19").replace("PRICE", "100.00").encode("windows-1251"))
    assert load("eis", tmp_path)["loaded"] == 2
    assert warehouse.query("SELECT amount FROM contracts WHERE contract_id LIKE '%0009'") == [
        (Decimal("-5000.00"),)]  # loaded as published
    flags = warehouse.query("SELECT contract_id, table_name, column_name, rule FROM warnings"
                            " ORDER BY rule, table_name, column_name")
    cid = "eis:0373200000119000009"
    assert (cid, "contracts", "amount", "negative_amount") in flags
    assert (cid, "contracts", "signed_on", "date_out_of_range") in flags
    assert (None, "organizations", "name", "wrong_encoding") in flags
    assert all(f[0] != "eis:0373200000119000010" for f in flags)  # the fine one: no flag
    found = warehouse.status()["warnings"]
    assert {r[1] for r in found} == {"negative_amount", "date_out_of_range", "wrong_encoding"}
    # loading the same document again adds no flag twice
    before = warehouse.count("warnings")
    load("eis", tmp_path, force=True)
    assert warehouse.count("warnings") == before
    assert json.dumps([list(map(str, r)) for r in found])


def test_the_contract_page_hook_lists_the_shown_versions_flags(load, warehouse, tmp_path):
    bad = CONTRACT.replace("SIGNED", "9999-12-19").replace("PRICE", "-5000.00")
    (tmp_path / "a.xml").write_bytes(bad.encode("utf-8"))
    load("eis", tmp_path)
    shown = suspicious.for_contract(warehouse.con, "eis:0373200000119000009")
    assert {(c, rule) for c, _, rule, _ in shown} >= {
        ("amount", "negative_amount"), ("signed_on", "date_out_of_range"),
        ("title", "wrong_encoding"), ("name", "wrong_encoding")}
    assert suspicious.for_contract(warehouse.con, "eis:nothing") == []
