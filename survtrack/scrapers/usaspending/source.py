"""The `usaspending` source's declaration: metadata, base URL, rate limit, scrape options."""

from __future__ import annotations

from survtrack.scrapers.base import QUERY, SINCE, UNTIL, Option, Source, preset_option

from . import parse
from .fetch import fetch

SOURCE = Source(
    name="usaspending",
    title="USAspending.gov (United States federal awards)",
    publisher="US Department of the Treasury, Bureau of the Fiscal Service",
    country="US",
    licence="US federal government data: public domain (17 U.S.C. 105); API code CC0-1.0",
    base_url="https://api.usaspending.gov",
    docs_url="https://api.usaspending.gov/docs/endpoints",
    coverage=("Federal prime contract awards and IDVs (FPDS data as published by USAspending):"
              " award detail responses (GET /api/v2/awards/<id>/), spending_by_award search"
              " pages (POST /api/v2/search/spending_by_award/), recipient profiles, and bulk"
              " award CSVs (prime transactions, folded into awards, and prime award"
              " summaries). Assistance awards (grants, loans) are archived but not loaded."),
    caveats=(
        ("Amounts are obligations (total_obligation, total_dollars_obligated), not outlays"
         " and not values: an IDV's ceiling (base_and_all_options) is never used, so an IDV"
         " carries only what was obligated on the IDV itself; its orders are awards of their own."),
        ("Bulk transaction files hold one row per action: each award's amount is the cumulative"
         " total_dollars_obligated of its latest transaction (plus later actions that state"
         " none), or the sum of federal_action_obligation where no row states a total."),
        ("A transactions file cut to a date range holds only some actions: where no row states"
         " total_dollars_obligated the sum covers only the actions in the file."),
        ("An award with a rejected transaction is withheld from a bulk file rather than loaded"
         " with a wrong total; the rejects table names it."),
        ("Buyers are the awarding sub-tier agency, keyed US-FED:<toptier code>/<subtier code>"
         " (survtrack's own scheme; org-id.guide has none for US federal agencies)."),
        ("Recipients are keyed by UEI, else DUNS; the parent is loaded as an organization of its"
         " own and linked in organizations.parent_id."),
        "USAspending publishes no contract stage: status is 'unknown'.",
        ("version is the last-modified day (YYYYMMDD) and one digit for the document kind"
         " (1 search row, 2 bulk file, 3 award detail), so newer records replace older ones."),
    ),
    formats=("JSON (API v2 award detail, spending_by_award page, recipient)",
             "CSV (bulk prime transactions and award summaries)", "ZIP archives of CSV"),
    parse=parse,
    rate_limit=2.0,
    extensions=(".json", ".csv"),
    fetch=fetch,
    options=(QUERY, SINCE, UNTIL,
             preset_option("surveillance: one search per filter kind (keywords, PSC, NAICS) of"
                           " usaspending/surveillance.csv"),
             Option("recipient", "recipient name or UEI to filter on")),
    presets=("surveillance",),
)
