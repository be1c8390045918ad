"""The one palette of the project's charts (data/palette.csv): the dashboard's figures and the
notebook API colour a series the same way."""

from __future__ import annotations

import hashlib

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


PATTERNS: list[str] = [row["hex"] or "" for row in _ROWS if row["use"] == "pattern"]


def vendor_colour(key: str) -> str:
    """A vendor's colour, from its key alone (a stable hash, not Python's salted one): the same
    in every view, every snapshot and every notebook, whatever the vendor's rank."""
    digest = hashlib.blake2b(str(key).encode("utf-8"), digest_size=4).digest()
    return SERIES[int.from_bytes(digest, "big") % len(SERIES)]


def vendor_styles(keys: list[str]) -> list[tuple[str, str]]:
    """(colour, pattern shape) of each vendor of one chart, in the chart's order: each its own
    colour; a second or third vendor of the same colour gets the next pattern fill, so no two
    bars of a chart look alike while no vendor changes colour."""
    seen: dict[str, int] = {}
    styles = []
    for key in keys:
        colour = vendor_colour(key)
        styles.append((colour, PATTERNS[seen.get(colour, 0) % len(PATTERNS)]))
        seen[colour] = seen.get(colour, 0) + 1
    return styles


def pattern(shape: str) -> dict:
    """A bar's Plotly fill pattern: dark lines over the bar's colour, or none ("")."""
    return {"shape": shape, "fillmode": "overlay", "fgcolor": OUTLINE, "fgopacity": 0.55,
            "size": 7}
