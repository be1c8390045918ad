"""Where the warehouse and the raw archive live.

`--db` (or SURVTRACK_DB) names the DuckDB file; the raw archive sits beside it in
`archive/` unless SURVTRACK_ARCHIVE says otherwise, so one folder holds a whole warehouse.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = Path("data") / "survtrack.duckdb"
# seconds a command waits while another process holds the warehouse (DuckDB lets one process
# write a file, or several read it); --lock-wait or SURVTRACK_LOCK_WAIT
DEFAULT_LOCK_WAIT = 60.0


def db_path(value: str | os.PathLike | None = None) -> Path:
    return Path(value or os.environ.get("SURVTRACK_DB") or DEFAULT_DB)


def archive_path(db: Path) -> Path:
    env = os.environ.get("SURVTRACK_ARCHIVE")
    return Path(env) if env else db.parent / "archive"


def lock_wait(value: float | None = None) -> float:
    if value is not None:
        return float(value)
    env = os.environ.get("SURVTRACK_LOCK_WAIT")
    return float(env) if env else DEFAULT_LOCK_WAIT
