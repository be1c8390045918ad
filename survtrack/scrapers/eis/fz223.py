"""223-FZ documents (state companies' purchases): contracts, execution, notices.

223-FZ files bundle many records as `body/item` (a daily file holds a region's whole day),
so the dispatcher hands each item over as soon as it is read and then frees it.
"""

from __future__ import annotations

import hashlib

from survtrack.scrapers import values as v
from survtrack.scrapers.xmlsafe import (
    child_elements,
    descendants,
    elements,
    fields,
    local,
    rows,
)
from survtrack.warehouse.protocol import LoadContext, Rejected

from . import competition
from .common import CARD_223, CODE_SPECS, NOTICE_223, SOURCE, item_code_of, org, stages

_PARTY = ("mainInfo?", "mainInfo/fullName", "mainInfo/name", "mainInfo/inn", "mainInfo/kpp",
          "mainInfo/shortName", "fullName", "name", "inn", "kpp", "shortName")


def _party(ctx: LoadContext, node, published) -> str | None:
    """A customer: its own fields, or those of its `mainInfo` where it has one."""
    if node is None:
        return None
    said = fields(node, _PARTY)
    full_name, name, inn, kpp, short_name = said[1:6] if said[0] else said[6:]
    return org(ctx, name=full_name or name, inn=inn, kpp=kpp, short_name=short_name,
               published=published)


_DATA = ("contractData",)
_CONTRACT = ("contractRegNumber", "registrationNumber", "version", "publicationDate",
             "createDateTime", "contractDate", "price", "currency/code", "rubPrice",
             "purchaseNoticeInfo/purchaseNoticeNumber", "status", "termination",
             "subjectContract", "purchaseTypeInfo/code", "purchaseTypeInfo/name",
             "supplierInfo?", "supplierInfo/nonResident", "supplierInfo/name",
             "supplierInfo/inn", "supplierInfo/kpp", "supplierInfo/shortName")
_CONTRACT_PARTS = ("customer", "contractPositions")
_POSITION = (*CODE_SPECS, "ordinalNumber", "name", "qty", "okei//name", "unitPrice")
_CODES = len(CODE_SPECS)


def contract223(ctx: LoadContext, item, kind: str) -> None:
    data = child_elements(item, _DATA)[0]
    if data is None:
        raise Rejected("223-FZ contract item without contractData", "item/contractData")
    (reg_number, registration, version, published, created, signed, price, currency, rub_price,
     notice, status, termination, subject, type_code, type_name, in_supplier, non_resident,
     supplier_name, supplier_inn, supplier_kpp, supplier_short) = fields(data, _CONTRACT)
    reg_num = reg_number or registration
    if not reg_num:
        raise Rejected("223-FZ contract without contractRegNumber", "contractData/contractRegNumber")
    contract_id = f"{SOURCE}:{reg_num}"
    version = v.integer(version, "contractData/version", 0)
    published = v.moment(published or created, "contractData/publicationDate")
    signed = v.day(signed, "contractData/contractDate")
    amount = v.money(price, "contractData/price")
    cur = v.currency(currency, "contractData/currency/code",
                     "RUB" if amount is not None else None)
    if amount is None and rub_price:
        amount, cur = v.money(rub_price, "contractData/rubPrice"), "RUB"

    customer, positions = child_elements(data, _CONTRACT_PARTS)
    buyer_id = _party(ctx, customer, published)
    vendor_id = None
    if in_supplier:
        foreign = non_resident == "true"
        vendor_id = org(ctx, name=supplier_name, inn=supplier_inn, kpp=supplier_kpp,
                        short_name=supplier_short, country=None if foreign else "RU",
                        published=published)

    lines = []
    for i, position in enumerate(rows(positions, ("contractPosition",), _POSITION), 1):
        scheme, code = item_code_of(position[:_CODES])
        ordinal, name, qty, unit, unit_price = position[_CODES:]
        line_no = v.integer(ordinal, "contractPosition/ordinalNumber", i)
        description = v.clean(name, 2000)
        lines.append(description)
        ctx.emit("items", contract_id=contract_id, line_no=line_no, description=description,
                 scheme=scheme, code=code,
                 quantity=v.number(qty, f"contractPosition[{i}]/qty"),
                 unit=unit,
                 unit_price=v.money(unit_price, f"contractPosition[{i}]/unitPrice"),
                 amount=None)
    status = stages().get(status or "", "unknown")
    if termination == "true":
        status = "terminated"
    title = v.clean(subject, 1000) or (
        v.clean("; ".join(dict.fromkeys(x for x in lines if x)), 1000) if lines else None)
    ctx.emit("contracts", contract_id=contract_id, source=SOURCE, native_id=reg_num,
             version=version, published_on=published, title=title, buyer_id=buyer_id,
             vendor_id=vendor_id, signed_on=signed,
             **v.dated(("signed", signed), ("published", published)),
             amount=amount, currency=cur,
             procedure=type_name,
             status=status, country="RU", notice_id=f"{SOURCE}:{notice}" if notice else None,
             url=CARD_223.format(reg_num))
    competition.contract223(ctx, data, contract_id, notice, published,
                            purchase_type=(type_code, type_name))
    ctx.emit("contract_versions", contract_id=contract_id, version=version,
             published_on=published, amount=amount, currency=cur,
             document_id=ctx.document.document_id)


