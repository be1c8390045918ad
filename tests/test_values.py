"""Typed values from published text: a wrong amount is refused, never guessed."""

import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import Rejected


@pytest.mark.parametrize("text,expected", [
    ("1207680.35", Decimal("1207680.35")), ("1 207 680,35", Decimal("1207680.35")),
    ("1234,5", Decimal("1234.5")), ("\u00a0200000000.00", Decimal("200000000.00")),
    ("1.518971519E7", Decimal("15189715.19")), ("", None), (None, None),
])
def test_money(text, expected):
    assert v.money(text, "price") == expected


@pytest.mark.parametrize("text", ["1,234", "12,345,678", "two hundred", "NaN", "Infinity"])
def test_money_refuses_what_it_cannot_read_for_sure(text):
    with pytest.raises(Rejected) as exc:
        v.money(text, "priceInfo/price")
    assert exc.value.field == "priceInfo/price"


def test_dates_and_moments():
    assert v.day("2016-11-21+03:00", "signDate") == date(2016, 11, 21)
    assert v.day("2015-01-15T00:00:00", "contractDate") == date(2015, 1, 15)
    assert v.moment("2016-11-21T13:44:22.541+03:00", "publishDate") == datetime(
        2016, 11, 21, 10, 44, 22, 541000)
    assert v.moment("2024-09-02+02:00", "IssueDate") == datetime(2024, 9, 2)
    with pytest.raises(Rejected):
        v.day("21.11.2016", "signDate")


def _moment_as_before(value, field):
    """v.moment before its shortcut for '…+03:00' (kept here as the reference)."""
    if not value:
        return None
    raw = value.strip().replace("Z", "+00:00")
    if v._DATE_WITH_OFFSET.match(raw):
        return datetime.combine(date.fromisoformat(raw[:10]), datetime.min.time())
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


def _outcome(fn, text):
    try:
        return fn(text, "publishDate")
    except (Rejected, ValueError, OverflowError) as exc:
        return type(exc), str(exc)


def test_moments_read_as_astimezone_reads_them():
    """The shortcut for a timestamp ending in an offset ('+03:00') gives what
    `astimezone(UTC)` gave, and refuses what it refused, on every shape of the parts."""
    days = ["2016-11-21", "0001-01-01", "9999-12-31", "2020-02-29", "2019-02-29", "20161121",
            "2016-W47-1", "2016-13-01"]
    times = ["T13:44:22.541", "T00:00", "T23:59:59.999999", " 13:44", "T13", "T1344",
             "T13:44:22,5", "T25:00", "T13:44-01:00", "T13:44Z", "", "T"]
    offsets = ["+03:00", "-00:00", "+00:00", "-11:30", "+23:59", "+24:00", "+25:00", "+03:75",
               "Z", "+0300", "+03:00:00", "", "+3:00", "-03:0a"]
    rng = random.Random(13)
    texts = [d + t + o for d in days for t in times for o in offsets]
    texts += ["".join(rng.choice("0123456789-:T+Z. ") for _ in range(rng.randint(10, 32)))
              for _ in range(3000)]
    for text in texts:
        assert _outcome(v.moment, text) == _outcome(_moment_as_before, text), text


def test_currency():
    assert v.currency("rur", "c") == "RUB" and v.currency(None, "c", "RUB") == "RUB"
    with pytest.raises(Rejected):
        v.currency("рубль", "currency/code")
