"""An incremental build at scale gives what a full build gives: checked on a generated warehouse.

Run: python bench/bench_build_verify.py BUILT.duckdb [--rounds 2] [--memory-limit 4GB]
     [--change 0.001]

BUILT is a warehouse bench_build_grow.py's first build has built (it is changed in place: work
on a copy). Each round adds 1 % of contracts (`bench_flags.grow`) and builds incrementally;
then money, competition, threads and flags are built again with `--full`, and each table's
row count and `bit_xor` of its rows' hashes are compared (`--change`: each round also
changes amounts, removes tags and contracts, so group statuses flip both ways and contracts
leave their groups) (tests/test_incremental_build.py
proves the same on real documents, row for row; this is the same check at 1 M contracts,
where groups, ties and hash folds meet cases the documents do not hold). The flags rows that
differ, as read (buyer_concentration's value and evidence composed), are printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import bench_flags

from survtrack.analysis import flags
from survtrack.analysis.build import run_build
from survtrack.warehouse import changes
from survtrack.warehouse.store import Warehouse

TABLES = ("competition", "threads", "flags", "build_inputs", "payments")
DOLLARS = "hash(contract_id, amount_usd, fx_source, fx_date, amount_usd_constant)"


# buyer_concentration's numbers per group: sums of doubles, which differ in their last bits
# with the order they were added in (a group summed again against every group summed at
# once), compared to the cent as the evidence reports them
NUMBERS = {
    "concentration_groups": "hash(buyer_id, category, year, n, valued_n, round(total, 2), unit,"
                            " round(unvendored, 2))",
    "concentration_vendors": "hash(buyer_id, category, year, vendor_id, round(mine, 2))",
}


def digest(wh: Warehouse) -> dict[str, tuple]:
    out = {t: wh.query(f"SELECT count(*), bit_xor(hash(x)) FROM {t} x")[0] for t in TABLES}
    out["contracts (dollars)"] = wh.query(f"SELECT count(*), bit_xor({DOLLARS})"
                                          " FROM contracts")[0]
    for table, row in NUMBERS.items():
        out[table] = wh.query(f"SELECT count(*), bit_xor({row}) FROM {table}")[0]
    # the flags as read: buyer_concentration's value and evidence composed from the numbers
    out["flags as read"] = wh.query(f"SELECT count(*), bit_xor(hash(x)) FROM"
                                    f" ({flags.stored_sql(wh.con)}) x")[0]
    return out


def change(wh: Warehouse, share: float, salt: int) -> int:
    """Change `share` of the contracts as a later load would, recorded as the writers record
    them: a third of them a new amount (a fifth, three times or twenty times: shares cross
    the threshold both ways), a third their tags removed (they leave their groups), a third
    removed. Returns how many."""
    pick = f"hash(contract_id, {salt}) % {round(1 / share)} = 0"
    third = f"hash(contract_id, {salt}, 'part') % 3"
    with wh.transaction():
        wh.execute(f"CREATE OR REPLACE TEMP TABLE changed AS SELECT contract_id, {third} AS part"
                   f" FROM contracts WHERE {pick}")
        changes.record(wh, "contracts", "SELECT contract_id FROM changed WHERE part <> 1")
        changes.record(wh, "tags", "SELECT contract_id FROM changed WHERE part = 1")
        wh.execute("""UPDATE contracts c SET amount = c.amount * CASE hash(c.contract_id) % 3
                          WHEN 0 THEN 0.2 WHEN 1 THEN 3 ELSE 20 END
                      FROM changed x WHERE x.contract_id = c.contract_id AND x.part = 0""")
        wh.execute("DELETE FROM tags WHERE contract_id IN"
                   " (SELECT contract_id FROM changed WHERE part = 1)")
        wh.execute("DELETE FROM contracts WHERE contract_id IN"
                   " (SELECT contract_id FROM changed WHERE part = 2)")
        return wh.scalar("SELECT count(*) FROM changed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--change", type=float, default=0.0,
                        help="each round also changes this share of the contracts (`change`)")
    args = parser.parse_args()
    with Warehouse(args.warehouse) as wh:
        for n in range(args.rounds):
            added = bench_flags.grow(wh, 0.01)
            if args.change:
                print(f"changed {change(wh, args.change, n):,}", flush=True)
            built = run_build(wh, memory_limit=args.memory_limit)["flags"]
            print(f"grew {added:,}: flags decided {built['changed']:,}"
                  f" ({built['group_only']:,} by the group rules alone)", flush=True)
        incremental = digest(wh)
        wh.execute("CREATE OR REPLACE TEMP TABLE flags_incremental AS"
                   f" {flags.stored_sql(wh.con)}")
        run_build(wh, ["money", "competition", "threads", "flags"], full=True,
                  memory_limit=args.memory_limit)
        full = digest(wh)
        for table, seen in incremental.items():
            print(f"{table:<20} incremental {seen} full {full[table]}"
                  f" {'SAME' if seen == full[table] else 'DIFFERENT'}", flush=True)
        for row in wh.query(f"""
                WITH now AS MATERIALIZED ({flags.stored_sql(wh.con)})
                (SELECT 'full only', * FROM (SELECT * FROM now
                                             EXCEPT ALL SELECT * FROM flags_incremental))
                UNION ALL
                (SELECT 'incremental only', * FROM (SELECT * FROM flags_incremental
                                                    EXCEPT ALL SELECT * FROM now))
                ORDER BY 2, 1 LIMIT 40"""):
            print(row)


if __name__ == "__main__":
    main()
