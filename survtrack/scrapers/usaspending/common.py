"""One award in survtrack's shape, whichever USAspending document it came from, and how it
becomes rows: the contract, its version, its PSC and NAICS lines, recipient, parent and agency.

Every reader (award detail, search page, bulk CSV) fills an `Award`; `emit_award` is the one
place that decides identifiers, versions and amounts, so the three cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pycountry

from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import LoadContext, Rejected

from . import competition

SOURCE = "usaspending"
AWARD_PAGE = "https://www.usaspending.gov/award/{}"
API_AWARD = "https://api.usaspending.gov/api/v2/awards/{}/"
API_SEARCH = "https://api.usaspending.gov/api/v2/search/spending_by_award/"
API_RECIPIENT = "https://api.usaspending.gov/api/v2/recipient/{}/"

# The last digit of a version: how complete the document kind is, so that on the same
# last-modified day an award detail is never replaced by a search-page row about it.
KIND_RANK = {"search": 1, "bulk": 2, "detail": 3}


@dataclass
class Award:
    award_id: str  # generated unique award id: CONT_AWD_… or CONT_IDV_…
    piid: str | None = None
    type_description: str | None = None
    description: str | None = None
    amount: Decimal | None = None  # obligations, never an IDV's ceiling
    signed_on: date | None = None  # date signed (the base action's), never another date
    started_on: date | None = None  # period of performance start
    first_action_on: date | None = None  # earliest action of a transactions file
    last_modified: datetime | None = None
    agency_code: str | None = None
    agency_name: str | None = None
    sub_agency_code: str | None = None
    sub_agency_name: str | None = None
    sub_agency_abbreviation: str | None = None
    recipient_uei: str | None = None
    recipient_duns: str | None = None
    recipient_name: str | None = None
    recipient_country: str | None = None
    parent_uei: str | None = None
    parent_duns: str | None = None
    parent_name: str | None = None
    psc_code: str | None = None
    psc_name: str | None = None
    naics_code: str | None = None
    naics_name: str | None = None
    extent_competed: str | None = None
    solicitation_procedures: str | None = None
    extent_code: str | None = None  # FPDS extent competed code (A, B, C… CDO, NDO)
    offers: str | None = None  # number of offers received, as published
    set_aside: str | None = None  # type of set-aside code
    parent_award: str | None = None  # the IDV an order is placed under (id or PIID)

    @property
    def is_idv(self) -> bool:
        return self.award_id.startswith("CONT_IDV_")


def award_category(award_id: str, field: str) -> str:
    """'contract' or 'idv' from the generated id; assistance awards are not procurement."""
    if award_id.startswith("CONT_AWD_"):
        return "contract"
    if award_id.startswith("CONT_IDV_"):
        return "idv"
    if award_id.startswith("ASST_"):
        return "assistance"
    raise Rejected(f"not a USAspending generated award id: {award_id!r}", field)


def version(last_modified: datetime | None, kind: str) -> int:
    """Last-modified day as YYYYMMDD, then one digit for the document kind (KIND_RANK)."""
    day = int(last_modified.strftime("%Y%m%d")) if last_modified else 0
    return day * 10 + KIND_RANK[kind]


_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def amount(value, field: str) -> Decimal | None:
    """Dollars as USAspending writes them: plain decimals (-5000.00, 61241.34).

    Stricter than values.money on purpose: USAspending never writes a decimal comma or a
    thousands separator, so anything but a plain number ('1,234', '1 234') is refused.
    """
    if value is None or isinstance(value, (bool, dict, list)):
        if value is None:
            return None
        raise Rejected(f"not an amount: {value!r}", field)
    raw = str(value).strip()
    if raw == "":
        return None
    if not _PLAIN_NUMBER.match(raw):
        raise Rejected(f"not an amount: {value!r}", field)
    return v.money(raw, field)


def country2(code: str | None) -> str | None:
    """ISO alpha-2 from the alpha-3 (USA) or alpha-2 code USAspending publishes."""
    code = (code or "").strip().upper()
    if not code:
        return None
    found = pycountry.countries.get(alpha_3=code) if len(code) == 3 else \
        pycountry.countries.get(alpha_2=code)
    return found.alpha_2 if found else None


def text(value) -> str | None:
    """A published scalar as clean text (JSON numbers become their digits)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    return v.clean(str(value))


