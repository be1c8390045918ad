"""EIS at scale: many small real 44-FZ documents, against bare lxml, in one run.

Run: python bench/bench_eis_scale.py [N] [--workers 1,2]   (default 3000 documents)

The documents are the real 44-FZ contracts and execution records of ../shared/data/eis, each
written N/k times with its registration number made distinct (generated in a temporary folder,
never kept). Printed, all measured in this one run on the same files (CPU seconds, children
included, so a process pool is charged for every core it uses):
- bare: read each file and `lxml.etree.fromstring` it;
- parser: survtrack's EIS parser alone on the same files (rows gathered, nothing written);
- ingest: `ingest` into a fresh warehouse with each `--workers` value (documents/s wall time,
  CPU ratio to bare), after a warm-up ingest of 8 other documents into another warehouse, so
  that the process's one-time imports are not charged to the first figure;
- with `--zip K`: the same documents as EIS publishes them, in ZIP archives of K documents
  each, against bare lxml reading the members out of the archives, then ingested with each
  `--workers` value.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from baseline import ratio
from lxml import etree

from survtrack import scrapers
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.protocol import Document, RowBuffer
from survtrack.warehouse.store import Warehouse

DATA = Path(os.environ.get("SURVTRACK_SHARED_DATA",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data")) / "eis"
REAL = sorted(p for p in DATA.glob("fz44_contract*.xml"))
REG_NUM = re.compile(rb"(<(?:\w+:)?regNum>)(\d+)(</)")


def generate(folder: Path, n: int) -> list[Path]:
    """n documents: the real ones in turn, each copy with its own regNum (and so its own hash)."""
    templates = [p.read_bytes() for p in REAL]
    paths = []
    for i in range(n):
        body = templates[i % len(templates)]
        body = REG_NUM.sub(lambda m, i=i: m[1] + m[2][:-7] + f"{i:07d}".encode() + m[3], body)
        path = folder / f"{i // 1000:04d}" / f"doc{i:07d}.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        paths.append(path)
    return paths


def cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=3000)
    parser.add_argument("--workers", default="1,2", help="comma-separated pool sizes to ingest with (\"\": the parser only)")
    parser.add_argument("--zip", type=int, default=0, metavar="K",
                        help="also ingest the documents zipped K per archive")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-eis-scale-"))
    try:
        paths = generate(tmp / "in", args.n)
        print(f"{len(paths):,} documents from {len(REAL)} real 44-FZ documents,"
              f" {sum(p.stat().st_size for p in paths) / 1e6:.1f} MB")

        c = cpu()
        for p in paths:
            etree.fromstring(p.read_bytes())
        bare = cpu() - c
        print(f"bare lxml fromstring: {bare:.2f} s CPU = {len(paths) / bare:,.0f} docs/s")

        eis = scrapers.get("eis")
        c = cpu()
        for p in paths:
            ctx = RowBuffer(Document("x", "eis", str(p), p, p.stat().st_size))
            eis.parse(ctx)
        alone = cpu() - c
        print(f"EIS parser alone:     {alone:.2f} s CPU = {len(paths) / alone:,.0f} docs/s,"
              f" speed ratio to bare {bare / alone:.2f} (goal >= 0.5)")
        ratio("EIS parser alone, CPU", alone, "lxml fromstring of the same files", bare)

        # one-time costs of the process left out of the figures below: pyarrow imports pandas
        # on its first conversion (~1 s CPU; the survtrack CLI has it imported before an
        # ingest starts), DuckDB loads its catalogue. Each measured ingest still starts (and
        # is charged for) its own worker processes.
        import pandas  # noqa: F401 - imported by the survtrack CLI before any ingest

        generate(tmp / "warm-in", len(REAL))
        with Warehouse(tmp / "warm" / "w.duckdb") as wh:
            ingest(wh, eis, [tmp / "warm-in"], workers=1)

        workers_list = [int(w) for w in args.workers.split(",") if w]
        measure(eis, tmp / "in", "", len(paths), bare, workers_list, tmp)
        if args.zip:
            zips = zip_up(paths, tmp / "zipped", args.zip)
            c = cpu()
            for path in zips:
                with zipfile.ZipFile(path) as zf:
                    for info in zf.infolist():
                        etree.fromstring(zf.read(info))
            bare_zip = cpu() - c
            print(f"bare lxml of the members of {len(zips)} zips: {bare_zip:.2f} s CPU")
            measure(eis, tmp / "zipped", "zipped ", len(paths), bare_zip, workers_list, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def zip_up(paths: list[Path], folder: Path, per_zip: int) -> list[Path]:
    folder.mkdir()
    zips = []
    for start in range(0, len(paths), per_zip):
        zips.append(folder / f"contract_{start // per_zip:04d}.xml.zip")
        with zipfile.ZipFile(zips[-1], "w", zipfile.ZIP_DEFLATED) as zf:
            for path in paths[start:start + per_zip]:
                zf.write(path, path.name)
    return zips


def measure(eis, inbox: Path, what: str, n: int, bare: float, workers_list: list[int],
            tmp: Path) -> None:
    for workers in workers_list:
        folder = tmp / f"wh-{what.strip() or 'files'}-{workers}"
        with Warehouse(folder / "w.duckdb") as wh:
            c, t = cpu(), time.perf_counter()
            counts = ingest(wh, eis, [inbox], workers=workers)
            wall, used = time.perf_counter() - t, cpu() - c
            contracts = wh.count("contracts")
        print(f"{what}ingest --workers {workers}: {dict(counts)}, {contracts:,} contracts;"
              f" {wall:.1f} s wall = {n / wall:,.0f} docs/s;"
              f" {used:.1f} s CPU = {used / bare:.1f}x bare lxml (goal <= 4x)")
        ratio(f"EIS {what}ingest --workers {workers}, CPU", used,
              f"lxml fromstring of the same {what or 'files'}".strip(), bare)


if __name__ == "__main__":
    main()
