"""44-FZ documents (root `export`): contracts, execution records, notices and protocols.

Element names are matched without namespaces and, where schemes moved them between
versions (5.x to 11.x), by searching the subtree, so one parser serves every version.
"""

from __future__ import annotations

import hashlib

from survtrack.scrapers import values as v
from survtrack.scrapers.xmlsafe import (
    child_elements,
    children,
    children_of,
    descendants,
    elements,
    fields,
    local,
    rows,
)
from survtrack.warehouse.protocol import LoadContext, Rejected

from . import competition
from .common import (
    CARD_44,
    CODE_SPECS,
    NOTICE_44,
    SOURCE,
    find,
    find_text,
    item_code_of,
    org,
    stages,
)

_SUPPLIER = ("//individualPersonRF|individualPersonForeignState?",
             "//fullName|organizationName|shortName", "//legalEntityForeignState?", "//INN|inn",
             "//taxPayerCode", "//countryCode", "//KPP|kpp", "//shortName")


_CONTRACT = ("regNum", "versionNumber", "publishDate", "signDate", "currentContractStage", "href",
             "priceInfo?", "priceInfo/price", "priceInfo/currency/code", "priceInfo/priceRUR",
             "price", "currency/code", "priceRUR", "customer?", "customer/fullName",
             "customer/inn", "customer/kpp", "customer/shortName",
             "foundation//notificationNumber|purchaseNumber")
_CONTRACT_PARTS = ("suppliers", "suppliersInfo", "products", "productsInfo", "foundation")
_PRODUCT = (*CODE_SPECS, "name", "quantity", "OKEI//nationalCode|name", "price", "sum", "sumRUR")
_CODES = len(CODE_SPECS)


def contract44(ctx: LoadContext, el, kind: str) -> None:
    (reg_num, version, published, signed, stage, href, in_price_info, info_price, info_currency,
     info_rur, price, currency, rur, in_customer, customer_name, customer_inn, customer_kpp,
     customer_short, notice) = fields(el, _CONTRACT)
    if not reg_num:
        raise Rejected("contract without regNum", "contract/regNum")
    contract_id = f"{SOURCE}:{reg_num}"
    version = v.integer(version, "contract/versionNumber", 0)
    published = v.moment(published, "contract/publishDate")
    signed = v.day(signed, "contract/signDate")

    if in_price_info:
        price, currency, rur = info_price, info_currency, info_rur
    amount = v.money(price, "contract/priceInfo/price")
    cur = v.currency(currency, "contract/priceInfo/currency/code")
    if amount is None:  # some versions give only the rouble value
        amount = v.money(rur, "contract/priceInfo/priceRUR")
        cur = cur or ("RUB" if amount is not None else None)
    if amount is not None and cur is None:
        cur = "RUB"  # EIS states a currency only when it is not the rouble in old schemes

    buyer_id = None
    if in_customer:
        buyer_id = org(ctx, name=customer_name, inn=customer_inn, kpp=customer_kpp,
                       short_name=customer_short, published=published)

    suppliers, suppliers_info, products, products_info, foundation = child_elements(
        el, _CONTRACT_PARTS)
    vendor_id = None
    for supplier in _members(suppliers, suppliers_info, ("supplier", "supplierInfo")):
        sid = _supplier(ctx, supplier, published)
        vendor_id = vendor_id or sid

    items = []
    lines = rows(products if products is not None else products_info,
                 ("product", "productInfo"), _PRODUCT)
    for line_no, line in enumerate(lines, start=1):
        scheme, code = item_code_of(line[:_CODES])
        name, quantity, unit, unit_price, line_sum, line_rur = line[_CODES:]
        description = v.clean(name, 2000)
        items.append(description)
        ctx.emit("items", contract_id=contract_id, line_no=line_no, description=description,
                 scheme=scheme, code=code,
                 quantity=v.number(quantity, f"product[{line_no}]/quantity"),
                 unit=unit, unit_price=v.money(unit_price, f"product[{line_no}]/price"),
                 amount=v.money(line_sum or line_rur, f"product[{line_no}]/sum"))

    single = elements(foundation, competition.SINGLE)[0]
    if single is not None:
        procedure = "single supplier: " + (fields(single, competition.SINGLE_REASON)[1]
                                           or "reason not stated")
    elif notice:
        procedure = f"competitive, notice {notice}"
    else:
        procedure = None

    status = stages().get(stage or "", "unknown")
    title = v.clip("; ".join(dict.fromkeys(i for i in items if i)), 1000) if items else None
    ctx.emit("contracts", contract_id=contract_id, source=SOURCE, native_id=reg_num,
             version=version, published_on=published, title=title, buyer_id=buyer_id,
             vendor_id=vendor_id, signed_on=signed,
             **v.dated(("signed", signed), ("published", published)),
             amount=amount, currency=cur, procedure=procedure, status=status, country="RU",
             notice_id=f"{SOURCE}:{notice}" if notice else None,
             url=CARD_44.format(reg_num))
    competition.contract44(ctx, el, contract_id, notice, published, foundation=foundation,
                           single=single)
    ctx.emit("contract_versions", contract_id=contract_id, version=version,
             published_on=published, amount=amount, currency=cur,
             document_id=ctx.document.document_id)
    ctx.describe("contract", f"44-FZ contract {reg_num} v{version}: {len(items)} product lines",
                  url=href or CARD_44.format(reg_num))


