"""Russia's Unified Information System in procurement (EIS, zakupki.gov.ru).

`parse` recognises the document by its root (44-FZ `export/<kind>`, 223-FZ `<kind>/body/item`)
using document_kinds.csv, streams it, and hands each record to its handler. A kind it does
not know is rejected with its element name, never silently dropped.
"""

from __future__ import annotations

import csv
from fnmatch import fnmatchcase
from functools import cache

from survtrack.scrapers.base import Source
from survtrack.scrapers.xmlsafe import iterparse, local
from survtrack.warehouse.protocol import LoadContext, Rejected

from . import fz44, fz223
from .common import HERE

HANDLERS = {**fz44.HANDLERS, **fz223.HANDLERS}


@cache
def document_kinds() -> list[dict]:
    with open(HERE / "document_kinds.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    missing = {r["handler"] for r in rows} - set(HANDLERS)
    if missing:
        raise RuntimeError(f"document_kinds.csv names unknown handlers {missing}")
    return rows


def recognise(law: str, element: str) -> dict:
    for row in document_kinds():
        if row["law"] == law and fnmatchcase(element, row["element"]):
            return row
    raise Rejected(f"unknown EIS {law}-FZ document <{element}>", element)


def parse(ctx: LoadContext) -> None:
    depth = 0
    law = kind = None
    records = 0
    with ctx.document.open() as fh:
        for event, el in iterparse(fh):
            if event == "start":
                depth += 1
                if depth == 1:
                    law = "44" if local(el.tag) == "export" else "223"
                    if law == "223":
                        kind = recognise("223", local(el.tag))
                elif depth == 2 and law == "44" and kind is None:
                    kind = recognise("44", local(el.tag))
                continue
            # end of an element: a 44-FZ document element, or one 223-FZ body/item
            if law == "44" and depth == 2 and kind is not None:
                HANDLERS[kind["handler"]](ctx, el, kind["kind"])
                records += 1
                el.clear()
            elif law == "223" and depth == 3 and local(el.tag) == "item":
                try:
                    HANDLERS[kind["handler"]](ctx, el, kind["kind"])
                    records += 1
                    ctx.record_done()
                except Rejected as exc:  # one bad record in a daily file costs only itself
                    ctx.reject_part(f"item {records + 1}: {exc.reason}", exc.field)
                el.clear()
                while el.getprevious() is not None:
                    del el.getparent()[0]
            depth -= 1
    if kind is None:
        raise Rejected("empty EIS export: no document element", "export")
    if law == "223":
        bearing = kind["kind"] in ("contract", "contract_performance")
        ctx.describe(kind["kind"], f"223-FZ {kind['element']} file: {records} records"
                     + ("" if bearing else "; not contract-bearing"), contract_bearing=bearing)
    elif records > 1:
        ctx.describe(ctx.kind or kind["kind"], f"{records} documents in one export; last: "
                     f"{ctx.detail}", ctx.contract_bearing)


SOURCE = Source(
    name="eis",
    title="Unified Information System in procurement (Russia)",
    publisher="Federal Treasury of the Russian Federation",
    country="RU",
    licence="Public information under 44-FZ art. 4 and 223-FZ; no licence terms stated",
    base_url="https://zakupki.gov.ru",
    docs_url="https://zakupki.gov.ru/epz/main/public/document/view.html?searchString=xsd",
    coverage=("Contracts (44-FZ registry records with product lines, suppliers and versions),"
              " execution records (payments, terminations), notices, protocols and results,"
              " and 223-FZ contracts, executions and notices, as XML exports (the FTP archive"
              " until 2024, the document service since 2025-01-01) and HTML pages."),
    caveats=(
        "Contract values are as published in the contract's currency (priceInfo/price);"
        " amounts in roubles are in priceRUR.",
        "A supplier is published only once the contract is signed; early versions and some"
        " 223-FZ contracts have none (vendor_id NULL).",
        "Organizations are keyed by INN: a branch (filial) shares its parent's INN and differs"
        " only in KPP, so branches fold into the parent organization.",
        "fcsContractSign and placement results repeat a contract's price before the contract"
        " record exists: they are kept as notices and never counted as contracts.",
        "A termination states the total paid so far; that figure is kept on the event"
        " (reported_paid) and never added to payments.",
        "A payment is known by its stage, its payment order (else its execution document:"
        " an acceptance act) by number and date, and its amount; republished in a later"
        " execution record it is stored once, and equal acts without numbers stay apart by"
        " their position. An execution with nothing paid (0.00) is no payment.",
        "223-FZ purchase plans and monthly accounts of contracts are recognised and kept as"
        " not contract-bearing (their totals restate contracts loaded one by one).",
        "223-FZ contract cards need an internal id; `url` points at the public search for the"
        " registration number instead.",
    ),
    formats=("XML (44-FZ export, 223-FZ TFF)", "ZIP archives of XML"),
    parse=parse,
    rate_limit=0.5,
    extensions=(".xml",),
)
