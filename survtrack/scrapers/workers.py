"""Worker processes that start lean: without running the parent's main module again, and
forked from a fork server that has imported what they need once.

multiprocessing's spawn runs the parent's `__main__` again in every child, so that functions
defined there can be unpickled. For `survtrack ingest` that is the `survtrack` script, whose
imports (the CLI, pandas, DuckDB, pyarrow…) cost each worker 1-5 s CPU before it parses a
document (measured, docs/scale.md). The work an ingest hands out (`ingest.parse_files`) lives
in an importable module, so its workers do not need the main module: `context()` makes
processes named `PREFIX…`, which start without it; other processes are left as they were.

The parent is never forked (it holds DuckDB's threads, which a fork would copy half-locked).
With `preload`, the processes are forked from multiprocessing's fork server, a process started
clean that imports those modules once (poolstart.py: the job's modules, pyarrow without numpy
and pandas): two workers then cost about one start instead of two (docs/scale.md). Without a
fork server (Windows) they are spawned, and import them each (stage.worker_start).
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing import context as _context
from multiprocessing import spawn

PREFIX = "survtrack-worker-"
_lock = threading.Lock()
_users = 0  # pools using the fork server (it is one per process)
_original = spawn.get_preparation_data


def _preparation_data(name):
    """What a spawned child is told of its parent; ours are not told the main module."""
    data = _original(name)
    if str(name).startswith(PREFIX):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


class _Named:
    """A pool process named with PREFIX, by which `_preparation_data` knows it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.name = PREFIX + self.name


class _Process(_Named, _context.SpawnProcess):
    pass


class _Context(_context.SpawnContext):
    Process = _Process


class _ForkedProcess(_Named, _context.ForkServerProcess):
    pass


class _ForkServerContext(_context.ForkServerContext):
    Process = _ForkedProcess


def context(preload: tuple[str, ...] = ()) -> _context.BaseContext:
    """A context whose processes do not import the parent's main module and do not inherit
    the parent's DuckDB threads half-locked, as after a fork of the parent. With `preload`
    (where the system has it): forked from a fork server, started clean, that has imported
    those modules once, so each process costs a fork instead of an interpreter's start and
    imports; `stop()` ends the server. Otherwise spawned."""
    if spawn.get_preparation_data is not _preparation_data:
        spawn.get_preparation_data = _preparation_data
    global _users
    if preload and "forkserver" in multiprocessing.get_all_start_methods():
        server = _ForkServerContext()
        with _lock:
            if _users == 0:  # a server already running keeps what it imported
                server.set_forkserver_preload(list(preload))
            _users += 1
        return server
    return _Context()


def stop(ctx: _context.BaseContext) -> None:
    """`ctx` is no longer used (its processes ended): the fork server ends with the last pool
    using it, waited for (its processes' CPU is then counted among this process's children's,
    as spawned processes' is)."""
    global _users
    if isinstance(ctx, _ForkServerContext):
        with _lock:
            _users -= 1
            if _users == 0:
                from multiprocessing import forkserver

                getattr(forkserver._forkserver, "_stop", lambda: None)()
