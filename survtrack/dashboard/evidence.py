"""The red flags' evidence in the page's language. The rules (analysis/flags/rules.py) write it
in English; `evidence_ru.csv` says each kind of sentence in Russian, and the legal bases come
from `basis_ru` of analysis/flags/thresholds.csv."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from survtrack import datafiles
from survtrack.analysis.flags import FOLDER as FLAGS_FOLDER

from . import labels
from .i18n import t


@cache
def _sentences() -> list[tuple[re.Pattern, str]]:
    return [(re.compile(row["pattern"]), row["ru"]) for row in datafiles.rows(
        Path(__file__).with_name("evidence_ru.csv"), ("pattern", "ru"))]


@cache
def _bases() -> dict[str, str]:
    return {row["basis"]: row["basis_ru"] for row in datafiles.rows(
        FLAGS_FOLDER / "thresholds.csv", ("basis",)) if row.get("basis_ru")}


def _part(name: str, value: str, lang: str) -> str:
    """A named part of a sentence in `lang`: a category by its name, a legal basis and a
    procedure type in words; codes and amounts as published."""
    if name == "category":
        return labels.category_name(value, lang)
    if name == "basis":
        return _bases().get(value, value)
    if name == "type":
        return t(f"procedure_type_{value}", lang)
    return value


def said(text: str | None, lang: str) -> str | None:
    """`text` (a flag's evidence) in `lang`; a sentence no row of evidence_ru.csv matches stays
    as written."""
    if lang != "ru" or not text:
        return text
    for pattern, russian in _sentences():
        found = pattern.fullmatch(text)
        if found:
            return russian.format(**{name: _part(name, value, lang) for name, value
                                     in found.groupdict(default="").items()})
    return text
