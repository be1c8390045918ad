"""Names' words, shared by entity resolution and classify's vendor rules.

Apart from entities.py so that classify's pool workers import neither pandas nor the
warehouse: a worker spawned to tag contracts needs these few functions alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from functools import cache

from survtrack.analysis.datafiles import table


@cache
def cyrillic() -> dict[str, str]:
    return {r["from"]: r["to"] for r in table("transliteration") if not r["from"].startswith("fold:")}


def _fold_char(ch: str) -> str:
    """Drop Latin diacritics (é -> e, ß stays ß) but keep Cyrillic letters whole (й, ё, ї)."""
    if ch in cyrillic():
        return ch
    return "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))


class _Folds(dict):
    """`str.translate`'s table of `_fold_char`, each character folded once: folding a name
    character by character in Python was a third of a resolution's CPU."""

    def __missing__(self, code: int) -> str:
        self[code] = folded = _fold_char(chr(code))
        return folded


_FOLDED = _Folds()


def tokens(name: str | None) -> list[str]:
    """Lower-case word tokens: quotes, punctuation and № dropped, diacritics folded."""
    if not name:
        return []
    text = name.casefold().replace("№", " ").translate(_FOLDED)
    return re.findall(r"[^\W_]+", text)


@cache
def _legal_forms() -> dict[int, frozenset[tuple[str, ...]]]:
    """Legal forms as word tuples, grouped by length (longest tried first)."""
    by_length: dict[int, set] = defaultdict(set)
    for row in table("legal_forms"):
        form = tuple(tokens(row["form"]))
        by_length[len(form)].add(form)
    return {n: frozenset(by_length[n]) for n in sorted(by_length, reverse=True)}


def strip_legal_forms(words: list[str]) -> list[str]:
    """Remove legal forms from the start and the end of a name (never from its middle)."""
    changed = True
    while changed:
        changed = False
        for n, forms in _legal_forms().items():
            if len(words) > n and tuple(words[:n]) in forms:
                words, changed = words[n:], True
            if len(words) > n and tuple(words[-n:]) in forms:
                words, changed = words[:-n], True
    return words
