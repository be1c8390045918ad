"""TEST FIXTURE builder for the dashboard: real EIS documents plus hand-written tagged contracts.

The real documents in ../shared/data/eis are ingested as any user would. Classification,
entity resolution and money conversion are other helpers' work, so a small hand-written
document (tests/fixtures/dashboard/tagged_contracts.json) adds invented, clearly marked
contracts with tags, one merged entity and USD amounts, through the store API
(`Warehouse.load`), so that the front page has several surveillance vendors to show.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from survtrack import scrapers
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.protocol import Document, LoadContext
from survtrack.warehouse.store import Warehouse

FIXTURE = Path(__file__).parent / "fixtures" / "dashboard" / "tagged_contracts.json"


def parse_fixture(ctx: LoadContext) -> None:
    data = json.loads(ctx.document.read())
    ctx.describe("contract", "dashboard test fixture")
    for org in data["organizations"]:
        ctx.emit("organizations", document_id=ctx.document.document_id, **org)
    for entity in data["entities"]:
        ctx.emit("entities", **entity)
    for c in data["contracts"]:
        signed = date.fromisoformat(c["signed_on"])
        ctx.emit("contracts", **{**c, "source": "fixture", "version": 1, "signed_on": signed,
                                 "dated_on": signed, "year": signed.year,
                                 "date_basis": "signed", "amount": Decimal(c["amount"]),
                                 "status": "active"})
    for tag in data["tags"]:
        ctx.emit("tags", **tag)


def load_fixture(wh: Warehouse) -> str:
    """Archive and load the fixture document; return its document_id."""
    document_id, size = wh.archive.put_bytes(FIXTURE.read_bytes())
    doc = Document(document_id, "fixture", str(FIXTURE), wh.archive.path(document_id), size,
                   media_type="application/json", url="https://example.org/fixture")
    result = wh.load(doc, parse_fixture)
    assert result.status in ("loaded", "skipped"), result.reason
    return document_id


def build(wh: Warehouse, shared: Path) -> None:
    ingest(wh, scrapers.get("eis"), [shared / "eis"])
    load_fixture(wh)


def built_dashboard_db(folder: Path, shared: Path) -> Path:
    """A warehouse file with EIS documents and the fixture, and its published snapshot."""
    from survtrack.analysis.facts import publish_snapshot

    db = folder / "survtrack.duckdb"
    with Warehouse(db) as wh:
        build(wh, shared)
        publish_snapshot(db, wh.con)
    return db


THIN = Path(__file__).parent / "fixtures" / "dashboard" / "thin_contracts.json"


def _typed(table: str, row: dict, document_id: str) -> dict:
    """A row of the JSON fixture with the schema's types (dates, timestamps, decimals)."""
    from datetime import datetime

    from survtrack.warehouse.schema import TABLES

    out = dict(row)
    for column in TABLES[table].columns:
        value = out.get(column.name)
        if column.name == "document_id" and value is None and table != "organizations":
            out["document_id"] = document_id
        elif isinstance(value, str) and column.type == "DATE":
            out[column.name] = date.fromisoformat(value)
        elif isinstance(value, str) and column.type == "TIMESTAMP":
            out[column.name] = datetime.fromisoformat(value)
        elif isinstance(value, str) and column.type.startswith("DECIMAL"):
            out[column.name] = Decimal(value)
    if table == "contracts":
        out.setdefault("source", "thin")
    return out


def parse_tables(ctx: LoadContext) -> None:
    """A JSON fixture of rows per table, emitted as they are (columns absent stay NULL)."""
    data = json.loads(ctx.document.read())
    ctx.describe("contract", "dashboard test fixture: contracts that lack what records lack")
    for table, rows in data["tables"].items():
        for row in rows:
            ctx.emit(table, **_typed(table, row, ctx.document.document_id))


def thin_dashboard_db(folder: Path) -> Path:
    """A warehouse of thin contracts only (no date, rate, country, vendor or buyer), published."""
    from survtrack.analysis.facts import publish_snapshot

    db = folder / "survtrack.duckdb"
    with Warehouse(db) as wh:
        document_id, size = wh.archive.put_bytes(THIN.read_bytes())
        doc = Document(document_id, "thin", str(THIN), wh.archive.path(document_id), size,
                       media_type="application/json")
        result = wh.load(doc, parse_tables)
        assert result.status == "loaded", result.reason
        publish_snapshot(db, wh.con)
    return db
