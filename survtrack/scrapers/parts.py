"""The ingest's workers lent to a parser for the parts of one big document.

A source whose documents continue each other (OCDS: a process is compiled from releases
earlier documents brought) is loaded one document after another, in the ingest process that
holds the warehouse. Within one big document its parts may still stand alone once this
process has gathered what each needs (an OCDS process: its releases' places in the archive
and the earlier ones' entries). The parser hands them to `map`, which runs them on the same
workers a parallel ingest uses (a local pool forked from a fork server, or a Dask cluster)
and yields the results in the order given, a few chunks per worker in flight. The workers
start at the first `map`: an ingest of small documents starts none.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator

from survtrack.scrapers import ingest as pool

# A document of fewer parts than this is parsed in the ingest process alone: handing out the
# work costs more than it saves. OCDS counts releases: on 2 cores, 4,000 one-release
# processes loaded in 1.42 s wall with 2 workers against 1.30 s alone, 10,000 in 2.66 against
# 2.82 s, 12,000 releases of 4,000 processes in 2.61 against 3.34 s (docs/ocds.md)
PART_MIN = 10_000


class Parts:
    """`map(fn, args)`: fn(*a) for each a of `args` on the ingest's workers, in order."""

    def __init__(self, engine: str, workers: int, scheduler: str | None,
                 min_parts: int = PART_MIN):
        self.engine, self.workers, self.scheduler = engine, workers, scheduler
        self.min_parts = min_parts
        self._executor = self._submit = None
        self.handed = 0  # chunks handed to the workers

    def map(self, fn: Callable, args: Iterable[tuple]) -> Iterator:
        if self._submit is None:
            module = fn.__module__  # the workers' fork server imports the job's module once
            self._executor = pool._executor(self.engine, self.workers, self.scheduler,
                                            (module,) if module.startswith("survtrack.") else ())
            self._submit = self._executor.__enter__()
        inflight: deque = deque()
        for a in args:
            inflight.append(self._submit(fn, *a))
            self.handed += 1
            if len(inflight) >= self.workers * pool.IN_FLIGHT:
                yield inflight.popleft().result()
        while inflight:
            yield inflight.popleft().result()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.__exit__(None, None, None)
            self._executor = self._submit = None
