"""A cycle of +1 % rounds, each built and published: what each publish costs, what it did and
what the snapshot's file became; then (--reads) the dashboard's reads on the last snapshot.

Run: python bench/bench_publish_cycle.py WAREHOUSE --rounds N [--grow 0.01] [--full-first]
     [--reads] [--memory-limit 4GB]

WAREHOUSE: built and published already (bench_build_grow.py's); changed in place: work on a
copy. With --full-first the current snapshot is set aside first, so round 0 publishes in full
(every round then counts from a full copy). Each round adds `grow` contracts
(bench_flags.grow), builds, and publishes in this process (facts.publish_snapshot, the
publisher's own connections: its CPU s with DuckDB's threads), and prints whether it copied in
full, which clustered copies it rewrote in order (clustered_tail back to 0) and whether it
rewrote contract_facts, the file's GiB, its growth against the last full copy
(snapshot.GROWTH) and its free blocks. The snapshots before the current one are removed as
they are left (no reader holds them here), so the disk holds two at most.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

import bench_flags
import duckdb

from survtrack.analysis.build import run_build
from survtrack.analysis.facts import publish_snapshot
from survtrack.warehouse import snapshot
from survtrack.warehouse.store import Warehouse


def cpu() -> float:
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def state(path: Path) -> dict:
    """What the snapshot `path` holds: drift, the clustered copies' appended rows, the tail,
    the file's blocks (free among them) and its growth against the last full copy."""
    with duckdb.connect(str(path), read_only=True) as con:
        drift = con.execute("SELECT drift FROM snapshot_publish").fetchone()[0]
        try:
            appended = dict(con.execute("SELECT table_name, rows FROM clustered_tail").fetchall())
        except duckdb.Error:  # published by code before it
            appended = {}
        tail = con.execute("SELECT count(*) FROM contract_facts_tail").fetchone()[0]
        total, free = con.execute("SELECT total_blocks, free_blocks FROM pragma_database_size()"
                                  " WHERE database_name = current_database()").fetchone()
    contents = snapshot._contents(path)
    grown = getattr(snapshot, "growth", lambda c: None)(contents) if contents else None
    return {"drift": drift, "appended": appended, "tail": tail, "free": free / max(total, 1),
            "gib": os.path.getsize(path) / 2**30, "growth": grown}


def prune(db: Path) -> None:
    current = snapshot.current_snapshot(db)
    for old in snapshot.snapshot_dir(db).glob("*.duckdb"):
        if old != current and not old.name.startswith("."):
            old.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--grow", type=float, default=0.01)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--full-first", action="store_true")
    parser.add_argument("--reads", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("SURVTRACK_BUILD_MEMORY", args.memory_limit)
    db = args.warehouse
    if args.full_first:
        (snapshot.snapshot_dir(db) / "current").unlink(missing_ok=True)
    costs = []
    before = state(snapshot.current_snapshot(db)) if snapshot.current_snapshot(db) else None
    for n in range(0 if args.full_first else 1, args.rounds + 1):
        built = cpu()
        if n:
            with Warehouse(db) as wh:
                bench_flags.grow(wh, args.grow)
                run_build(wh, memory_limit=args.memory_limit)
        used, wall = cpu(), time.perf_counter()
        building = used - built
        path = publish_snapshot(db)
        used, wall = cpu() - used, time.perf_counter() - wall
        prune(db)
        now = state(path)
        full = now["drift"] == 0
        rewritten = sorted(t for t, rows in now["appended"].items()
                           if not full and before and rows == 0
                           and before["appended"].get(t, 0) > 0)
        facts = not full and now["tail"] == 0
        costs.append((n, used, full))
        growth = f"{now['growth']:.3f}" if now["growth"] else "-"
        print(f"round {n:2d}: build {building:6.1f} CPU s, publish {used:6.1f} CPU s {wall:6.1f} s wall"
              f" | {'FULL COPY' if full else 'row by row'}"
              f"{' contract_facts rewritten' if facts else ''}"
              f"{' rewrote ' + ','.join(rewritten) if rewritten else ''}"
              f" | file {now['gib']:.2f} GiB growth {growth} free {now['free']:.1%}"
              f" drift {now['drift']:,} | load {os.getloadavg()[0]:.1f}", flush=True)
        before = now
    rounds = [c for n, c, _ in costs if n]
    print(f"publishes over rounds 1-{args.rounds}: mean {statistics.mean(rounds):.1f} CPU s,"
          f" {sum(full for n, _, full in costs if n)} full copies; every round's:"
          f" {[round(c, 1) for c in rounds]}", flush=True)
    if args.reads:
        reads(db)


def reads(db: Path, repeat: int = 7) -> None:
    """The dashboard's reads on the current snapshot, median CPU ms of `repeat` calls after a
    warm one: the overview (all contracts, one vendor), the grid's first and 51st page in the
    default order and the 51st sorted by amount, a new contract's page and three searches."""
    from survtrack.analysis import search
    from survtrack.analysis.spending import Filters
    from survtrack.dashboard.pages import contract as contract_page
    from survtrack.dashboard.pages import contracts as contracts_page
    from survtrack.dashboard.pages import overview

    con = duckdb.connect(str(snapshot.current_snapshot(db)), read_only=True)
    vendor = con.execute("SELECT vendor_key FROM contract_facts GROUP BY 1 ORDER BY count(*)"
                         " DESC LIMIT 1 OFFSET 5").fetchone()[0]
    newest = con.execute("SELECT max(contract_id) FROM contract_facts"
                         " WHERE contract_id LIKE 'bench:%'").fetchone()[0]
    everything = Filters(surveillance_only=False)
    page = {"startRow": 5000, "endRow": 5100, "sortModel": [], "filterModel": {}}
    sorted_page = {**page, "sortModel": [{"colId": "amount_usd", "sort": "desc"}]}
    cases = {
        "overview, all": lambda: overview.layout(con, everything, {}, "en"),
        "overview, one vendor": lambda: overview.layout(con, Filters(vendor=vendor), {}, "en"),
        "grid p1, default order": lambda: contracts_page.page_rows(
            con, everything, {**page, "startRow": 0, "endRow": 100}, "en"),
        "grid p51, default order": lambda: contracts_page.page_rows(con, everything, page, "en"),
        "grid p51, by amount": lambda: contracts_page.page_rows(con, everything, sorted_page,
                                                                "en"),
        "contract page, a new one": lambda: contract_page.layout(con, newest, everything, {},
                                                                 "en"),
        **{f"search '{text}'": lambda text=text: search.search(con, text, limit=10)
           for text in ("vendor 12", "cctv", "moscow")},
    }
    print(f"reads on {snapshot.current_snapshot(db).name}:")
    for label, fn in cases.items():
        fn()
        times = []
        for _ in range(repeat):
            used = time.process_time()
            fn()
            times.append((time.process_time() - used) * 1000)
        print(f"  {label:<28} {statistics.median(times):8.1f} CPU ms", flush=True)
    con.close()


if __name__ == "__main__":
    main()
