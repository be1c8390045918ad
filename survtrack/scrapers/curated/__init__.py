"""Surveillance contracts known from public reporting, each row with its citation.

`contracts.csv` (kept in the project, beside this module) is the document: one row per
contract as a newspaper, watchdog or official page reported it, with the page that was read
to check it. The CSV itself is archived like any other document; each contract's `url` is
its citation, so every figure leads back to the report it came from.

Rows are loaded as contracts of source `curated` (`curated:<row id>`), with title and
procedure saying they are curated from reporting, buyer and vendor organizations keyed
`name:curated:<normalized name>` unless the row gives a registry id, and a `tags` row per
category (rule `curated`, evidence = the citation). A bad row is rejected on its own,
naming the column at fault; the rows around it load.
"""

from __future__ import annotations

import csv
import io
import re
from functools import cache
from pathlib import Path

import pycountry

from survtrack.datafiles import rows
from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import LoadContext, Rejected, categories

HERE = Path(__file__).parent
CSV = HERE / "contracts.csv"  # `survtrack ingest curated` with no path loads it
SOURCE_NAME = "curated"

COLUMNS = ("id", "buyer", "buyer_id", "vendor", "vendor_id", "country", "signed_on", "year",
           "amount", "currency", "amount_basis", "subject", "category", "registry_ref", "url",
           "outlet", "published_on", "checked")
# columns a file may leave out: the words to search the registry with (docs/curated.md)
OPTIONAL_COLUMNS = ("eis_query",)
# a tender reported before its award names no vendor: vendor stays empty, vendor_id NULL
REQUIRED = ("id", "buyer", "country", "amount", "currency", "amount_basis",
            "subject", "category", "url", "outlet", "checked")
ROW_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,80}$")
ORG_ID = re.compile(r"^[A-Z]{2}-[A-Z0-9]+:\S+$")  # org-id.guide scheme, e.g. RU-INN:7710...
# ISO 3166-1 reserves EU exceptionally; buyers such as Frontex are EU agencies
EXTRA_COUNTRIES = {"EU"}


@cache
def amount_bases() -> frozenset[str]:
    return frozenset(r["amount_basis"] for r in rows(HERE / "amount_bases.csv", ("amount_basis",)))


def parse(ctx: LoadContext) -> None:
    text = ctx.document.read().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise Rejected(f"curated CSV lacks column(s) {', '.join(missing)}", missing[0])
    seen: set[str] = set()
    loaded = 0
    for line, row in enumerate(reader, start=2):
        row = {k: (val or "").strip() for k, val in row.items() if k is not None}
        label = f"line {line} ({row.get('id') or 'no id'})"
        try:
            if row["id"] in seen:
                raise Rejected(f"duplicate id {row['id']!r}", "id")
            _load_row(ctx, row)
        except Rejected as exc:
            ctx.reject_part(f"{label}: {exc.reason}", exc.field)
            continue
        seen.add(row["id"])
        loaded += 1
    if not loaded and not ctx.part_rejects:
        raise Rejected("curated CSV has no rows", "id")
    ctx.describe("curated_contracts", f"curated CSV: {loaded} contracts loaded,"
                 f" {len(ctx.part_rejects)} rows rejected", contract_bearing=loaded > 0)


