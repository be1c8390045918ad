"""Fetching from USAspending.gov API v2: award search, then each award's detail.

`POST /api/v2/search/spending_by_award/` with keyword, PSC, NAICS and recipient filters
(contracts only: award types A-D), sorted by award amount. Page-number paging reaches
50,000 records; past that the search continues by keyset (`last_record_unique_id` and
`last_record_sort_value` of the previous page). Each result's `generated_internal_id`
leads to `GET /api/v2/awards/<id>/`, the archived document. The checkpoint is the search,
the page and the keyset of the last page done (paging.numbered_pages).

Filters of different kinds are ANDed by the API, so `--preset surveillance` runs one
search per kind (keywords, PSC codes, NAICS codes), each ORing its values.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from survtrack.scrapers.paging import each_document, numbered_pages
from survtrack.scrapers.presets import require
from survtrack.scrapers.scrape import FetchContext, LayoutChanged

HERE = Path(__file__).parent
PUBLIC_AWARD = "https://www.usaspending.gov/award/{}"
PAGE_SIZE = 100
PAGE_LIMIT_RECORDS = 50_000  # the API serves page-number paging up to this many records
CONTRACT_TYPES = ["A", "B", "C", "D"]
FIELDS = ["Award ID", "Recipient Name", "Award Amount", "Start Date", "Awarding Agency",
          "generated_internal_id"]
PRESET_FILTERS = {"keyword": "keywords", "psc": "psc_codes", "naics": "naics_codes"}


def searches(params: dict) -> list[dict]:
    preset = require(HERE, "usaspending", params.get("preset"))
    out = [{PRESET_FILTERS[k]: list(v)} for k, v in preset.items()]
    if params.get("query"):
        out.insert(0, {"keywords": [params["query"]]})
    return out


def filters(params: dict, search: dict) -> dict:
    out = {"award_type_codes": CONTRACT_TYPES, **search,
           "time_period": [{"start_date": params.get("since") or "2007-10-01",
                            "end_date": params.get("until") or date.today().isoformat()}]}
    if params.get("recipient"):
        out["recipient_search_text"] = [params["recipient"]]
    return out


def fetch(ctx: FetchContext) -> Iterator:
    params = ctx.params
    limit = int(params.get("page_size") or PAGE_SIZE)
    keyset_after = int(params.get("keyset_after") or PAGE_LIMIT_RECORDS)
    if not (params.get("query") or params.get("preset") or params.get("recipient")):
        raise ValueError("usaspending needs --query, --recipient or --preset surveillance")
    todo = searches(params) if (params.get("query") or params.get("preset")) else [{}]
    url = ctx.url("/api/v2/search/spending_by_award/")

    def page(search: dict, number: int, state: dict):
        body = {"filters": filters(params, search), "fields": FIELDS,
                "sort": "Award Amount", "order": "desc", "limit": limit,
                "subawards": False, "page": number}
        keyset = state.get("keyset")
        if number * limit > keyset_after and keyset:  # past the page-number window
            body |= {"page": 1, "last_record_unique_id": keyset[0],
                     "last_record_sort_value": keyset[1]}
        data = ctx.client.post(url, json=body, kind="listing", expect="json").json()
        if "results" not in data or "page_metadata" not in data:
            raise LayoutChanged(url, "results and page_metadata in the search response")
        yield from each_document(ctx, _awards(ctx, url, data["results"]), "json",
                                 "application/json")
        meta = data["page_metadata"]
        state["keyset"] = [meta.get("last_record_unique_id"), meta.get("last_record_sort_value")]
        return not meta.get("hasNext") or not data["results"]

    yield from numbered_pages(ctx, todo, page)


def _awards(ctx: FetchContext, url: str, results: list[dict]) -> Iterator[tuple[str, str]]:
    """(award detail URL, public award page) of each search result."""
    for row in results:
        award = row.get("generated_internal_id")
        if not award:
            raise LayoutChanged(url, "generated_internal_id in a search result")
        yield ctx.url(f"/api/v2/awards/{award}/"), PUBLIC_AWARD.format(award)
