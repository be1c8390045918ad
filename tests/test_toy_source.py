"""A source is one folder: a toy source written into a temporary folder, with no other edit,
is listed, documented, ingested and scraped (from a local server), as docs/architecture.md's
"How to add a source" walks through it."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from survtrack import scrapers
from survtrack.cli import app
from survtrack.warehouse.store import Warehouse

PARSE = '''
"""Toy registry: one JSON document per page, {"contracts": [...], "next": url | null}."""
import json

from survtrack.warehouse.protocol import LoadContext, Rejected


def parse(ctx: LoadContext) -> None:
    data = json.loads(ctx.document.read())
    if "contracts" not in data:
        raise Rejected("no contracts list", "contracts")
    for c in data["contracts"]:
        vendor = f"TOY:{c['vendor']}"
        ctx.emit("organizations", org_id=vendor, name=c["vendor"])
        ctx.emit("contracts", contract_id=f"toy:{c['id']}", source="toy", native_id=c["id"],
                 version=1, title=c["title"], vendor_id=vendor, amount=c["amount"],
                 currency="EUR", status="active")
    ctx.describe("contract_list", f"{len(data['contracts'])} contracts")
'''

FETCH = '''
from survtrack.scrapers.paging import follow_links


def fetch(ctx):
    def page(url):
        resp = ctx.client.get(url, kind="listing", expect="json")
        yield ctx.document(url, resp.content, "application/json")
        return resp.json()["next"]

    yield from follow_links(ctx, ctx.url("/contracts?page=1"), page)
'''

SOURCE = '''
from survtrack.scrapers.base import Option, Source

from . import parse
from .fetch import fetch

SOURCE = Source(
    name="toy", title="Toy registry", publisher="Nobody", country="XX", licence="CC0",
    base_url="https://toy.invalid", docs_url="https://toy.invalid/docs",
    coverage="Toy contracts, a page at a time.", caveats=("Not real.",),
    formats=("JSON pages",), parse=parse, fetch=fetch, extensions=(".json",),
    options=(Option("colour", "a toy option of this source alone"),), rate_limit=5,
)
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    folder = tmp_path / "sources" / "toy"
    folder.mkdir(parents=True)
    for name, text in (("__init__.py", PARSE), ("fetch.py", FETCH), ("source.py", SOURCE)):
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    monkeypatch.setenv(scrapers.SOURCE_PATH_ENV, str(folder.parent))
    scrapers.refresh()
    yield folder
    monkeypatch.delenv(scrapers.SOURCE_PATH_ENV)
    scrapers.refresh()
    for module in [m for m in sys.modules if m.startswith("survtrack.scrapers.toy")]:
        del sys.modules[module]


def page(n: int, nxt: str | None) -> dict:
    return {"contracts": [{"id": f"c{n}", "vendor": f"V{n}", "title": f"cameras, lot {n}",
                           "amount": 100 * n}], "next": nxt}


def test_a_toy_source_in_its_own_folder_works_everywhere(toy, tmp_path, httpserver):
    runner = CliRunner()
    db = str(tmp_path / "w.duckdb")
    # listed
    assert "toy" in scrapers.names()
    listing = runner.invoke(app, ["scrape", "--help"])
    assert "toy" in listing.output and "Toy registry" in listing.output
    own = runner.invoke(app, ["scrape", "toy", "--help"])
    assert "--colour" in own.output and "--query" not in own.output
    # documented
    result = runner.invoke(app, ["docs", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
    sources = (tmp_path / "docs" / "sources.md").read_text(encoding="utf-8")
    assert "## `toy`: Toy registry" in sources and "`--colour`" in sources
    # ingested from a local file
    local = tmp_path / "inbox" / "page.json"
    local.parent.mkdir()
    local.write_text(json.dumps(page(1, None)), encoding="utf-8")
    result = runner.invoke(app, ["ingest", "toy", str(local), "--db", db])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1])["loaded"] == 1
    # scraped from a local server, page after page by links
    httpserver.expect_request("/contracts", query_string="page=1").respond_with_json(
        page(1, httpserver.url_for("/contracts?page=2")))
    httpserver.expect_request("/contracts", query_string="page=2").respond_with_json(
        page(2, None))
    result = runner.invoke(app, ["scrape", "toy", "--base-url", httpserver.url_for("/"),
                                 "--colour", "blue", "--rate", "1000", "--db", db])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output.splitlines()[-1])
    # page 1 holds the same contract as the ingested file, but other bytes: loaded again
    assert (outcome["status"], outcome["loaded"]) == ("finished", 2)
    with Warehouse(db, read_only=True) as wh:
        assert wh.query("SELECT contract_id, amount FROM contracts ORDER BY 1") == [
            ("toy:c1", 100), ("toy:c2", 200)]
        (params,), = wh.query("SELECT parameters FROM runs WHERE command = 'scrape'")
        assert json.loads(params)["colour"] == "blue"
