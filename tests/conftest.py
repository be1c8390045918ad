"""Shared fixtures: the real recorded documents in ../shared/data, and fresh warehouses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from survtrack import scrapers
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import Warehouse

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SURVTRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The recorded real documents (never copied into the project)."""
    if not SHARED.is_dir():
        pytest.fail(f"real documents not found at {SHARED}: set SURVTRACK_SHARED_DATA")
    return SHARED


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    wh = Warehouse(tmp_path / "survtrack.duckdb")
    yield wh
    wh.close()


@pytest.fixture
def load(warehouse):
    """load(source, *paths) -> Counter of outcomes, into the test's warehouse."""

    def _load(source: str, *paths: Path, force: bool = False) -> Counter:
        return ingest(warehouse, scrapers.get(source), [Path(p) for p in paths], force=force)

    return _load


def table_counts(wh: Warehouse) -> dict[str, int]:
    from survtrack.warehouse.schema import TABLES

    return {t: wh.count(t) for t in TABLES if t not in ("runs", "changes", "change_cursors")}


def table_rows(wh: Warehouse, table: str, skip=()) -> list[tuple]:
    """A table's rows in a stable order, without the columns in `skip` (when, which run…)."""
    from survtrack.warehouse.schema import TABLES

    columns = [c for c in TABLES[table].column_names if c not in skip]
    return sorted(wh.query(f"SELECT {', '.join(columns)} FROM {table}"), key=repr)


def table_contents(wh: Warehouse, skip=()) -> dict[str, list[tuple]]:
    """Every loaded table (not `runs`, nor the record of changes, whose order of recording
    differs between two ways of loading, nor `input_files`, which run read which file when)
    as table_rows, to compare two loads of the same input."""
    from survtrack.warehouse.schema import TABLES

    return {t: table_rows(wh, t, skip) for t in TABLES
            if t not in ("runs", "changes", "change_cursors", "input_files")}


def inbox_recipe() -> str:
    """The README's inbox recipe (the shell block starting `# inbox recipe`), without its
    final `make demo`: the tests build their demo warehouse with the README's own words."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in text.split("```sh\n")[1:] if b.startswith("# inbox recipe"))
    lines = block.split("```")[0].splitlines()
    return "\n".join(line for line in lines if not line.startswith("make "))


SOURCES = ("eis", "usaspending", "ocds", "ted")


def all_documents(source: str) -> list[Path]:
    """Every recorded document of a source: ../shared/data/<source> and the documents from
    outside publishers in ../shared/data/outside/<source>, in path order."""
    wanted = (*scrapers.get(source).extensions, ".zip")
    return sorted(p for root in (SHARED / source, SHARED / "outside" / source)
                  for p in root.rglob("*") if p.is_file() and p.suffix.lower() in wanted)


def _load_everything(folder: Path, reverse: bool) -> tuple[Warehouse, list[Path]]:
    wh = Warehouse(folder / "survtrack.duckdb")
    loaded = []
    for source in (reversed(SOURCES) if reverse else SOURCES):
        paths = all_documents(source)[::-1] if reverse else all_documents(source)
        ingest(wh, scrapers.get(source), paths)
        loaded += paths
    return wh, loaded


@pytest.fixture(scope="session")
def loaded_forward(tmp_path_factory):
    """(warehouse, paths): every recorded document loaded in path order, once a session."""
    wh, paths = _load_everything(tmp_path_factory.mktemp("forward"), reverse=False)
    yield wh, paths
    wh.close()


@pytest.fixture(scope="session")
def loaded_reverse(tmp_path_factory):
    """The same documents loaded in reverse order (sources too)."""
    wh, paths = _load_everything(tmp_path_factory.mktemp("reverse"), reverse=True)
    yield wh, paths
    wh.close()


def demo_inbox(root: Path) -> Path:
    """`root/data/inbox` filled by the README's recipe: every document of ../shared/data."""
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", inbox_recipe()], cwd=root,
                          env={**os.environ, "SURVTRACK_SHARED_DATA": str(SHARED)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return root / "data" / "inbox"


class DemoSite:
    """A folder where `survtrack demo --no-serve` ran as a user runs it: ./data/survtrack.duckdb,
    ./data/archive, ./data/inbox filled by the README's recipe."""

    def __init__(self, root: Path, summary: dict):
        self.root, self.summary = root, summary
        self.db = root / "data" / "survtrack.duckdb"

    def cursor(self):
        from survtrack.warehouse.snapshot import SnapshotReader

        return SnapshotReader(self.db).cursor()


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory, shared) -> DemoSite:
    """The demo warehouse, built once per session exactly as `make demo` builds it (run in its
    folder, relative paths), from the curated source and every document of ../shared/data."""
    root = tmp_path_factory.mktemp("demo-site")
    demo_inbox(root)
    done = subprocess.run([sys.executable, "-m", "survtrack.cli", "demo", "--no-serve", "--json"],
                          cwd=root, capture_output=True, text=True, timeout=900,
                          env={k: v for k, v in os.environ.items()
                               if k not in ("SURVTRACK_DB", "SURVTRACK_ARCHIVE",
                                            "SURVTRACK_INBOX")})
    assert done.returncode == 0, done.stderr[-3000:]
    return DemoSite(root, json.loads(done.stdout.strip().splitlines()[-1]))


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session (Debian's; `make test` installs it)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `sudo apt-get install chromium`")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def demo_db(demo_site) -> Path:
    """The demo warehouse with its snapshot, for in-process readers (the API's tests): the
    journeys' demo_site, built once a session by the README's recipe from the curated source
    and every document of ../shared/data (recorded, outside, the UK surveillance releases)."""
    return demo_site.db
