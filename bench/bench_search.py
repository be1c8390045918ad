"""Latency of the search box (/search?q=) on a generated warehouse.

    python bench/bench_search.py --contracts 10000000 --folder /tmp/bench [--repeat 20]

Uses the warehouse bench/bench_dashboard.py generates (bench-<N>.duckdb in the folder; made
when missing). Builds in it only what search needs, when it is not there yet: a narrow
`contract_facts` (the contract's vendor and buyer by name, from facts.FACTS_SQL), `parties`,
then the search tables (search.TABLES: the index, the words with their folded tokens, the
terms, the postings, the kinds' runs, the counts per term and per short prefix), timing each.
Then runs a fixed set of queries `--repeat` times through `search.search` (folding, term
ranges and their counts, intersections, counts per kind, the first 20 rows) and prints the
median and p95 per query and over all of them, with each kind's count ("+": a lower bound,
counting stopped) and the CPU time a query takes (all DuckDB threads; on a busy machine the
wall time is mostly waiting for a core, the CPU time is not). The bare
baseline beside it: for the same query's first word, one plain equality lookup of the token in
`search_terms` and a count of its postings (no folding, no prefixes, no intersection, no rows).
A LIKE scan of every row's words (the query of the implementation this replaced, whose index
already held folded words) is timed on two queries for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import duckdb
from baseline import p95, ratio, timings

from survtrack.analysis import search
from survtrack.analysis.facts import FACTS_SQL, INDEXES, parties_sql
from survtrack.warehouse.snapshot import make_table

QUERIES = ["generated", "vendor 1234", "vendor group 17", "buyer agency 42", "9876543",
           "98765", "llc", "Vendor 12 LLC", "agency", "contract 5", "ntechlab", "НтехЛаб",
           "видеонаблюд", "Н-Тех"]
SCANNED = ["vendor 1234", "ntechlab"]  # timed with the old LIKE scan too (seconds each)


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def timed(con, label: str, sql: str, made=None) -> None:
    """Run `sql`, or make the table `label` from `made` (a SELECT or a snapshot.Made)."""
    started = time.perf_counter()
    if made is None:
        con.execute(sql)
    else:
        make_table(con, label, made)
    print(f"built {label} in {time.perf_counter() - started:.1f} s", flush=True)


def prepare(db: Path, rebuild: bool, memory_limit: str) -> None:
    """Only what search needs, in the warehouse file itself (a copy: never the shared one)."""
    con = duckdb.connect(str(db))
    try:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
        have = _tables(con)
        if "contract_facts" not in have:
            timed(con, "contract_facts (narrow)",
                  "CREATE TABLE contract_facts AS SELECT contract_id, vendor_key, vendor_name,"
                  f" buyer_key, buyer_name FROM ({FACTS_SQL})")
        if "parties" not in have:
            timed(con, "parties", f"CREATE TABLE parties AS {parties_sql('contract_facts')}")
        con.execute("SET preserve_insertion_order = true")  # the ORDER BYs are the point
        for name, made in search.TABLES.items():
            if rebuild or name not in have:
                timed(con, name, "", made)
                if name in INDEXES:  # as the snapshot publisher makes it
                    con.execute(f"CREATE INDEX {name}_{INDEXES[name]} ON {name} ({INDEXES[name]})")
                con.execute("CHECKPOINT")
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/survtrack-bench"))
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true", help="build the search tables again")
    parser.add_argument("--memory-limit", default="5GB", help="DuckDB memory_limit")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads")
    args = parser.parse_args()
    db = args.folder / f"bench-{args.contracts}.duckdb"
    if not db.exists():
        from bench_dashboard import generate

        args.folder.mkdir(parents=True, exist_ok=True)
        generate(db, args.contracts)
    prepare(db, args.rebuild, args.memory_limit)

    con = duckdb.connect(str(db), read_only=True)
    con.execute(f"SET memory_limit = '{args.memory_limit}'")
    if args.threads:
        con.execute(f"SET threads = {int(args.threads)}")
    sizes = dict(con.execute("SELECT table_name, estimated_size FROM duckdb_tables()"
                             " WHERE table_name LIKE 'search_%'").fetchall())
    print(f"{db.name}: {con.execute('SELECT count(*) FROM contracts').fetchone()[0]:,} contracts;"
          f" search tables (rows): " + ", ".join(f"{k} {v:,}" for k, v in sorted(sizes.items()))
          + f"; threads={con.execute('SELECT current_setting(?)', ['threads']).fetchone()[0]}",
          flush=True)

    found, base, per_query, cpu = [], [], [], []
    for text in QUERIES:
        first = search.query_words(con, text)[0]
        started = time.process_time()
        mine = timings(lambda text=text: search.search(con, text), args.repeat)
        cpu.append(1000 * (time.process_time() - started) / (args.repeat + 1))
        bare = timings(lambda w=first: con.execute(
            "SELECT count(*) FROM search_postings WHERE term ="
            " (SELECT term FROM search_terms WHERE token = ?)", [w]).fetchone(), args.repeat)
        hits = {k: f"{v['count']:,}{'+' if v['capped'] else ''}"
                for k, v in search.search(con, text).items()}
        print(f"{text!r:18} search median {statistics.median(mine):7.1f} ms  p95 {p95(mine):7.1f}"
              f" ms (CPU {cpu[-1]:5.1f} ms) | baseline median {statistics.median(bare):6.1f} ms"
              f" | hits {hits}", flush=True)
        found += mine
        base += bare
        per_query.append((text, statistics.median(mine)))
    print(f"ALL QUERIES  search  p50 {statistics.median(found):7.1f} ms  p95 {p95(found):7.1f} ms"
          f" (CPU per query, all threads: mean {statistics.mean(cpu):.1f} ms, most {max(cpu):.1f} ms;"
          " wall time above CPU time is waiting for a core on a busy machine)")
    print(f"ALL QUERIES  baseline p50 {statistics.median(base):7.1f} ms  p95 {p95(base):7.1f} ms"
          " (equality lookup of one token, count of its postings)")
    ratio("search p95", p95(found) / 1000, "token equality lookup p95", p95(base) / 1000)
    ratio("search p50", statistics.median(found) / 1000, "token equality lookup p50",
          statistics.median(base) / 1000)
    for text in SCANNED:  # the previous implementation's query: LIKE over every row's words
        words = search.query_words(con, text)
        where = " AND ".join(["words LIKE ?"] * len(words))
        scan = timings(lambda where=where, words=words: con.execute(
            f"SELECT kind, count(*) FROM search_index WHERE {where} GROUP BY kind",
            [f"% {w}%" for w in words]).fetchall(), 2)
        mine = dict(per_query)[text]
        print(f"{text!r:18} LIKE scan of every row's words median {statistics.median(scan):8.1f}"
              f" ms (token tables: {mine:.1f} ms)", flush=True)


if __name__ == "__main__":
    main()
