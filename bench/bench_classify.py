"""Classifier speed: texts per second, and a full then a no-op `classify_warehouse`.

Data: the evaluation set's texts, each padded with filler words to a realistic EIS title
length, repeated to N texts; the warehouse gets N synthetic contracts with two items each.
Run: .venv/bin/python bench/bench_classify.py [N]
"""

from __future__ import annotations

import csv
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from baseline import best, ratio

from survtrack.analysis.classify import classifier, classify_warehouse
from survtrack.warehouse.store import Warehouse

ROOT = Path(__file__).resolve().parents[1]
FILLER = ["поставка", "оказание", "услуг", "для", "нужд", "государственного", "бюджетного", "учреждения", "района", "в", "2024", "году", "согласно", "техническому", "заданию", "supply", "of", "services", "for", "the", "council"]


def texts(n: int) -> list[str]:
    with open(ROOT / "tests" / "data" / "classifier_eval.csv", encoding="utf-8") as f:
        base = [r["text"] for r in csv.DictReader(f)]
    rnd = random.Random(1)
    return [" ".join([rnd.choice(base)] + rnd.choices(FILLER, k=12)) for _ in range(n)]


def main(n: int = 20_000) -> None:
    clf = classifier()
    sample = texts(n)
    start = time.perf_counter()
    tagged = sum(bool(clf.classify(t)) for t in sample)
    took = time.perf_counter() - start
    print(f"classify: {n:,} texts in {took:.2f} s = {n / took:,.0f} texts/s ({tagged:,} tagged)")
    base = best(lambda: sum("камер" in t.casefold() for t in sample))
    ratio("classify texts", took, "casefold and one substring test per text", base)

    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "bench.duckdb")
        rows = [(f"bench:{i}", "bench", str(i), 0, sample[i], f"doc{i}") for i in range(n)]
        wh.con.executemany("INSERT INTO contracts (contract_id, source, native_id, version,"
                           " title, document_id) VALUES (?, ?, ?, ?, ?, ?)", rows)
        items = [(f"bench:{i}", line, sample[(i + line) % n], "OKPD2", "26.30.13.000")
                 for i in range(n) for line in (1, 2)]
        wh.con.executemany("INSERT INTO items (contract_id, line_no, description, scheme, code)"
                           " VALUES (?, ?, ?, ?, ?)", items)
        tracemalloc.start()
        start = time.perf_counter()
        counts = classify_warehouse(wh)
        took = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"classify_warehouse (all new): {counts} in {took:.2f} s ="
              f" {n / took:,.0f} contracts/s, peak Python memory {peak:.0f} MiB")

        def bare() -> int:  # read every text out of DuckDB and fold it
            return sum(len((title or "").casefold() + (desc or "").casefold())
                       for title, desc in wh.con.execute(
                           "SELECT c.title, i.description FROM contracts c"
                           " LEFT JOIN items i USING (contract_id)").fetchall())

        base = best(bare)
        ratio("classify_warehouse (all new)", took, "reading and folding every text", base)
        start = time.perf_counter()
        counts = classify_warehouse(wh)
        print(f"classify_warehouse (nothing changed): {counts} in"
              f" {time.perf_counter() - start:.3f} s")
        wh.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
