"""Time of the competition, threads and flags build steps on a generated warehouse.

    python bench/bench_flags.py --contracts 10000000 [--folder /tmp/survtrack-bench]

Uses the warehouse bench_dashboard.py generates (N synthetic contracts; generated here when
missing), adds what the flags read — one procurement_facts row per contract (procedure code of
its source's scheme, bids received, call and deadline, estimate, publication), a version per
contract and a second, raised, version for one in twenty — then times each step twice (the
second run finds nothing new and rewrites nothing) beside a bare baseline: copying `contracts`
into a temporary table, the least any step over every contract costs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from baseline import ratio
from bench_dashboard import generate

from survtrack.analysis import flags
from survtrack.analysis.competition import build_competition
from survtrack.analysis.threads import build_threads
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


def add_competition(db: Path) -> None:
    """What parsers would have written for each generated contract (once per warehouse)."""
    with Warehouse(db) as wh:
        if wh.scalar("SELECT count(*) FROM procurement_facts"):
            return
        started = time.perf_counter()
        wh.execute("SET preserve_insertion_order = false")
        wh.execute(f"""
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
            FROM (SELECT *, native_id::BIGINT AS i FROM contracts)""")
        wh.execute("""
            INSERT INTO contract_versions (contract_id, version, published_on, amount,
                                           currency, document_id)
            SELECT contract_id, 0, signed_on::TIMESTAMP, amount, currency, document_id
            FROM contracts
            UNION ALL
            SELECT contract_id, 1, signed_on::TIMESTAMP + INTERVAL 90 DAY,
                   round(amount * 1.3, 2), currency, document_id
            FROM contracts WHERE native_id::BIGINT % 20 = 0""")
        wh.execute("CHECKPOINT")
        print(f"added competition facts and versions in {time.perf_counter() - started:.1f} s",
              flush=True)


def timed(label: str, fn) -> float:
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    brief = {k: v for k, v in (result or {}).items() if not isinstance(v, dict)}
    print(f"{label:<34} {seconds:8.1f} s   {brief}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/survtrack-bench"))
    args = parser.parse_args()
    db = args.folder / f"bench-{args.contracts}.duckdb"
    if not db.exists():
        args.folder.mkdir(parents=True, exist_ok=True)
        generate(db, args.contracts)
    add_competition(db)
    with Warehouse(db) as wh:
        baseline = timed("baseline: copy contracts", lambda: wh.execute(
            "CREATE OR REPLACE TEMP TABLE bench_copy AS SELECT * FROM contracts"))
        wh.execute("DROP TABLE bench_copy")
        results = {}
        for run in ("first", "again"):
            results[f"competition ({run})"] = timed(f"competition ({run})",
                                                    lambda: build_competition(wh))
            results[f"threads ({run})"] = timed(f"threads ({run})", lambda: build_threads(wh))
            results[f"flags ({run})"] = timed(f"flags ({run})", lambda: flags.compute(wh))
        raised = wh.query("SELECT flag, count(*) FILTER (WHERE raised), count(*) FROM flags"
                          " GROUP BY 1 ORDER BY 1")
    print("flags raised / knowable: " + ", ".join(f"{f} {r:,}/{k:,}" for f, r, k in raised))
    for label, seconds in results.items():
        ratio(label, seconds, "copying contracts", baseline)


if __name__ == "__main__":
    main()
