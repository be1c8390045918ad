"""The `cbr` source's declaration: metadata, base URL, rate limit, scrape options."""

from __future__ import annotations

from survtrack.scrapers.base import Option, Source

from . import parse
from .fetch import fetch

SOURCE = Source(
    name="cbr",
    title="Bank of Russia official exchange rates",
    publisher="Central Bank of the Russian Federation (Банк России)",
    country="RU",
    licence="Official information of the Bank of Russia; reuse citing the source (cbr.ru terms)",
    base_url="https://www.cbr.ru",
    docs_url="https://www.cbr.ru/development/SXML/",
    coverage=("Official rouble rates of foreign currencies, one XML document per day"
              " (XML_daily.asp) or one currency over a date range (XML_dynamic.asp), from 1992."
              " Loaded into fx_rates as units per US dollar (source `cbr`); `survtrack build`"
              " converts rouble contracts with them."),
    caveats=(
        ("A daily document's Date is the day the rates are in force; the Bank sets them the"
         " working day before, and a rate stays in force over weekends and holidays until the"
         " next one (the New Year gap lasts 10+ days)."),
        ("Other currencies are crossed through the dollar (RUB per USD / RUB per unit), so"
         " they carry the Bank's rounding to four decimals."),
        ("XML_dynamic.asp series of currencies other than USD are rejected: they cannot be"
         " expressed per dollar on their own."),
    ),
    formats=("XML (windows-1251): XML_daily.asp, XML_dynamic.asp",),
    parse=parse,
    rate_limit=1.0,
    fetch=fetch,
    options=(Option("since", "first day, YYYY-MM-DD (default: today)"),
             Option("until", "last day, YYYY-MM-DD (default: today)")),
)
