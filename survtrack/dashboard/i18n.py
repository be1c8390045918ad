"""Interface text in English and Russian, from `i18n.csv` (one row per message)."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("en", "ru")


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, str]]:
    with open(Path(__file__).with_name("i18n.csv"), encoding="utf-8", newline="") as fh:
        return {row["key"]: row for row in csv.DictReader(fh)}


def language(value: str | None) -> str:
    return value if value in LANGUAGES else "en"


def t(key: str, lang: str = "en") -> str:
    """The message `key` in `lang`, falling back to English, then to the key itself."""
    row = _table().get(key)
    if row is None:
        return key
    return row.get(language(lang)) or row["en"]
