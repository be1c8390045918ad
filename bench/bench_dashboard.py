"""Latency of the dashboard's queries on a generated warehouse.

    python bench/bench_dashboard.py --contracts 10000000 [--folder /tmp/bench] [--repeat 20]

Generates (once, in DuckDB SQL) a warehouse of N synthetic contracts with skewed vendor sizes,
tags on about a third of them, entities merging some vendors and a few currencies; publishes a
snapshot (which builds contract_facts); then times the whole overview render (every query of
the front page and its components) and the functions the dashboard's callbacks call, over
several filter sets (default, all contracts, country + years, an original currency, one
vendor, a category, one buyer, category + country + years), and prints median and p95
latency in milliseconds. The bare baseline
beside them is one plain DuckDB GROUP BY vendor and year summing amount_usd over the tagged
rows of contract_facts (what the overview's chart needs, with no filters, cubes, "others",
pandas or names); each figure gets a RATIO line, its median over the baseline's
(bench/baseline.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from baseline import p95, ratio, timings

from survtrack import config
from survtrack.analysis import spending
from survtrack.analysis.facts import publish_snapshot
from survtrack.analysis.spending import Filters
from survtrack.dashboard.pages import contracts as contracts_page
from survtrack.dashboard.pages import overview
from survtrack.warehouse.snapshot import SnapshotReader
from survtrack.warehouse.store import Warehouse

VENDORS, BUYERS = 20_000, 5_000
CATEGORIES = ["cctv", "facial_recognition", "video_analytics", "lawful_interception",
              "biometrics", "drones", "spyware", "data_analytics"]


def generate(db: Path, n: int) -> None:
    """N contracts; vendor i's share falls off like a power law, as in real markets."""
    started = time.perf_counter()
    with Warehouse(db) as wh:
        con = wh.con
        con.execute("SET memory_limit = ?", [config.build_memory()])  # as a build: 4 GB
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"""
            INSERT INTO organizations (org_id, name, scheme, identifier, country, entity_id)
            SELECT 'BENCH-V:' || i, 'Vendor ' || i || ' LLC', 'BENCH-V', i::VARCHAR, 'RU',
                   CASE WHEN i % 10 = 1 THEN 'bench-entity:' || (i // 10) END
            FROM range({VENDORS}) t(i)
            UNION ALL
            SELECT 'BENCH-B:' || i, 'Buyer agency ' || i, 'BENCH-B', i::VARCHAR, 'RU', NULL
            FROM range({BUYERS}) t(i)""")
        con.execute(f"""
            INSERT INTO entities (entity_id, name, aliases, identifiers, reason)
            SELECT 'bench-entity:' || (i // 10), 'Vendor group ' || (i // 10),
                   ['Vendor ' || i || ' LLC'], ['BENCH-V:' || i], 'generated'
            FROM range({VENDORS}) t(i) WHERE i % 10 = 1""")
        # A vendor sells in its home country (vendor id mod 7) to buyers of that country; the
        # country fixes the source and the currency, as in the real sources.
        con.execute(f"""
            INSERT INTO contracts (contract_id, source, native_id, version, published_on, title,
                                   buyer_id, vendor_id, signed_on, dated_on, year, amount,
                                   currency,
                                   amount_usd, procedure, status, country, notice_id, url,
                                   document_id)
            SELECT 'bench:' || i, ['eis', 'usaspending', 'ted', 'ocds', 'ted', 'ted', 'ocds'][c],
                   i::VARCHAR, 1, NULL, 'Generated contract ' || i,
                   'BENCH-B:' || (c - 1 + 7 * (hash(i * 7) % {BUYERS // 7})),
                   'BENCH-V:' || v, d, d, year(d), amt::DECIMAL(24,2), cur,
                   CASE WHEN i % 50 = 0 THEN NULL ELSE amt / rate END,
                   'open', 'active', ['RU', 'US', 'GB', 'UA', 'DE', 'FR', 'KZ'][c],
                   NULL, 'https://example.org/c/' || i, md5(i::VARCHAR) || md5((i + 1)::VARCHAR)
            FROM (SELECT *, ['RUB', 'USD', 'GBP', 'UAH', 'EUR', 'EUR', 'KZT'][c] AS cur,
                         [75, 1, 0.8, 27, 0.9, 0.9, 420][c] AS rate
                  FROM (SELECT i, v, 1 + v % 7 AS c,
                               DATE '2010-01-01' + (hash(i) % 5475)::INTEGER AS d,
                               round(exp(random() * 16), 2) AS amt
                        FROM (SELECT i, floor({VENDORS} * pow(random(), 3))::BIGINT AS v
                              FROM range({n}) t(i))))""")
        con.execute(f"""
            INSERT INTO tags
            SELECT 'bench:' || i, ?[1 + (hash(i * 5) % {len(CATEGORIES)})::INTEGER], 'bench',
                   'generated', 1.0
            FROM range({n}) t(i) WHERE i % 3 = 0
            UNION ALL
            SELECT 'bench:' || i, 'cctv', 'bench2', 'generated', 1.0
            FROM range({n}) t(i)
            WHERE i % 30 = 0 AND ?[1 + (hash(i * 5) % {len(CATEGORIES)})::INTEGER] <> 'cctv'""",
            [CATEGORIES, CATEGORIES])
        generated = time.perf_counter()
        print(f"generated {n:,} contracts in {generated - started:.1f} s", flush=True)
        publish_snapshot(db, con)
        print(f"published snapshot in {time.perf_counter() - generated:.1f} s", flush=True)


