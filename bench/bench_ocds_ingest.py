"""Benchmark: ingest one large OCDS release package.

Generates a release package of N releases (default 200,000: a few hundred MB) in which each
process is published as three releases (tender, award, contract) spread over the file, as a
bulk export ordered by date spreads them; then loads it into a fresh warehouse and prints
releases per CPU second (CPU time holds on a busy machine), the wall time parsing and
compiling vs writing, and peak memory (ru_maxrss of this process: Python, ijson, ocdsmerge
and DuckDB together) beside the bare baseline's: ijson.items over the same package in a fresh
process (its CPU time and its peak RSS).
`--single`: one release per process (a contract release), as many publishers write them:
the path that skips ocdsmerge. `--jsonl`: the releases as JSON Lines instead of a package.
`--no-fast-path`: compile one-release processes with ocdsmerge too (the figure before).
`--files`: each release a file of its own (small documents, loaded many to a transaction).
`--package FILE`: ingest a file generated before (with `--keep`) instead of a new one;
`--sample S --sample-log LOG`: VmRSS and VmHWM every S seconds (a 650 k-release run is long).
`--workers N`: the same file ingested serially (--workers 1) and by N workers (the processes
compiled by the ingest's pool, docs/ocds.md), each in a fresh process, printed side by side:
wall and CPU (this process's and its workers', which the pool's end waits for), releases per
second and per CPU second, the ratio to orjson, peak RSS (the ingest process's, the largest
worker's).

    uv run python bench/bench_ocds_ingest.py --releases 200000 [--single] [--jsonl] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from baseline import ratio

from survtrack import scrapers
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import Warehouse

CPV = ["32323500", "35125300", "32000000", "48000000", "72000000", "45233130", "09310000"]


def release(n: int, stage: str, rng: random.Random) -> dict:
    """Release `stage` of process n: a tender, its award, or its contract."""
    ocid = f"ocds-bench0-{n:08d}"
    day = f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}"
    buyer = {"id": f"GB-COH-{n % 5000:08d}", "name": f"Buyer authority {n % 5000}",
             "identifier": {"scheme": "GB-COH", "id": f"{n % 5000:08d}"},
             "address": {"countryName": "United Kingdom", "locality": "Testville"},
             "roles": ["buyer"]}
    supplier = {"id": f"GB-COH-{90000000 + n % 20000}", "name": f"Supplier {n % 20000} Ltd",
                "identifier": {"scheme": "GB-COH", "id": str(90000000 + n % 20000)},
                "address": {"countryName": "United Kingdom"}, "roles": ["supplier"]}
    amount = round(rng.uniform(1_000, 5_000_000), 2)
    items = [{"id": str(i), "description": f"Item {i} of process {n}: CCTV equipment and"
              " installation services", "quantity": rng.randint(1, 500),
              "classification": {"scheme": "CPV", "id": rng.choice(CPV)},
              "unit": {"name": "piece", "value": {"amount": round(amount / 100, 2),
                                                 "currency": "GBP"}}}
             for i in range(1, 4)]
    base = {"ocid": ocid, "id": f"{ocid}-{stage}", "initiationType": "tender", "tag": [stage],
            "language": "en", "parties": [buyer], "buyer": {"id": buyer["id"],
                                                            "name": buyer["name"]}}
    if stage == "tender":
        base |= {"date": f"{day}T09:00:00Z", "tender": {
            "id": f"{ocid}-tender", "title": f"Surveillance equipment lot {n}",
            "description": "Supply, installation and maintenance of video surveillance",
            "status": "active", "procurementMethod": "open", "items": items,
            "value": {"amount": amount * 1.1, "currency": "GBP"}}}
    elif stage == "award":
        base |= {"date": f"{day}T12:00:00Z", "parties": [buyer, supplier], "awards": [{
            "id": f"{ocid}-A1", "status": "active", "date": f"{day}T12:00:00Z",
            "value": {"amount": amount, "currency": "GBP"}, "items": items,
            "suppliers": [{"id": supplier["id"], "name": supplier["name"]}]}]}
    else:
        base |= {"date": f"{day}T15:00:00Z", "contracts": [{
            "id": f"{ocid}-C1", "awardID": f"{ocid}-A1", "status": "active",
            "dateSigned": f"{day}T00:00:00Z", "value": {"amount": amount, "currency": "GBP"},
            "items": items, "implementation": {"transactions": [
                {"id": f"{ocid}-T1", "date": f"{day}T00:00:00Z",
                 "value": {"amount": round(amount / 2, 2), "currency": "GBP"}}]}}]}
    return base


def generate_files(folder: Path, releases: int, seed: int = 7, single: bool = False) -> int:
    """Each release as a file of its own (a bare release), as publishers of one file per
    release or per day write them; the stages of a process in different files."""
    rng = random.Random(seed)
    processes = releases if single else max(1, -(-releases // 3))
    stages = ("contract",) if single else ("tender", "award", "contract")
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for stage in stages:
        for n in range(processes):
            if written == releases:
                return written
            written += 1
            (folder / f"{written:08d}.json").write_text(json.dumps(release(n, stage, rng)))
    return written


def orjson_files(folder: Path) -> float:
    """CPU seconds of reading and orjson.loads-ing every file of the folder."""
    import orjson

    t = time.process_time()
    for path in sorted(folder.iterdir()):
        orjson.loads(path.read_bytes())
    return time.process_time() - t


def generate(path: Path, releases: int, seed: int = 7, single: bool = False,
             jsonl: bool = False) -> int:
    """Write the package release by release (never the whole package in memory)."""
    rng = random.Random(seed)
    processes = releases if single else max(1, -(-releases // 3))
    stages = ("contract",) if single else ("tender", "award", "contract")
    with open(path, "w", encoding="utf-8") as out:
        if not jsonl:
            out.write('{"uri": "https://example.org/bench.json", "version": "1.1",'
                      ' "publishedDate": "2024-12-31T00:00:00Z",'
                      ' "publisher": {"name": "survtrack benchmark"}, "releases": [\n')
        written = 0
        for stage in stages:  # stages far apart in the file
            for n in range(processes):
                if written == releases:
                    break
                sep = "" if jsonl or not written else ","
                out.write(sep + json.dumps(release(n, stage, rng)) + "\n")
                written += 1
        if not jsonl:
            out.write("]}\n")
    return written


BARE = """import ijson, sys, time
t = time.process_time()
with open(sys.argv[1], "rb") as fh:
    if sys.argv[2] == "jsonl":
        n = sum(1 for _ in ijson.items(fh, "", multiple_values=True))
    else:
        n = sum(1 for _ in ijson.items(fh, "releases.item"))
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(time.process_time() - t, peak, n)
"""


ORJSON = """import orjson, sys, time
t = time.process_time()
n = 0
with open(sys.argv[1], "rb") as fh:
    for line in fh:  # generate() writes one release a line, a package's with a comma before
        line = line.strip().lstrip(b",")
        if line.startswith(b'{"ocid"'):
            orjson.loads(line)
            n += 1
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(time.process_time() - t, peak, n)
"""


def bare_orjson(package: Path) -> tuple[float, float]:
    """orjson.loads over the same releases, line by line, in a fresh process: (CPU s, MiB)."""
    out = subprocess.run([sys.executable, "-c", ORJSON, str(package)],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def status_mib(*fields: str) -> list[float]:
    """Lines of /proc/self/status (VmRSS, VmHWM…) in MiB."""
    found = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            name, _, rest = line.partition(":")
            if name in fields:
                found[name] = int(rest.split()[0]) / 1024
    return [found[f] for f in fields]


class Sampler(threading.Thread):
    """Every `every` seconds, one line to `log`: elapsed seconds, VmRSS and VmHWM of this
    process. (It reads /proc only: a second DuckDB connection asking duckdb_memory() kept
    the loading connection's checkpoints from happening, and so changed what it measured.)"""

    def __init__(self, every: float, log: Path):
        super().__init__(daemon=True)
        self.every, self.log = every, log
        self.stop, self.started = threading.Event(), time.perf_counter()

    def run(self) -> None:
        with open(self.log, "a", buffering=1) as out:
            while not self.stop.wait(self.every):
                out.write(self.line() + "\n")

    def line(self) -> str:
        rss, hwm = status_mib("VmRSS", "VmHWM")
        return (f"{time.strftime('%H:%M:%S')} t={time.perf_counter() - self.started:.0f}s"
                f" rss={rss:.0f} hwm={hwm:.0f} MiB")


def bare(package: Path, jsonl: bool) -> tuple[float, float]:
    """ijson.items over the package in a fresh process: (CPU seconds, peak RSS in MiB; VmHWM,
    as ru_maxrss would count this process's own peak before exec)."""
    out = subprocess.run([sys.executable, "-c", BARE, str(package),
                          "jsonl" if jsonl else "package"],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=200_000, help="releases in the package")
    parser.add_argument("--keep", type=Path, help="folder to keep the package and warehouse in")
    parser.add_argument("--single", action="store_true", help="one release per process")
    parser.add_argument("--jsonl", action="store_true", help="JSON Lines, not a package")
    parser.add_argument("--no-fast-path", action="store_true",
                        help="one-release processes compiled by ocdsmerge too")
    parser.add_argument("--files", action="store_true",
                        help="each release a file of its own (small documents)")
    parser.add_argument("--package", type=Path,
                        help="ingest this file, generated before, instead of generating one")
    parser.add_argument("--sample", type=float, default=0,
                        help="seconds between memory samples (0: none)")
    parser.add_argument("--sample-log", type=Path, help="where samples go (default stdout)")
    parser.add_argument("--workers", type=int,
                        help="serial vs this many workers, side by side, each in a fresh process")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # one side, as JSON
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.package, args.measure)))
        return
    if args.no_fast_path:
        from survtrack.scrapers.ocds import compiling

        compiling.compile_one = lambda release, rules: None

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-ocds-"))
    folder.mkdir(parents=True, exist_ok=True)
    package = folder / ("bench-releases.jsonl" if args.jsonl else "bench-release-package.json")
    started = time.perf_counter()
    if args.files:
        package = folder / "releases"
        n = generate_files(package, args.releases, single=args.single)
        print(f"generated {n:,} files of one release in {time.perf_counter() - started:.1f} s")
    elif args.package:
        package, n = args.package, args.releases
        print(f"ingesting {package} as generated before ({n:,} releases)")
    else:
        n = generate(package, args.releases, single=args.single, jsonl=args.jsonl)
        print(f"generated {n:,} releases in {time.perf_counter() - started:.1f} s")
    size = (sum(p.stat().st_size for p in package.iterdir()) if package.is_dir()
            else package.stat().st_size)
    print(f"{size / 1e6:,.1f} MB")

    if args.workers:
        side_by_side(package, n, size, args.workers, args.jsonl)
        if not args.keep:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        return
    source = scrapers.get("ocds")
    parse_seconds = 0.0
    parse = source.parse

    def timed_parse(ctx):
        nonlocal parse_seconds
        t = time.perf_counter()
        try:
            parse(ctx)
        finally:
            parse_seconds += time.perf_counter() - t

    source = type(source)(**{**source.__dict__, "parse": timed_parse})
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with Warehouse(folder / "bench.duckdb") as wh:
        sampler = Sampler(args.sample, args.sample_log or Path("/dev/stdout"))
        if args.sample:
            sampler.start()
        t, cpu = time.perf_counter(), time.process_time()
        counts = ingest(wh, source, [package])
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        sampler.stop.set()
        if args.sample:
            with open(args.sample_log or "/dev/stdout", "a") as out:
                out.write(sampler.line() + " (end)\n")
        contracts = wh.count("contracts")
        versions = wh.count("contract_versions")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"outcome {dict(counts)}: {contracts:,} contracts, {versions:,} versions")
    print(f"ingest {seconds:.1f} s wall ({n / seconds:,.0f} releases/s), {cpu:.1f} s CPU"
          f" (all threads): {n / cpu:,.0f} releases per CPU second, {size / 1e6 / cpu:.1f} MB/s"
          f" (wall: parse + compile {parse_seconds:.1f} s, write {seconds - parse_seconds:.1f} s)")
    print(f"peak memory (ru_maxrss) {peak / 1024:,.0f} MiB (before ingest"
          f" {rss_before / 1024:,.0f} MiB)")

    if args.files:
        print(f"{dict(counts)['loaded'] / seconds:,.1f} documents per second (wall)")
        ratio("OCDS ingest of files CPU", cpu, "orjson.loads over the same files (CPU)",
              orjson_files(package))
    else:
        baselines(package, n, cpu, peak, args.jsonl)
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def measure(package: Path, workers: int) -> dict:
    """One ingest of `package` into a fresh warehouse with `workers`: its figures."""
    folder = Path(tempfile.mkdtemp(prefix="bench-ocds-measure-"))
    try:
        with Warehouse(folder / "bench.duckdb") as wh:
            t, cpu = time.perf_counter(), time.process_time()
            counts = ingest(wh, scrapers.get("ocds"), [package], workers=workers)
            wall, cpu = time.perf_counter() - t, time.process_time() - cpu
            contracts, versions = wh.count("contracts"), wh.count("contract_versions")
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"counts": dict(counts), "wall": wall, "cpu": cpu,
            "workers_cpu": children.ru_utime + children.ru_stime,
            "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_peak": children.ru_maxrss / 1024, "contracts": contracts,
            "versions": versions}


