"""Complaints about procurements and the control bodies' decisions on them (EIS registry of
complaints), as context events linked to the purchase, the buyer and the complainant.

44-FZ exports carry `complaint` (a complaint registered by the FAS or another control body),
`checkResult` (the decision on it, or on an unscheduled check) and `complaintCancel` (a
complaint withdrawn); 223-FZ has its own `complaint` document. They are read by element name,
anywhere below the record (the layouts moved between scheme versions): the paths are those
that public parsers of these exports read (docs/context.md names them). A complaint's
purchase becomes `procurement_id` (`eis:<purchase number>`, the notices' id), its customer
the respondent (RU-INN where published) and its applicant the complainant.
"""

from __future__ import annotations

from functools import cache

from survtrack.scrapers import values as v
from survtrack.scrapers.xmlsafe import elements, fields
from survtrack.warehouse.protocol import LoadContext, Rejected

from .common import SOURCE, org

REGISTRY = "EIS registry of complaints"


def _day(text: str | None, field: str):
    """The calendar day as published ('2020-02-10T12:00:00+03:00' is 10 February there)."""
    return v.day(text, field)


def _first(*nodes):
    """The first element found (an lxml element without children is falsy: never `or`)."""
    return next((n for n in nodes if n is not None), None)


def _event(ctx: LoadContext, *, event_id: str, kind: str, occurred, forum: str | None,
           title: str, outcome: str | None, case_number: str | None, purchase: str | None,
           url: str | None, parties: list[dict]) -> None:
    ctx.emit("context_events", event_id=event_id, source=SOURCE, kind=kind,
             occurred_on=occurred, date_basis="event" if occurred else None,
             jurisdiction="RU", forum=forum or "control body (not named in the document)",
             title=title, outcome=outcome, case_number=case_number,
             procurement_id=f"{SOURCE}:{purchase}" if purchase else None, url=url,
             outlet=REGISTRY, published_on=None, checked=None,
             document_id=ctx.document.document_id)
    for position, party in enumerate((p for p in parties if p["name"] or p["org_id"]), 1):
        ctx.emit("context_parties", event_id=event_id, position=position, match=None, **party)


@cache
def _party_specs(name_paths: tuple[str, ...]) -> tuple[str, ...]:
    return ("//" + "|".join(name_paths), "//INN|inn", "//KPP|kpp")


def _party(ctx: LoadContext, role: str, node, *name_paths: str) -> dict:
    """A party from a customer or applicant block: its organization is emitted as well."""
    name, inn, kpp = fields(node, _party_specs(name_paths))
    org_id = org(ctx, name=name, inn=inn, kpp=kpp) if (name or inn) else None
    return {"role": role, "name": name, "org_id": org_id}


_PERSON = ("//lastName", "//firstName", "//middleName", "//name")


def _person(node) -> str | None:
    if node is None:
        return None
    *parts, name = fields(node, _PERSON)
    return " ".join(p for p in parts if p) or name


_PURCHASE = ("//purchaseNumber|notificationNumber", "//purchaseName")
_FULL_NAME = ("//fullName",)
_URL = ("//url",)
_COMPLAINT = ("//complaintNumber", "//planDecisionDate", "//regDate", "//createDate")
_COMPLAINT_PARTS = ("//purchase", "//considerationKO", "//registrationKO", "//indicted",
                    "//applicantNew", "//applicant", "//returnInfo", "//printForm", "//customer")
_INDICTED = ("//customer", "//customerNew")
_LEGAL = ("//legalEntity",)
_INDIVIDUAL = ("//individualPerson", "//individualBusinessman")
_RETURNED = ("//base", "//info")


def complaint44(ctx: LoadContext, el, kind: str) -> None:
    number, planned, registered, created = fields(el, _COMPLAINT)
    (purchase_info, consideration, registration, indicted, applicant_new, applicant_old, back,
     print_form, any_customer) = elements(el, _COMPLAINT_PARTS)
    purchase, name = fields(purchase_info, _PURCHASE)
    if not number and not purchase:
        raise Rejected("complaint without complaintNumber or purchaseNumber", "complaintNumber")
    body = _first(consideration, registration)
    # whose actions are complained of: the customer
    customer = _first(*elements(indicted, _INDICTED), any_customer)
    applicant = _first(applicant_new, applicant_old)
    complainant = _party(ctx, "complainant", _first(elements(applicant, _LEGAL)[0], applicant),
                         "fullName", "organizationName")
    if not complainant["name"]:
        person, businessman = elements(applicant, _INDIVIDUAL)
        complainant["name"] = _person(person) or _person(businessman)
    # a complaint returned unexamined, and why
    returned = " ".join(x for x in fields(back, _RETURNED) if x)
    outcome = (f"returned: {returned}" if returned else
               f"registered; decision planned for {planned[:10]}" if planned else "registered")
    url = fields(print_form, _URL)[0]
    _event(ctx, event_id=f"{SOURCE}:complaint:{number or purchase}", kind="complaint",
           occurred=_day(registered or created, "regDate"),
           forum=fields(body, _FULL_NAME)[0],
           title=f"Complaint about purchase {purchase or '(not named)'}"
                 + (f": {v.clean(name, 300)}" if name else ""),
           outcome=outcome, case_number=number, purchase=purchase, url=url,
           parties=[complainant, _party(ctx, "respondent", customer, "fullName")])
    ctx.describe(kind, f"complaint {number} about purchase {purchase}: not contract-bearing",
                 contract_bearing=False, url=url)


