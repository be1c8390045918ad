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
    """An inbox with the recorded real documents of every source, linked, not copied."""
    inbox = root / "inbox"
    inbox.mkdir()
    for source in ("eis", "usaspending", "ocds", "ted"):
        (inbox / source).symlink_to(SHARED / source)
    return inbox


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory, shared) -> Path:
    """The demo warehouse with its snapshot, built once a session in-process from the curated
    source and every document of ../shared/data (recorded, outside, the UK surveillance
    releases), linked into the inbox as demo_smoke does."""
    from survtrack.demo import build_demo
    from survtrack.warehouse.snapshot import publish_snapshot

    root = tmp_path_factory.mktemp("api-demo")
    inbox = root / "inbox"
    folders = {s: [shared / s, shared / "outside" / s] for s in SOURCES}
    folders["ocds"].append(shared / "surveillance" / "ocds-uk")
    for source, roots in folders.items():
        (inbox / source).mkdir(parents=True)
        for folder in roots:
            for path in sorted(p for p in folder.glob("*") if p.is_file()):
                (inbox / source / f"{folder.parent.name}-{folder.name}__{path.name}").symlink_to(path)
    db = root / "survtrack.duckdb"
    with Warehouse(db) as wh:
        build_demo(wh, inbox, say=lambda line: None)
        publish_snapshot(db, wh.con)
    return db
