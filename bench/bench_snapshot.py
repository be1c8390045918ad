"""Time, CPU and peak memory of publishing the snapshot of a generated warehouse.

    python bench/bench_snapshot.py --contracts 10000000 --folder DIR [--memory-limit 4GB]

Uses the warehouse bench_dashboard.py generates (generated when missing; with bench_flags.py's
competition facts and versions added), then publishes its snapshot (`survtrack snapshot`, the
publisher's own connections within --memory-limit, as SURVTRACK_BUILD_MEMORY sets it): a full
publish, one with nothing changed, and one after 1 % more contracts (bench_flags.grow), which
starts from the current snapshot and updates it row by row (facts_update.py); then, for the
same warehouse, a full publish (no current snapshot to start from) and the ratio of the two;
with --statements N, the N statements of the first full publish and of the incremental one
that took the most CPU.
The bare baseline beside them: copying `contracts` into a file of its own (CREATE TABLE AS),
the least a publish that copies the contracts costs. Each with its CPU seconds (DuckDB's
threads included) and this process's peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import duckdb
from baseline import ratio
from bench_dashboard import generate
from bench_flags import Usage, add_competition, grow, timed

from survtrack.analysis.facts import publish_snapshot
from survtrack.warehouse.snapshot import snapshot_dir
from survtrack.warehouse.store import Warehouse


def copy_contracts(db: Path, limit: str) -> dict:
    """The baseline: the contracts alone, copied into a new file within the same limit."""
    target = db.with_name(db.name + ".baseline")
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target), config={"memory_limit": limit})
    try:
        con.execute(f"ATTACH '{db}' AS source (READ_ONLY)")
        con.execute("CREATE TABLE contracts AS SELECT * FROM source.contracts")
        con.execute("CHECKPOINT")
    finally:
        con.close()
        target.unlink(missing_ok=True)
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/survtrack-bench"))
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--skip-grow", action="store_true", help="no +1 %% publish")
    parser.add_argument("--statements", type=int, default=0, metavar="N",
                        help="print the N costliest statements of the first full publish"
                             " and of the incremental one")
    args = parser.parse_args()
    os.environ["SURVTRACK_BUILD_MEMORY"] = args.memory_limit  # config.publish_memory
    db = args.folder / f"bench-{args.contracts}.duckdb"
    if not db.exists():
        args.folder.mkdir(parents=True, exist_ok=True)
        generate(db, args.contracts)
    add_competition(db)
    base = timed("baseline: copy contracts", lambda: copy_contracts(db, args.memory_limit))
    with Statements(args.statements) as statements:
        full = timed("publish (full)", lambda: {"path": publish_snapshot(db).name})
    statements.show("full publish")
    same = timed("publish (nothing changed)", lambda: {"path": publish_snapshot(db).name})
    runs = {"full": full, "nothing changed": same}
    if not args.skip_grow:
        with Warehouse(db) as wh:
            wh.execute("SET memory_limit = ?", [args.memory_limit])
            print(f"added {grow(wh, 0.01):,} contracts", flush=True)
        with Statements(args.statements) as statements:
            step, step_cpu = measured("publish (+1 %, incremental)",
                                      lambda: publish_snapshot(db))
        statements.show("incremental publish")
        (snapshot_dir(db) / "current").unlink()  # the same warehouse, nothing to start from
        whole, whole_cpu = measured("publish (+1 %, full)", lambda: publish_snapshot(db))
        runs["+1 % contracts, incremental"] = step
        runs["+1 % contracts, full"] = whole
    for label, seconds in runs.items():
        ratio(f"snapshot publish ({label})", seconds, "copying contracts", base)
    if not args.skip_grow:
        ratio("incremental publish (+1 %), wall", step, "full publish", whole)
        ratio("incremental publish (+1 %), CPU", step_cpu, "full publish", whole_cpu)


def measured(label: str, publish) -> tuple[float, float]:
    """Wall and CPU seconds of one publish; prints them, its peak memory and what it
    recomputed whole (snapshot_publish)."""
    started = time.perf_counter()
    with Usage() as usage:
        path = publish()
    seconds = time.perf_counter() - started
    with duckdb.connect(str(path), read_only=True) as con:
        drift, again = con.execute("SELECT drift, recomputed FROM snapshot_publish").fetchone()
    print(f"{label:<34} {seconds:8.1f} s  cpu {usage.cpu:7.1f} s  peak RSS"
          f" {usage.peak / 2**30:5.2f} GiB   rows changed since a full copy {drift:,};"
          f" recomputed whole: {', '.join(again) or 'none'}", flush=True)
    return seconds, usage.cpu


class Statements:
    """While open (and `top` > 0), every new DuckDB connection's `execute` is timed (wall,
    and CPU of the whole process, DuckDB's threads included: one statement runs at a time)."""

    def __init__(self, top: int):
        self.top, self.log, self.connect = top, [], duckdb.connect

    def __enter__(self):
        if self.top:
            duckdb.connect = lambda *a, **k: _Timed(self.connect(*a, **k), self.log)
        return self

    def __exit__(self, *exc):
        duckdb.connect = self.connect

    def show(self, label: str) -> None:
        if not self.log:
            return
        print(f"{label}: {len(self.log)} statements, cpu {sum(c for _, c, _ in self.log):.1f} s;"
              f" the {self.top} costliest (wall s, cpu s):")
        for wall, cpu, sql in sorted(self.log, key=lambda r: -r[1])[:self.top]:
            print(f"{wall:7.1f} {cpu:7.1f}  {sql}")


class _Timed:
    def __init__(self, con, log: list):
        self._con, self._log = con, log

    def __getattr__(self, name):
        return getattr(self._con, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._con.close()

    def execute(self, sql, *args):
        wall, cpu = time.perf_counter(), time.process_time()
        result = self._con.execute(sql, *args)
        self._log.append((time.perf_counter() - wall, time.process_time() - cpu,
                          " ".join(str(sql).split())[:120]))
        return self if result is self._con else result  # chained fetches stay on the proxy


if __name__ == "__main__":
    main()
