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


def project_root(start: Path | None = None) -> Path | None:
    """The survtrack checkout holding `start` (default: the working folder), found upward by
    its pyproject.toml naming the project; None outside one."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "survtrack"' in pyproject.read_text(errors="replace"):
            return folder
    return None


def find_db(value: str | os.PathLike | None = None, start: Path | None = None) -> Path:
    """The warehouse a notebook means: `db_path`'s answer where it exists; else, for a relative
    path, the same path under the project root (Jupyter starts a notebook in `notebooks/`,
    where `data/survtrack.duckdb` or a relative SURVTRACK_DB would otherwise miss)."""
    path = db_path(value)
    here = start or Path.cwd()
    if path.is_absolute() or (here / path).exists():
        return here / path  # an absolute path stays itself
    root = project_root(start)
    return root / path if root and (root / path).exists() else path


def archive_path(db: Path) -> Path:
    env = os.environ.get("SURVTRACK_ARCHIVE")
    return Path(env) if env else db.parent / "archive"


def lock_wait(value: float | None = None) -> float:
    if value is not None:
        return float(value)
    env = os.environ.get("SURVTRACK_LOCK_WAIT")
    return float(env) if env else DEFAULT_LOCK_WAIT


# DuckDB memory for `survtrack build` (classify, competition, threads, flags…): beyond it
# DuckDB spills to the temporary folder instead of taking the machine's memory (DuckDB's own
# default is 80 % of RAM). --memory-limit or SURVTRACK_BUILD_MEMORY; "4GB", "512MB"…
DEFAULT_BUILD_MEMORY = "4GB"
# DuckDB memory while `survtrack ingest` loads: a load needs its batch, and DuckDB would
# otherwise keep every table and index block it touched cached up to 80 % of RAM (a
# 650 k-release OCDS package then outgrew 500 MB). SURVTRACK_INGEST_MEMORY; "256MB", "1GB"…
# The key indexes the load writes come on top (store.py `load_memory`).
DEFAULT_INGEST_MEMORY = "128MB"


def ingest_memory(value: str | None = None) -> str:
    return value or os.environ.get("SURVTRACK_INGEST_MEMORY") or DEFAULT_INGEST_MEMORY


def build_memory(value: str | None = None) -> str:
    return value or os.environ.get("SURVTRACK_BUILD_MEMORY") or DEFAULT_BUILD_MEMORY


def temp_directory(db: Path) -> Path:
    """Where a build spills what does not fit in its memory: SURVTRACK_TEMP_DIR, else
    `<warehouse>.tmp` beside the warehouse (DuckDB's own choice for a file)."""
    env = os.environ.get("SURVTRACK_TEMP_DIR")
    return Path(env) if env else db.with_name(db.name + ".tmp")


def publish_memory() -> str:
    """DuckDB's memory_limit for the snapshot publisher's own connections, the build's
    (SURVTRACK_BUILD_MEMORY, else 4GB; a build passes its own connection). Unbounded, DuckDB
    takes up to 80 % of the machine: a 10 M publish beside other work was killed for memory."""
    return build_memory()
