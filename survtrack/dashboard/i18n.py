"""Interface text in English and Russian, from `i18n.csv` (one row per message)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from survtrack import datafiles

LANGUAGES = ("en", "ru")


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, str]]:
    return {row["key"]: row
            for row in datafiles.rows(Path(__file__).with_name("i18n.csv"), ("key", "en"))}


def language(value: str | None) -> str:
    return value if value in LANGUAGES else "en"


def grid_locale(lang: str) -> dict[str, str]:
    """AG Grid's own texts (pager, filters, empty state) in `lang`: the `grid_<key>` rows."""
    return {key[len("grid_"):]: t(key, lang) for key in _table() if key.startswith("grid_")}


def dropdown_labels(lang: str) -> dict[str, str]:
    """Dash's dropdown texts (its search box, "2 selected", "No options found") in `lang`:
    the `dropdown_<key>` rows."""
    return {key[len("dropdown_"):]: t(key, lang) for key in _table()
            if key.startswith("dropdown_")}


def t(key: str, lang: str = "en") -> str:
    """The message `key` in `lang`, falling back to English, then to the key itself."""
    row = _table().get(key)
    if row is None:
        return key
    return row.get(language(lang)) or row["en"]
