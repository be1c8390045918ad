"""Properties over every recorded document (../shared/data/{eis,usaspending,ocds,ted} and
../shared/data/outside/<source>/), the checks that would have caught each class of defect of
issue 17: load order never changes a table; EIS payments add up to their executions; an
eForms contract's amount is the sum of its own tenders; no reject is a Python exception.

The two all-document warehouses are built once per session (tests/conftest.py).
"""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import SOURCES, all_documents, table_rows
from lxml import etree

from survtrack import scrapers
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.schema import TABLES
from survtrack.warehouse.store import Warehouse

# What records a load rather than what the documents say: when, in which run, and the
# parser's account of what it did (e.g. "compiled with releases from earlier documents").
# (the record of changes holds what each load wrote, in its order: not compared)
LOAD_HISTORY = {"runs": None, "changes": None, "change_cursors": None,
                "documents": {"fetched_at", "detail"},
                "rejects": {"run_id", "rejected_at"}, "warnings": {"flagged_at"},
                "input_files": {"run_id", "recorded_at"}}


def rows(wh: Warehouse, table: str) -> list[tuple]:
    return table_rows(wh, table, LOAD_HISTORY.get(table, ()))


def test_every_recorded_document_is_in_the_order_test(loaded_forward):
    wh, paths = loaded_forward
    assert set(SOURCES) == {"eis", "usaspending", "ocds", "ted"}
    assert any("/outside/" in str(p) for p in paths) and len(paths) >= 55
    assert wh.count("contracts") > 60 and wh.count("payments") > 50


@pytest.mark.parametrize("table", [t for t in TABLES if LOAD_HISTORY.get(t, ()) is not None])
def test_loading_in_reverse_order_gives_identical_tables(loaded_forward, loaded_reverse, table):
    forward, reverse = rows(loaded_forward[0], table), rows(loaded_reverse[0], table)
    only_forward = [r for r in forward if r not in set(reverse)]
    only_reverse = [r for r in reverse if r not in set(forward)]
    assert (only_forward, only_reverse) == ([], []), f"{table} depends on load order"


PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _local(el) -> str:
    return etree.QName(el).localname


def _executions(path: Path) -> dict[str, Decimal]:
    """regNum -> the sum of `paid` (else `paidRUR`) over every execution of a 44-FZ execution
    record, read here with lxml alone (not with the parser under test)."""
    root = etree.parse(str(path), PARSER).getroot()
    found: dict[str, Decimal] = defaultdict(Decimal)
    for record in root:
        if not isinstance(record.tag, str) or _local(record) != "contractProcedure":
            continue
        reg = next(c.text for c in record if _local(c) == "regNum")
        for execution in record.iter("{*}execution"):
            values = {_local(c): c.text for c in execution}
            found[reg] += Decimal(values.get("paid") or values.get("paidRUR") or 0)
    return found


EXECUTION_RECORDS = [p for p in all_documents("eis") if p.suffix == ".xml"
                     and b"contractProcedure" in p.read_bytes()[:2000]]


def test_there_are_execution_records_to_check():
    assert len(EXECUTION_RECORDS) >= 5


@pytest.mark.parametrize("path", EXECUTION_RECORDS, ids=lambda p: p.name[:60])
def test_eis_payments_sum_to_the_documents_executions(tmp_path, path):
    expected = _executions(path)  # a termination alone has no execution: nothing is paid
    with Warehouse(tmp_path / "w.duckdb") as wh:
        ingest(wh, scrapers.get("eis"), [path])
        stored = dict(wh.query("SELECT substr(contract_id, 5), sum(amount) FROM payments"
                               " GROUP BY 1"))
    assert {reg: stored.get(reg, Decimal(0)) for reg in expected} == expected
    assert set(stored) <= set(expected)


NS = {"efac": "http://data.europa.eu/p27/eforms-ubl-extension-aggregate-components/1",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}


