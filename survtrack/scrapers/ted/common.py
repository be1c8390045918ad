"""Pieces shared by the eForms and legacy TED parsers: identifiers, organizations, amounts.

A notice's award section becomes a list of `Award`s (one per contract); `emit_awards` then
applies the rules that keep money from being counted twice (docs/ted.md, "Amounts") and
writes the rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from pathlib import Path

import pycountry

from survtrack import datafiles
from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import LoadContext, Rejected

HERE = Path(__file__).parent
SOURCE = "ted"
NOTICE_URL = "https://ted.europa.eu/en/notice/-/detail/{}"
_PUBLICATION = re.compile(r"^0*(\d+)-(\d{4})$")


@cache
def document_kinds() -> dict[tuple[str, str], dict]:
    return {(r["format"], r["element"]): r
            for r in datafiles.rows(HERE / "document_kinds.csv", ("format", "element"))}


@cache
def _country_aliases() -> dict[str, str]:
    return {r["code"]: r["iso2"]
            for r in datafiles.rows(HERE / "country_aliases.csv", ("code", "iso2"))}


@cache
def _schemes() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in datafiles.rows(HERE / "company_id_schemes.csv", ("country", "pattern")):
        row["regex"] = re.compile(row["pattern"])
        out.setdefault(row["country"], []).append(row)
    return out


def publication_number(raw: str | None, field: str) -> str | None:
    """'00522031-2023' -> '522031-2023': the form TED's notice pages and references use."""
    if not raw:
        return None
    match = _PUBLICATION.match(raw.strip())
    if not match:
        raise Rejected(f"not a TED publication number: {raw!r}", field)
    return f"{match[1]}-{match[2]}"


def is_publication_number(raw: str | None) -> bool:
    return bool(raw and _PUBLICATION.match(raw.strip()))


def notice_url(publication: str | None) -> str | None:
    return NOTICE_URL.format(publication) if publication else None


def moment(value: str | None, field: str) -> datetime | None:
    """A date ('2024-09-02+02:00', '20220218') or timestamp as naive UTC.

    A bare date with an offset is the calendar day it names: it is kept at midnight, not
    shifted (datetime.fromisoformat would read '+02:00' as a time of day).
    """
    if not value:
        return None
    value = value.strip()
    if "T" in value:
        return v.moment(value, field)
    if re.fullmatch(r"\d{8}", value):
        value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return datetime.combine(v.day(value, field), time())


def version_of(published: datetime | None) -> int:
    """TED has no version counter: a contract's version is its notice's date, YYYYMMDD."""
    return int(published.strftime("%Y%m%d")) if published else 0


def country(code: str | None, field: str) -> str | None:
    """ISO 3166-1 alpha-2 from eForms alpha-3 (FIN), legacy alpha-2 (PL) or EU codes (UK)."""
    if not code:
        return None
    code = code.strip().upper()
    if code in _country_aliases():
        return _country_aliases()[code]
    found = pycountry.countries.get(alpha_3=code) if len(code) == 3 else \
        pycountry.countries.get(alpha_2=code)
    if found is None:
        raise Rejected(f"unknown country code {code!r}", field)
    return found.alpha_2


# -- organization identifiers ---------------------------------------------------------------

def _digits(s: str) -> list[int]:
    return [int(c) for c in s]


def _luhn(n: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(_digits(n))):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _weighted_mod11(n: str, weights: tuple[int, ...]) -> int:
    return sum(d * w for d, w in zip(_digits(n), weights)) % 11


def _fi_check_digit(n: str) -> int | None:
    remainder = _weighted_mod11(n, (7, 9, 10, 5, 8, 4, 2))
    return None if remainder == 1 else (11 - remainder) % 11


CHECKS = {
    "": lambda n: True,
    "luhn": _luhn,
    "be_kbo": lambda n: 97 - int(n[:8]) % 97 == int(n[8:]),
    "fi_business_id": lambda n: _fi_check_digit(n[:7]) == int(n[-1]),
    "pl_nip": lambda n: _weighted_mod11(n, (6, 5, 7, 2, 3, 4, 5, 6, 7)) == int(n[-1]),
    "pl_regon9": lambda n: _weighted_mod11(n, (8, 9, 2, 3, 4, 5, 6, 7)) % 10 == int(n[-1]),
}