_CHECK = ("//checkResultNumber", "//createDate")
_CHECK_PARTS = ("//complaint", "//purchase", "//printForm", "//considerationKO", "//owner",
                "//customer")
_CHECKED = ("//complaintNumber", "//complaintResult", "//complaintResultInfo")
_DECISION = ("//decision",)
_DECISION_TEXT = ("//decisionText",)


def check_result44(ctx: LoadContext, el, kind: str) -> None:
    number, created = fields(el, _CHECK)
    complaint, purchase_info, print_form, consideration, owner, customer = elements(
        el, _CHECK_PARTS)
    complaint_number, result, result_info = fields(complaint, _CHECKED)
    purchase = fields(purchase_info, _PURCHASE)[0]
    if not number and not complaint_number:
        raise Rejected("checkResult without checkResultNumber or complaintNumber",
                       "checkResultNumber")
    result = " — ".join(x for x in (result, result_info) if x)
    decision = fields(elements(complaint, _DECISION)[0], _DECISION_TEXT)[0]
    outcome = "; ".join(x for x in (result, v.clean(decision, 500)) if x) or None
    url = fields(print_form, _URL)[0]
    _event(ctx, event_id=f"{SOURCE}:checkResult:{number or complaint_number}",
           kind="complaint_decision",
           occurred=_day(created, "createDate"),
           forum=fields(_first(consideration, owner), _FULL_NAME)[0],
           title=f"Decision on complaint {complaint_number or '(not named)'} about purchase"
                 f" {purchase or '(not named)'}",
           outcome=outcome, case_number=complaint_number or number, purchase=purchase, url=url,
           parties=[_party(ctx, "respondent", customer, "fullName")])
    ctx.describe(kind, f"decision {number} on complaint {complaint_number}: not"
                 " contract-bearing", contract_bearing=False, url=url)


_CANCEL = ("//complaintNumber", "//regNumber", "//cancelDate|createDate|docPublishDate")
_CANCELLED_PURCHASE = ("//purchase",)
_PURCHASE_NUMBER = ("//purchaseNumber",)


def complaint_cancel44(ctx: LoadContext, el, kind: str) -> None:
    number, registration, cancelled = fields(el, _CANCEL)
    if not number and not registration:
        raise Rejected("complaintCancel without complaintNumber or regNumber", "complaintNumber")
    _event(ctx, event_id=f"{SOURCE}:complaintCancel:{number or registration}",
           kind="complaint_withdrawn",
           occurred=_day(cancelled, "cancelDate"),
           forum=None, title=f"Complaint {number or registration} withdrawn",
           outcome="withdrawn", case_number=number or registration,
           purchase=fields(elements(el, _CANCELLED_PURCHASE)[0], _PURCHASE_NUMBER)[0], url=None,
           parties=[])
    ctx.describe(kind, f"complaint {number or registration} withdrawn: not contract-bearing",
                 contract_bearing=False)


_COMPLAINT223 = ("//registrationNumber", "//urlEIS", "//publishDate",
                 "//decision|complaintResult")
_COMPLAINT223_PARTS = ("//complaintPurchaseInfo", "//legalPerson", "//individualPerson",
                       "//customer", "//controlAuthority", "//considerationKO")
_PURCHASE223 = ("//purchaseNoticeNumber", "//name")


def complaint223(ctx: LoadContext, item, kind: str) -> None:
    number, url, published, decision = fields(item, _COMPLAINT223)
    info, legal, person, customer, authority, consideration = elements(item, _COMPLAINT223_PARTS)
    purchase, name = fields(info, _PURCHASE223)
    if not number and not purchase:
        raise Rejected("223-FZ complaint without registrationNumber or purchaseNoticeNumber",
                       "registrationNumber")
    complainant = _party(ctx, "complainant", legal, "organizationName", "fullName")
    if not complainant["name"]:
        complainant["name"] = _person(person)
    _event(ctx, event_id=f"{SOURCE}:complaint223:{number or purchase}", kind="complaint",
           occurred=_day(published, "publishDate"),
           forum=fields(_first(authority, consideration), _FULL_NAME)[0],
           title=f"Complaint about 223-FZ purchase {purchase or '(not named)'}"
                 + (f": {v.clean(name, 300)}" if name else ""),
           outcome=decision or "published",
           case_number=number, purchase=purchase, url=url,
           parties=[complainant, _party(ctx, "respondent", customer, "fullName")])


HANDLERS = {"complaint44": complaint44, "check_result44": check_result44,
            "complaint_cancel44": complaint_cancel44, "complaint223": complaint223}
