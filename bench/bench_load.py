"""The dashboard under load: N concurrent users against `survtrack dashboard` on 127.0.0.1.

    python bench/bench_load.py [--users 50] [--requests 1500] [--workers N] [--db WAREHOUSE]
                               [--cache both|on|off] [--think SECONDS]

Without --db it builds the demo (`survtrack demo --no-serve`) in a temporary folder with every
document of ../shared/data in its inbox, as the demo smoke does. It then serves the dashboard
with gunicorn (the default server) on a free loopback port, once with the callback cache off and
once on (--cache both; the shared answers on disk are removed before each start, so a run
begins with only what the server computes before serving), and has --users threads send --requests requests in all, each user
walking the same mix of views in its own order (every kind as often): the overview under several
filter sets, the contracts page, a vendor profile, the pages of the three largest contracts,
grid pages and vendor searches (the callbacks a browser calls; only these cost queries), and a
bare baseline: /_dash-layout, a fixed answer from the
same server, stack and load. With --think a user pauses a random 0 to 2 x SECONDS after each
answer, as a reader does; without it every user asks again at once, so the run measures the
server saturated (latency = users / throughput). It stops by itself after the fixed count and
prints, per kind of request: count, errors, throughput, p50/p95/p99 in ms and p50/p95 as ratios to the baseline's
under the same load, and the cache's hit share; then RATIO lines (bench/baseline.py): each
kind's p95 over the baseline's. The client runs on the same cores as the server.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import duckdb
import requests
from baseline import ratio

from survtrack.dashboard.cache import cache_folder
from survtrack.dashboard.callback_bodies import UPDATE, grid_rows, render, vendor_search
from survtrack.dashboard.urls import contract_href, href
from survtrack.warehouse.snapshot import current_snapshot

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SURVTRACK = [sys.executable, "-m", "survtrack.cli"]
BASELINE = "baseline /_dash-layout"
START_TIMEOUT = 1800  # s: at 10 M contracts the landing views take minutes to warm (warm.py)


def build_demo(folder: Path) -> Path:
    """The demo warehouse with every document of ../shared/data in its inbox (as demo_smoke)."""
    inbox = folder / "data" / "inbox"
    groups = [(SHARED / s, s, "recorded") for s in ("eis", "usaspending", "ocds", "ted")]
    groups += [(SHARED / "outside" / s, s, "outside") for s in ("eis", "usaspending", "ocds", "ted")]
    groups.append((SHARED / "surveillance" / "ocds-uk", "ocds", "surveillance"))
    for source_dir, source, kind in groups:
        (inbox / source).mkdir(parents=True, exist_ok=True)
        if source_dir.is_dir():
            for f in source_dir.iterdir():
                if f.is_file():
                    (inbox / source / f"{kind}__{f.name}").symlink_to(f)
    db = folder / "data" / "survtrack.duckdb"
    started = time.perf_counter()
    subprocess.run([*SURVTRACK, "--db", str(db), "demo", "--no-serve"], check=True,
                   stdout=subprocess.DEVNULL, cwd=folder)
    print(f"built the demo in {time.perf_counter() - started:.0f} s", flush=True)
    return db


def views(db: Path) -> dict[str, list[tuple[str, dict]]]:
    """The requests of each kind, as (label, Dash callback body), from the snapshot's values."""
    with duckdb.connect(str(current_snapshot(db)), read_only=True) as con:
        countries = [r[0] for r in con.execute(
            "SELECT country FROM contract_facts WHERE country IS NOT NULL GROUP BY 1"
            " ORDER BY count(*) DESC LIMIT 3").fetchall()]
        vendor = con.execute("SELECT vendor_key FROM contract_facts GROUP BY 1"
                             " ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
        years = con.execute("SELECT min(year), max(year) FROM contract_facts").fetchone()
        largest = [r[0] for r in con.execute(
            "SELECT contract_id FROM contract_facts ORDER BY amount_usd DESC NULLS LAST,"
            " contract_id LIMIT 3").fetchall()]
    searches = ["", "?scope=all", "?lang=ru", f"?from={years[0]}&to={years[1]}&scope=all"]
    searches += [f"?country={c}&scope=all" for c in countries]
    kinds = {
        "overview": [("/" + s, render("/", s)) for s in searches],
        "contracts page": [("/contracts" + s, render("/contracts", s)) for s in searches[:3]],
        # as the front page links it (the id URL-encoded)
        "vendor profile": [(href("/vendor", None, id=vendor),
                            render("/vendor", href("/vendor", None, id=vendor)[len("/vendor"):]))],
        "contract page": [(contract_href(c), render(contract_href(c), "")) for c in largest],
        "grid rows": [(f"rows {start} {s}", grid_rows(s, start)) for s in searches[:3]
                      for start in (0, 100)],
        "vendor search": [(f"search {text}", vendor_search(text)) for text in ("a", "ntech", "ооо")],
    }
    return kinds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`survtrack dashboard` in its own process group, stopped on exit."""

    def __init__(self, db: Path, workers: int | None, cache: bool):
        shutil.rmtree(cache_folder(db), ignore_errors=True)  # no answers from an earlier run
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "SURVTRACK_DASHBOARD_CACHE"}
        if not cache:  # on: the dashboard's default size
            env["SURVTRACK_DASHBOARD_CACHE"] = "0"
        args = [*SURVTRACK, "--db", str(db), "dashboard", "--port", str(self.port)]
        if workers:
            args += ["--workers", str(workers)]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        started = time.monotonic()
        deadline = started + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"the dashboard exited: {self.log.read().decode()[-2000:]}")
            try:
                requests.get(self.base + "/_dash-layout", timeout=5)
                print(f"server answering after {time.monotonic() - started:.1f} s", flush=True)
                return self
            except requests.RequestException:
                time.sleep(0.3)
        raise SystemExit(f"the dashboard did not start within {START_TIMEOUT} s")

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.seek(0)
        errors = [line for line in self.log.read().decode(errors="replace").splitlines()
                  if "Traceback" in line or "Exception on" in line]
        if errors:
            print(f"SERVER ERRORS: {len(errors)}, first: {errors[0]}")


def run(base: str, kinds: dict, users: int, total: int, think: float = 0.0) -> dict[str, list]:
    """`total` requests from `users` threads, each pausing a random 0 to 2 x `think` seconds
    after every answer (0: none); per kind, (seconds, ok, cache header, start) each."""
    kinds = {BASELINE: [(BASELINE, None)], **kinds}  # each kind as often, its views in turn
    results: dict[str, list] = defaultdict(list)
    failures: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def user(seed: int) -> None:
        order = random.Random(seed)
        session = requests.Session()
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            kind = order.choice(list(kinds))
            _, body = order.choice(kinds[kind])
            started = time.perf_counter()
            try:
                if body is None:
                    response = session.get(base + "/_dash-layout", timeout=120)
                else:
                    response = session.post(base + UPDATE, json=body, timeout=120)
                ok, cached = response.status_code == 200, response.headers.get(
                    "X-Survtrack-Cache")
                if not ok:
                    with lock:
                        failures.append(f"{kind}: HTTP {response.status_code}")
            except requests.RequestException as exc:
                ok, cached = False, None
                with lock:
                    failures.append(f"{kind}: {exc!r}"[:300])
            elapsed = time.perf_counter() - started
            with lock:
                results[kind].append((elapsed, ok, cached, started))
            if think:
                time.sleep(order.uniform(0, 2 * think))

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results["_wall"] = [time.perf_counter() - started]
    for failure in failures[:3]:
        print(f"failed: {failure}")
    return results


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def report(title: str, results: dict[str, list]) -> None:
    wall = results.pop("_wall")[0]
    every = [r for rs in results.values() for r in rs]
    base = [r[0] for r in results[BASELINE]]
    b50, b95 = statistics.median(base), percentile(base, 0.95)
    print(f"-- {title}: {len(every)} requests in {wall:.1f} s = {len(every) / wall:.1f} req/s,"
          f" {sum(not r[1] for r in every)} errors")
    print(f"{'kind':<24}{'n':>6}{'err':>5}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'p50/base':>10}{'p95/base':>10}{'hits':>7}")
    for kind, rs in sorted(results.items(), key=lambda kv: kv[0] != BASELINE):
        times = [r[0] for r in rs]
        tagged = [r[2] for r in rs if r[2]]
        hits = f"{sum(t == 'hit' for t in tagged) / len(tagged):.0%}" if tagged else "–"
        print(f"{kind:<24}{len(rs):>6}{sum(not r[1] for r in rs):>5}"
              f"{1000 * statistics.median(times):>9.0f}{1000 * percentile(times, 0.95):>9.0f}"
              f"{1000 * percentile(times, 0.99):>9.0f}"
              f"{statistics.median(times) / b50:>10.1f}{percentile(times, 0.95) / b95:>10.1f}"
              f"{hits:>7}")
    callbacks = [r[0] for kind, rs in results.items() if kind != BASELINE for r in rs]
    print(f"all callbacks: p50 {1000 * statistics.median(callbacks):.0f} ms,"
          f" p95 {1000 * percentile(callbacks, 0.95):.0f} ms", flush=True)
    for kind, rs in sorted(results.items()):
        if kind != BASELINE:
            ratio(f"load {title}: {kind}, p95", percentile([r[0] for r in rs], 0.95),
                  "bare /_dash-layout under the same load, p95", b95)
    ratio(f"load {title}: all callbacks, p95", percentile(callbacks, 0.95),
          "bare /_dash-layout under the same load, p95", b95)
    # the second half of the run (by start): what a user meets once the first visitors
    # have had every view computed
    middle = statistics.median(r[3] for r in every)
    late = [r[0] for kind, rs in results.items() if kind != BASELINE for r in rs
            if r[3] >= middle]
    late_base = [r[0] for r in results[BASELINE] if r[3] >= middle]
    print(f"second half: callbacks p50 {1000 * statistics.median(late):.0f} ms,"
          f" p95 {1000 * percentile(late, 0.95):.0f} ms; bare route p95"
          f" {1000 * percentile(late_base, 0.95):.0f} ms", flush=True)
    ratio(f"load {title}: all callbacks, second half, p95", percentile(late, 0.95),
          "bare /_dash-layout under the same load, p95", percentile(late_base, 0.95))
    # by when a request started (tenths of the run): whether the first seconds, before the
    # background warm-up has filled the landing views, set the whole run's p95
    first = min(r[3] for r in every)
    tenth = (max(r[3] for r in every) - first) / 10 or 1
    for i in range(10):
        part = [r for kind, rs in results.items() if kind != BASELINE for r in rs
                if min(9, int((r[3] - first) / tenth)) == i]
        if part:
            slow = sum(r[0] > 0.5 for r in part)
            print(f"  from {min(r[3] for r in part) - first:6.1f} s: {len(part):>4}"
                  f" callbacks, p95 {1000 * percentile([r[0] for r in part], 0.95):6.0f} ms,"
                  f" {slow} over 500 ms, hits"
                  f" {sum(r[2] == 'hit' for r in part) / len(part):.0%}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1500, help="in all, per server run")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn workers (default: the dashboard's own)")
    parser.add_argument("--db", type=Path, help="a warehouse (default: build the demo)")
    parser.add_argument("--cache", choices=["both", "on", "off"], default="both")
    parser.add_argument("--think", type=float, default=0.0,
                        help="a user's mean pause between answer and next click, seconds"
                             " (default 0: every user asks again at once)")
    args = parser.parse_args()
    folder = None
    try:
        if args.db is None:
            folder = Path(tempfile.mkdtemp(prefix="survtrack-load-"))
            args.db = build_demo(folder)
        kinds = views(args.db)
        with duckdb.connect(str(current_snapshot(args.db)), read_only=True) as con:
            n = con.execute("SELECT count(*) FROM contract_facts").fetchone()[0]
        print(f"warehouse {args.db}: {n:,} contracts; {args.users} users, {args.requests}"
              f" requests per run, {os.cpu_count()} cores", flush=True)
        for cache in {"both": [False, True], "on": [True], "off": [False]}[args.cache]:
            with Server(args.db, args.workers, cache) as server:
                results = run(server.base, kinds, args.users, args.requests, args.think)
            report(f"cache {'on' if cache else 'off'}, think {args.think:g} s", results)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
