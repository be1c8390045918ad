"""The analysis floor's data files (`survtrack/analysis/data/*.csv`), read once each through
the project's one data-file reader (survtrack/datafiles.py)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from survtrack.datafiles import rows

FOLDER = Path(__file__).parent / "data"


@cache
def table(name: str) -> tuple[dict, ...]:
    """Rows of `survtrack/analysis/data/<name>.csv`."""
    return tuple(rows(FOLDER / f"{name}.csv"))