def registry_id(raw: str | None, country_code: str | None) -> tuple[str, str] | None:
    """(scheme, identifier) when `raw` is a well-formed registry number of the country.

    TED's national registration number (BT-501, NATIONALID) is free text: VAT numbers,
    internal codes and "not available" all occur, so only a number that matches its
    country's pattern and check digit (company_id_schemes.csv) becomes a scheme id.
    """
    if not raw or not country_code:
        return None
    compact = re.sub(r"[\s.\-:/]", "", raw).upper()
    for row in _schemes().get(country_code, []):
        match = row["regex"].match(compact)
        if not match:
            continue
        number = "".join(match.groupdict().values())
        if CHECKS[row["check"]](number):
            return row["scheme"], row["template"].format(**match.groupdict())
    return None


def org(ctx: LoadContext, *, name: str | None, raw_id: str | None, country_code: str | None,
        published: datetime | None = None) -> str | None:
    """Emit an organization and return its org_id: a registry scheme id where the published
    number is one, else `name:ted:<normalized name>` with the raw number kept in `identifier`.
    `published`: the notice's publication, so that the newest notice names an organization."""
    name = v.clean(name)
    raw_id = v.clean(raw_id)
    found = registry_id(raw_id, country_code)
    if found:
        scheme, identifier = found
        org_id = f"{scheme}:{identifier}"
    elif name:
        scheme, identifier = None, raw_id
        org_id = f"name:{SOURCE}:{v.name_key(name)}"
    else:
        return None
    ctx.emit("organizations", org_id=org_id, name=name, short_name=None, scheme=scheme,
             identifier=identifier, kpp=None, country=country_code, published_on=published,
             document_id=ctx.document.document_id)
    return org_id


# -- contracts ------------------------------------------------------------------------------

@dataclass
class Award:
    """One contract as a notice states it, before the amount rules are applied."""

    native_id: str            # <publication>/<contract key>
    lot_key: str | None       # the lot (result) it was awarded in
    amount: Decimal | None
    currency: str | None
    amount_field: str         # where the amount came from, for notes and rejects
    signed_on: date | None = None   # contract conclusion (eForms BT-145)
    decided_on: date | None = None  # winner decision (eForms BT-1451)
    title: str | None = None
    vendor_id: str | None = None
    cpv: list[tuple[str, str | None]] = field(default_factory=list)  # (code, description)


@dataclass
class Notice:
    """What every contract of one notice shares."""

    key: str                  # publication number, or notice UUID when unpublished
    published_on: datetime | None
    buyer_id: str | None
    country: str | None
    procedure: str | None
    url: str | None
    total: Decimal | None = None
    total_currency: str | None = None
    total_field: str | None = None
    dispatched_on: date | None = None  # sent to the Publications Office (BT-05)


