"""Contracts of one compiled OCDS release (the current state of a process).

Each `contracts[]` entry is one contract, joined to its award (`awardID`) for suppliers and,
where the contract states none, the value. An award that no contract points to gives one
contract row of its own (`ocds:<ocid>/award:<award id>`); an award that has a contract gives
none, so its money is never counted twice. A process with neither gives no contract.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import Rejected

from . import codes
from .orgs import Org, buyer_of, localized, organization, parties_by_id, resolve

SOURCE = "ocds"


@dataclass
class Deal:
    """A contract row to be: a contract (with its award, if found) or an award alone."""

    contract_id: str
    native_id: str
    kind: str  # contract | award
    contract: dict
    award: dict | None


@dataclass
class Extracted:
    contracts: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    orgs: list[Org] = field(default_factory=list)
    problems: list[Rejected] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # contract ids left out for a bad value


def _str_id(value) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    return str(value).strip()


def deals(release: dict) -> tuple[list[Deal], list[Rejected]]:
    """The contracts of a compiled release, each joined to its award, and the awards no
    contract carries.

    A contract names its award by `awardID`. Where a contract names none (or an award has no
    `id`, schema-invalid but real: 38 GACM processes), the pairing is still certain when one
    contract lacks an award and one award lacks a contract: they are joined, so the award's
    supplier reaches the contract and its money is not counted a second time. An award
    without id that stays alone is kept by its position in `awards`.
    """
    ocid = release["ocid"]
    problems = []
    for name in ("awards", "contracts"):  # Taiwan writes `awards` as one object
        value = release.get(name)
        if value is not None and not isinstance(value, list):
            problems.append(Rejected(f"{ocid}: `{name}` is a JSON {type(value).__name__}, not an"
                                     f" array; its {name} are not read", name))
    awards: dict[str, dict] = {}
    for n, award in enumerate(_array(release.get("awards")), start=1):
        if not isinstance(award, dict):
            continue
        awards[_str_id(award.get("id")) or f"#{n}"] = award
    out, awarded, unpaired = [], set(), []
    for contract in _array(release.get("contracts")):
        if not isinstance(contract, dict):
            continue
        cid = _str_id(contract.get("id"))
        if cid is None:
            problems.append(Rejected(f"{ocid}: contract without id", "contracts[].id"))
            continue
        award_id = _str_id(contract.get("awardID"))
        deal = Deal(f"{SOURCE}:{ocid}/{cid}", f"{ocid}/{cid}", "contract", contract,
                    awards.get(award_id) if award_id else None)
        if deal.award is None:
            unpaired.append(deal)
        awarded.add(award_id)
        out.append(deal)
    alone = [a for a in awards if a not in awarded]
    if len(unpaired) == 1 and len(alone) == 1:  # one contract, one award: each other's
        unpaired[0].award = awards[alone[0]]
        awarded.add(alone[0])
    for award_id, award in awards.items():
        if award_id not in awarded:
            out.append(Deal(f"{SOURCE}:{ocid}/award:{award_id}", f"{ocid}/award:{award_id}",
                            "award", award, award))
    return out, problems


def _array(value) -> list:
    return value if isinstance(value, list) else []


def value_of(deal: Deal, where: str) -> tuple[Decimal | None, str | None]:
    """(amount, currency) of a deal: the contract's value, else its award's."""
    for holder, path in ((deal.contract, where), (deal.award, "awards[].value")):
        value = (holder or {}).get("value")
        if isinstance(value, dict) and value.get("amount") is not None:
            amount = v.money(_num(value.get("amount")), f"{path}.amount")
            return amount, v.currency(value.get("currency"), f"{path}.currency")
    return None, None


def amounts(release: dict) -> dict[str, tuple[Decimal | None, str | None]]:
    """contract_id -> (amount, currency) in this state; unreadable values are left out."""
    out = {}
    for deal in deals(release)[0]:
        try:
            out[deal.contract_id] = value_of(deal, f"{deal.kind}s[].value")
        except Rejected:
            continue
    return out


def extract(release: dict, *, version: int, published_on, document_id: str,
            url: str | None, first_seen: dict | None = None) -> Extracted:
    """`first_seen`: contract id -> publication of the first release that carried it."""
    ocid = release["ocid"]
    found = Extracted()
    found_deals, found.problems = deals(release)
    parties = parties_by_id(release)
    publisher = codes.publishers().get(codes.ocid_prefix(ocid), {})
    lang = _text(release.get("language"))
    buyer = organization(buyer_of(release, parties), ocid, publisher.get("country") or None,
                         lang)
    if buyer:
        found.orgs.append(buyer)
    tender = release.get("tender") if isinstance(release.get("tender"), dict) else {}
    procedure = _procedure(tender)
    template = publisher.get("url")
    page = template.format(local=ocid[len(codes.ocid_prefix(ocid)) + 1:]) if template else None
    for deal in found_deals:
        where = f"{deal.kind}s[id={deal.contract.get('id')}]"
        try:
            amount, currency = value_of(deal, f"{where}.value")
            # an award's date is its decision, not a signature: it dates, never signs
            signed = v.day(_text(deal.contract.get("dateSigned")), f"{where}.dateSigned") \
                if deal.kind == "contract" else None
            decided = v.day(_text((deal.award or {}).get("date")), "awards[].date")
            vendor = None
            for ref in _suppliers(deal):
                org = organization(resolve(ref, parties), ocid, language=lang)
                if org:
                    found.orgs.append(org)
                    vendor = vendor or org.org_id
            lines = _items(deal, tender, single=len(found_deals) == 1, where=where, lang=lang)
            payments = _payments(deal, where, document_id, published_on)
        except Rejected as exc:
            found.problems.append(Rejected(f"{ocid}: {exc.reason}", exc.field))
            found.failed.add(deal.contract_id)
            continue
        status = codes.statuses().get((deal.kind, str(deal.contract.get("status") or "")),
                                      "unknown")
        title = (localized(deal.contract, "title", lang)
                 or localized(deal.award, "title", lang) or localized(tender, "title", lang)
                 or localized(deal.contract, "description", lang))
        # what the contract, its award and the tender say beyond the title ("Car Park
        # Security Options": "works and CCTV" is in the tender's description only)
        described = [localized(holder, "description", lang)
                     for holder in (deal.contract, deal.award, tender)]
        description = "; ".join(dict.fromkeys(d for d in described if d and d != title))
        found.contracts.append(dict(
            contract_id=deal.contract_id, source=SOURCE, native_id=deal.native_id,
            version=version, published_on=published_on, title=v.clean(title, 1000),
            description=v.clean(description, 4000) or None,
            buyer_id=buyer.org_id if buyer else None, vendor_id=vendor, signed_on=signed,
            **v.dated(("signed", signed), ("award_decision", decided),
                      ("published", (first_seen or {}).get(deal.contract_id))),
            amount=amount, currency=currency,
            procedure=procedure, status=status,
            country=(buyer.country if buyer else None) or publisher.get("country") or None,
            notice_id=f"{SOURCE}:{ocid}" if tender else None,
            url=page or _http(deal.contract.get("url")) or url, document_id=document_id))
        for line_no, line in enumerate(lines, start=1):
            found.items.append(dict(contract_id=deal.contract_id, line_no=line_no, **line))
        found.payments.extend(payments)
    return found


def _suppliers(deal: Deal) -> list:
    for holder in (deal.contract, deal.award):
        refs = (holder or {}).get("suppliers")
        if isinstance(refs, dict):  # Paraguay DNCP writes one supplier as an object
            return [refs]
        if isinstance(refs, list) and refs:
            return refs
    return []


def _items(deal: Deal, tender: dict, single: bool, where: str, lang: str | None = None
           ) -> list[dict]:
    """Product lines: the contract's, else its award's, else (one contract only) the tender's."""
    for holder in (deal.contract, deal.award, tender if single else None):
        lines = [i for i in (holder or {}).get("items") or [] if isinstance(i, dict)]
        if lines:
            break
    else:
        return []
    out = []
    for n, item in enumerate(lines, start=1):
        at = f"{where}.items[{n}]"
        cls = item.get("classification") if isinstance(item.get("classification"), dict) else {}
        scheme = _text(cls.get("scheme")) or _text(cls.get("schema"))
        if scheme:
            scheme = codes.item_schemes().get(scheme.casefold(), scheme)
        code = _text(cls.get("id"))
        if code and code.endswith(".0") and code[:-2].isdigit():
            code = code[:-2]
        unit = item.get("unit") if isinstance(item.get("unit"), dict) else {}
        price = unit.get("value") if isinstance(unit.get("value"), dict) else {}
        out.append(dict(
            description=v.clean(localized(item, "description", lang), 2000),
            scheme=scheme if code or scheme else None, code=code,
            quantity=v.number(_num(item.get("quantity")), f"{at}.quantity"),
            unit=_text(unit.get("name")) or _text(unit.get("id")),
            unit_price=v.money(_num(price.get("amount")), f"{at}.unit.value.amount"),
            amount=None))
    return out


