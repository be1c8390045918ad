"""Typed values from published text: money, dates, identifiers. Bad values raise Rejected
naming the field, so an analyst sees which element of which document is wrong."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from survtrack.warehouse.protocol import Rejected

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DATE_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}([+-]\d{2}:\d{2})?$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+$")
_PLAIN_AMOUNT = re.compile(r"-?[0-9]{1,18}(?:\.[0-9]+)?")  # under 10^18, nothing to clean


# No public contract reaches 10^18 in any currency; the warehouse's DECIMAL(24,2) holds 10^22,
# so a larger figure (1e308 in a hostile file) is refused here, naming its field, instead of
# failing the cast when the whole document is written.
MAX_AMOUNT = Decimal(10) ** 18


def money(value: str | None, field: str) -> Decimal | None:
    if type(value) is str and _PLAIN_AMOUNT.fullmatch(value):  # most published amounts
        return Decimal(value)
    if value is None or str(value).strip() == "":
        return None
    raw = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if "," in raw and "." not in raw:
        # '1234,56' is a Russian decimal comma; '1,234' could be a thousand or 1.234
        if _THOUSANDS.match(raw):
            raise Rejected(f"ambiguous amount (thousands or decimal comma?): {value!r}", field)
        raw = raw.replace(",", ".")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise Rejected(f"not an amount: {value!r}", field) from None
    if not amount.is_finite():
        raise Rejected(f"not a finite amount: {value!r}", field)
    if abs(amount) >= MAX_AMOUNT:
        raise Rejected(f"amount out of range (10^18 or more): {str(value)[:40]!r}", field)
    return amount


def plain_amount(value: str) -> bool:
    """Whether `money` reads `value` as it is: digits, a point, nothing to strip or clean."""
    return _PLAIN_AMOUNT.fullmatch(value) is not None


def number(value: str | None, field: str) -> float | None:
    if type(value) is str and _PLAIN_AMOUNT.fullmatch(value):
        return float(value)  # what float(Decimal(value)) gives, without the Decimal
    amount = money(value, field)
    return float(amount) if amount is not None else None


def day(value: str | None, field: str) -> date | None:
    """A date from '2016-11-21', '2016-11-21+03:00' or '2015-01-15T00:00:00'."""
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise Rejected(f"not a date: {value!r}", field) from None


def dated(*candidates: tuple[str, date | None]) -> dict:
    """`dated_on`, `year` and `date_basis` of a contract: the first known of its dates, given
    best first as (basis, date), e.g. ("signed", signed_on), ("award_decision", awarded).
    A contract without a signing date keeps signed_on NULL but still has a year."""
    for basis, when in candidates:
        if when is not None:
            when = when.date() if isinstance(when, datetime) else when
            return {"dated_on": when, "year": when.year, "date_basis": basis}
    return {"dated_on": None, "year": None, "date_basis": None}


def moment(value: str | None, field: str) -> datetime | None:
    """A timestamp, converted to naive UTC where the source gives an offset."""
    if not value:
        return None
    raw = value.strip().replace("Z", "+00:00")
    if _DATE_WITH_OFFSET.match(raw):  # '2024-09-02+02:00' is a day, not 02:00 on it
        return datetime.combine(date.fromisoformat(raw[:10]), datetime.min.time())
    if len(raw) > 16 and raw[-3] == ":" and raw[-6] in "+-":  # most: '…T13:44:22.541+03:00'
        # the local time less its offset, as astimezone(UTC) gives it: aware datetimes'
        # astimezone and replace(tzinfo=None) cost ~5x the parse
        delta = _offset(raw[-6:])
        if delta is not None:
            try:
                local = datetime.fromisoformat(raw[:-6])
            except ValueError:
                local = None
            if local is not None and local.tzinfo is None:
                return local - delta
    try:
        stamp = datetime.fromisoformat(raw)
    except ValueError:
        try:
            return datetime.combine(date.fromisoformat(raw[:10]), datetime.min.time())
        except ValueError:
            raise Rejected(f"not a timestamp: {value!r}", field) from None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp


_OFFSETS: dict = {}  # '+03:00' -> its timedelta, or None where fromisoformat refuses it


def _offset(text: str):
    """The UTC offset `text` ('+03:00') stands for, read by `datetime.fromisoformat` itself
    (None where it refuses it), remembered: a corpus uses a few."""
    delta = _OFFSETS.get(text, _UNKNOWN)
    if delta is _UNKNOWN:
        try:
            delta = datetime.fromisoformat("2000-01-01T00:00:00" + text).utcoffset()
        except ValueError:
            delta = None
        if len(_OFFSETS) < 1000:
            _OFFSETS[text] = delta
    return delta


_UNKNOWN = object()
_CODES: dict[str, str] = {}  # published currency -> its valid code: a corpus uses a handful


def currency(value: str | None, field: str, default: str | None = None) -> str | None:
    if not value:
        return default
    code = _CODES.get(value)
    if code is not None:
        return code
    code = value.strip().upper()
    if code == "RUR":  # the pre-1998 rouble code still appears in some EIS documents
        code = "RUB"
    if not _CURRENCY.match(code):
        raise Rejected(f"not an ISO 4217 currency code: {value!r}", field)
    if len(_CODES) < 1000:  # bounded for a hostile corpus of made-up codes
        _CODES[value] = code
    return code


def integer(value: str | None, field: str, default: int | None = None) -> int | None:
    if value is None or value.strip() == "":
        return default
    try:
        return int(value.strip())
    except ValueError:
        raise Rejected(f"not an integer: {value!r}", field) from None


def clean(value: str | None, limit: int | None = None) -> str | None:
    if not value:
        return None
    if value.isprintable() and value[0] != " " and value[-1] != " " and "  " not in value:
        out = value  # nothing to collapse (isprintable() rejects all whitespace but " ")
    else:
        out = " ".join(value.split())
    if limit and len(out) > limit:
        out = out[: limit - 1] + "…"
    return out or None


def clip(value: str | None, limit: int) -> str | None:
    """`clean` for text made of parts already cleaned (joined with "; "): only the limit."""
    if not value:
        return None
    return value[: limit - 1] + "…" if len(value) > limit else value


def name_key(name: str) -> str:
    """Lower-case, punctuation-free name for `name:<source>:<key>` identifiers."""
    return re.sub(r"[^\w]+", "-", name.casefold()).strip("-")
