"""Classification in `build` at scale: N contracts, then 1 % more, against the classifier alone.

Run: python bench/bench_build_scale.py [N] [--classify N2]   (defaults 1000000, 20000)

The warehouse gets N contracts (titles from the classifier's evaluation texts, two product lines
each) written by SQL. Printed in one run: fetching one batch of 2,000 stale contracts as the
build did (`IN (SELECT unnest(?))`: a scan of the table per batch) and as it does now (a range
of a numbered work table), at N; then, on N2 contracts, the classifier alone on the same texts
(the bare baseline: no warehouse), `classify_warehouse` over all of them (ratio to the
baseline: what reading and writing the warehouse adds), and again after 1 % new contracts
(should touch about 1 %).
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

from baseline import ratio

from survtrack.analysis.classify import classifier, classify_warehouse
from survtrack.warehouse.store import Warehouse

ROOT = Path(__file__).resolve().parents[1]


def add_contracts(wh: Warehouse, texts: list[str], first: int, n: int) -> None:
    wh.con.execute("CREATE OR REPLACE TEMP TABLE bench_texts AS SELECT * FROM"
                   " (SELECT unnest(?::VARCHAR[]) AS t, generate_subscripts(?::VARCHAR[], 1) - 1"
                   " AS k)", [texts, texts])
    k = len(texts)
    wh.con.execute(f"""INSERT INTO contracts (contract_id, source, native_id, version, title,
                          document_id)
                       SELECT 'bench:' || i, 'bench', i::VARCHAR, 0, t.t, 'doc' || i
                       FROM range({first}, {first + n}) r(i) JOIN bench_texts t ON t.k = i % {k}
                       ORDER BY hash(i)""")
    wh.con.execute(f"""INSERT INTO items (contract_id, line_no, description, scheme, code)
                       SELECT 'bench:' || i, line, t.t, 'OKPD2', '26.30.13.000'
                       FROM range({first}, {first + n}) r(i), range(1, 3) l(line)
                       JOIN bench_texts t ON t.k = (i + line) % {k}""")


def fetch_batch(n: int, texts: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "bench.duckdb")
        add_contracts(wh, texts, 0, n)
        ids = sorted(f"bench:{i}" for i in range(n // 2, n // 2 + 2000))
        t = time.perf_counter()
        for _ in range(3):
            wh.query("SELECT c.contract_id, c.title FROM contracts c WHERE c.contract_id IN"
                     " (SELECT unnest(?::VARCHAR[]))", [ids])
        old = (time.perf_counter() - t) / 3
        t = time.perf_counter()
        wh.execute("CREATE TEMP TABLE w AS SELECT row_number() OVER (ORDER BY contract_id) - 1"
                   " AS rn, contract_id, title FROM contracts ORDER BY rn")
        setup = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(3):
            wh.query("SELECT contract_id, title FROM w WHERE rn >= ? AND rn < ? ORDER BY rn",
                     [n // 2, n // 2 + 2000])
        new = (time.perf_counter() - t) / 3
        wh.close()
    print(f"one batch of 2,000 at {n:,} contracts: scan {old * 1000:.0f} ms, work-table range"
          f" {new * 1000:.1f} ms (ratio {old / new:.0f}x; the work table costs"
          f" {setup:.1f} s once); batches at {n:,}: {n // 2000 * old:.0f} s vs"
          f" {n // 2000 * new + setup:.0f} s")


def main(n: int, classify_n: int) -> None:
    with open(ROOT / "tests" / "data" / "classifier_eval.csv", encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    fetch_batch(n, texts)
    n = classify_n
    clf = classifier()
    sample = min(n, 50_000)
    start = time.process_time()
    for i in range(sample):
        clf.classify_parts([(texts[i % len(texts)], []), (None, []),
                            (texts[(i + 1) % len(texts)], [("OKPD2", "26.30.13.000")]),
                            (texts[(i + 2) % len(texts)], [("OKPD2", "26.30.13.000")])], [])
    bare = (time.process_time() - start) / sample
    print(f"classifier alone: {1 / bare:,.0f} contracts/s (CPU, {sample:,} contracts)")
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "bench.duckdb")
        t = time.perf_counter()
        add_contracts(wh, texts, 0, n)
        print(f"{n:,} contracts written in {time.perf_counter() - t:.1f} s")
        for label, count in (("all", n), ("after 1 % more", n // 100)):
            if label != "all":
                add_contracts(wh, texts, n, count)
            wall, cpu = time.perf_counter(), time.process_time()
            counts = classify_warehouse(wh)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"classify_warehouse ({label}): {counts['checked']:,} checked in {wall:.1f} s"
                  f" wall, {cpu:.1f} s CPU = {counts['checked'] / cpu:,.0f} contracts/s;"
                  f" CPU ratio to the classifier alone {cpu / (counts['checked'] * bare):.2f}")
            ratio(f"classify_warehouse ({label}), CPU", cpu, "the classifier alone on as many",
                  counts["checked"] * bare)
        wh.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    classify_n = int(args[args.index("--classify") + 1]) if "--classify" in args else 20_000
    main(int(args[0]) if args and args[0].isdigit() else 1_000_000, classify_n)
