"""Exports of any tidy table to CSV, JSON (an array of row objects) or Parquet."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from .schema import TABLES
from .store import Warehouse

FORMATS = {"csv": "(FORMAT csv, HEADER true)", "json": "(FORMAT json, ARRAY true)",
           "parquet": "(FORMAT parquet)"}


def _select(table: str, fmt: str) -> str:
    """JSON gets ISO 8601 timestamps ('2016-11-21T10:44:22.541'); dates are ISO already."""
    stamps = [c.name for c in TABLES[table].columns if c.type == "TIMESTAMP"]
    if fmt != "json" or not stamps:
        return f"SELECT * FROM {table}"
    replace = ", ".join(f"strftime({c}, '%Y-%m-%dT%H:%M:%S.%g') AS {c}" for c in stamps)
    return f"SELECT * REPLACE ({replace}) FROM {table}"


def export_table(wh: Warehouse, table: str, fmt: str, output: Path | None = None) -> Path | None:
    """Write `table` in `fmt` to `output`, or to standard output when none is given."""
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    if fmt not in FORMATS:
        raise KeyError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    key = ", ".join(TABLES[table].key)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        # the path goes in as a string literal: DuckDB's COPY takes no parameter there
        target = str(output).replace("'", "''")
        wh.con.execute(f"COPY ({_select(table, fmt)} ORDER BY {key}) TO '{target}' {FORMATS[fmt]}")
        return output
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out.{fmt}"
        export_table(wh, table, fmt, path)
        with open(path, "rb") as fh:
            shutil.copyfileobj(fh, sys.stdout.buffer)
        sys.stdout.flush()
    return None
