"""Dask ingest against the local process pool and one process, on the same input, in one run;
each parallel engine with its workers sending rows back (rows: since 2026-12-02 evening, as
Arrow tables in memory) and writing Parquet partitions the ingest process loads (staged).

Run: python bench/bench_dask_ingest.py [N ...] [--workers 2] [--writer-only]
(default sizes 200 2000; --writer-only: only the last part, below)

For each size N: N real 44-FZ documents of ../shared/data/eis with distinct registration numbers
(bench_eis_scale.generate; a temporary folder, deleted after), loaded into a fresh warehouse by
`ingest` with --workers 1, with the local pool of --workers processes and with a Dask
LocalCluster of --workers processes (started and stopped inside the timed call, as
`survtrack ingest --engine dask` does), each `staged=False` (rows pickled back, the local
pool's default) and `staged=True` (partitions, Dask's default). Printed per run: documents/s
(wall), the CPU seconds of the ingest process alone (the writer: what bounds a cluster) and
with its worker processes; then ratios: each to one process (wall), staged to rows (wall,
the ingest process's CPU, all CPU). Then the cluster's own cost (start and stop of an idle
LocalCluster). Every warehouse is checked to hold the same number of contracts.

Then the ingest process's own work per path, measured in this one process without a cluster
(on a LocalCluster the scheduler shares the ingest process, and its CPU grows with wall time):
rows: unpickling what `parse_files` returns (Arrow IPC) and `load_staged` from memory in
batches of BATCH_PARALLEL;
staged: unpickling what `stage_files` returns and `load_staged` in steps of LOAD_STEP. And the
workers' side: `parse_files` + pickling against `stage_files` + pickling.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path

from baseline import ratio
from bench_eis_scale import generate

from survtrack import scrapers
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import Warehouse


def timed_ingest(folder: Path, inputs: Path, **options) -> tuple[float, float, float, int]:
    """(wall s, CPU s of this process, CPU s with its children, contracts loaded)."""
    with Warehouse(folder / "w.duckdb") as wh:
        start, own, every = time.perf_counter(), _own(), _every()
        ingest(wh, scrapers.get("eis"), [inputs], **options)
        wall, own, every = time.perf_counter() - start, _own() - own, _every() - every
        return wall, own, every, wh.count("contracts")


def writer_alone(tmp: Path, inputs: Path, only: list | None = None, warm: bool = True,
                 say: bool = True) -> None:
    """The ingest process's work and the workers', each path run here in one process."""
    from survtrack.scrapers import ingest as pool
    from survtrack.scrapers.stage import stage_files
    from survtrack.warehouse.partitions import from_ipc
    from survtrack.warehouse.staged import load_staged

    paths = sorted(inputs.rglob("*.xml"))
    if warm:  # one-time costs (imports, DuckDB's first statements) charged to neither
        writer_alone(tmp / "warm", inputs, paths[:64], warm=False, say=False)
    paths = paths if only is None else only
    parse = scrapers.get("eis").parse
    cost = {}
    for way in ("rows", "staged"):
        size = pool.CHUNK if way == "rows" else pool.STAGED_CHUNK
        archive, start = str(tmp / f"archive-{way}"), _own()
        blobs = [pickle.dumps(
            pool.parse_files("eis", archive, i // size, paths[i:i + size]) if way == "rows" else
            stage_files("eis", archive, str(tmp / "staging"), i // size, paths[i:i + size]))
            for i in range(0, len(paths), size)]
        workers = _own() - start
        with Warehouse(tmp / f"writer-{way}" / "w.duckdb", archive=Path(archive)) as wh:
            start = _own()
            files: dict = {}
            staged = []
            step = pool.BATCH_PARALLEL if way == "rows" else pool.LOAD_STEP
            for b in blobs:
                written, entries = pickle.loads(b)
                for table, part in written.items():
                    files.setdefault(table, []).append(
                        from_ipc(part) if way == "rows" else part)
                staged += [v for _, v in entries]
                if len(staged) >= step:
                    load_staged(wh, files, staged, parse, None)
                    files, staged = {}, []
            if staged:
                load_staged(wh, files, staged, parse, None)
            cost[way] = (workers, _own() - start, wh.count("contracts"),
                         sum(map(len, blobs)))
    n = len(paths)
    if not say:
        return
    for way, (workers, writer, contracts, sent) in cost.items():
        print(f"{n:,} documents, {way}: workers {workers:.2f} CPU s, sent back"
              f" {sent / 1e6:.1f} MB; ingest process {writer:.2f} CPU s"
              f" ({n / writer:,.0f} docs per CPU s), {contracts:,} contracts")
    assert cost["rows"][2] == cost["staged"][2]
    ratio(f"{n} docs: ingest process's work, staged", cost["staged"][1], "rows",
          cost["rows"][1])
    ratio(f"{n} docs: workers' work, staged", cost["staged"][0], "rows", cost["rows"][0])


def _own() -> float:
    t = os.times()
    return t.user + t.system


def _every() -> float:
    t = os.times()  # children: the pool's and the LocalCluster's processes, once ended
    return t.user + t.system + t.children_user + t.children_system


def cluster_overhead(workers: int) -> float:
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[200, 2000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--writer-only", action="store_true",
                        help="only the ingest process's and the workers' work, in one process")
    args = parser.parse_args()
    w = args.workers
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores")
    runs = {} if args.writer_only else {"one process": dict(workers=1),
            f"local pool of {w}, rows": dict(workers=w, staged=False),
            f"local pool of {w}, staged": dict(workers=w, staged=True),
            f"Dask LocalCluster of {w}, rows": dict(workers=w, engine="dask", staged=False),
            f"Dask LocalCluster of {w}, staged": dict(workers=w, engine="dask", staged=True)}
    for n in args.sizes:
        tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
        try:
            generate(tmp / "in", n)
            got = {}
            for i, (name, options) in enumerate(runs.items()):
                got[name] = timed_ingest(tmp / f"run{i}", tmp / "in", **options)
                wall, own, every, contracts = got[name]
                print(f"{n:,} documents, {name}: {n / wall:,.0f} docs/s ({wall:.1f} s wall),"
                      f" ingest process {own:.1f} CPU s, with workers {every:.1f} CPU s,"
                      f" {contracts:,} contracts")
            if not runs:
                writer_alone(tmp, tmp / "in")
                continue
            assert len({g[3] for g in got.values()}) == 1, got
            serial = got["one process"][0]
            for name in list(runs)[1:]:
                ratio(f"{n} docs: {name}, wall", got[name][0], "one process", serial)
            for engine in (f"local pool of {w}", f"Dask LocalCluster of {w}"):
                rows, staged = got[f"{engine}, rows"], got[f"{engine}, staged"]
                ratio(f"{n} docs: {engine} staged, wall", staged[0], "rows", rows[0])
                ratio(f"{n} docs: {engine} staged, ingest process CPU", staged[1], "rows",
                      rows[1])
                ratio(f"{n} docs: {engine} staged, all CPU", staged[2], "rows", rows[2])
            writer_alone(tmp, tmp / "in")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"load average {os.getloadavg()[0]:.1f} (1 min)")
    if args.writer_only:
        return
    idle = cluster_overhead(w)
    print(f"an idle LocalCluster of {w} workers, started and stopped: {idle:.2f} s")


if __name__ == "__main__":
    main()
