"""223-FZ documents (state companies' purchases): contracts, execution, notices.

223-FZ files bundle many records as `body/item` (a daily file holds a region's whole day),
so the dispatcher hands each item over as soon as it is read and then frees it.
"""

from __future__ import annotations

import hashlib

from survtrack.scrapers import values as v
from survtrack.scrapers.xmlsafe import (
    child,
    children,
    descendants,
    first_child,
    first_children,
    local,
    text,
    value,
)
from survtrack.warehouse.protocol import LoadContext, Rejected

from . import competition
from .common import CARD_223, NOTICE_223, SOURCE, find, find_text, item_code, org, stages


def _party(ctx: LoadContext, node, published) -> str | None:
    if node is None:
        return None
    f = first_children(node)
    info = f.get("mainInfo")
    if info is not None:
        f = first_children(info)
    return org(ctx, name=value(f.get("fullName")) or value(f.get("name")),
               inn=value(f.get("inn")), kpp=value(f.get("kpp")),
               short_name=value(f.get("shortName")), published=published)


def contract223(ctx: LoadContext, item, kind: str) -> None:
    data = child(item, "contractData")
    if data is None:
        raise Rejected("223-FZ contract item without contractData", "item/contractData")
    f = first_children(data)  # one walk over contractData's children for every field below
    reg_num = value(f.get("contractRegNumber")) or value(f.get("registrationNumber"))
    if not reg_num:
        raise Rejected("223-FZ contract without contractRegNumber", "contractData/contractRegNumber")
    contract_id = f"{SOURCE}:{reg_num}"
    version = v.integer(value(f.get("version")), "contractData/version", 0)
    published = v.moment(value(f.get("publicationDate")) or value(f.get("createDateTime")),
                         "contractData/publicationDate")
    signed = v.day(value(f.get("contractDate")), "contractData/contractDate")
    amount = v.money(value(f.get("price")), "contractData/price")
    cur = v.currency(value(first_child(f.get("currency"), "code")), "contractData/currency/code",
                     "RUB" if amount is not None else None)
    if amount is None and value(f.get("rubPrice")):
        amount, cur = v.money(value(f.get("rubPrice")), "contractData/rubPrice"), "RUB"

    buyer_id = _party(ctx, f.get("customer"), published)
    supplier = f.get("supplierInfo")
    vendor_id = None
    if supplier is not None:
        s = first_children(supplier)
        foreign = value(s.get("nonResident")) == "true"
        vendor_id = org(ctx, name=value(s.get("name")), inn=value(s.get("inn")),
                        kpp=value(s.get("kpp")), short_name=value(s.get("shortName")),
                        country=None if foreign else "RU", published=published)

    lines = []
    for i, position in enumerate(children(f.get("contractPositions"), "contractPosition"), 1):
        p = first_children(position)
        scheme, code = item_code(position, p)
        line_no = v.integer(value(p.get("ordinalNumber")), "contractPosition/ordinalNumber", i)
        description = v.clean(value(p.get("name")), 2000)
        lines.append(description)
        ctx.emit("items", contract_id=contract_id, line_no=line_no, description=description,
                 scheme=scheme, code=code,
                 quantity=v.number(value(p.get("qty")), f"contractPosition[{i}]/qty"),
                 unit=find_text(p.get("okei"), "name"),
                 unit_price=v.money(value(p.get("unitPrice")), f"contractPosition[{i}]/unitPrice"),
                 amount=None)
    notice = value(first_child(f.get("purchaseNoticeInfo"), "purchaseNoticeNumber"))
    status = stages().get(value(f.get("status")) or "", "unknown")
    if value(f.get("termination")) == "true":
        status = "terminated"
    title = v.clean(value(f.get("subjectContract")), 1000) or (
        v.clean("; ".join(dict.fromkeys(x for x in lines if x)), 1000) if lines else None)
    ctx.emit("contracts", contract_id=contract_id, source=SOURCE, native_id=reg_num,
             version=version, published_on=published, title=title, buyer_id=buyer_id,
             vendor_id=vendor_id, signed_on=signed,
             **v.dated(("signed", signed), ("published", published)),
             amount=amount, currency=cur,
             procedure=value(first_child(f.get("purchaseTypeInfo"), "name")),
             status=status, country="RU", notice_id=f"{SOURCE}:{notice}" if notice else None,
             url=CARD_223.format(reg_num))
    competition.contract223(ctx, data, contract_id, notice, published)
    ctx.emit("contract_versions", contract_id=contract_id, version=version,
             published_on=published, amount=amount, currency=cur,
             document_id=ctx.document.document_id)


