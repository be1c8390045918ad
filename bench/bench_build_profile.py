"""Where a build's CPU goes, statement by statement: the +1 % build of bench_build_grow.py.

Run: python bench/bench_build_profile.py BUILT.duckdb [--memory-limit 4GB] [--grow 0.01]
     [--top 12] [--shift-days 0]

BUILT is a warehouse bench_build_grow.py's first build has built (it is changed in place: work
on a copy). `bench_flags.grow` adds the share of contracts, then each step of `survtrack
build` runs alone with every SQL statement on the warehouse's connection timed (CPU seconds of
this process, DuckDB's threads included; classify's worker processes are not in it), and the
costliest statements of each step are printed: the ones whose cost follows the warehouse's
size rather than the change are what keeps a +1 % build from costing about 1 %.
"""

from __future__ import annotations

import argparse
import re
import resource
import time
from collections import defaultdict
from pathlib import Path

import bench_flags

from survtrack.analysis.build import STEPS, run_build
from survtrack.warehouse.store import Warehouse


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


class Timed:
    """A DuckDB connection whose `execute` adds its CPU seconds to `spent` by statement."""

    def __init__(self, con, spent: dict):
        self._con, self._spent = con, spent

    def execute(self, sql, params=None):
        used = cpu()
        out = self._con.execute(sql, params or [])
        key = re.sub(r"\s+", " ", sql).strip()[:110]
        self._spent[key][0] += cpu() - used
        self._spent[key][1] += 1
        return out

    def __getattr__(self, name):
        return getattr(self._con, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--grow", type=float, default=0.01)
    parser.add_argument("--shift-days", type=int, default=0,
                        help="the new contracts signed that many days after those they copy")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    with Warehouse(args.warehouse) as wh:
        added = bench_flags.grow(wh, args.grow, args.shift_days)
        print(f"grew {added:,} contracts", flush=True)
        real = wh.con
        total = 0.0
        for step in STEPS:
            spent: dict = defaultdict(lambda: [0.0, 0])
            wh.con = Timed(real, spent)
            used, wall = cpu(), time.perf_counter()
            try:
                run_build(wh, [step], memory_limit=args.memory_limit)
            finally:
                wh.con = real
            used = cpu() - used
            total += used
            print(f"== {step}: {used:.2f} s CPU (this process), {time.perf_counter() - wall:.1f}"
                  f" s wall; in SQL {sum(v[0] for v in spent.values()):.2f} s", flush=True)
            for sql, (seconds, n) in sorted(spent.items(), key=lambda kv: -kv[1][0])[:args.top]:
                print(f"   {seconds:7.2f} s  x{n:<3} {sql}")
        print(f"== the build: {total:.1f} s CPU (this process)")


if __name__ == "__main__":
    main()
