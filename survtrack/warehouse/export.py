"""Exports of any tidy table to CSV, JSON (an array of row objects) or Parquet, and the rule
every CSV or XLSX the project writes follows: a text cell that a spreadsheet would run as a
formula (it begins with = + - @, a tab or a carriage return; OWASP "CSV injection") is written
with an apostrophe in front, so it stays text."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from .schema import TABLES
from .store import Warehouse

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A cell as written to CSV or XLSX: text a spreadsheet would run gets a leading "'"."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralised_sql(column: str) -> str:
    """The SQL of `neutralise` over a text column, for exports written by DuckDB's COPY."""
    return (f"CASE WHEN left({column}, 1) IN ('=', '+', '-', '@', chr(9), chr(13))"
            f" THEN chr(39) || {column} ELSE {column} END")


FORMATS = {"csv": "(FORMAT csv, HEADER true)", "json": "(FORMAT json, ARRAY true)",
           "parquet": "(FORMAT parquet)"}


def _select(table: str, fmt: str, source: str | None = None) -> str:
    """JSON gets ISO 8601 timestamps ('2016-11-21T10:44:22.541'); dates are ISO already.
    CSV gets its text cells neutralised (see `neutralise`). `source`: SQL of the table's
    rows as read, where they are not the stored ones."""
    columns = TABLES[table].columns
    if fmt == "json":
        replace = [f"strftime({c.name}, '%Y-%m-%dT%H:%M:%S.%g') AS {c.name}"
                   for c in columns if c.type == "TIMESTAMP"]
    elif fmt == "csv":
        replace = [f"{neutralised_sql(c.name)} AS {c.name}"
                   for c in columns if c.type == "VARCHAR"]
    else:
        replace = []
    if source is not None:
        table = f"({source}) {table}"
    if not replace:
        return f"SELECT * FROM {table}"
    return f"SELECT * REPLACE ({', '.join(replace)}) FROM {table}"


def export_table(wh: Warehouse, table: str, fmt: str, output: Path | None = None,
                 source: str | None = None) -> Path | None:
    """Write `table` in `fmt` to `output`, or to standard output when none is given.
    `source`: SQL of its rows as read (the flags' composed ones: analysis/flags
    `stored_sql`), the table's columns."""
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    if fmt not in FORMATS:
        raise KeyError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    key = ", ".join(TABLES[table].key)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        # the path goes in as a string literal: DuckDB's COPY takes no parameter there
        target = str(output).replace("'", "''")
        wh.con.execute(f"COPY ({_select(table, fmt, source)} ORDER BY {key})"
                       f" TO '{target}' {FORMATS[fmt]}")
        return output
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out.{fmt}"
        export_table(wh, table, fmt, path, source)
        with open(path, "rb") as fh:
            shutil.copyfileobj(fh, sys.stdout.buffer)
        sys.stdout.flush()
    return None
