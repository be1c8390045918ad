"""Dask ingest against the local process pool and one process, on the same input, in one run.

Run: python bench/bench_dask_ingest.py [N ...] [--workers 2]   (default sizes 200 2000)

For each size N: N real 44-FZ documents of ../shared/data/eis with distinct registration numbers
(bench_eis_scale.generate; a temporary folder, deleted after), loaded into a fresh warehouse by
`ingest` with --workers 1, with the local pool of --workers processes, and with a Dask
LocalCluster of --workers processes (started and stopped inside the timed call, as
`survtrack ingest --engine dask` does). Printed: documents/s (wall) and the wall-time ratio of
each to the single process and of Dask to the local pool; then the cluster's own cost (start
and stop of an idle LocalCluster), which is what a small input pays for Dask. Every warehouse
is checked to hold the same number of contracts.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from baseline import ratio
from bench_eis_scale import generate

from survtrack import scrapers
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import Warehouse


def timed_ingest(folder: Path, inputs: Path, **options) -> tuple[float, int]:
    with Warehouse(folder / "w.duckdb") as wh:
        start = time.perf_counter()
        ingest(wh, scrapers.get("eis"), [inputs], **options)
        wall = time.perf_counter() - start
        return wall, wh.count("contracts")


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
    args = parser.parse_args()
    w = args.workers
    for n in args.sizes:
        tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
        try:
            generate(tmp / "in", n)
            serial, c1 = timed_ingest(tmp / "serial", tmp / "in", workers=1)
            local, c2 = timed_ingest(tmp / "local", tmp / "in", workers=w)
            dask, c3 = timed_ingest(tmp / "dask", tmp / "in", workers=w, engine="dask")
            assert c1 == c2 == c3, (c1, c2, c3)
            print(f"{n:,} documents ({c1:,} contracts): one process {n / serial:,.0f} docs/s,"
                  f" local pool of {w} {n / local:,.0f} docs/s, Dask LocalCluster of {w}"
                  f" {n / dask:,.0f} docs/s (wall)")
            ratio(f"{n} docs: local pool of {w}, wall", local, "one process", serial)
            ratio(f"{n} docs: Dask LocalCluster of {w}, wall", dask, "one process", serial)
            ratio(f"{n} docs: Dask LocalCluster of {w}, wall", dask, f"local pool of {w}", local)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    idle = cluster_overhead(w)
    print(f"an idle LocalCluster of {w} workers, started and stopped: {idle:.2f} s")


if __name__ == "__main__":
    main()