def _payments(deal: Deal, where: str, document_id: str, published_on) -> list[dict]:
    """Transactions of a contract's implementation (OCDS 1.1 `value`, 1.0 `amount`)."""
    if deal.kind != "contract":
        return []
    impl = deal.contract.get("implementation")
    out = []
    for n, tx in enumerate((impl or {}).get("transactions") or [] if isinstance(impl, dict)
                           else [], start=1):
        if not isinstance(tx, dict):
            continue
        at = f"{where}.implementation.transactions[{n}]"
        value = tx.get("value") if isinstance(tx.get("value"), dict) else tx.get("amount")
        value = value if isinstance(value, dict) else {}
        amount = v.money(_num(value.get("amount")), f"{at}.value.amount")
        if not amount:  # no amount, or 0: not a payment
            continue
        currency = v.currency(value.get("currency"), f"{at}.value.currency")
        paid_on = v.day(_text(tx.get("date")), f"{at}.date")
        reference = _text(tx.get("id"))
        key = reference or hashlib.sha1(f"{paid_on}|{amount}|{currency}".encode()).hexdigest()[:16]
        out.append(dict(contract_id=deal.contract_id, payment_id=key, paid_on=paid_on,
                        amount=amount, currency=currency, reference=reference,
                        published_on=published_on, document_id=document_id))
    return out


def _procedure(tender: dict) -> str | None:
    method = _text(tender.get("procurementMethod"))
    details = _text(tender.get("procurementMethodDetails")) or _text(
        tender.get("procurementMethodType"))
    if method and details:
        return f"{method} ({details})"
    return method or details


def _num(value):
    """An amount as text for values.money: numbers as they are, strings as published."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value)
    return str(value)


def _text(value) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _http(value) -> str | None:
    text = _text(value)
    return text if text and text.startswith(("http://", "https://")) else None
