"""The whole build, step by step, on a generated warehouse, then after adding 1 % of contracts.

Run: python bench/bench_build_grow.py WAREHOUSE [--memory-limit 4GB] [--skip-first] [--grow 0.01]
     [--shift-days 0]

WAREHOUSE is a warehouse made by bench_dashboard.py's generator (it is changed in place: work
on a copy). `bench_flags.add_competition` gives it procurement facts and versions, then every
step of `survtrack build` runs alone (`run_build(wh, [step])`) and prints its wall time, CPU
time (this process and its children: classify's workers) and peak RSS; then `bench_flags.grow`
adds the share of contracts (copies of the first ones under new ids, with their tags, facts
and versions, as an ingest of new documents would) and the build runs again. The ratio of
the two builds' CPU is what a +1 % build costs against a first one (goal: about 1 %).
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
from pathlib import Path

import bench_flags

from survtrack.analysis.build import STEPS, run_build
from survtrack.warehouse import changes
from survtrack.warehouse.store import Warehouse


def cpu() -> float:
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def recorded_since(wh: Warehouse, top: int) -> dict[str, int]:
    """The keys written since `top`, per table, as the record of changed keys holds them: what
    a step touched (a writer records what it may have changed, so an upper bound). Whole only
    while the current snapshot is of today's layout: without one that reads the record, the
    keys of the tables only the publisher reads (classified, threads, flags…) are pruned as
    soon as a step advances its cursor (warehouse/changes.py `prune`)."""
    return dict(wh.query("SELECT table_name, count(*) FROM changes WHERE seq > ? GROUP BY 1"
                         " ORDER BY 1", [top]))


def build(wh: Warehouse, label: str, limit: str) -> tuple[float, int]:
    """Every step alone, timed; returns the build's CPU seconds and the keys it recorded."""
    total_wall, total_cpu = time.perf_counter(), cpu()
    top = changes.latest(wh)
    for step in STEPS:
        peak, stop = [rss()], threading.Event()

        def sample(peak=peak, stop=stop) -> None:
            while not stop.wait(0.5):
                peak[0] = max(peak[0], rss())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        wall, used = time.perf_counter(), cpu()
        out = run_build(wh, [step], memory_limit=limit)[step]
        stop.set()
        sampler.join()
        brief = {k: v for k, v in out.items() if not isinstance(v, (dict, list))}
        print(f"{label} {step:<12} {time.perf_counter() - wall:8.1f} s wall"
              f" {cpu() - used:8.1f} s CPU, peak {peak[0] / 2**30:5.2f} GiB {brief}", flush=True)
    used = cpu() - total_cpu
    touched = recorded_since(wh, top)
    print(f"{label} the build  {time.perf_counter() - total_wall:8.1f} s wall {used:8.1f} s CPU"
          f" | load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"{label} keys recorded {sum(touched.values()):,} {touched}", flush=True)
    return used, sum(touched.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--skip-first", action="store_true",
                        help="the warehouse is built already: grow and build once")
    parser.add_argument("--grow", type=float, default=0.01)
    parser.add_argument("--shift-days", type=int, default=0,
                        help="the new contracts signed that many days after those they copy")
    args = parser.parse_args()
    bench_flags.add_competition(args.warehouse)
    with Warehouse(args.warehouse) as wh:
        first = None if args.skip_first else build(wh, "first", args.memory_limit)
        started = time.perf_counter()
        added = bench_flags.grow(wh, args.grow, args.shift_days)
        print(f"grew {added:,} contracts in {time.perf_counter() - started:.1f} s", flush=True)
        again = build(wh, f"+{args.grow:.0%}", args.memory_limit)
    if first:
        print(f"RATIO build after +{args.grow:.0%}, CPU: {again[0] / first[0]:.2f}x the first"
              f" build ({again[0]:.1f} s / {first[0]:.1f} s); keys recorded"
              f" {again[1] / max(first[1], 1):.3f}x ({again[1]:,} / {first[1]:,})")


if __name__ == "__main__":
    main()
