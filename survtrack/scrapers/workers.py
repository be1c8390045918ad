"""Worker processes that start lean: spawned without running the parent's main module again.

multiprocessing's spawn runs the parent's `__main__` again in every child, so that functions
defined there can be unpickled. For `survtrack ingest` that is the `survtrack` script, whose
imports (the CLI, pandas, DuckDB, pyarrow…) cost each worker 1-5 s CPU before it parses a
document (measured, docs/scale.md). The work an ingest hands out (`ingest.parse_files`) lives
in an importable module, so its workers do not need the main module: `context()` spawns
processes named `PREFIX…`, which start without it; other processes are left as they were.

The pool's workers start with stage.worker_start (pyarrow without numpy and pandas).
"""

from __future__ import annotations

from multiprocessing import context as _context
from multiprocessing import spawn

PREFIX = "survtrack-worker-"
_original = spawn.get_preparation_data


def _preparation_data(name):
    """What a spawned child is told of its parent; ours are not told the main module."""
    data = _original(name)
    if str(name).startswith(PREFIX):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


class _Process(_context.SpawnProcess):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.name = PREFIX + self.name


class _Context(_context.SpawnContext):
    Process = _Process


def context() -> _context.SpawnContext:
    """A spawn context (children do not inherit the parent's DuckDB threads half-locked, as
    after a fork) whose processes do not import the parent's main module."""
    if spawn.get_preparation_data is not _preparation_data:
        spawn.get_preparation_data = _preparation_data
    return _Context()
