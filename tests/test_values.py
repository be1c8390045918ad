"""Typed values from published text: a wrong amount is refused, never guessed."""

from datetime import date, datetime
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


def test_currency():
    assert v.currency("rur", "c") == "RUB" and v.currency(None, "c", "RUB") == "RUB"
    with pytest.raises(Rejected):
        v.currency("рубль", "currency/code")
