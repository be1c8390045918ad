"""Latency of the JSON API's contract pages on the generated benchmark warehouse.

    python bench/bench_api.py --contracts 10000000 [--folder /tmp/survtrack-bench] [--repeat 20]

Uses bench_dashboard's generator (the same warehouse file, made once). Requests go through the
whole Flask stack (the test client: routing, parsing, SQL, JSON encoding); beside each, the bare
DuckDB baseline reads 100 rows of contract_facts with no filter, no sort and no encoding. Prints
median and p95 in milliseconds and a RATIO line per case: its p95 over the baseline's
(bench/baseline.py).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from urllib.parse import quote

from baseline import ratio
from bench_dashboard import generate

from survtrack.dashboard.app import create_app
from survtrack.warehouse.snapshot import SnapshotReader


def timings(fn, repeat: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/survtrack-bench"))
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    db = args.folder / f"bench-{args.contracts}.duckdb"
    if not db.exists():
        args.folder.mkdir(parents=True, exist_ok=True)
        generate(db, args.contracts)
    client = create_app(db).server.test_client()
    con = SnapshotReader(db).cursor()
    vendor = con.execute("SELECT vendor_key FROM contract_facts GROUP BY 1 ORDER BY count(*)"
                         " DESC LIMIT 1 OFFSET 5").fetchone()[0]
    # a deep page: the cursor after 5,000 rows (five pages of 1,000)
    url = "/api/contracts?scope=all&_size=1000"
    for _ in range(5):
        body = client.get(url).json
        url = body["next_url"]
    deep, deep_next = body["rows"][-1], body["next"]

    def page(url: str):
        def fn():
            response = client.get(url)
            assert response.status_code == 200, response.data[:300]
        return fn

    cases = {
        "first page, default filters": "/api/contracts?_size=100",
        "first page, all contracts": "/api/contracts?scope=all&_size=100",
        "page after 5,000 rows": f"/api/contracts?scope=all&_size=100&_next={deep_next}",
        "country + years": "/api/contracts?country=RU&from=2015&to=2018&_size=100",
        "one vendor": f"/api/contracts?vendor={quote(vendor, safe='')}&_size=100",
        "spending vendor-year": "/api/spending/vendor-year",
    }
    base = timings(lambda: con.execute("SELECT * FROM contract_facts LIMIT 100").fetchall(),
                   args.repeat)
    print(f"{args.contracts:,} contracts; deep page starts after {deep['contract_id']}")
    print(f"{'baseline: 100 rows of contract_facts':45} median {statistics.median(base):8.1f} ms"
          f"  p95 {p95(base):8.1f} ms")
    for label, url in cases.items():
        t = timings(page(url), args.repeat)
        print(f"{label:45} median {statistics.median(t):8.1f} ms  p95 {p95(t):8.1f} ms")
        ratio(f"API {label}, p95", p95(t) / 1000, "100 rows of contract_facts, p95",
              p95(base) / 1000)


if __name__ == "__main__":
    main()
