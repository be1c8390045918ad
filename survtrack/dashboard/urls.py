"""The dashboard's URLs: a view's filters as query parameters and back, and the links that
carry them. State lives in the URL, so this is the one place that reads and writes it; the
spending views only ever see a `Filters`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from survtrack.analysis import flags, levels
from survtrack.analysis.spending import MAX_TEXT, MEASURE_COLUMNS, Filters

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_EXCLUDED = 50  # most vendors a URL may exclude
# Filters field -> URL query parameter
QUERY_PARAMS = {"country": "country", "source": "source", "category": "category",
                "buyer": "buyer", "vendor": "vendor", "year_from": "from", "year_to": "to",
                "currency": "currency", "measure": "measure", "flag": "flag",
                "buyer_level": "level"}


def parse_search(search: str | None) -> dict[str, list[str]]:
    return parse_qs((search or "").lstrip("?"), keep_blank_values=False)


def first(query: dict, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def from_query(query: Mapping[str, Any]) -> Filters:
    """Filters from URL query parameters; anything malformed is ignored, not trusted."""

    def text(name: str) -> str | None:
        value = query.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None:
            return None
        value = str(value).strip()
        return value[:MAX_TEXT] or None

    def year(name: str) -> int | None:
        value = text(name)
        return int(value) if value and value.isdigit() and 1900 <= int(value) <= 2100 else None

    excluded = query.get("not_vendor") or []
    if isinstance(excluded, str):
        excluded = [excluded]
    currency = (text("currency") or "USD").upper()
    measure = text("measure")
    flag = text("flag")
    return Filters(
        measure=measure if measure in MEASURE_COLUMNS else "value",
        flag=flag if flag in flags.definitions() else None,
        country=text("country"), source=text("source"), category=text("category"),
        buyer=text("buyer"), vendor=text("vendor"), buyer_level=levels.level(text("level")),
        year_from=year("from"), year_to=year("to"),
        currency=currency if CURRENCY_RE.match(currency) else "USD",
        surveillance_only=text("scope") != "all",
        undated=text("undated") == "1",
        exclude_vendors=tuple(sorted({str(v)[:MAX_TEXT] for v in excluded if v})
                              )[:MAX_EXCLUDED],
    )


def to_query(f: Filters) -> dict[str, str | list[str]]:
    """URL query parameters for the non-default fields, in a stable order (a list value
    repeats its parameter: encode with `urlencode(..., doseq=True)`)."""
    out: dict[str, str | list[str]] = {}
    for name, param in QUERY_PARAMS.items():
        value = getattr(f, name)
        if value is not None and not (name == "currency" and value == "USD") \
                and not (name == "measure" and value == "value") \
                and not (name == "buyer_level" and value == levels.DEFAULT):
            out[param] = str(value)
    if not f.surveillance_only:
        out["scope"] = "all"
    if f.undated:
        out["undated"] = "1"
    if f.exclude_vendors:
        out["not_vendor"] = list(f.exclude_vendors)
    return out


def href(path: str, f: Filters | None = None, lang: str = "en", **extra) -> str:
    """A link to `path` carrying the filters, the language and any extra parameters."""
    params = dict(to_query(f)) if f else {}
    params.update({k: str(v) for k, v in extra.items() if v is not None})
    if lang != "en":
        params["lang"] = lang
    return path + ("?" + urlencode(params, doseq=True) if params else "")


def contract_href(contract_id: str, lang: str = "en") -> str:
    """The contract page: the id URL-encoded whole (ids hold ':' and '/')."""
    return href("/contract/" + quote(contract_id, safe=""), None, lang)


def document_href(document_id: str, lang: str = "en", row: str | None = None) -> str:
    """The document page; with `row` (a contract's native id), only the row of a CSV
    document that the contract came from (a curated lead's row, not the whole CSV)."""
    return href(f"/document/{document_id}", None, lang, row=row)
