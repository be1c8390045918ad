"""Time of the competition, threads and flags build steps on a generated warehouse.

    python bench/bench_flags.py --contracts 10000000 [--folder /tmp/survtrack-bench]

Uses the warehouse bench_dashboard.py generates (N synthetic contracts; generated here when
missing), adds what the flags read — one procurement_facts row per contract (procedure code of
its source's scheme, bids received, call and deadline, estimate, publication), a version per
contract and a second, raised, version for one in twenty — then times each step twice (the
second run finds nothing new and rewrites nothing), adds 1 % more contracts and times the
incremental rebuild, each with its CPU seconds and peak resident memory, within a DuckDB
memory limit (--memory-limit, 4GB), beside a bare baseline: copying `contracts` into a
temporary table, the least any step over every contract costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
from pathlib import Path

from baseline import ratio
from bench_dashboard import generate

from survtrack.analysis import flags
from survtrack.analysis.build import bounded, run_build
from survtrack.analysis.competition import build_competition
from survtrack.analysis.threads import build_threads
from survtrack.warehouse import changes
from survtrack.warehouse.store import Warehouse

# per bench source (bench_dashboard's country index c = 1..7): procedure scheme and codes
PROCEDURES = """
    CASE source
      WHEN 'eis' THEN ['eis44_placing', 'eis44_placing', 'eis44_single_reason'][1 + i % 3]
      WHEN 'ted' THEN 'eforms' WHEN 'ocds' THEN 'ocds_method'
      ELSE 'fpds_extent_competed' END AS procedure_scheme,
    CASE source
      WHEN 'eis' THEN ['EAP44', 'ZK44', '20270'][1 + i % 3]
      WHEN 'ted' THEN ['open', 'open', 'restricted', 'neg-wo-call'][1 + i % 4]
      WHEN 'ocds' THEN ['open', 'selective', 'limited', 'direct'][1 + i % 4]
      ELSE ['A', 'A', 'D', 'C', 'NDO'][1 + i % 5] END AS procedure_code"""


FACTS = f"""
    INSERT INTO procurement_facts (subject_id, procurement_id, stage, published_on,
        procedure_scheme, procedure_code, tender_published_on, tender_deadline,
        estimated_amount, estimated_currency, bids_received, document_id)
    SELECT contract_id, contract_id, CASE source WHEN 'ted' THEN 'award' ELSE 'contract'
           END, signed_on + INTERVAL (hash(i * 3) % 40) DAY, {PROCEDURES},
           signed_on - INTERVAL 40 DAY,
           signed_on - INTERVAL 40 DAY + INTERVAL (2 + hash(i * 11) % 40) DAY,
           CASE WHEN i % 4 <> 0 THEN round(amount * (1 + (hash(i * 13) % 300) / 1000.0),
                                           2) END,
           CASE WHEN i % 4 <> 0 THEN currency END,
           CASE WHEN i % 5 <> 0 THEN (1 + hash(i * 17) % 8)::INTEGER END, document_id
    FROM (SELECT *, native_id::BIGINT AS i FROM contracts) WHERE i >= $first"""
VERSIONS = """
    INSERT INTO contract_versions (contract_id, version, published_on, amount,
                                   currency, document_id)
    SELECT contract_id, 0, signed_on::TIMESTAMP, amount, currency, document_id
    FROM contracts WHERE native_id::BIGINT >= $first
    UNION ALL
    SELECT contract_id, 1, signed_on::TIMESTAMP + INTERVAL 90 DAY,
           round(amount * 1.3, 2), currency, document_id
    FROM contracts WHERE native_id::BIGINT % 20 = 0 AND native_id::BIGINT >= $first"""


def add_competition(db: Path) -> None:
    """What parsers would have written for each generated contract (once per warehouse)."""
    with Warehouse(db) as wh:
        if wh.scalar("SELECT count(*) FROM procurement_facts"):
            return
        started = time.perf_counter()
        wh.execute("SET preserve_insertion_order = false")
        wh.execute(FACTS, {"first": 0})
        wh.execute(VERSIONS, {"first": 0})
        wh.execute("CHECKPOINT")
        print(f"added competition facts and versions in {time.perf_counter() - started:.1f} s",
              flush=True)


def grow(wh: Warehouse, share: float, shift_days: int = 0) -> int:
    """Load `share` more contracts (copies of the first ones under new ids, with their tags,
    facts and versions), as an ingest of new documents would, recorded in the record of
    changes as the writers record them (warehouse/changes.py). `shift_days`: the copies are
    signed that many days later (their year kept), so they do not fall in the spans of the
    contracts they copy (split_purchase's windows). Returns how many."""
    total = wh.scalar("SELECT count(*) FROM contracts")
    first = wh.scalar("SELECT max(native_id::BIGINT) + 1 FROM contracts")
    n = int(total * share)
    with wh.transaction():
        wh.execute("""
            INSERT INTO contracts BY NAME
            SELECT * REPLACE ('bench:' || (native_id::BIGINT + $first) AS contract_id,
                              (native_id::BIGINT + $first)::VARCHAR AS native_id,
                              md5('new' || native_id) AS document_id,
                              signed_on + $shift::INTEGER AS signed_on)
            FROM contracts WHERE native_id::BIGINT < $n""",
                   {"first": first, "n": n, "shift": shift_days})
        wh.execute("""
            INSERT INTO tags BY NAME
            SELECT * REPLACE ('bench:' || (split_part(contract_id, ':', 2)::BIGINT + $first)
                              AS contract_id)
            FROM tags WHERE split_part(contract_id, ':', 2)::BIGINT < $n""",
                   {"first": first, "n": n})
        wh.execute(FACTS, {"first": first})
        wh.execute(VERSIONS, {"first": first})
        # recorded as a writer records them (warehouse/changes.py): the build reads the record
        for table in ("contracts", "tags", "procurement_facts", "contract_versions"):
            changes.record(wh, table, "SELECT contract_id FROM contracts"
                           " WHERE native_id::BIGINT >= $first", {"first": first})
    return n


class Usage:
    """CPU seconds (this process, DuckDB's threads included) and peak resident memory of a
    block, the memory sampled every 0.2 s."""

    def __enter__(self):
        self.cpu = self._cpu()
        self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.cpu = self._cpu() - self.cpu

    def _sample(self):
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(label: str, fn) -> float:
    started = time.perf_counter()
    with Usage() as usage:
        result = fn()
    seconds = time.perf_counter() - started
    brief = {k: v for k, v in (result or {}).items() if not isinstance(v, dict)}
    print(f"{label:<34} {seconds:8.1f} s  cpu {usage.cpu:7.1f} s  peak RSS"
          f" {usage.peak / 2**30:5.2f} GiB   {brief}", flush=True)
    return seconds


STEPS = {"competition": build_competition, "threads": build_threads, "flags": flags.compute}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/survtrack-bench"))
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory for the steps")
    parser.add_argument("--grow", type=float, default=0.01,
                        help="share of contracts added before the incremental rebuild")
    parser.add_argument("--whole-build", action="store_true",
                        help="finally time every build step (classify, entities, money…)"
                             " after the incremental rebuild")
    args = parser.parse_args()
    db = args.folder / f"bench-{args.contracts}.duckdb"
    if not db.exists():
        args.folder.mkdir(parents=True, exist_ok=True)
        generate(db, args.contracts)
    add_competition(db)
    with Warehouse(db) as wh, bounded(wh, args.memory_limit):
        limit, threads = wh.query("SELECT current_setting('memory_limit'),"
                                  " current_setting('threads')")[0]
        print(f"memory_limit {limit}, threads {threads}", flush=True)
        baseline = timed("baseline: copy contracts", lambda: wh.execute(
            "CREATE OR REPLACE TEMP TABLE bench_copy AS SELECT * FROM contracts"))
        wh.execute("DROP TABLE bench_copy")
        results = {}
        for run in ("first", "again"):
            for step, fn in STEPS.items():
                results[f"{step} ({run})"] = timed(f"{step} ({run})", lambda fn=fn: fn(wh))
        started = time.perf_counter()
        added = grow(wh, args.grow)
        print(f"added {added:,} contracts in {time.perf_counter() - started:.1f} s", flush=True)
        for step, fn in STEPS.items():
            label = f"{step} (+{args.grow:.0%} contracts)"
            results[label] = timed(label, lambda fn=fn: fn(wh))
        if args.whole_build:
            results["whole build"] = timed("whole build", lambda: run_build(wh))
        raised = wh.query("SELECT flag, count(*) FILTER (WHERE raised), count(*) FROM flags"
                          " GROUP BY 1 ORDER BY 1")
    print("flags raised / knowable: " + ", ".join(f"{f} {r:,}/{k:,}" for f, r, k in raised))
    for label, seconds in results.items():
        ratio(label, seconds, "copying contracts", baseline)


if __name__ == "__main__":
    main()
