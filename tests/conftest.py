"""Shared fixtures: the real recorded documents in ../shared/data, and fresh warehouses."""

from __future__ import annotations

import os
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

    return {t: wh.count(t) for t in TABLES if t != "runs"}


def demo_inbox(root: Path) -> Path:
    """An inbox with the recorded real documents of every source, linked, not copied."""
    inbox = root / "inbox"
    inbox.mkdir()
    for source in ("eis", "usaspending", "ocds", "ted"):
        (inbox / source).symlink_to(SHARED / source)
    return inbox
