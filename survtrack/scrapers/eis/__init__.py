"""Russia's Unified Information System in procurement (EIS, zakupki.gov.ru).

`parse` recognises the document by its root (44-FZ `export/<kind>`, 223-FZ `<kind>/body/item`)
using document_kinds.csv, streams it, and hands each record to its handler. A kind it does
not know is rejected with its element name, never silently dropped.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from functools import cache, lru_cache

from survtrack import datafiles
from survtrack.scrapers.xmlsafe import iterparse, local, parse_bytes
from survtrack.warehouse.protocol import LoadContext, Rejected

from . import complaints, fz44, fz223
from .common import HERE

HANDLERS = {**fz44.HANDLERS, **fz223.HANDLERS, **complaints.HANDLERS}


@cache
def document_kinds() -> list[dict]:
    rows = datafiles.rows(HERE / "document_kinds.csv", ("law", "element", "kind", "handler"))
    missing = {r["handler"] for r in rows} - set(HANDLERS)
    if missing:
        raise RuntimeError(f"document_kinds.csv names unknown handlers {missing}")
    return rows


@lru_cache(maxsize=4096)  # per (law, element): matching the kinds' patterns cost more than most handlers
def recognise(law: str, element: str) -> dict:
    for row in document_kinds():
        if row["law"] == law and fnmatchcase(element, row["element"]):
            return row
    raise Rejected(f"unknown EIS {law}-FZ document <{element}>", element)


# A document up to this size is read whole with one C call (most EIS documents are a few KB);
# a bigger one (a 223-FZ daily file) is streamed record by record in flat memory.
WHOLE_DOCUMENT = 4 << 20


def parse(ctx: LoadContext) -> None:
    size = ctx.document.size
    if size <= WHOLE_DOCUMENT:
        data = ctx.document.data  # the bytes an ingest read to archive them, if it kept them
        if data is None:
            with ctx.document.open() as fh:
                # as much as the file should hold, and one byte more to see it did not grow:
                # asking for WHOLE_DOCUMENT bytes would allocate (and give back) 4 MB each time
                data = fh.read(size + 1)
        if len(data) <= size:
            return _parse_whole(ctx, parse_bytes(data, blank_text=False))
    _parse_streaming(ctx)


def _parse_whole(ctx: LoadContext, root) -> None:
    law = "44" if local(root.tag) == "export" else "223"
    kind = recognise("223", local(root.tag)) if law == "223" else None
    records = 0
    for record in root.iterchildren("{*}*"):
        if law == "44":
            kind = kind or recognise("44", local(record.tag))
            HANDLERS[kind["handler"]](ctx, record, kind["kind"])
            records += 1
            continue
        for item in record.iterchildren("{*}item"):
            records = _item(ctx, item, kind, records)
    _describe(ctx, law, kind, records)


def _item(ctx: LoadContext, item, kind: dict, records: int) -> int:
    """One 223-FZ body/item: one bad record in a daily file costs only itself."""
    try:
        HANDLERS[kind["handler"]](ctx, item, kind["kind"])
        records += 1
        ctx.record_done()
    except Rejected as exc:
        ctx.reject_part(f"item {records + 1}: {exc.reason}", exc.field)
    return records


def _parse_streaming(ctx: LoadContext) -> None:
    depth = 0
    law = kind = None
    records = 0
    with ctx.document.open() as fh:
        for event, el in iterparse(fh, blank_text=False):
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
                records = _item(ctx, el, kind, records)
                el.clear()
                while el.getprevious() is not None:
                    del el.getparent()[0]
            depth -= 1
    _describe(ctx, law, kind, records)


def _describe(ctx: LoadContext, law: str | None, kind: dict | None, records: int) -> None:
    if kind is None:
        raise Rejected("empty EIS export: no document element", "export")
    if law == "223":
        bearing = kind["kind"] in ("contract", "contract_performance")
        ctx.describe(kind["kind"], f"223-FZ {kind['element']} file: {records} records"
                     + ("" if bearing else "; not contract-bearing"), contract_bearing=bearing)
    elif records > 1:
        ctx.describe(ctx.kind or kind["kind"], f"{records} documents in one export; last: "
                     f"{ctx.detail}", ctx.contract_bearing)