class Organizations:
    """Organizations of one document, each emitted once (a bulk file names a vendor often).

    Of several mentions the newest (by the award's last modification) names the organization;
    an older one only fills what the newest leaves empty, whatever order the rows come in.
    """

    def __init__(self, ctx: LoadContext):
        self.ctx = ctx
        self.rows: dict[str, dict] = {}

    def add(self, org_id: str, name: str | None, scheme: str | None, identifier: str | None,
            country: str | None, short_name: str | None = None,
            published: datetime | None = None) -> str:
        row = self.rows.get(org_id)
        if row is None:
            row = self.rows[org_id] = {"org_id": org_id, "published_on": published}
        newer = (published is not None, published or datetime.min) >= (
            row["published_on"] is not None, row["published_on"] or datetime.min)
        for key, value in (("name", name), ("scheme", scheme), ("identifier", identifier),
                           ("country", country), ("short_name", short_name)):
            if value and (newer or not row.get(key)):
                row[key] = value
        if newer:
            row["published_on"] = published
        return org_id

    @staticmethod
    def key(uei: str | None, duns: str | None, name: str | None) -> str | None:
        """The org_id of a recipient: US-UEI where published, else US-DUNS, else a name key."""
        uei, duns, name = (uei or "").strip().upper(), (duns or "").strip(), v.clean(name)
        if uei:
            return f"US-UEI:{uei}"
        if duns:
            return f"US-DUNS:{duns}"
        return f"name:{SOURCE}:{v.name_key(name)}" if name else None

    def recipient(self, uei: str | None, duns: str | None, name: str | None,
                  country: str | None, published: datetime | None = None) -> str | None:
        org_id = self.key(uei, duns, name)
        if org_id is None:
            return None
        scheme, identifier = (("US-UEI", (uei or "").strip().upper()) if org_id.startswith("US-UEI:")
                              else ("US-DUNS", (duns or "").strip())
                              if org_id.startswith("US-DUNS:") else (None, None))
        return self.add(org_id, v.clean(name), scheme, identifier, country, published=published)

    def parent(self, child_id: str | None, uei: str | None, duns: str | None,
               name: str | None, published: datetime | None = None) -> str | None:
        """The parent named beside a recipient, linked to it. A parent published under the
        recipient's own identifier is the recipient itself (USAspending repeats the DUNS
        as the parent's when a company is its own parent): its name is not the recipient's
        and is not recorded over it."""
        parent_id = self.key(uei, duns, name)
        if parent_id is None or parent_id == child_id:
            return None
        self.recipient(uei, duns, name, None, published)
        self.link_parent(child_id, parent_id)
        return parent_id

    def agency(self, award: Award) -> str | None:
        """The buyer: the awarding sub-tier agency under its department (see docs)."""
        top_id = None
        if award.agency_code:
            top_id = f"US-FED:{award.agency_code}"
            self.add(top_id, award.agency_name, "US-FED", award.agency_code, "US",
                     published=award.last_modified)
        elif award.agency_name:
            top_id = f"name:{SOURCE}:{v.name_key(award.agency_name)}"
            self.add(top_id, award.agency_name, None, None, "US", published=award.last_modified)
        sub_key = award.sub_agency_code or (v.name_key(award.sub_agency_name)
                                            if award.sub_agency_name else None)
        if not sub_key:
            return top_id
        sub_id = f"{top_id}/{sub_key}" if top_id else f"name:{SOURCE}:{sub_key}"
        self.add(sub_id, award.sub_agency_name, "US-FED" if award.sub_agency_code else None,
                 award.sub_agency_code, "US", award.sub_agency_abbreviation, award.last_modified)
        self.link_parent(sub_id, top_id)  # the sub-tier agency is part of its department
        return sub_id

    def link_parent(self, org_id: str | None, parent_id: str | None) -> None:
        """Record the parent named beside a recipient, or a sub-tier agency's department
        (organizations.parent_id)."""
        if org_id and parent_id and parent_id != org_id:
            self.rows[org_id]["parent_id"] = parent_id

    def flush(self) -> None:
        for row in self.rows.values():
            self.ctx.emit("organizations", document_id=self.ctx.document.document_id, **row)
        self.rows.clear()


def procedure(award: Award) -> str:
    """What kind of award it is, and how the supplier was chosen, in the source's words."""
    kind = "IDV" if award.is_idv else "award"
    parts = [f"{kind}: {award.type_description}" if award.type_description else kind]
    if award.parent_award:
        parts.append(f"order under IDV {award.parent_award}")
    parts += [p for p in (award.extent_competed, award.solicitation_procedures) if p]
    return "; ".join(parts)


def emit_award(ctx: LoadContext, orgs: Organizations, award: Award, kind: str) -> None:
    contract_id = f"{SOURCE}:{award.award_id}"
    vendor_id = orgs.recipient(award.recipient_uei, award.recipient_duns, award.recipient_name,
                               award.recipient_country, award.last_modified)
    orgs.parent(vendor_id, award.parent_uei, award.parent_duns, award.parent_name,
                award.last_modified)
    buyer_id = orgs.agency(award)
    ver = version(award.last_modified, kind)
    obligated = award.amount
    cur = "USD" if obligated is not None else None
    title = v.clean(award.description, 1000) or award.psc_name
    ctx.emit("contracts", contract_id=contract_id, source=SOURCE, native_id=award.award_id,
             version=ver, published_on=award.last_modified, title=title, buyer_id=buyer_id,
             vendor_id=vendor_id, signed_on=award.signed_on,
             **v.dated(("signed", award.signed_on), ("performance_start", award.started_on),
                       ("first_action", award.first_action_on)), amount=obligated,
             currency=cur, procedure=procedure(award), status="unknown", country="US",
             notice_id=None, url=AWARD_PAGE.format(award.award_id))
    ctx.emit("contract_versions", contract_id=contract_id, version=ver,
             published_on=award.last_modified, amount=obligated, currency=cur,
             document_id=ctx.document.document_id)
    competition.emit(ctx, contract_id, award)
    line_no = 0
    for scheme, code, name in (("PSC", award.psc_code, award.psc_name),
                               ("NAICS", award.naics_code, award.naics_name)):
        if code:
            line_no += 1
            # one award, two classifications of the same purchase: no line carries money
            ctx.emit("items", contract_id=contract_id, line_no=line_no, description=name,
                     scheme=scheme, code=code, quantity=None, unit=None, unit_price=None,
                     amount=None)
