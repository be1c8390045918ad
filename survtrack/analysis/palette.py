"""The one palette of the project's charts (data/palette.csv): the dashboard's figures and the
notebook API colour a series the same way."""

from __future__ import annotations

from survtrack.analysis.datafiles import table

_ROWS = table("palette")
COLOURS: dict[str, str] = {row["name"]: row["hex"] for row in _ROWS}
SERIES: list[str] = [row["hex"] for row in _ROWS if row["use"] == "series"]
OTHERS: str = next(row["hex"] for row in _ROWS if row["use"] == "others")
MARKER: str = next(row["hex"] for row in _ROWS if row["use"] == "marker")
OUTLINE: str = next(row["hex"] for row in _ROWS if row["use"] == "outline")


def contrast(a: str, b: str = "#FFFFFF") -> float:
    """WCAG contrast ratio of two '#RRGGBB' colours (1 to 21)."""
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
                   for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