def _load_row(ctx: LoadContext, row: dict) -> None:
    """Validate every field first, then emit: a bad row emits nothing."""
    for column in REQUIRED:
        if not row.get(column):
            raise Rejected(f"{column} is empty", column)
    row_id = row["id"]
    if not ROW_ID.match(row_id):
        raise Rejected(f"id {row_id!r} is not a lower-case slug", "id")
    country = row["country"].upper()
    if country not in EXTRA_COUNTRIES and pycountry.countries.get(alpha_2=country) is None:
        raise Rejected(f"country {row['country']!r} is not an ISO 3166-1 alpha-2 code", "country")
    currency = v.currency(row["currency"], "currency")
    if pycountry.currencies.get(alpha_3=currency) is None:
        raise Rejected(f"currency {currency!r} is not an ISO 4217 code", "currency")
    amount = v.money(row["amount"], "amount")
    if amount <= 0:
        raise Rejected(f"amount {row['amount']!r} is not positive", "amount")
    basis = row["amount_basis"]
    if basis not in amount_bases():
        raise Rejected(f"amount_basis {basis!r} is not one of {sorted(amount_bases())}",
                       "amount_basis")
    signed = v.day(row["signed_on"], "signed_on")
    year = v.integer(row["year"], "year")
    if signed and year is not None and signed.year != year:
        raise Rejected(f"year {year} disagrees with signed_on {signed}", "year")
    year = year if year is not None else (signed.year if signed else None)
    if year is not None and not 1990 <= year <= 2100:
        raise Rejected(f"year {year} is out of range", "year")
    cats = [c.strip() for c in row["category"].split(";") if c.strip()]
    unknown = [c for c in cats if c not in categories()]
    if unknown or not cats:
        raise Rejected(f"category {', '.join(unknown) or 'empty'} not in the taxonomy", "category")
    if not re.match(r"^https?://\S+$", row["url"]):
        raise Rejected(f"url {row['url']!r} is not an http(s) URL", "url")
    published = v.day(row["published_on"], "published_on")
    checked = row["checked"]
    if not checked.startswith(("verified", "unverified")):
        raise Rejected("checked must start with 'verified' (naming the page read) or"
                       " 'unverified'", "checked")
    for column in ("buyer_id", "vendor_id"):
        if row[column] and not ORG_ID.match(row[column]):
            raise Rejected(f"{column} {row[column]!r} is not <scheme>:<id>", column)
    if row["vendor_id"] and not row["vendor"]:
        raise Rejected("vendor_id given without a vendor name", "vendor")

    contract_id = f"{SOURCE_NAME}:{row_id}"
    buyer_id = _org(ctx, row["buyer"], row["buyer_id"], country)
    vendor_id = _org(ctx, row["vendor"], row["vendor_id"], None) if row["vendor"] else None
    citation = "; ".join(x for x in (row["outlet"], published and published.isoformat(),
                                      row["url"]) if x)
    status = "verified" if checked.startswith("verified") else "unverified"
    # a ceiling is what may be spent, not what was: like an IDV's or a framework's ceiling it
    # is never summed as spending; the figure stays in the procedure text for the reader
    spent = None if basis == "ceiling" else amount
    basis_note = f"ceiling {amount:,} {currency}, not counted as spent" if spent is None \
        else f"amount {basis}"
    ctx.emit("contracts", contract_id=contract_id, source=SOURCE_NAME, native_id=row_id,
             version=0, published_on=v.moment(row["published_on"], "published_on"),
             title=f"[curated from reporting] {v.clean(row['subject'], 980)}",
             buyer_id=buyer_id, vendor_id=vendor_id, signed_on=signed,
             **(v.dated(("signed", signed)) if signed else
                {"dated_on": None, "year": year, "date_basis": "reported" if year else None}),
             amount=spent, currency=currency,
             procedure=f"curated from public reporting ({status}; {basis_note})",
             status="unknown", country=country, notice_id=row["registry_ref"] or None,
             url=row["url"])
    ctx.emit("contract_versions", contract_id=contract_id, version=0,
             published_on=v.moment(row["published_on"], "published_on"), amount=spent,
             currency=currency, document_id=ctx.document.document_id)
    for category in cats:
        ctx.emit("tags", contract_id=contract_id, category=category, rule="curated",
                 evidence=citation, score=1.0 if status == "verified" else 0.5)


def _org(ctx: LoadContext, name: str, org_id: str, country: str | None) -> str:
    if org_id:
        scheme, identifier = org_id.split(":", 1)
    else:
        org_id, scheme, identifier = f"name:{SOURCE_NAME}:{v.name_key(name)}", None, None
    ctx.emit("organizations", org_id=org_id, name=v.clean(name), short_name=None,
             scheme=scheme, identifier=identifier, kpp=None, country=country,
             document_id=ctx.document.document_id)
    return org_id
