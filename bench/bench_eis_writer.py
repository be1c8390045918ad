"""The ingest's writer alone: `store_parsed` of N real EIS documents parsed beforehand.

Run: python bench/bench_eis_writer.py [N] [--batch B] [--statements]   (default 3000, B =
ingest.BATCH_PARALLEL)

The documents are bench_eis_scale's (the real 44-FZ documents of ../shared/data/eis, each copy
with its own registration number). They are archived and parsed first (not measured), the
results pickled and unpickled as a pool's workers sent them before they sent Arrow tables
(the serial ingest's writer, `store_parsed`; the pool's writer now is `load_staged`, measured
by bench_dask_ingest.py --writer-only, its `rows` way); then the writer's CPU for
writing them in batches of B into a fresh warehouse is printed beside bare
`lxml.etree.fromstring` of the same files, and a second pass (every document already loaded).
`--statements`: each SQL statement's CPU, by table.
"""

from __future__ import annotations

import argparse
import pickle
import re
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from baseline import ratio
from bench_eis_scale import generate
from lxml import etree

from survtrack import scrapers
from survtrack.scrapers import ingest as pool
from survtrack.scrapers.files import archive_file
from survtrack.warehouse.archive import Archive
from survtrack.warehouse.derived import DerivedTables
from survtrack.warehouse.parsing import parse_alone
from survtrack.warehouse.store import Warehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=pool.BATCH_PARALLEL)
    parser.add_argument("--statements", action="store_true")
    args = parser.parse_args()
    spent: dict[str, list] = defaultdict(lambda: [0.0, 0])
    if args.statements:
        execute = DerivedTables.execute

        def timed(self, sql, params=None):
            c = time.process_time()
            execute(self, sql, params)
            what = re.match(r"\s*(INSERT INTO \w+|DELETE FROM \w+|\w+)", sql).group(1)
            spent[what][0] += time.process_time() - c
            spent[what][1] += 1

        DerivedTables.execute = timed
    tmp = Path(tempfile.mkdtemp(prefix="bench-eis-writer-"))
    try:
        paths = generate(tmp / "in", args.n)
        c = time.process_time()
        for p in paths:
            etree.fromstring(p.read_bytes())
        bare = time.process_time() - c
        eis = scrapers.get("eis")
        archive = Archive(tmp / "archive")
        parsed = pickle.dumps([parse_alone(archive_file(p, archive, "eis", pack=True), eis.parse)
                               for p in paths])
        archive.commit()
        with Warehouse(tmp / "warm" / "w.duckdb", archive=tmp / "archive") as wh:  # imports
            wh.store_parsed(pickle.loads(parsed)[:50], eis.parse, None)
        spent.clear()
        runs = [pickle.loads(parsed) for _ in range(2)]
        with Warehouse(tmp / "w" / "w.duckdb", archive=tmp / "archive") as wh:
            used = []
            for docs in runs:
                c = time.process_time()
                for i in range(0, len(docs), args.batch):
                    wh.store_parsed(docs[i:i + args.batch], eis.parse, None)
                used.append(time.process_time() - c)
            contracts = wh.count("contracts")
        print(f"{len(paths):,} documents, {contracts:,} contracts, batches of {args.batch}:"
              f" bare lxml {bare:.2f} s CPU; writer {used[0]:.2f} s CPU"
              f" ({len(paths) / used[0]:,.0f} docs per CPU s), again (all loaded) {used[1]:.2f} s")
        ratio(f"EIS writer, batches of {args.batch}, CPU", used[0],
              "lxml fromstring of the same files", bare)
        for what, (seconds, count) in sorted(spent.items(), key=lambda x: -x[1][0]):
            print(f"  {seconds * 1000:8.1f} ms CPU in {count:4d} statements: {what}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
