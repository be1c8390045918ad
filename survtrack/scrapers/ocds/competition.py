"""How an OCDS process was run, from its compiled state: one `procurement_facts` row.

`tender.procurementMethod` (the OCDS codelist: open, selective, limited, direct) with its
details in words, `tender.tenderPeriod`, `tender.value` (the estimate) and the bids:
`tender.numberOfTenderers`, else the bids extension's `bids.details` counted by status
(valid, disqualified) or its `bids.statistics` (measures bids, validBids, disqualifiedBids).
"""

from __future__ import annotations

from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import LoadContext, Rejected

SOURCE = "ocds"


def emit(ctx: LoadContext, state: dict, published_on, document_id: str) -> None:
    ocid = state["ocid"]
    tender = state.get("tender") if isinstance(state.get("tender"), dict) else {}
    period = tender.get("tenderPeriod") if isinstance(tender.get("tenderPeriod"), dict) else {}
    value = tender.get("value") if isinstance(tender.get("value"), dict) else {}
    try:
        start = v.moment(_text(period.get("startDate")), "tender.tenderPeriod.startDate")
        end = v.moment(_text(period.get("endDate")), "tender.tenderPeriod.endDate")
        estimate = v.money(_text(value.get("amount")), "tender.value.amount")
        currency = v.currency(_text(value.get("currency")), "tender.value.currency")
    except Rejected as exc:  # the facts of this process are left out, its contracts load
        ctx.reject_part(f"{ocid}: {exc.reason}", exc.field)
        return
    received, admitted, rejected = _bids(state, tender)
    method = _text(tender.get("procurementMethod"))
    details = _text(tender.get("procurementMethodDetails")) or _text(
        tender.get("procurementMethodType"))
    facts = dict(procedure_scheme="ocds_method" if method else None, procedure_code=method,
                 procedure_text=v.clean(details, 1000), tender_published_on=start,
                 tender_deadline=end, estimated_amount=estimate if estimate else None,
                 estimated_currency=currency if estimate else None, bids_received=received,
                 bids_admitted=admitted, bids_rejected=rejected)
    if not any(x is not None for x in facts.values()):
        return
    ctx.emit("procurement_facts", subject_id=f"{SOURCE}:{ocid}",
             procurement_id=f"{SOURCE}:{ocid}", stage="notice", published_on=published_on,
             document_id=document_id, **facts)


def _bids(state: dict, tender: dict) -> tuple[int | None, int | None, int | None]:
    count = tender.get("numberOfTenderers")
    received = count if isinstance(count, int) and not isinstance(count, bool) else None
    bids = state.get("bids") if isinstance(state.get("bids"), dict) else {}
    details = [b for b in bids.get("details") or [] if isinstance(b, dict)]
    admitted = rejected = None
    if details:
        statuses = [str(b.get("status") or "").casefold() for b in details]
        received = received if received is not None else len(details)
        if all(s in ("valid", "disqualified") for s in statuses):
            admitted, rejected = statuses.count("valid"), statuses.count("disqualified")
    for stat in bids.get("statistics") or []:
        if not isinstance(stat, dict) or stat.get("relatedLot"):
            continue
        measure, number = stat.get("measure"), stat.get("value")
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            continue
        if measure == "bids" and received is None:
            received = int(number)
        elif measure == "validBids" and admitted is None:
            admitted = int(number)
        elif measure == "disqualifiedBids" and rejected is None:
            rejected = int(number)
    return received, admitted, rejected


def _text(value) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text or None
