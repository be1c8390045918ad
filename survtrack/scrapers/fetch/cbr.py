"""Fetching Bank of Russia daily exchange rates: `/scripts/XML_daily.asp?date_req=dd/mm/yyyy`
for each day of `--since`..`--until` (default: today). One XML per day is archived; the
checkpoint is the next day to fetch. Past days never change, so they are cached long.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from . import Checkpoint, FetchContext

BASE_URL = "https://www.cbr.ru"
RATE_LIMIT = 1.0


def base_url(params: dict) -> str:
    return BASE_URL


def rate_for(params: dict) -> float | None:
    return None


def fetch(ctx: FetchContext) -> Iterator:
    if ctx.params.get("query") or ctx.params.get("preset"):
        raise ValueError("cbr takes only --since and --until (a date window)")
    today = date.today()
    first = date.fromisoformat(ctx.params.get("since") or today.isoformat())
    last = date.fromisoformat(ctx.params.get("until") or today.isoformat())
    day = date.fromisoformat(ctx.checkpoint["date"]) if ctx.checkpoint.get("date") else first
    while day <= last:
        url = ctx.url(f"/scripts/XML_daily.asp?date_req={day:%d/%m/%Y}")
        resp = ctx.client.get(url, kind="detail" if day < today else "listing", expect="xml")
        yield ctx.document(url, resp.content, "application/xml")
        day += timedelta(days=1)
        yield Checkpoint({"date": day.isoformat()}, more=day <= last)
