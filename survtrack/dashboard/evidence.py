"""The red flags' evidence in the page's language. The rules (analysis/flags/rules.py) write it
in English; `evidence_ru.csv` says each kind of sentence in Russian, and the legal bases come
from `basis_ru` of analysis/flags/thresholds.csv. What an unknown flag needs ("needs buyer_id;
vendor_id; …", from flags.csv's `requires`) reads in words in both languages (flag_needs.csv)."""

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


@cache
def _needs() -> dict[str, dict[str, str]]:
    return {row["part"]: row for row in datafiles.rows(
        Path(__file__).with_name("flag_needs.csv"), ("part", "en", "ru"))}


# a procedure code's list, as survtrack names it ("eis223_purchase_type:30000 …"): the code
# and its name are the document's, the list's name is ours and stays off screen
CODE_LIST = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+:(?=\S)")
PROCEDURE_TYPE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")  # "negotiated_with_call"
NEEDS = "needs "  # flags.for_contract: an unknown flag's evidence, "needs <requires>"


def needs(requires: str, lang: str) -> str:
    """A flag's `requires` (parts split at "; ", alternatives at " or ") in words."""
    words = _needs()
    return "; ".join(f" {t('or', lang)} ".join(words.get(alt, {}).get(lang, alt)
                                               for alt in part.split(" or "))
                     for part in requires.split("; "))


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
    if text and text.startswith(NEEDS):
        return f"{t('flag_needs', lang)}: {needs(text[len(NEEDS):], lang)}"
    if not text:
        return text
    text = CODE_LIST.sub("", text)
    if lang != "ru":  # as written, procedure types in words ("negotiated with a call")
        return PROCEDURE_TYPE.sub(lambda m: _part("type", m[0], lang)
                                  if t(f"procedure_type_{m[0]}", lang) != f"procedure_type_{m[0]}"
                                  else m[0], text)
    for pattern, russian in _sentences():
        found = pattern.fullmatch(text)
        if found:
            return russian.format(**{name: _part(name, value, lang) for name, value
                                     in found.groupdict(default="").items()})
    return text