def measure(label: str, fn, repeat: int) -> tuple[float, float]:
    times = timings(fn, repeat)
    print(f"{label:<58} median {statistics.median(times):8.1f} ms   p95 {p95(times):8.1f} ms",
          flush=True)
    return statistics.median(times), p95(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/survtrack-bench"))
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads")
    parser.add_argument("--republish", action="store_true",
                        help="publish a new snapshot of an existing generated warehouse")
    args = parser.parse_args()
    db = args.folder / f"bench-{args.contracts}.duckdb"
    if not db.exists():
        args.folder.mkdir(parents=True, exist_ok=True)
        generate(db, args.contracts)
    elif args.republish:
        started = time.perf_counter()
        publish_snapshot(db)
        print(f"published snapshot in {time.perf_counter() - started:.1f} s", flush=True)
    reader = SnapshotReader(db)
    con = reader.cursor()
    if args.threads:
        con.execute(f"SET threads = {int(args.threads)}")
    size = os.path.getsize(reader.path) / 2**30
    print(f"snapshot {reader.path.name}: {size:.2f} GiB, "
          f"{con.execute('SELECT count(*) FROM contract_facts').fetchone()[0]:,} contracts, "
          f"threads={con.execute('SELECT current_setting(?)', ['threads']).fetchone()[0]}")

    vendor = con.execute("SELECT vendor_key FROM contract_facts GROUP BY 1 ORDER BY count(*)"
                         " DESC LIMIT 1 OFFSET 5").fetchone()[0]
    buyer = con.execute("SELECT buyer_key FROM contract_facts GROUP BY 1 ORDER BY count(*)"
                        " DESC LIMIT 1 OFFSET 5").fetchone()[0]
    filter_sets = {
        "default (tagged, USD)": Filters(),
        "all contracts": Filters(surveillance_only=False),
        "country+years": Filters(country="RU", year_from=2015, year_to=2018),
        "RUB original": Filters(currency="RUB"),
        "one vendor": Filters(vendor=vendor),
        "a category": Filters(category="drones"),
        "one buyer": Filters(buyer=buyer),
        "category+country+years": Filters(category="cctv", country="RU", year_from=2015,
                                          year_to=2018),
    }
    base = measure("baseline: GROUP BY vendor, year over contract_facts", lambda: con.execute(
        "SELECT vendor_key, year, sum(amount_usd) FROM contract_facts WHERE tagged"
        " GROUP BY ALL").fetchall(), args.repeat)
    results = {}
    for name, f in filter_sets.items():
        print(f"-- filters: {name}")
        # the whole overview page as its callback builds it (every query of one render)
        results[(name, "overview")] = measure(
            "overview render (every query + components)",
            lambda f=f: overview.layout(con, f, {}, "en"), args.repeat)
        results[(name, "totals")] = measure("totals", lambda f=f: spending.totals(con, f),
                                            args.repeat)
        results[(name, "by_vendor_year")] = measure(
            "by_vendor_year (top 7 + others)",
            lambda f=f: spending.by_vendor_year(con, f, top=overview.TOP_VENDORS), args.repeat)
        results[(name, "by_buyer")] = measure("by_buyer (top 10)",
                                              lambda f=f: spending.by_buyer(con, f, 10),
                                              args.repeat)
        results[(name, "by_category")] = measure("by_category",
                                                 lambda f=f: spending.by_category(con, f),
                                                 args.repeat)
        results[(name, "concentration")] = measure(
            "concentration (HHI)", lambda f=f: spending.concentration(con, f), args.repeat)
        request = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}
        results[(name, "grid")] = measure(
            "grid page 1 (page_rows: rows + count)",
            lambda f=f, r=request: contracts_page.page_rows(con, f, r, "en"), args.repeat)
        deep = {"startRow": 5000, "endRow": 5100,
                "sortModel": [{"colId": "amount_usd", "sort": "desc"}], "filterModel": {}}
        results[(name, "grid_sorted")] = measure(
            "grid page 51, sorted by amount_usd desc",
            lambda f=f, r=deep: contracts_page.page_rows(con, f, r, "en"), args.repeat)
    print("-- controls (once per overview render)")
    results[("controls", "choices")] = measure("choices (filter options)",
                                               lambda: spending.choices(con), args.repeat)
    results[("controls", "party_options")] = measure(
        "party options (busiest vendors)",
        lambda: overview.party_options(con, "vendor", None), args.repeat)
    results[("controls", "search")] = measure(
        "vendor search 'vendor 12'",
        lambda: spending.search_parties(con, "vendor", "vendor 12"), args.repeat)
    for (group, view), (median, _) in results.items():
        ratio(f"dashboard {view} [{group}], median", median / 1000,
              "GROUP BY vendor, year over contract_facts", base[0] / 1000)
    worst = max(results.items(), key=lambda kv: kv[1][1])
    print(f"worst p95: {worst[0]} {worst[1][1]:.1f} ms")


if __name__ == "__main__":
    main()