def performance223(ctx: LoadContext, item, kind: str) -> None:
    """Execution of a 223-FZ contract: each position with a payment date is a payment."""
    data = child(item, "performanceContractData")
    if data is None:
        raise Rejected("performanceContract item without performanceContractData",
                       "item/performanceContractData")
    reg_num = text(data, "contractRegNumber")
    if not reg_num:
        raise Rejected("performanceContract without contractRegNumber",
                       "performanceContractData/contractRegNumber")
    contract_id = f"{SOURCE}:{reg_num}"
    published = v.moment(text(data, "publicationDate") or text(data, "createDateTime"),
                         "performanceContractData/publicationDate")
    for i, position in enumerate(children(child(data, "positions"), "position"), 1):
        where = f"positions/position[{i}]"
        amount = v.money(text(position, "price"), f"{where}/price")
        cur = v.currency(text(position, "currency", "code"), f"{where}/currency/code", "RUB")
        if amount is None:
            amount, cur = v.money(text(position, "rubPrice"), f"{where}/rubPrice"), "RUB"
        if amount is None:
            ctx.reject_part(f"position without a price in contract {reg_num}", f"{where}/price")
            continue
        paid_on = v.day(text(position, "paymentDate"), f"{where}/paymentDate")
        reference = find_text(position, "number")
        key = f"{reference}|{paid_on}|{amount}|{cur}|{text(position, 'ordinal')}"
        ctx.emit("payments", contract_id=contract_id,
                 payment_id=hashlib.sha1(key.encode()).hexdigest()[:16], paid_on=paid_on,
                 amount=amount, currency=cur, reference=reference, published_on=published,
                 document_id=ctx.document.document_id)
    if text(data, "completed") == "true":
        ctx.emit("contract_events", contract_id=contract_id, event="completed", occurred_on=None,
                 reason="performanceContract completed=true", reported_paid=None,
                 document_id=ctx.document.document_id)


def notice223(ctx: LoadContext, item, kind: str) -> None:
    data = next((c for c in item if local(c.tag).endswith("Data")), None)
    if data is None:
        raise Rejected("223-FZ item without a *Data element", "item")
    number = text(data, "registrationNumber") or find_text(data, "purchaseNoticeNumber",
                                                             "registrationNumber")
    if not number:
        raise Rejected(f"{local(data.tag)} without registrationNumber", "registrationNumber")
    amounts = [v.money(n.text, "lot/initialSum") for n in descendants(data, "initialSum")]
    amount = sum(a for a in amounts if a is not None) if any(amounts) else None
    published = v.moment(text(data, "publicationDateTime") or text(data, "createDateTime"),
                         "publicationDateTime")
    cur = v.currency(find_text(find(data, "currency"), "code"), "currency/code") \
        if amount is not None else None
    ctx.emit("notices", notice_id=f"{SOURCE}:{number}", kind=kind, document_type=local(data.tag),
             published_on=published, buyer_id=_party(ctx, child(data, "customer"), published),
             title=v.clean(text(data, "name"), 1000), amount=amount, currency=cur,
             bidders=None, url=NOTICE_223.format(number), document_id=ctx.document.document_id)
    if kind == "notice":
        competition.notice223(ctx, data, number, published, amount, cur)


def summary223(ctx: LoadContext, item, kind: str) -> None:
    """Plans and monthly accounts of contracts: recognised, archived and counted, never read
    as contracts (their totals restate contracts that come one by one in `contract` files)."""


HANDLERS = {"contract223": contract223, "performance223": performance223, "notice223": notice223,
            "summary223": summary223}
