"""OCDS processes compiled by the ingest's workers (scrapers/parts.py: a local pool of 2, a
Dask LocalCluster of 2) give the warehouse the serial ingest gives, row for row.

Input: every real OCDS document of ../shared/data (ocds/, outside/ocds/, surveillance/ocds-uk/),
and two JSON Lines documents written at test time, loaded one after the other: processes of
several releases spread across the first file and continued in the second (so releases the
warehouse holds are compiled in), a malformed line, an undated release and a junk amount.
The threshold of releases per document is the ingest's `part_min` parameter, kept low here
(every real document holds one process).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from survtrack import scrapers
from survtrack.scrapers.files import archive_file
from survtrack.scrapers.ingest import ingest
from survtrack.scrapers.parts import Parts
from survtrack.warehouse.store import Warehouse
from tests.conftest import table_contents

WHEN = {"fetched_at", "rejected_at", "run_id", "classified_at", "flagged_at"}


def _release(n: int, stage: str, day: int) -> dict:
    ocid = f"ocds-parts0-{n:04d}"
    buyer = {"id": f"GB-COH-{n % 7:08d}", "name": f"Buyer {n % 7}", "roles": ["buyer"],
             "identifier": {"scheme": "GB-COH", "id": f"{n % 7:08d}"}}
    release = {"ocid": ocid, "id": f"{ocid}-{stage}", "date": f"2024-03-{day:02d}T10:00:00Z",
               "tag": [stage], "parties": [buyer], "buyer": {"id": buyer["id"]}}
    if stage == "tender":
        release["tender"] = {"id": "T1", "title": f"CCTV lot {n}", "status": "active",
                             "value": {"amount": 1000 + n, "currency": "GBP"}}
    elif stage == "award":
        supplier = {"id": f"S{n % 5}", "name": f"Supplier {n % 5} Ltd", "roles": ["supplier"]}
        release["parties"] = [buyer, supplier]
        release["awards"] = [{"id": "A1", "status": "active", "suppliers": [
            {"id": supplier["id"], "name": supplier["name"]}],
            "value": {"amount": "12O0" if n == 8 else 900 + n, "currency": "GBP"}}]
    else:
        release["contracts"] = [{"id": "C1", "awardID": "A1", "status": "active",
                                 "value": {"amount": 950 + n, "currency": "GBP"},
                                 "implementation": {"transactions": [
                                     {"id": "P1", "date": "2024-04-01T00:00:00Z",
                                      "value": {"amount": 100 + n, "currency": "GBP"}}]}}]
    return release


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> list[Path]:
    """Two JSON Lines documents: the first has the tenders of 40 processes, then the awards
    of the even ones (a process's releases far apart in the file), a malformed line and an
    undated release among them; the second the contracts of every third process (compiled
    with the tender and award the warehouse holds), the award of process 2 again (the same
    release in two documents) and 10 processes of its own."""
    folder = tmp_path_factory.mktemp("generated")
    first = [_release(n, "tender", 1 + n % 20) for n in range(40)]
    first += [_release(n, "award", 21 + n % 5) for n in range(0, 40, 2)]
    undated = _release(99, "tender", 1)
    del undated["date"]
    lines = [json.dumps(r) for r in first]
    lines[30:30] = ['{"ocid": "ocds-parts0-broken", "date": }', json.dumps(undated)]
    (folder / "1-first.jsonl").write_text("\n".join(lines) + "\n")
    second = [_release(n, "contract", 27) for n in range(0, 40, 3)]
    second += [_release(2, "award", 21), _release(4, "award", 26) | {"id": 1e16, "tag": [2.5e20]}]
    second += [_release(n, stage, 28) for n in range(100, 110) for stage in ("tender",
                                                                               "contract")]
    (folder / "2-second.jsonl").write_text("\n".join(map(json.dumps, second)) + "\n")
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def real(shared) -> list[Path]:
    return [shared / "ocds", shared / "outside" / "ocds", shared / "surveillance" / "ocds-uk"]


def _ingested(folder: Path, inputs: list[Path], **options) -> tuple[list, dict]:
    """Each input ingested in turn (one document after another) into a fresh warehouse."""
    with Warehouse(folder / "w.duckdb") as wh:
        counts = [dict(ingest(wh, scrapers.get("ocds"), [path], **options))
                  for path in inputs]
        return counts, table_contents(wh, WHEN)


@pytest.fixture(scope="module")
def serial(generated, real, tmp_path_factory) -> dict:
    return {name: _ingested(tmp_path_factory.mktemp(name), inputs, workers=1)
            for name, inputs in (("generated", generated), ("real", real))}


def test_the_serial_ingest_compiles_across_the_two_documents(serial):
    """What the comparisons below compare is what the brief asks of them."""
    counts, tables = serial["generated"]
    assert counts == [{"loaded": 1}, {"loaded": 1}]
    details = [row for row in tables["documents"] if "compiled with releases from earlier"
               in str(row)]
    assert len(details) == 1  # the second document: 14 processes continued
    reasons = " | ".join(str(row) for row in tables["rejects"])
    assert "malformed JSON" in reasons and "has no date" in reasons and "12O0" in reasons
    contracts = {row[0] for row in tables["contracts"]}
    assert "ocds:ocds-parts0-0006/C1" in contracts  # tender, award, then contract
    counts, tables = serial["real"]
    assert [c["loaded"] for c in counts] == [11, 4, 5] and len(tables["documents"]) == 28


@pytest.mark.parametrize("engine", ["local", "dask"])
@pytest.mark.parametrize("name", ["generated", "real"])
def test_processes_compiled_by_workers_equal_serial(serial, generated, real, tmp_path, engine,
                                                    name, monkeypatch):
    if engine == "dask":
        pytest.importorskip("distributed")
    inputs = generated if name == "generated" else real
    handed = []  # each document's chunks, seen on their way (the map itself unchanged)
    real_map = Parts.map
    monkeypatch.setattr(Parts, "map", lambda self, fn, args: real_map(
        self, fn, (handed.append(a[1]) or a for a in args)))
    # part_min=1: every document goes to the workers (some real ones hold one release)
    assert _ingested(tmp_path, inputs, workers=2, engine=engine, part_min=1) == serial[name]
    loaded = [row for row in serial[name][1]["documents"] if "processes" in str(row)]
    assert len(set(handed)) == len(loaded)


def test_a_big_document_s_processes_go_to_the_workers_and_load_again_as_a_no_op(
        generated, tmp_path):
    """Warehouse.load (a document over SMALL_DOCUMENT, committed batch by batch) with the
    workers: the chunks are really handed out, the rows are the serial load's, and loading
    the same bytes again changes nothing; a document of fewer releases than `min_parts`
    hands out none."""
    source = scrapers.get("ocds")

    def load_both(folder: Path, parts: Parts | None) -> dict:
        with Warehouse(folder / "w.duckdb") as wh:
            for path in generated:
                doc = archive_file(path, wh.archive, "ocds")
                assert wh.load(doc, source.parse, pool=parts).status == "loaded"
                assert wh.load(doc, source.parse, pool=parts).status == "skipped"
            return table_contents(wh, WHEN)

    parts = Parts("local", 2, None, min_parts=2)
    try:
        assert load_both(tmp_path / "pool", parts) == load_both(tmp_path / "serial", None)
        assert parts.handed == 2  # one chunk a document (fewer than PART_CHUNK processes)
    finally:
        parts.close()
    few = Parts("local", 2, None, min_parts=10_000)
    assert load_both(tmp_path / "few", few) == load_both(tmp_path / "serial2", None)
    assert few.handed == 0



def test_a_document_of_several_chunks_equals_serial(tmp_path):
    """2,500 processes: three chunks of PART_CHUNK (the last one short) handed out, taken back
    in order, the rows the serial load's."""
    from survtrack.scrapers.ocds import PART_CHUNK

    processes = 2 * PART_CHUNK + PART_CHUNK // 2
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps(_release(n, "contract", 1 + n % 28)) + "\n"
                            for n in range(processes)))
    source = scrapers.get("ocds")

    def load(folder: Path, parts: Parts | None) -> dict:
        with Warehouse(folder / "w.duckdb") as wh:
            doc = archive_file(path, wh.archive, "ocds")
            assert wh.load(doc, source.parse, pool=parts).status == "loaded"
            return table_contents(wh, WHEN)

    parts = Parts("local", 2, None, min_parts=1)
    try:
        loaded = load(tmp_path / "pool", parts)
        assert parts.handed == 3
    finally:
        parts.close()
    assert loaded == load(tmp_path / "serial", None)
    assert len(loaded["contracts"]) == processes
