"""The `ocds` source's declaration: metadata, base URL, rate limit, scrape options."""

from __future__ import annotations

from survtrack.scrapers.base import Option, Source, preset_option

from . import SOURCE_NAME, parse
from .fetch import fetch, publishers, rate_for, root_url

SOURCE = Source(
    name=SOURCE_NAME,
    title="Open Contracting Data Standard publishers",
    publisher="Any OCDS publisher (ProZorro, Contracts Finder, CompraNet, CDMX, DNCP, SECOP…)",
    country="international",
    licence="As each publisher states in its package's `license` (e.g. CC BY 4.0 for DNCP,"
            " Libre Uso MX for CompraNet)",
    base_url="https://standard.open-contracting.org",
    docs_url="https://standard.open-contracting.org/1.1/en/schema/",
    coverage=("Release packages, record packages, bare releases and records, line-delimited"
              " and concatenated JSON, OCDS 1.0 and 1.1. Each process (ocid) is compiled with"
              " ocdsmerge from every release the warehouse holds; its contracts (joined to"
              " their awards), awards without a contract, product lines, transactions and"
              " parties become rows. Tender-only processes become notices."),
    caveats=(
        "contracts.amount is the contract's value, else its award's; an award that has a"
        " contract never gives a second row, so money is counted once.",
        "OCDS `terminated` means the contract came to a close, by completion or early"
        " termination: it is stored as `completed`.",
        "A party identifier becomes a registry org_id only when its scheme is an org-id.guide"
        " code or a publisher's own name for one (identifier_schemes.csv); otherwise the"
        " organization is keyed by name.",
        "ProZorro 2016-17 exports label suppliers' EDRPOU codes XM-EORI: read as UA-EDR.",
        "OCDS 1.0 objects without an `id` (1.0 suppliers, some items) cannot be matched across"
        " releases by ocdsmerge: each release appends its own copy.",
        "Item amounts are not published by OCDS: items.amount stays empty; unit_price is"
        " unit.value.amount.",
        "A record's own list of releases is merged where the releases are embedded; linked"
        " releases (url and date only) are counted but not fetched.",
        "Texts published only as language variants (name_en, title_fr) are read in the"
        " release's language; a contract without awardID and an award without id are joined"
        " when they are the only ones unpaired.",
    ),
    formats=("JSON release/record packages", "bare releases and records",
             "JSON Lines", "concatenated JSON"),
    parse=parse,
    rate_limit=1.0,
    batch_documents=False,  # a process is compiled from what earlier documents wrote,
    chain_documents=True,   # so small documents share a transaction one after another
    extensions=(".json", ".jsonl", ".ndjson"),
    fetch=fetch,
    options=(Option("url", "the API or file URL to start at"),
             preset_option("a known publisher of ocds/presets.csv (its URL, dates and rate)"),
             Option("since", "first date (publisher presets only)"),
             Option("until", "last date (publisher presets only)")),
    presets=tuple(publishers()),
    base_url_for=root_url,
    rate_for=rate_for,
)
