"""Sources: one folder per publisher, `survtrack/scrapers/<source>/`, found by looking.

A folder is a source when it holds `source.py` declaring `SOURCE = Source(...)` (base.py):
the registry scans this package's folders for one, so adding a source is adding its folder.
`SURVTRACK_SOURCE_PATH` (folders separated by the OS path separator) names more folders
holding source folders, scanned the same way: a source kept outside the project, or a test's.
"""

from __future__ import annotations

import os
import pkgutil
from functools import cache
from importlib import import_module
from pathlib import Path

from .base import Source

SOURCE_PATH_ENV = "SURVTRACK_SOURCE_PATH"
_OWN_PATH = list(__path__)


@cache
def _registry() -> dict[str, str]:
    """source name -> module declaring it, for every folder with a source.py."""
    extra = [str(Path(f)) for f in os.environ.get(SOURCE_PATH_ENV, "").split(os.pathsep) if f]
    __path__[:] = _OWN_PATH + [f for f in extra if f not in _OWN_PATH]
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        # looked for as a file: importing the package to ask would import every parser
        if info.ispkg and (Path(info.module_finder.path) / info.name / "source.py").is_file():
            found[info.name] = f"{__name__}.{info.name}.source"
    return found


def refresh() -> None:
    """Scan again (after SURVTRACK_SOURCE_PATH changed)."""
    _registry.cache_clear()


def names() -> list[str]:
    return list(_registry())


def get(name: str) -> Source:
    registry = _registry()
    if name not in registry:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(registry)}")
    source = import_module(registry[name]).SOURCE
    if source.name != name:
        raise RuntimeError(f"{registry[name]} declares source {source.name!r}, not {name!r}:"
                           " a source's name is its folder's")
    return source


def all_sources() -> list[Source]:
    return [get(name) for name in _registry()]


def markdown() -> str:
    """docs/sources.md: every source's declaration, as Markdown."""
    head = ["# Sources", "", "Generated from each source's declaration"
            " (`survtrack/scrapers/<source>/source.py`) by `survtrack docs`.", ""]
    return "\n".join(head + [s.markdown() for s in all_sources()])