def side_by_side(package: Path, n: int, size: int, workers: int, jsonl: bool) -> None:
    """Serial and `workers` ingests of the same file, each in a fresh process."""
    runs = {}
    for w in (1, workers):
        out = subprocess.run([sys.executable, __file__, "--package", str(package),
                              "--releases", str(n), "--measure", str(w)],
                             check=True, capture_output=True, text=True).stdout
        runs[w] = json.loads(out.strip().splitlines()[-1])
    fast, _ = bare_orjson(package)
    print(f"orjson.loads over the same lines: {fast:.3f} s CPU ({n / fast:,.0f} releases per CPU"
          " second)")
    print(f"{'':34s} {'serial':>14s} {f'{workers} workers':>14s}")
    serial, pooled = runs[1], runs[workers]
    assert (serial["contracts"], serial["versions"]) == (pooled["contracts"], pooled["versions"])
    rows = [("outcome", lambda r: str(r["counts"])),
            ("contracts, versions", lambda r: f"{r['contracts']:,}, {r['versions']:,}"),
            ("wall s", lambda r: f"{r['wall']:.1f}"),
            ("releases per second (wall)", lambda r: f"{n / r['wall']:,.0f}"),
            ("CPU s (ingest process + workers)",
             lambda r: f"{r['cpu']:.1f} + {r['workers_cpu']:.1f}"),
            ("releases per CPU second", lambda r: f"{n / (r['cpu'] + r['workers_cpu']):,.0f}"),
            ("ratio to orjson (CPU)", lambda r: f"{(r['cpu'] + r['workers_cpu']) / fast:.1f}x"),
            ("ratio to orjson (wall)", lambda r: f"{r['wall'] / fast:.1f}x"),
            ("peak RSS MiB (ingest, worker)",
             lambda r: f"{r['peak']:,.0f}, {r['worker_peak']:,.0f}")]
    for label, cell in rows:
        print(f"{label:34s} {cell(serial):>14s} {cell(pooled):>14s}")
    print(f"{size / 1e6:,.1f} MB, {n:,} releases;"
          f" load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ratio(f"OCDS ingest wall, {workers} workers", pooled["wall"], "serial (wall)", serial["wall"])
    ratio(f"OCDS ingest CPU, {workers} workers", pooled["cpu"] + pooled["workers_cpu"],
          "serial (CPU)", serial["cpu"] + serial["workers_cpu"])


def baselines(package: Path, n: int, cpu: float, peak: float, jsonl: bool) -> None:
    """ijson.items and orjson.loads over the same releases, each in a fresh process."""
    base, base_rss = bare(package, jsonl)
    ratio("OCDS ingest CPU", cpu, "ijson.items over the package (CPU)", base)
    fast, fast_rss = bare_orjson(package)
    print(f"orjson.loads over the same lines: {n / fast:,.0f} releases per CPU second,"
          f" peak {fast_rss:,.0f} MiB")
    ratio("OCDS ingest CPU", cpu, "orjson.loads over the same lines (CPU)", fast)
    print(f"RATIO OCDS ingest peak RSS: {peak / 1024 / base_rss:.2f}x ijson.items'"
          f" ({peak / 1024:,.0f} MiB / {base_rss:,.0f} MiB)")


if __name__ == "__main__":
    sys.exit(main())
