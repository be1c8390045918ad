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

from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import LoadContext, Rejected

from .common import SOURCE, find, find_text, org

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


def _party(ctx: LoadContext, role: str, node, *name_paths: str) -> dict:
    """A party from a customer or applicant block: its organization is emitted as well."""
    name = find_text(node, *name_paths) if node is not None else None
    inn = find_text(node, "INN", "inn") if node is not None else None
    kpp = find_text(node, "KPP", "kpp") if node is not None else None
    org_id = org(ctx, name=name, inn=inn, kpp=kpp) if (name or inn) else None
    return {"role": role, "name": name, "org_id": org_id}


def _person(node) -> str | None:
    if node is None:
        return None
    parts = [find_text(node, tag) for tag in ("lastName", "firstName", "middleName")]
    return " ".join(p for p in parts if p) or find_text(node, "name")


def complaint44(ctx: LoadContext, el, kind: str) -> None:
    number = find_text(el, "complaintNumber")
    purchase = find_text(find(el, "purchase"), "purchaseNumber", "notificationNumber")
    if not number and not purchase:
        raise Rejected("complaint without complaintNumber or purchaseNumber", "complaintNumber")
    body = _first(find(el, "considerationKO"), find(el, "registrationKO"))
    indicted = find(el, "indicted")  # whose actions are complained of: the customer
    customer = _first(find(indicted, "customer"), find(indicted, "customerNew"),
                      find(el, "customer"))
    applicant = _first(find(el, "applicantNew"), find(el, "applicant"))
    complainant = _party(ctx, "complainant", _first(find(applicant, "legalEntity"), applicant),
                         "fullName", "organizationName")
    if not complainant["name"]:
        complainant["name"] = _person(find(applicant, "individualPerson")) or _person(
            find(applicant, "individualBusinessman"))
    back = find(el, "returnInfo")  # a complaint returned unexamined, and why
    returned = " ".join(x for x in (find_text(back, "base"), find_text(back, "info")) if x)
    planned = find_text(el, "planDecisionDate")
    outcome = (f"returned: {returned}" if returned else
               f"registered; decision planned for {planned[:10]}" if planned else "registered")
    name = find_text(find(el, "purchase"), "purchaseName")
    url = find_text(find(el, "printForm"), "url")
    _event(ctx, event_id=f"{SOURCE}:complaint:{number or purchase}", kind="complaint",
           occurred=_day(find_text(el, "regDate") or find_text(el, "createDate"), "regDate"),
           forum=find_text(body, "fullName"),
           title=f"Complaint about purchase {purchase or '(not named)'}"
                 + (f": {v.clean(name, 300)}" if name else ""),
           outcome=outcome, case_number=number, purchase=purchase, url=url,
           parties=[complainant, _party(ctx, "respondent", customer, "fullName")])
    ctx.describe(kind, f"complaint {number} about purchase {purchase}: not contract-bearing",
                 contract_bearing=False, url=url)


def check_result44(ctx: LoadContext, el, kind: str) -> None:
    number = find_text(el, "checkResultNumber")
    complaint = find(el, "complaint")
    complaint_number = find_text(complaint, "complaintNumber")
    purchase = find_text(find(el, "purchase"), "purchaseNumber", "notificationNumber")
    if not number and not complaint_number:
        raise Rejected("checkResult without checkResultNumber or complaintNumber",
                       "checkResultNumber")
    result = " — ".join(x for x in (find_text(complaint, "complaintResult"),
                                    find_text(complaint, "complaintResultInfo")) if x)
    decision = find_text(find(complaint, "decision"), "decisionText")
    outcome = "; ".join(x for x in (result, v.clean(decision, 500)) if x) or None
    url = find_text(find(el, "printForm"), "url")
    _event(ctx, event_id=f"{SOURCE}:checkResult:{number or complaint_number}",
           kind="complaint_decision",
           occurred=_day(find_text(el, "createDate"), "createDate"),
           forum=find_text(_first(find(el, "considerationKO"), find(el, "owner")), "fullName"),
           title=f"Decision on complaint {complaint_number or '(not named)'} about purchase"
                 f" {purchase or '(not named)'}",
           outcome=outcome, case_number=complaint_number or number, purchase=purchase, url=url,
           parties=[_party(ctx, "respondent", find(el, "customer"), "fullName")])
    ctx.describe(kind, f"decision {number} on complaint {complaint_number}: not"
                 " contract-bearing", contract_bearing=False, url=url)


def complaint_cancel44(ctx: LoadContext, el, kind: str) -> None:
    number = find_text(el, "complaintNumber")
    registration = find_text(el, "regNumber")
    if not number and not registration:
        raise Rejected("complaintCancel without complaintNumber or regNumber", "complaintNumber")
    _event(ctx, event_id=f"{SOURCE}:complaintCancel:{number or registration}",
           kind="complaint_withdrawn",
           occurred=_day(find_text(el, "cancelDate", "createDate", "docPublishDate"),
                         "cancelDate"),
           forum=None, title=f"Complaint {number or registration} withdrawn",
           outcome="withdrawn", case_number=number or registration,
           purchase=find_text(find(el, "purchase"), "purchaseNumber"), url=None, parties=[])
    ctx.describe(kind, f"complaint {number or registration} withdrawn: not contract-bearing",
                 contract_bearing=False)


def complaint223(ctx: LoadContext, item, kind: str) -> None:
    number = find_text(item, "registrationNumber")
    info = find(item, "complaintPurchaseInfo")
    purchase = find_text(info, "purchaseNoticeNumber")
    if not number and not purchase:
        raise Rejected("223-FZ complaint without registrationNumber or purchaseNoticeNumber",
                       "registrationNumber")
    legal = find(item, "legalPerson")
    complainant = _party(ctx, "complainant", legal, "organizationName", "fullName")
    if not complainant["name"]:
        complainant["name"] = _person(find(item, "individualPerson"))
    customer = find(item, "customer")
    name = find_text(info, "name")
    url = find_text(item, "urlEIS")
    _event(ctx, event_id=f"{SOURCE}:complaint223:{number or purchase}", kind="complaint",
           occurred=_day(find_text(item, "publishDate"), "publishDate"),
           forum=find_text(_first(find(item, "controlAuthority"), find(item, "considerationKO")),
                           "fullName"),
           title=f"Complaint about 223-FZ purchase {purchase or '(not named)'}"
                 + (f": {v.clean(name, 300)}" if name else ""),
           outcome=find_text(item, "decision", "complaintResult") or "published",
           case_number=number, purchase=purchase, url=url,
           parties=[complainant, _party(ctx, "respondent", customer, "fullName")])


HANDLERS = {"complaint44": complaint44, "check_result44": check_result44,
            "complaint_cancel44": complaint_cancel44, "complaint223": complaint223}
