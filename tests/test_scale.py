"""Parallel ingest (process pool, Dask) gives the warehouse a serial ingest gives, row for row.

Input: every real EIS document of ../shared/data/eis, a ZIP archive of real documents (one of
them also loose, so the same bytes come twice) and a malformed document, written at test time.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from survtrack import scrapers
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.schema import TABLES
from survtrack.warehouse.store import Warehouse

# when a row was written and by which run: the only columns that differ between two ingests
WHEN = {"fetched_at", "rejected_at", "run_id", "classified_at", "flagged_at"}


@pytest.fixture(scope="module")
def inputs(shared, tmp_path_factory) -> list[Path]:
    extra = tmp_path_factory.mktemp("extra")
    with zipfile.ZipFile(extra / "members.zip", "w") as zf:
        for name in ("fz44_contractProcedure_2790000171516000234_version1.xml",
                     "fz44_contract_v7.0_murmansk_2510205003117000004.xml"):
            zf.write(shared / "eis" / name, f"inner/{name}")
    (extra / "broken.xml").write_bytes(b"<export><contract><regNum>1</regNum></export>")
    return [shared / "eis", extra]


def tables(wh: Warehouse) -> dict[str, list[tuple]]:
    out = {}
    for name, spec in TABLES.items():
        if name == "runs":
            continue
        cols = [c for c in spec.column_names if c not in WHEN]
        out[name] = sorted(wh.query(f"SELECT {', '.join(cols)} FROM {name}"), key=repr)
    return out


@pytest.fixture(scope="module")
def serial(inputs, tmp_path_factory):
    with Warehouse(tmp_path_factory.mktemp("serial") / "w.duckdb") as wh:
        counts = ingest(wh, scrapers.get("eis"), inputs, workers=1)
        return counts, tables(wh)


def test_process_pool_equals_serial_and_reloads_as_a_no_op(inputs, serial, tmp_path):
    counts, expected = serial
    assert counts["loaded"] > 0 and counts["rejected"] >= 1 and counts["skipped"] >= 1
    assert any(r[2].endswith("broken.xml") and "malformed XML" in r[5]
               for r in expected["rejects"])  # (source, origin, …, reason) names the document
    with Warehouse(tmp_path / "w.duckdb") as wh:
        assert ingest(wh, scrapers.get("eis"), inputs, workers=2) == counts
        assert tables(wh) == expected
        again = ingest(wh, scrapers.get("eis"), inputs, workers=2)
        assert again["loaded"] == 0 and again["skipped"] == counts["loaded"] + counts[
            "not_contract_bearing"] + counts["skipped"]
        assert tables(wh) == expected


def test_dask_local_cluster_equals_serial(inputs, serial, tmp_path):
    pytest.importorskip("distributed")
    counts, expected = serial
    with Warehouse(tmp_path / "w.duckdb") as wh:
        assert ingest(wh, scrapers.get("eis"), inputs, engine="dask", workers=2) == counts
        assert tables(wh) == expected
