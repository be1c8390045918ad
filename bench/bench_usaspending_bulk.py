"""How fast, and in how much memory, a USAspending prime-transactions CSV is folded into awards.

Generates a file with the fixture's real header (N transactions over N/4 awards, rows shuffled
so an award's actions are scattered through the file), then measures the parse alone (rows
buffered, no database) and the whole load into a fresh DuckDB file. Prints figures; asserts
nothing about time.

    .venv/bin/python bench/bench_usaspending_bulk.py [transactions]
"""

from __future__ import annotations

import csv
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from baseline import best, ratio

from survtrack import scrapers
from survtrack.scrapers import usaspending
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.archive import Archive
from survtrack.warehouse.store import Warehouse

try:
    from survtrack.warehouse.protocol import Document, RowBuffer
except ImportError:  # before issue 12 (bench/compare.sh runs older revisions)
    from survtrack.warehouse.store import Document
    from survtrack.warehouse.store import LoadContext as RowBuffer

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "usaspending" / "Contracts_PrimeTransactions_fixture.csv"


def generate(path: Path, transactions: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with open(FIXTURE, newline="", encoding="utf-8") as fh:
        template = next(r for r in csv.DictReader(fh) if r["modification_number"] == "0")
    header = list(template)
    rows = []
    for i in range(transactions):
        award, mod = divmod(i, 4)
        piid = f"70B02C24C{award:08d}"
        total = 1000 * (mod + 1)
        rows.append(dict(
            template, contract_award_unique_key=f"CONT_AWD_{piid}_7014_-NONE-_-NONE-",
            contract_transaction_unique_key=f"7014_-NONE-_{piid}_{mod}_-NONE-_0",
            award_id_piid=piid, modification_number=str(mod) if mod == 0 else f"P0000{mod}",
            federal_action_obligation="1000.00", total_dollars_obligated=f"{total}.00",
            action_date=f"2024-0{mod + 1}-15", last_modified_date=f"2024-0{mod + 1}-16 08:00:00",
            recipient_uei=f"BENCH{award % 5000:07d}"))
    rng.shuffle(rows)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    transactions = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Contracts_PrimeTransactions_bench.csv"
        generate(path, transactions)
        size = path.stat().st_size

        archive = Archive(Path(tmp) / "archive")
        with open(path, "rb") as fh:
            sha, n = archive.put_stream(fh)
        doc = Document(sha, "usaspending", str(path), archive.path(sha), n, "text/csv")
        tracemalloc.start()
        started = time.perf_counter()
        ctx = RowBuffer(doc)
        usaspending.parse(ctx)
        parse_s = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()

        def bare() -> int:
            with open(path, encoding="utf-8", newline="") as fh:
                return sum(1 for _ in csv.reader(fh))

        traced_base = best(bare)  # traced, as the parse was
        tracemalloc.stop()
        base = best(bare)
        contracts = len(ctx.rows["contracts"])
        print(f"file: {transactions:,} transactions, {size / 1e6:.1f} MB")
        print(f"parse only: {parse_s:.2f} s, {transactions / parse_s:,.0f} transactions/s,"
              f" {contracts:,} awards, peak Python memory {peak / 1e6:.0f} MB"
              " (rows buffered for the load included)")

        with Warehouse(Path(tmp) / "bench.duckdb") as wh:
            started = time.perf_counter()
            counts = ingest(wh, scrapers.get("usaspending"), [path])
            load_s = time.perf_counter() - started
            print(f"full load into DuckDB: {load_s:.2f} s ({dict(counts)}),"
                  f" {wh.count('contracts'):,} contracts, {wh.count('items'):,} items")
        ratio("USAspending parse only", parse_s, "csv.reader over the file", traced_base)
        ratio("USAspending load", load_s, "csv.reader over the file", base)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS: {rss:.0f} MB")


if __name__ == "__main__":
    main()