def settle_amounts(ctx: LoadContext, notice: Notice, awards: list[Award]) -> list[str]:
    """Apply the amount rules in place; return notes for the document's detail.

    1. Several contracts of one lot stating the same amount and currency state the lot's
       (framework) ceiling, not each supplier's share: their amounts become NULL.
    2. A lone contract without an amount takes the notice total (it is the whole award).
    3. Contracts in the total's currency that add up to more than the notice total are not
       additive (overlapping ceilings): their amounts become NULL.
    4. A contract in another currency than the total's is kept as published and flagged.
    The notice total itself is never a contract amount beside its lots: it goes to `notices`.
    """
    notes = []
    by_lot: dict[tuple, list[Award]] = {}
    for a in awards:
        if a.amount is not None and a.lot_key is not None:
            by_lot.setdefault((a.lot_key, a.amount, a.currency), []).append(a)
    for (lot, amount, cur), same in by_lot.items():
        if len(same) > 1:
            for a in same:
                a.amount = None
            notes.append(f"lot {lot}: {len(same)} contracts each state {amount} {cur}, the"
                         " lot's shared ceiling; amounts left NULL")
    total, total_cur = notice.total, notice.total_currency
    if len(awards) == 1 and awards[0].amount is None and total is not None:
        awards[0].amount, awards[0].currency = total, total_cur
        awards[0].amount_field = notice.total_field or "notice total"
        notes.append("the only contract takes the notice total")
    if total is None:
        return notes
    same_cur = [a for a in awards if a.amount is not None and a.currency == total_cur]
    summed = sum((a.amount for a in same_cur), Decimal(0))
    if summed > total:
        for a in same_cur:
            a.amount = None
        notes.append(f"contracts add up to {summed} {total_cur}, more than the notice total"
                     f" {total} {total_cur}: not additive, amounts left NULL")
        ctx.reject_part(f"notice {notice.key}: contracts add up to {summed} {total_cur}, more"
                        f" than the notice total {total}; their amounts were left NULL",
                        notice.total_field)
    others = [a for a in awards if a.amount is not None and a.currency != total_cur]
    numeric = sum((a.amount for a in awards if a.amount is not None), Decimal(0))
    for a in others:
        hint = (f"; the lots add up to the total only when it is read as {total_cur}"
                if numeric == total else "")
        ctx.reject_part(f"contract {a.native_id} states {a.amount} {a.currency} while the notice"
                        f" total is in {total_cur}{hint}; kept as published", a.amount_field)
    return notes


def emit_awards(ctx: LoadContext, notice: Notice, awards: list[Award],
                contract_ids: dict[str, str] | None = None) -> None:
    """Write contracts, their versions and CPV items. `contract_ids` maps an award's native id
    to the contract it versions (a modification replaces the contract it modifies)."""
    version = version_of(notice.published_on)
    for a in awards:
        native = (contract_ids or {}).get(a.native_id, a.native_id)
        contract_id = f"{SOURCE}:{native}"
        signed = a.signed_on
        ctx.emit("contracts", contract_id=contract_id, source=SOURCE, native_id=native,
                 version=version, published_on=notice.published_on, title=a.title,
                 buyer_id=notice.buyer_id, vendor_id=a.vendor_id, signed_on=signed,
                 # without a conclusion date the contract still has a year: of the award
                 # decision, else of the notice's dispatch, else of its publication
                 **v.dated(("signed", signed), ("award_decision", a.decided_on),
                           ("dispatch", notice.dispatched_on),
                           ("published", notice.published_on)),
                 amount=a.amount, currency=a.currency,
                 procedure=notice.procedure, status="unknown", country=notice.country,
                 notice_id=f"{SOURCE}:{notice.key}", url=notice.url)
        ctx.emit("contract_versions", contract_id=contract_id, version=version,
                 published_on=notice.published_on, amount=a.amount, currency=a.currency,
                 document_id=ctx.document.document_id)
        seen = set()
        for code, description in a.cpv:
            if code in seen:
                continue
            seen.add(code)
            ctx.emit("items", contract_id=contract_id, line_no=len(seen),
                     description=v.clean(description, 2000), scheme="CPV", code=code,
                     quantity=None, unit=None, unit_price=None, amount=None)


def emit_notice(ctx: LoadContext, notice: Notice, *, kind: str, document_type: str,
                title: str | None, amount=None, currency=None, bidders=None) -> None:
    ctx.emit("notices", notice_id=f"{SOURCE}:{notice.key}", kind=kind,
             document_type=document_type, published_on=notice.published_on,
             buyer_id=notice.buyer_id, title=v.clean(title, 1000), amount=amount,
             currency=currency, bidders=bidders, url=notice.url,
             document_id=ctx.document.document_id)


def cpv_code(raw: str | None) -> str | None:
    """CPV codes are 8 digits, sometimes published with their check digit ('33151400-7')."""
    if not raw:
        return None
    return raw.strip().split("-")[0] or None
