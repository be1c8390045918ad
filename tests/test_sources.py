"""One test over every source: complete metadata, and docs generated from it are current."""

from __future__ import annotations

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from survtrack import scrapers
from survtrack.cli import app


@pytest.mark.parametrize("name", scrapers.names())
def test_source_metadata_is_complete(name):
    source = scrapers.get(name)
    assert source.name == name
    for field in ("title", "publisher", "country", "licence", "base_url", "docs_url", "coverage"):
        assert getattr(source, field), f"{name}: {field} missing"
    assert source.caveats and source.formats and callable(source.parse)
    assert source.fetch is None or callable(source.fetch)
    assert source.rate_limit > 0


def test_generated_docs_are_current(tmp_path):
    result = CliRunner().invoke(app, ["docs", str(tmp_path)])
    assert result.exit_code == 0, result.output
    pages = [f"flags/{p.name}" for p in (tmp_path / "flags").glob("*.md")]
    assert len(pages) == 9
    for name in ("sources.md", "tables.md", "flags.md", *pages):
        committed = (ROOT / "docs" / name).read_text(encoding="utf-8")
        assert committed == (tmp_path / name).read_text(encoding="utf-8"), (
            f"docs/{name} is stale: run `make docs`")


def test_parsers_need_no_database():
    """The parser contract (warehouse/protocol.py) imports neither duckdb nor pyarrow, so
    every source's parser and the HTTP client load without them."""
    import subprocess
    import sys

    code = ("import sys; from survtrack import scrapers; import survtrack.scrapers.http;"
            " import survtrack.scrapers.ingest, survtrack.scrapers.scrape;"
            " [scrapers.get(n) for n in scrapers.names()];"
            " print(sorted(m for m in ('duckdb', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