_PERFORMANCE_DATA = ("performanceContractData",)
_PERFORMANCE = ("contractRegNumber", "publicationDate", "createDateTime", "completed")
_PERFORMANCE_PARTS = ("positions",)
_PAYMENT = ("price", "currency/code", "rubPrice", "paymentDate", "//number", "ordinal")


def performance223(ctx: LoadContext, item, kind: str) -> None:
    """Execution of a 223-FZ contract: each position with a payment date is a payment."""
    data = child_elements(item, _PERFORMANCE_DATA)[0]
    if data is None:
        raise Rejected("performanceContract item without performanceContractData",
                       "item/performanceContractData")
    reg_num, published, created, completed = fields(data, _PERFORMANCE)
    if not reg_num:
        raise Rejected("performanceContract without contractRegNumber",
                       "performanceContractData/contractRegNumber")
    contract_id = f"{SOURCE}:{reg_num}"
    published = v.moment(published or created, "performanceContractData/publicationDate")
    payments = rows(child_elements(data, _PERFORMANCE_PARTS)[0], ("position",), _PAYMENT)
    for i, (price, currency, rub_price, paid_on, reference, ordinal) in enumerate(payments, 1):
        where = f"positions/position[{i}]"
        amount = v.money(price, f"{where}/price")
        cur = v.currency(currency, f"{where}/currency/code", "RUB")
        if amount is None:
            amount, cur = v.money(rub_price, f"{where}/rubPrice"), "RUB"
        if amount is None:
            ctx.reject_part(f"position without a price in contract {reg_num}", f"{where}/price")
            continue
        paid_on = v.day(paid_on, f"{where}/paymentDate")
        key = f"{reference}|{paid_on}|{amount}|{cur}|{ordinal}"
        ctx.emit("payments", contract_id=contract_id,
                 payment_id=hashlib.sha1(key.encode()).hexdigest()[:16], paid_on=paid_on,
                 amount=amount, currency=cur, reference=reference, published_on=published,
                 document_id=ctx.document.document_id)
    if completed == "true":
        ctx.emit("contract_events", contract_id=contract_id, event="completed", occurred_on=None,
                 reason="performanceContract completed=true", reported_paid=None,
                 document_id=ctx.document.document_id)


_NOTICE = ("registrationNumber", "//purchaseNoticeNumber|registrationNumber",
           "publicationDateTime", "createDateTime", "name")
_NOTICE_PARTS = ("customer",)
_CURRENCY = ("//currency",)
_CODE = ("//code",)


def notice223(ctx: LoadContext, item, kind: str) -> None:
    data = next((c for c in item if local(c.tag).endswith("Data")), None)
    if data is None:
        raise Rejected("223-FZ item without a *Data element", "item")
    registration, anywhere, published, created, name = fields(data, _NOTICE)
    number = registration or anywhere
    if not number:
        raise Rejected(f"{local(data.tag)} without registrationNumber", "registrationNumber")
    amounts = [v.money(n.text, "lot/initialSum") for n in descendants(data, "initialSum")]
    amount = sum(a for a in amounts if a is not None) if any(amounts) else None
    published = v.moment(published or created, "publicationDateTime")
    cur = v.currency(fields(elements(data, _CURRENCY)[0], _CODE)[0], "currency/code") \
        if amount is not None else None
    ctx.emit("notices", notice_id=f"{SOURCE}:{number}", kind=kind, document_type=local(data.tag),
             published_on=published,
             buyer_id=_party(ctx, child_elements(data, _NOTICE_PARTS)[0], published),
             title=v.clean(name, 1000), amount=amount, currency=cur,
             bidders=None, url=NOTICE_223.format(number), document_id=ctx.document.document_id)
    if kind == "notice":
        competition.notice223(ctx, data, number, published, amount, cur)


def summary223(ctx: LoadContext, item, kind: str) -> None:
    """Plans and monthly accounts of contracts: recognised, archived and counted, never read
    as contracts (their totals restate contracts that come one by one in `contract` files)."""


HANDLERS = {"contract223": contract223, "performance223": performance223, "notice223": notice223,
            "summary223": summary223}