def _members(first, second, members: tuple[str, ...]) -> list:
    """Members of the first container present: schemes renamed `suppliers/supplier` to
    `suppliersInfo/supplierInfo` (and likewise products) in later versions."""
    container = first if first is not None else second
    return children_of(container, *members) if container is not None else []


def _supplier(ctx: LoadContext, supplier, published) -> str | None:
    (person, name, foreign, inn, code, country, kpp, short_name) = fields(supplier, _SUPPLIER)
    if person:
        person = find(supplier, "individualPersonRF", "individualPersonForeignState")
        name = " ".join(filter(None, (find_text(person, "lastName"), find_text(person, "firstName"),
                                      find_text(person, "middleName"))))
    if foreign and not inn:
        if code:  # foreign tax number: not an INN, so it gets a name key with the number
            name = f"{name} ({country or ''} {code})".strip()
    return org(ctx, name=name, inn=inn, kpp=kpp, short_name=short_name,
               country="RU" if not foreign else (country or None), published=published)


_PROCEDURE = ("regNum", "publishDate", "currentContractStage", "versionNumber", "termination?",
              "termination/terminationDate", "termination/reason/name",
              "termination/reasonInfo", "termination/paid")
_ORDINAL = ("ordinalNumber",)
_EXECUTION = ("execution",)
_PAYMENT = ("paid", "currency/code", "paidRUR", "payDoc?", "payDoc/documentNum",
            "payDoc/documentDate", "docExecution?", "docExecution/documentNum",
            "docExecution/documentDate")


