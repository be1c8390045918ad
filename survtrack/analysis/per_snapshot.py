"""Answers that depend on a published snapshot alone, computed once per process.

A published snapshot (read-only, in a `.snapshot` folder) never changes, so what the views
ask of it beyond the filters (its tables, the filter controls' choices, the busiest parties,
whether it holds context events) is kept per snapshot file; on a warehouse, which changes,
it is computed every time.
"""

from __future__ import annotations

import copy
import weakref
from pathlib import Path
from typing import Any

_KEPT: dict[tuple[str, str], Any] = {}
ENTRIES = 64  # a process serving a few snapshots in turn keeps at most this many answers
_DATABASE_OF: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # con -> (path, readonly)


def kept(con, key: str, compute):
    """`compute()`, kept per snapshot file when `con` reads a published snapshot; a copy is
    returned, so a caller changing it changes nothing kept."""
    found = _DATABASE_OF.get(con)
    if found is None:  # a connection (a thread's cursor) reads one database for life
        found = _DATABASE_OF[con] = con.execute(
            "SELECT path, readonly FROM duckdb_databases()"
            " WHERE database_name = current_database()").fetchone()
    path, readonly = found
    if not (readonly and path and Path(path).parent.name.endswith(".snapshot")):
        return compute()
    found = _KEPT.get((path, key))
    if found is None:
        if len(_KEPT) >= ENTRIES:
            _KEPT.clear()
        found = _KEPT[(path, key)] = compute()
    return copy.deepcopy(found)
