"""The `eis` source's declaration: metadata, base URL, rate limit, scrape options."""

from __future__ import annotations

from survtrack.scrapers.base import QUERY, SINCE, UNTIL, Option, Source, preset_option

from . import parse


def fetch(ctx):
    """fetch.py's fetcher, imported when a scrape runs: parsing (an ingest worker) needs
    none of its HTTP stack, whose import cost each worker process a second."""
    from .fetch import fetch as fetch_eis

    return fetch_eis(ctx)


SOURCE = Source(
    name="eis",
    title="Unified Information System in procurement (Russia)",
    publisher="Federal Treasury of the Russian Federation",
    country="RU",
    licence="Public information under 44-FZ art. 4 and 223-FZ; no licence terms stated",
    base_url="https://zakupki.gov.ru",
    docs_url="https://zakupki.gov.ru/epz/main/public/document/view.html?searchString=xsd",
    coverage=("Contracts (44-FZ registry records with product lines, suppliers and versions),"
              " execution records (payments, terminations), notices, protocols and results,"
              " and 223-FZ contracts, executions and notices, as XML exports (the FTP archive"
              " until 2024, the document service since 2025-01-01) and HTML pages."),
    caveats=(
        "Contract values are as published in the contract's currency (priceInfo/price);"
        " amounts in roubles are in priceRUR.",
        "A supplier is published only once the contract is signed; early versions and some"
        " 223-FZ contracts have none (vendor_id NULL).",
        "Organizations are keyed by INN: a branch (filial) shares its parent's INN and differs"
        " only in KPP, so branches fold into the parent organization.",
        "fcsContractSign and placement results repeat a contract's price before the contract"
        " record exists: they are kept as notices and never counted as contracts.",
        "A termination states the total paid so far; that figure is kept on the event"
        " (reported_paid) and never added to payments.",
        "A payment is known by its stage, its payment order (else its execution document:"
        " an acceptance act) by number and date, and its amount; republished in a later"
        " execution record it is stored once, and equal acts without numbers stay apart by"
        " their position. An execution with nothing paid (0.00) is no payment.",
        "223-FZ purchase plans and monthly accounts of contracts are recognised and kept as"
        " not contract-bearing (their totals restate contracts loaded one by one).",
        "223-FZ contract cards need an internal id; `url` points at the public search for the"
        " registration number instead.",
    ),
    formats=("XML (44-FZ export, 223-FZ TFF)", "ZIP archives of XML"),
    parse=parse,
    rate_limit=0.5,
    extensions=(".xml",),
    fetch=fetch,
    options=(QUERY, SINCE, UNTIL,
             preset_option("surveillance: one search per word and per OKPD2 code of"
                           " eis/surveillance.csv"),
             Option("mode", "contracts (default) | orders | documents (document service,"
                    " needs a token)"),
             Option("region", "documents mode: two-digit region code (orgRegion), e.g. 77"),
             Option("token", "documents mode: personal token (env EIS_TOKEN)",
                    envvar="EIS_TOKEN", secret=True)),
    presets=("surveillance",),
)
