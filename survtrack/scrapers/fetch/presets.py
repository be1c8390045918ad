"""Search presets kept as data: `surveillance_preset.csv` lists, per source, the product
codes (OKPD2, PSC, NAICS, CPV) and the words in the source's language that a surveillance
scrape asks for; `ocds_publishers.csv` names known OCDS publishers with their own rate."""

from __future__ import annotations

import csv
from collections import defaultdict
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent


@cache
def surveillance(source: str) -> dict[str, tuple[str, ...]]:
    """field -> values of the surveillance preset for one source (empty if none)."""
    out: dict[str, list[str]] = defaultdict(list)
    with open(HERE / "surveillance_preset.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["source"] == source:
                out[row["field"]].append(row["value"])
    return {k: tuple(v) for k, v in out.items()}


@cache
def ocds_publishers() -> dict[str, dict[str, str]]:
    with open(HERE / "ocds_publishers.csv", encoding="utf-8") as fh:
        return {row["name"]: row for row in csv.DictReader(fh)}


def require(source: str, preset: str | None) -> dict[str, tuple[str, ...]]:
    if preset in (None, ""):
        return {}
    if preset != "surveillance":
        raise ValueError(f"unknown preset {preset!r} for {source}; known: surveillance")
    found = surveillance(source)
    if not found:
        raise ValueError(f"no surveillance preset for {source}")
    return found
