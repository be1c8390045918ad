"""Search presets kept as data in each source's folder: `<source>/surveillance.csv` lists the
product codes (OKPD2, PSC, NAICS, CPV) and the words in the source's language that a
surveillance scrape asks for, one `field,value,doc` row each."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path

from survtrack.datafiles import rows


@cache
def read(path: Path) -> dict[str, tuple[str, ...]]:
    """field -> values of one preset file (empty if there is none)."""
    if not path.is_file():
        return {}
    out: dict[str, list[str]] = defaultdict(list)
    for row in rows(path, ("field", "value")):
        out[row["field"]].append(row["value"])
    return {k: tuple(v) for k, v in out.items()}


def require(folder: Path, source: str, preset: str | None) -> dict[str, tuple[str, ...]]:
    """The terms of `--preset` for the source in `folder` ({} without a preset)."""
    if preset in (None, ""):
        return {}
    if preset != "surveillance":
        raise ValueError(f"unknown preset {preset!r} for {source}; known: surveillance")
    found = read(folder / "surveillance.csv")
    if not found:
        raise ValueError(f"no surveillance preset for {source}")
    return found