def _own_tenders(root) -> dict[str, list[tuple[Decimal, str]]]:
    """Settled contract id -> (amount, currency) of its own tenders: those of the lots whose
    result names the contract, among the tenders any contract references; a tender whose lot
    result names no contract belongs to the contract that references it."""
    result = root.find(".//efac:NoticeResult", NS)
    if result is None:
        return {}
    tenders = {}
    for t in result.findall("efac:LotTender", NS):
        amount = t.find("cac:LegalMonetaryTotal/cbc:PayableAmount", NS)
        tenders[t.findtext("cbc:ID", namespaces=NS)] = (
            t.findtext("efac:TenderLot/cbc:ID", namespaces=NS),
            None if amount is None else (Decimal(amount.text), amount.get("currencyID")))
    named = defaultdict(set)  # lot -> contracts its results name
    for lot_result in result.findall("efac:LotResult", NS):
        lot = lot_result.findtext("efac:TenderLot/cbc:ID", namespaces=NS)
        named[lot] |= {c.text for c in lot_result.findall("efac:SettledContract/cbc:ID", NS)}
    own = defaultdict(dict)
    for contract in result.findall("efac:SettledContract", NS):
        cid = contract.findtext("cbc:ID", namespaces=NS)
        own.setdefault(cid, {})
        for ref in contract.findall("efac:LotTender/cbc:ID", NS):
            lot, value = tenders.get(ref.text, (None, None))
            owners = named.get(lot) or {cid}
            owner = cid if cid in owners else (next(iter(owners)) if len(owners) == 1 else cid)
            own[owner][ref.text] = value
    return {cid: [v for v in ts.values() if v] for cid, ts in own.items()}


EFORMS_AWARDS = [p for p in all_documents("ted")
                 if _local(etree.parse(str(p), PARSER).getroot()) == "ContractAwardNotice"]


def test_there_are_eforms_award_notices_to_check():
    assert len(EFORMS_AWARDS) >= 5


@pytest.mark.parametrize("path", EFORMS_AWARDS, ids=lambda p: p.name[:60])
def test_eforms_contract_amount_is_the_sum_of_its_own_tenders(loaded_forward, path):
    wh, _ = loaded_forward
    doc = wh.scalar("SELECT document_id FROM documents WHERE origin = ?", [str(path)])
    stored = {cid.rsplit("/", 1)[1]: (amount, cur) for cid, amount, cur in wh.query(
        "SELECT contract_id, amount, currency FROM contract_versions WHERE document_id = ?",
        [doc])}
    rejects = wh.scalar("SELECT count(*) FROM rejects WHERE document_id = ?", [doc])
    detail = wh.scalar("SELECT detail FROM documents WHERE document_id = ?", [doc])
    own = _own_tenders(etree.parse(str(path), PARSER).getroot())
    assert stored, f"{path.name}: no contract loaded"
    for cid, (amount, cur) in stored.items():
        values = own.get(cid, [])
        if not values:
            continue  # no tender of its own with a value: the notice total rules apply
        currencies = {c for _, c in values}
        if amount is None:  # withheld (shared ceiling, over the total): the load says why
            assert rejects or "left NULL" in detail, f"{path.name} {cid}: withheld unexplained"
            continue
        assert len(currencies) == 1 and cur == currencies.pop()
        assert amount == sum(a for a, _ in values), f"{path.name} {cid}"


EXCEPTION = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b|Traceback")


def test_no_reject_reason_is_a_python_exception(loaded_forward, loaded_reverse):
    for wh, _ in (loaded_forward, loaded_reverse):
        reasons = [r for (r,) in wh.query(
            "SELECT reason FROM rejects UNION ALL SELECT detail FROM documents"
            " WHERE status = 'rejected'") if r]
        assert reasons  # the recorded documents include malformed ones
        assert [r for r in reasons if EXCEPTION.search(r)] == []
