"""The one palette of the project's charts (data/palette.csv): the dashboard's figures and the
notebook API colour a series the same way."""

from __future__ import annotations

from survtrack.analysis.datafiles import table

_ROWS = table("palette")
COLOURS: dict[str, str] = {row["name"]: row["hex"] for row in _ROWS}
SERIES: list[str] = [row["hex"] for row in _ROWS if row["use"] == "series"]
OTHERS: str = next(row["hex"] for row in _ROWS if row["use"] == "others")
MARKER: str = next(row["hex"] for row in _ROWS if row["use"] == "marker")