def procedure44(ctx: LoadContext, el, kind: str) -> None:
    """Execution record: payments go to `payments`; a termination becomes an event, and its
    `paid` total is kept as `reported_paid`, never as another payment.

    A payment is known by what the document says of it: its stage (`ordinalNumber`), the
    payment order (`payDoc`) or, where none is given, the execution document (`docExecution`,
    an acceptance act) by number and date, and the amount. Where all of that repeats (a
    monthly service billed in equal acts without numbers), the execution's position among
    its twins tells them apart. An execution with nothing paid (0.00: an act of delivery
    recorded before its payment) is no payment.
    """
    (reg_num, published, stage_code, version, terminated, terminated_on, reason, reason_info,
     reported_paid) = fields(el, _PROCEDURE)
    if not reg_num:
        raise Rejected("contractProcedure without regNum", "contractProcedure/regNum")
    contract_id = f"{SOURCE}:{reg_num}"
    published = v.moment(published, "contractProcedure/publishDate")
    n_payments = unpaid = 0
    twins: dict[str, int] = {}
    for executions in children(el, "executions"):
        stage = fields(executions, _ORDINAL)[0]
        for i, execution in enumerate(rows(executions, _EXECUTION, _PAYMENT), start=1):
            (paid, currency, paid_rur, pay_doc, pay_doc_num, pay_doc_date, act, act_num,
             act_date) = execution
            where = f"executions[{stage}]/execution[{i}]"
            amount = v.money(paid, f"{where}/paid")
            cur = v.currency(currency, f"{where}/currency/code", "RUB")
            if amount is None:
                amount = v.money(paid_rur, f"{where}/paidRUR")
                cur = "RUB"
            if amount is None:
                ctx.reject_part(f"execution without a paid amount in contract {reg_num}",
                                f"{where}/paid")
                continue
            if amount == 0:
                unpaid += 1
                continue
            if pay_doc:  # the payment order, else the act
                doc_kind, reference, paid_on = "payDoc", pay_doc_num, pay_doc_date
            elif act:
                doc_kind, reference, paid_on = "docExecution", act_num, act_date
            else:
                doc_kind = reference = paid_on = None
            paid_on = v.day(paid_on, f"{where}/{doc_kind or 'payDoc'}/documentDate")
            key = f"{stage}|{doc_kind}|{reference}|{paid_on}|{amount}|{cur}"
            twin = twins[key] = twins.get(key, 0) + 1
            if twin > 1:  # nothing but its position tells it from an earlier twin
                key += f"|#{twin}"
            ctx.emit("payments", contract_id=contract_id,
                     payment_id=hashlib.sha1(key.encode()).hexdigest()[:16], paid_on=paid_on,
                     amount=amount, currency=cur, reference=reference, published_on=published,
                     document_id=ctx.document.document_id)
            n_payments += 1
    events = []
    if terminated:
        ctx.emit("contract_events", contract_id=contract_id, event="terminated",
                 occurred_on=v.day(terminated_on, "termination/terminationDate"),
                 reason=v.clean(reason or reason_info),
                 reported_paid=v.money(reported_paid, "termination/paid"),
                 document_id=ctx.document.document_id)
        events.append("termination")
    stage = stages().get(stage_code or "")
    if stage in ("completed", "annulled") or (stage == "terminated" and not terminated):
        ctx.emit("contract_events", contract_id=contract_id, event=stage, occurred_on=None,
                 reason=f"currentContractStage {stage_code}",
                 reported_paid=None, document_id=ctx.document.document_id)
        events.append(stage)
    ctx.describe("contract_procedure",
                 f"execution record v{version} of {reg_num}: {n_payments} payments"
                 + (f", {unpaid} executions with nothing paid" if unpaid else "")
                 + (f", {', '.join(events)}" if events else ""),
                 url=CARD_44.format(reg_num))


_CANCEL = ("regNum", "cancelDate", "publishDate", "//reason|name")


def contract_cancel44(ctx: LoadContext, el, kind: str) -> None:
    reg_num, cancelled, published, reason = fields(el, _CANCEL)
    if not reg_num:
        raise Rejected("contractCancel without regNum", "contractCancel/regNum")
    ctx.emit("contract_events", contract_id=f"{SOURCE}:{reg_num}", event="annulled",
             occurred_on=v.day(cancelled or published, "cancelDate"),
             reason=reason, reported_paid=None,
             document_id=ctx.document.document_id)
    ctx.describe("cancellation", f"contract {reg_num} annulled", url=CARD_44.format(reg_num))


def procedure_cancel44(ctx: LoadContext, el, kind: str) -> None:
    ctx.describe("cancellation", f"an execution record of {fields(el, _REG_NUM)[0]} was"
                 " cancelled; payments stay as published by other records",
                 contract_bearing=False)


_REG_NUM = ("regNum",)
# What every notice, protocol and result states: its purchase number (where it is, else the
# first anywhere below), when it was published (the first of these dates below it), its object
_NOTICE = ("purchaseNumber", "//purchaseNumber|notificationNumber",
           "//docPublishDate|publishDTInEIS|publishDate|createDate|protocolDate|signDate",
           "//purchaseObjectInfo")
_RESPONSIBLE = ("//responsibleOrg|customer|purchaseResponsible",)
_ORG = ("//fullName", "//INN|inn", "//KPP|kpp")


def _notice_fields(el) -> tuple:
    """(purchase number, publication text, object text) of a notice, protocol or result."""
    number, anywhere, published, title = fields(el, _NOTICE)
    return number or anywhere, published, title


def _published_of(published: str | None):
    return v.moment(published, "publishDate")


def _responsible(ctx: LoadContext, el, published) -> str | None:
    node = elements(el, _RESPONSIBLE)[0]
    if node is None:
        return None
    name, inn, kpp = fields(node, _ORG)
    return org(ctx, name=name, inn=inn, kpp=kpp, published=published)


