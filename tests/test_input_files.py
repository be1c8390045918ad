"""A repeated ingest skips, unread, the input files whose every document loaded and whose size
and modification time are unchanged (scrapers/inputs.py), and gives the warehouse a read would.

Input: the real EIS documents of ../shared/data/eis copied into a folder (so their times can
be set), a ZIP archive of two of them and a malformed document. A file is shown unread by
changing its bytes (same size) and putting its time back: a read would load or reject the new
bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from survtrack import scrapers
from survtrack.scrapers import inputs as ledger
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import LoadResult, Warehouse
from tests.conftest import table_contents

WHEN = {"fetched_at", "rejected_at", "run_id"}
ENGINES = {"single process": dict(workers=1), "pool": dict(workers=2),
           "pool staged as on Dask": dict(workers=2, staged=True),
           "dask": dict(engine="dask", workers=2)}


@pytest.fixture
def folder(shared, tmp_path) -> Path:
    into = tmp_path / "in"
    into.mkdir()
    for path in sorted((shared / "eis").glob("fz44_*.xml")):
        shutil.copy2(path, into / path.name)
    with zipfile.ZipFile(into / "members.zip", "w") as zf:
        for name in ("fz44_contract_v6.0_belgorod_3312100001816000003.xml",
                     "fz44_fcsContractSign_0111100000217000017.xml"):
            zf.write(shared / "eis" / name, f"inner/{name}")
    (into / "broken.xml").write_bytes(b"<export><contract><regNum>1</regNum></export>")
    return into


def _garble(path: Path) -> None:
    """New bytes of the same size, the file's time put back: unchanged to a stat."""
    info = path.stat()
    path.write_bytes(b"<" + b"x" * (info.st_size - 1))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


@pytest.mark.parametrize("options", ENGINES.values(), ids=ENGINES.keys())
def test_a_repeated_run_skips_unchanged_files_unread(folder, tmp_path, options):
    if options.get("engine") == "dask":
        pytest.importorskip("distributed")
    eis = scrapers.get("eis")
    with Warehouse(tmp_path / "w.duckdb") as wh:
        first = ingest(wh, eis, [folder], **options)
        expected = table_contents(wh, WHEN)
        recorded = dict(wh.query("SELECT path, documents FROM input_files"))
        files = sorted(p for p in folder.iterdir() if p.name != "broken.xml")
        assert recorded == {str(p.absolute()): 2 if p.suffix == ".zip" else 1 for p in files}
        documents = first["loaded"] + first["not_contract_bearing"] + first["skipped"]

        contract = folder / "fz44_contract_v6.3_voronezh_2366200608816001262.xml"
        _garble(contract)
        again = ingest(wh, eis, [folder], **options)
        # the rejected document's file is read again (and rejected again); the rest is not
        assert again == {"skipped": documents, "rejected": first["rejected"]}
        assert table_contents(wh, WHEN) == expected

        os.utime(contract)  # touched: read again, and its new bytes rejected
        touched = ingest(wh, eis, [folder], **options)
        assert touched == {"skipped": documents - 1, "rejected": first["rejected"] + 1}
        assert str(contract.absolute()) not in dict(wh.query("SELECT path, 1 FROM input_files"))

        _garble(folder / "members.zip")
        rechecked = ingest(wh, eis, [folder], recheck=True, **options)
        assert rechecked["rejected"] == first["rejected"] + 2  # the zip is read, unreadable
        assert rechecked["skipped"] == documents - 3


def test_a_rejected_document_is_tried_again_on_the_next_run(folder, tmp_path):
    """broken.xml is not recorded: once mended, the next run loads it."""
    eis = scrapers.get("eis")
    with Warehouse(tmp_path / "w.duckdb") as wh:
        ingest(wh, eis, [folder], workers=1)
        broken = folder / "broken.xml"
        body = (folder / "fz44_contract_v7.0_murmansk_2510205003117000004.xml").read_bytes()
        broken.write_bytes(re.sub(rb"(<(?:\w+:)?regNum>)(\d+)(</)", rb"\g<1>2510205003117999999\3",
                                  body))  # a contract of its own
        mended = ingest(wh, eis, [folder], workers=1)
        assert mended["loaded"] == 1 and mended["rejected"] == 0
        assert str(broken.absolute()) in dict(wh.query("SELECT path, 1 FROM input_files"))


def test_a_file_is_recorded_only_after_its_documents_commit(folder, tmp_path, monkeypatch):
    """A run stopped midway (the caller raises, as Ctrl-C would) has recorded only files whose
    documents are in the warehouse; run again, it ends as a clean run does."""
    from survtrack.scrapers import ingest as ingesting

    monkeypatch.setattr(ingesting, "BATCH_DOCUMENTS", 4)
    monkeypatch.setattr(ledger, "RECORD_EVERY", 1)  # every finished file written at once
    eis = scrapers.get("eis")
    seen = []

    def stop_after_six(origin, result):
        if isinstance(result, LoadResult):
            seen.append(origin)
        if len(seen) == 6:
            raise KeyboardInterrupt

    with Warehouse(tmp_path / "w.duckdb") as wh:
        with pytest.raises(KeyboardInterrupt):
            ingest(wh, eis, [folder], workers=1, on_result=stop_after_six)
        loaded = {d for (d,) in wh.query(
            "SELECT document_id FROM documents WHERE status <> 'rejected'")}
        recorded = [Path(p) for (p,) in wh.query("SELECT path FROM input_files")]
        assert 0 < len(recorded) < len(loaded)
        assert all(hashlib.sha256(p.read_bytes()).hexdigest() in loaded for p in recorded)
        ingest(wh, eis, [folder], workers=1)
        with Warehouse(tmp_path / "clean.duckdb") as clean:
            ingest(clean, eis, [folder], workers=1)
            assert table_contents(wh, WHEN) == table_contents(clean, WHEN)
            assert wh.count("input_files") == clean.count("input_files")
