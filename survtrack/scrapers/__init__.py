"""Sources: one module (or folder) per publisher, each declaring `SOURCE`."""

from __future__ import annotations

from importlib import import_module

from .base import Source

# name -> module; a source is added by adding its module here
MODULES = {
    "eis": "survtrack.scrapers.eis",
    "curated": "survtrack.scrapers.curated",
    "usaspending": "survtrack.scrapers.usaspending",
    "ted": "survtrack.scrapers.ted",
    "cbr": "survtrack.scrapers.cbr",
    "ocds": "survtrack.scrapers.ocds",
}


def get(name: str) -> Source:
    if name not in MODULES:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(sorted(MODULES))}")
    return import_module(MODULES[name]).SOURCE


def all_sources() -> list[Source]:
    return [get(name) for name in MODULES]
