"""The `curated` source's declaration: metadata, base URL, rate limit, scrape options."""

from __future__ import annotations

from survtrack.scrapers.base import Source

from . import CSV, SOURCE_NAME, parse

SOURCE = Source(
    name=SOURCE_NAME,
    title="Surveillance contracts known from public reporting (curated)",
    publisher="survtrack contributors, from the cited news, watchdog and official pages",
    country="(several)",
    licence="Facts with citations; each row links to its source page",
    base_url="(none: survtrack/scrapers/curated/contracts.csv is kept in the project)",
    docs_url="docs/curated.md",
    coverage=("Contracts for surveillance technology reported by news outlets, watchdogs and"
              " official pages (Russia, the United States, the UK and EU, Latin America,"
              " Africa, Asia), one row per contract with buyer, vendor, amount, category and"
              " the citation that was read to check it."),
    caveats=(
        ("Figures are as reported, not as registered: amount_basis says whether a figure"
         " is exact, rounded ('about'), a lower bound ('at_least') or a ceiling."),
        ("Curated rows can duplicate contracts loaded from official sources; analyses and"
         " claim checks exclude source 'curated' unless asked, so nothing counts twice and"
         " a report never verifies itself."),
        ("Organizations are keyed by name (name:curated:...) unless the row gives a"
         " registry id; entity resolution links them to registry records."),
        "Rows marked checked=unverified were not confirmed against a stored page.",
    ),
    formats=("CSV (UTF-8, one row per contract)",),
    parse=parse,
    rate_limit=1.0,
    extensions=(".csv",),
    default_inputs=(CSV,),
)
