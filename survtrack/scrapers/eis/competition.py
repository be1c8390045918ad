"""How an EIS purchase was run, as each document states it: rows of `procurement_facts`.

A notice states the procedure (placingWay), the call's publication, the deadline for
applications and the maximum price; a protocol the applications received, admitted and
rejected; a contract its basis (the notice it came from, or the single-supplier reason). The
build folds them per contract (analysis/competition.py); here each document only says what it
says, in the source's own codes (mapped in analysis/flags/procedure_types.csv).
"""

from __future__ import annotations

from survtrack.scrapers import values as v
from survtrack.scrapers.xmlsafe import child, descendants, elements, fields
from survtrack.warehouse.protocol import LoadContext

from .common import SOURCE


def emit(ctx: LoadContext, subject_id: str, procurement_id: str | None, stage: str, **facts
         ) -> None:
    ctx.emit("procurement_facts", subject_id=subject_id, procurement_id=procurement_id,
             stage=stage, document_id=ctx.document.document_id, **facts)


_UNSET = object()
SINGLE = ("//singleCustomer",)  # a single-supplier contract's reason, under its foundation
SINGLE_REASON = ("//code", "//name")


def contract44(ctx: LoadContext, el, contract_id: str, notice: str | None, published, *,
               foundation=_UNSET, single=_UNSET) -> None:
    """A 44-FZ contract's basis: a single-supplier reason (its code and words), else the notice
    of the procedure it was awarded in. `foundation`, `single`: as the contract's parser found
    them, so they are not looked up twice."""
    if foundation is _UNSET:
        foundation = child(el, "foundation")
    if single is _UNSET:
        single = elements(foundation, SINGLE)[0]
    if single is not None:
        scheme = "eis44_single_reason"
        code, words = fields(single, SINGLE_REASON)
    elif notice:
        scheme, code, words = "eis44_foundation", "notice", f"awarded in procedure {notice}"
    else:
        scheme, code, words = "eis44_foundation", None, None
    emit(ctx, contract_id, f"{SOURCE}:{notice}" if notice else None, "contract",
         published_on=published, procedure_scheme=scheme, procedure_code=code,
         procedure_text=v.clean(words, 1000))


_PURCHASE_TYPE = ("purchaseTypeInfo/code", "purchaseTypeInfo/name")


def contract223(ctx: LoadContext, data, contract_id: str, notice: str | None, published, *,
                purchase_type: tuple | None = None) -> None:
    """A 223-FZ contract's purchase type (the customer's own code list, read by its words).
    `purchase_type`: its (code, name), when the contract's parser read them."""
    code, name = purchase_type or fields(data, _PURCHASE_TYPE)
    emit(ctx, contract_id, f"{SOURCE}:{notice}" if notice else None, "contract",
         published_on=published, procedure_scheme="eis223_purchase_type",
         procedure_code=code, procedure_text=v.clean(name, 1000))


_NOTICE_PARTS = ("//placingWay", "//collecting|collectingInfo")
_PLACING = ("//code", "//name")
_DEADLINE = ("//endDate|endDT",)


def notice44(ctx: LoadContext, el, number: str, published, amount, currency) -> None:
    """A 44-FZ notice: placing way, the call's publication, the applications' deadline."""
    placing, collecting = elements(el, _NOTICE_PARTS)
    deadline = v.moment(fields(collecting, _DEADLINE)[0], "procedureInfo/collecting/endDate")
    code, name = fields(placing, _PLACING)
    emit(ctx, f"{SOURCE}:{number}", f"{SOURCE}:{number}", "notice", published_on=published,
         procedure_scheme="eis44_placing" if placing is not None else None,
         procedure_code=code, procedure_text=v.clean(name, 1000),
         tender_published_on=published if deadline else None, tender_deadline=deadline,
         estimated_amount=amount, estimated_currency=currency)


_VERDICT = ("admitted", "admittedInfo/appAdmittedInfo/admitted")


def protocol44(ctx: LoadContext, el, number: str, published) -> None:
    """A 44-FZ protocol: applications received, admitted and rejected, where it lists them.

    Each application's own `admitted` (in `admittedInfo/appAdmittedInfo` in the 2020 schemes,
    directly under `application` before) is read, not the commission members' votes. A
    protocol declaring that no application was filed (abandonedReason) states zero.
    """
    received = admitted = rejected = 0
    decided = False
    for app in descendants(el, "application", "applicationInfo"):
        received += 1
        own, info = fields(app, _VERDICT)
        verdict = own or info
        if verdict in ("true", "false"):
            decided = True
            admitted += verdict == "true"
            rejected += verdict == "false"
    abandoned = fields(elements(el, _ABANDONED_AT)[0], _NAME)[0]
    if not received and not (abandoned and "ни одной заявки" in abandoned):
        return  # a protocol that lists no applications says nothing about them
    emit(ctx, f"{SOURCE}:{number}", f"{SOURCE}:{number}", "protocol", published_on=published,
         procedure_text=v.clean(abandoned, 1000), bids_received=received,
         bids_admitted=admitted if decided else None,
         bids_rejected=rejected if decided else None)


_ABANDONED_AT = ("//abandonedReason",)
_NAME = ("//name",)
_NOTICE223 = ("submissionCloseDateTime", "purchaseMethodCode", "purchaseCodeName")


def notice223(ctx: LoadContext, data, number: str, published, amount, currency) -> None:
    """A 223-FZ purchase notice: the customer's method (by its words), the deadline."""
    closes, code, words = fields(data, _NOTICE223)
    deadline = v.moment(closes, "submissionCloseDateTime")
    emit(ctx, f"{SOURCE}:{number}", f"{SOURCE}:{number}", "notice", published_on=published,
         procedure_scheme="eis223_purchase_method", procedure_code=code,
         procedure_text=v.clean(words, 1000),
         tender_published_on=published if deadline else None, tender_deadline=deadline,
         estimated_amount=amount, estimated_currency=currency)
