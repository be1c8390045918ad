"""Fetching Bank of Russia daily exchange rates: `/scripts/XML_daily.asp?date_req=dd/mm/yyyy`
for each day of `--since`..`--until` (default: today). One XML per day is archived; the
checkpoint is the next day to fetch (paging.each_day). Past days never change, so they are
cached long.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from survtrack.scrapers.paging import each_day
from survtrack.scrapers.scrape import FetchContext


def fetch(ctx: FetchContext) -> Iterator:
    if ctx.params.get("query") or ctx.params.get("preset"):
        raise ValueError("cbr takes only --since and --until (a date window)")
    today = date.today()
    first = date.fromisoformat(ctx.params.get("since") or today.isoformat())
    last = date.fromisoformat(ctx.params.get("until") or today.isoformat())

    def day_page(day: date):
        url = ctx.url(f"/scripts/XML_daily.asp?date_req={day:%d/%m/%Y}")
        resp = ctx.client.get(url, kind="detail" if day < today else "listing", expect="xml")
        yield ctx.document(url, resp.content, "application/xml")

    yield from each_day(ctx, first, last, day_page)
