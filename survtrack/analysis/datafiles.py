"""The analysis floor's data files (`survtrack/analysis/data/*.csv`), read once.

Every file is a CSV with a header; a row whose first cell starts with `#` is a comment, so
each file can say where its values come from next to them.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

FOLDER = Path(__file__).parent / "data"


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) for each data row of a CSV file, comments skipped."""
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            first = next(iter(row.values()), "") or ""
            if first.lstrip().startswith("#") or not any((v or "").strip() for v in row.values()):
                continue
            out.append((reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}))
    return out


@cache
def table(name: str) -> tuple[dict, ...]:
    """Rows of `survtrack/analysis/data/<name>.csv`."""
    return tuple(row for _, row in read_rows(FOLDER / f"{name}.csv"))
