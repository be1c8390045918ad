"""The `ted` source's declaration: metadata, base URL, rate limit, scrape options."""

from __future__ import annotations

from survtrack.scrapers.base import QUERY, SINCE, UNTIL, Source, preset_option

from . import parse
from .fetch import fetch

SOURCE = Source(
    name="ted",
    title="Tenders Electronic Daily (European Union)",
    publisher="Publications Office of the European Union",
    country="EU",
    licence="TED notices may be reused free of charge (Commission Decision 2011/833/EU);"
            " see TED's legal notice",
    base_url="https://api.ted.europa.eu",
    docs_url="https://docs.ted.europa.eu/eforms/latest/",
    coverage=("Contract award notices (eForms result notices since 2023; legacy TED XML forms"
              " F03, F06, F15, F18, F25 and award-bearing F21-F23 before), eForms contract"
              " modification notices, and calls for tenders kept as notices. One contract per"
              " eForms settled contract or legacy awarded contract, with CPV codes as items."),
    caveats=(
        ("Several suppliers of one framework lot each state the lot's ceiling: those amounts"
        " are left NULL so the ceiling is not counted once per supplier; the notice total"
        " stays in `notices`."),
        ("The notice total is never a contract amount beside its lots; only a lone contract"
        " without its own value takes it."),
        ("Contracts adding up to more than the notice total are not additive: their amounts"
        " are left NULL and the notice is listed in `rejects`."),
        ("An eForms contract sums only its own tenders: those of the lots whose results name"
         " it; a tender a publisher lists in another contract goes to the contract its lot"
         " result names, and `rejects` says so."),
        ("National registration numbers are free text: only numbers that match their"
        " country's registry pattern and check digit become scheme ids (company_id_schemes.csv)."),
        ("TED has no version counter: a contract's version is its notice's publication date"
        " (YYYYMMDD); a modification notice versions the contract it modifies."),
        ("eForms change notices (corrigenda) and legacy F14 corrigenda and F20 modifications"
        " are kept as notices: they are not applied to contracts."),
        ("Legacy notices in the pre-2014 forms (R2.0.8, e.g. CONTRACT_AWARD) are rejected as"
        " unknown forms; TED's daily .tar.gz packages must be unpacked (or zipped) first."),
    ),
    formats=("eForms XML (UBL 2.3)", "TED XML R2.0.9 (TED_EXPORT, forms F01-F25)",
             "ZIP archives of XML"),
    parse=parse,
    rate_limit=1.0,
    extensions=(".xml",),
    fetch=fetch,
    options=(QUERY, SINCE, UNTIL,
             preset_option("surveillance: the CPV codes and words of ted/surveillance.csv")),
    presets=("surveillance",),
)