def _notice_row(ctx: LoadContext, el, kind: str, *, amount=None, cur=None, bidders=None,
                said: tuple | None = None) -> tuple:
    """Emit the notices row; (purchase number, publication moment). `said`: the document's
    `_notice_fields`, when the caller has them."""
    number, published, title = said or _notice_fields(el)
    if not number:
        raise Rejected(f"{local(el.tag)} without purchaseNumber", f"{local(el.tag)}/purchaseNumber")
    published = _published_of(published)
    ctx.emit("notices", notice_id=f"{SOURCE}:{number}", kind=kind, document_type=local(el.tag),
             published_on=published, buyer_id=_responsible(ctx, el, published),
             title=v.clean(title, 1000), amount=amount,
             currency=cur, bidders=bidders, url=NOTICE_44.format(number),
             document_id=ctx.document.document_id)
    return number, published


_PRICE = ("//maxPrice", "//currency")


def notice44(ctx: LoadContext, el, kind: str) -> None:
    price, currency = fields(el, _PRICE)
    if price is not None and not v.plain_amount(price):  # read as published (money strips it)
        price = find(el, "maxPrice").text
    amount = v.money(price, "maxPrice")
    # a currency's code is read only where the element has text of its own (as before)
    cur = v.currency(currency and find_text(find(el, "currency"), "code"),
                     "currency/code", "RUB" if amount is not None else None)
    number, published = _notice_row(ctx, el, kind, amount=amount, cur=cur)
    if kind == "notice":
        competition.notice44(ctx, el, number, published, amount, cur)
    ctx.describe(kind, f"{local(el.tag)} for purchase {number}: not contract-bearing",
                 contract_bearing=False, url=NOTICE_44.format(number))


_PARTICIPANT = ("//fullName|organizationName|firmName|shortName|lastName", "//inn|INN",
                "//kpp|KPP")


def protocol44(ctx: LoadContext, el, kind: str) -> None:
    apps = {v.clean(n.text) for n in descendants(el, "journalNumber", "appNumber") if n.text}
    said = _notice_fields(el)
    for participant in descendants(el, "appParticipant", "appParticipantInfo",
                                   "participantInfo"):
        name, inn, kpp = fields(participant, _PARTICIPANT)
        org(ctx, name=name, inn=inn, kpp=kpp, published=_published_of(said[1]))
    number, published = _notice_row(ctx, el, "protocol", bidders=len(apps) or None, said=said)
    competition.protocol44(ctx, el, number, published)
    ctx.describe("protocol", f"{local(el.tag)} for purchase {number}: {len(apps)} applications;"
                 " not contract-bearing", contract_bearing=False, url=NOTICE_44.format(number))


_APPLICATION = ("appRating", "price")


def placement_result44(ctx: LoadContext, el, kind: str) -> None:
    apps = [fields(app, _APPLICATION) for app in descendants(el, "application")]
    winner = next((price for rating, price in apps if rating == "1"), _NO_WINNER)
    amount = v.money(winner, "application/price") if winner is not _NO_WINNER else None
    number, _ = _notice_row(ctx, el, "placement_result", amount=amount,
                            cur="RUB" if amount is not None else None, bidders=len(apps))
    ctx.describe("placement_result", f"result of purchase {number}: {len(apps)} applications,"
                 f" winning price {amount}; not contract-bearing", contract_bearing=False,
                 url=NOTICE_44.format(number))


_NO_WINNER = object()
_SIGN = ("price", "currency/code", "number", "signDate")
_SIGN_SUPPLIERS = ("suppliers",)


def contract_sign44(ctx: LoadContext, el, kind: str) -> None:
    """A signing notice repeats what the contract record will say: it is kept as a notice so
    that its price is never counted beside the contract's."""
    price, currency, contract_number, signed = fields(el, _SIGN)
    amount = v.money(price, "fcsContractSign/price")
    cur = v.currency(currency, "fcsContractSign/currency/code",
                     "RUB" if amount is not None else None)
    said = _notice_fields(el)
    for supplier in children(child_elements(el, _SIGN_SUPPLIERS)[0], "supplier"):
        _supplier(ctx, supplier, _published_of(said[1]))
    number, _ = _notice_row(ctx, el, "contract_sign", amount=amount, cur=cur, said=said)
    ctx.describe("contract_sign", f"contract {contract_number} signed {signed}"
                 f" for purchase {number}; the contract record itself carries the contract",
                 contract_bearing=False, url=NOTICE_44.format(number))


HANDLERS = {
    "contract44": contract44,
    "procedure44": procedure44,
    "contract_cancel44": contract_cancel44,
    "procedure_cancel44": procedure_cancel44,
    "notice44": notice44,
    "protocol44": protocol44,
    "placement_result44": placement_result44,
    "contract_sign44": contract_sign44,
}
