"""Numbers, money and dates as people read them: separators, symbols, short scales."""

from __future__ import annotations

import gettext
import math
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pycountry

from survtrack import datafiles
from survtrack.analysis.spending import NO_COUNTRY

from .i18n import t

NBSP = "\u00a0"
SCALES = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand"))
MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@lru_cache(maxsize=1)
def _symbols() -> dict[str, str]:
    return {row["currency"]: row["symbol"] for row in datafiles.rows(
        Path(__file__).with_name("currency_symbols.csv"), ("currency", "symbol"))}


def missing(value) -> bool:
    """None, or any of pandas' missing values (NaN in float and text columns, NaT in dates,
    NA in nullable integers): DuckDB's NULL reaches the dashboard as any of them."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _localise(text: str, lang: str) -> str:
    """English 1,234.5 -> Russian 1 234,5 (non-breaking space, decimal comma)."""
    if lang != "ru":
        return text
    return text.replace(",", NBSP).replace(".", ",")


def number(value, lang: str = "en", decimals: int = 0) -> str:
    if missing(value):
        return "–"
    return _localise(f"{float(value):,.{decimals}f}", lang)


def exact(value, lang: str = "en") -> str:
    """A published figure with all its significant digits, none added: Decimal('0.460000')
    -> '0.46', Decimal('1500000.00') -> '1,500,000', 15189715.19 -> '15,189,715.19'."""
    if missing(value):
        return "–"
    if isinstance(value, Decimal):
        whole = value == value.to_integral()
        return _localise(f"{value.quantize(Decimal(1)):,}" if whole
                         else f"{value.normalize():,f}", lang)
    return number(value, lang, 0 if float(value).is_integer() else 2)


def short(value, lang: str = "en") -> str:
    """3,312,000,000 -> '3.3 bn' (ru '3,3 млрд'); below a thousand, the number itself."""
    if missing(value):
        return "–"
    value = float(value)
    for size, key in SCALES:
        if abs(value) >= size:
            scaled = value / size
            digits = 1 if abs(scaled) < 100 else 0
            return f"{_localise(f'{scaled:,.{digits}f}', lang)}{NBSP}{t(key, lang)}"
    return number(value, lang)


def money(value, currency: str, lang: str = "en", compact: bool = True) -> str:
    """'$3.3 bn', '₽1,750,000.00'; Russian puts the symbol after: '3,3 млрд $'."""
    if missing(value):
        return "–"
    amount = short(value, lang) if compact else number(value, lang, 2)
    return _with_symbol(amount, currency, lang)


def money_ticks(ticks: list[float], currency: str, lang: str = "en") -> list[str]:
    """One format for a whole axis: every tick in the scale of the largest (k, m, bn, tn),
    with the decimals the steps need and no more ('$0', '$50 m', '$100 m', '$150 m';
    '₽0', '₽0.5 bn', '₽1.0 bn'), the currency's symbol as money() writes it."""
    top = max((abs(v) for v in ticks), default=0)
    # below 10,000 the plain number reads better than '€0.2 k'
    size, key = next(((s, k) for s, k in SCALES if top >= max(s, 1e4)), (1, None))
    scaled = [v / size for v in ticks]
    decimals = next((d for d in range(3) if all(abs(round(v, d) - v) < 1e-9 for v in scaled)),
                    3)
    out = []
    for value, plain in zip(ticks, scaled):
        if value == 0:
            out.append(money(0, currency, lang))
            continue
        amount = _localise(f"{plain:,.{decimals}f}", lang) + (f"{NBSP}{t(key, lang)}" if key
                                                              else "")
        out.append(_with_symbol(amount, currency, lang))
    return out


def _with_symbol(amount: str, currency: str, lang: str) -> str:
    symbol = _symbols().get(currency)
    if symbol is None:
        return f"{amount}{NBSP}{currency}"
    if lang == "ru":
        return f"{amount}{NBSP}{symbol}"
    return f"-{symbol}{amount[1:]}" if amount.startswith("-") else f"{symbol}{amount}"


@lru_cache(maxsize=4)
def _locale(lang: str):
    from babel import Locale

    return Locale.parse(lang)


def count(n, noun: str, lang: str = "en") -> str:
    """'1 contract', '5 contracts'; '1 контракт', '3 контракта', '5 контрактов': the number
    and the noun's plural form by the language's rule (Babel/CLDR), from the i18n rows
    `n_<noun>_<form>` (forms one, few, many, other)."""
    if missing(n):
        return "–"
    form = _locale(lang).plural_form(abs(int(n)))
    text = t(f"n_{noun}_{form}", lang)
    if text == f"n_{noun}_{form}":  # a form the language does not name: its 'other'
        text = t(f"n_{noun}_other", lang)
    return text.format(n=number(n, lang))


def percent(share, lang: str = "en") -> str:
    if missing(share):
        return "–"
    return _localise(f"{100 * float(share):.1f}", lang) + f"{NBSP}%"


def day(value, lang: str = "en") -> str:
    """A date as '12 May 2016' (ru '12.05.2016')."""
    if missing(value):
        return "–"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime().date()
    if lang == "ru":
        return f"{value.day:02d}.{value.month:02d}.{value.year}"
    return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top` (steps of 1, 2 or 5 x 10^k)."""
    if missing(top) or top <= 0:
        return [0.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(top / step) + 1)]


@lru_cache(maxsize=4)
def _country_translation(lang: str):
    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang],
                               fallback=True)


def country_name(code: str | None, lang: str = "en") -> str:
    """'Russian Federation (RU)' / 'Российская Федерация (RU)'; the code alone if unknown."""
    if missing(code) or not code or code == NO_COUNTRY:
        return t("unknown_country", lang)
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return f"{_country_translation(lang).gettext(country.name)} ({code})"
