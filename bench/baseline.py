"""What every benchmark prints beside its own figure: a bare baseline doing the same work with
no survtrack in it (parsing the same file with lxml/ijson/csv alone, one SQL statement over
the same rows), run in the same process, and the ratio of the two. A ratio, unlike seconds,
compares across machines and across days on a busy one: `bench/compare.sh REV` runs the
benchmarks on an older revision and on this one and the ratios say what the change did.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best(fn: Callable[[], object], runs: int = 3) -> float:
    """The fastest of `runs` calls, in seconds (the least disturbed by other processes)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def timings(fn: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of `repeat` calls, after one warm-up call (the first touch of the file's
    pages)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return times


def p95(times: list[float]) -> float:
    """The 95th percentile of `times` (nearest rank)."""
    times = sorted(times)
    return times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def ratio(label: str, seconds: float, baseline_label: str, baseline_seconds: float) -> None:
    """Print `label` against its baseline: RATIO <label>: 12.3x <baseline> (a.aa s / b.bb s)."""
    print(f"RATIO {label}: {seconds / baseline_seconds:.2f}x {baseline_label}"
          f" ({seconds:.3f} s / {baseline_seconds:.3f} s)", flush=True)
