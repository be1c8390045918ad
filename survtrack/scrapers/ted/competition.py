"""How a TED procedure was run, as each notice states it: rows of `procurement_facts`.

A call for tenders states the procedure, its dispatch (the day the legal minimum periods run
from) and the deadline; an award notice the procedure, the tenders received per lot
(legacy NB_TENDERS_RECEIVED, eForms BT-759 with BT-760 `tenders`) and its own dispatch (the
day the 30 days to publish an award run to). Calls and awards of one procedure meet on its
identifier: the eForms procedure id (BT-04, `ted:folder:<uuid>`), or for a legacy award the
call's OJ number (PROCEDURE/NOTICE_NUMBER_OJ), which is the call's publication number.
"""

from __future__ import annotations

import re
from decimal import Decimal

from survtrack.scrapers import values as v
from survtrack.scrapers.xmlsafe import child, local, text
from survtrack.warehouse.protocol import LoadContext

from .common import SOURCE, Award, Notice, moment

_OJ_NUMBER = re.compile(r"^(\d{4})/S\s*\d+\s*-\s*0*(\d+)$")


def _emit(ctx: LoadContext, subject_id: str, procurement_id: str, stage: str, **facts) -> None:
    ctx.emit("procurement_facts", subject_id=subject_id, procurement_id=procurement_id,
             stage=stage, document_id=ctx.document.document_id, **facts)


# -- legacy TED XML ---------------------------------------------------------------------------

def _legacy_procedure(form) -> str | None:
    procedure = child(form, "PROCEDURE")
    return next((local(n.tag) for n in procedure.iter() if local(n.tag).startswith("PT_")),
                None) if procedure is not None else None


def _legacy_dispatch(form):
    return moment(text(form, "COMPLEMENTARY_INFO", "DATE_DISPATCH_NOTICE"),
                  "COMPLEMENTARY_INFO/DATE_DISPATCH_NOTICE")


def _legacy_amount(el, name: str, field: str) -> tuple[Decimal | None, str | None]:
    node = child(el, name)
    if node is None or not (node.text or "").strip():
        return None, None
    return v.money(node.text, field), v.currency(node.get("CURRENCY"), f"{field}/@CURRENCY")


def legacy_call(ctx: LoadContext, form, notice: Notice, estimate, currency) -> None:
    """A legacy call for tenders (F02…): procedure, dispatch and the tenders' deadline."""
    procedure = child(form, "PROCEDURE")
    day = text(procedure, "DATE_RECEIPT_TENDERS")
    hour = text(procedure, "TIME_RECEIPT_TENDERS")
    deadline = moment(f"{day}T{hour}" if day and hour else day, "PROCEDURE/DATE_RECEIPT_TENDERS")
    dispatched = _legacy_dispatch(form)
    code = _legacy_procedure(form)
    procurement = f"{SOURCE}:{notice.key}"
    _emit(ctx, procurement, procurement, "notice", published_on=dispatched,
          procedure_scheme="ted_legacy" if code else None, procedure_code=code,
          procedure_text=_accelerated(procedure),
          tender_published_on=dispatched if deadline else None, tender_deadline=deadline,
          estimated_amount=estimate, estimated_currency=currency)


def legacy_awards(ctx: LoadContext, form, notice: Notice, pairs: list[tuple[object, Award]]
                  ) -> None:
    """A legacy award notice: the procedure for the whole, tenders and estimate per award."""
    procedure = child(form, "PROCEDURE")
    called = _OJ_NUMBER.match(text(procedure, "NOTICE_NUMBER_OJ") or "")
    procurement = f"{SOURCE}:{called[2]}-{called[1]}" if called else f"{SOURCE}:{notice.key}"
    code = _legacy_procedure(form)
    dispatched = _legacy_dispatch(form)
    for award_el, award in pairs:
        result = child(award_el, "AWARDED_CONTRACT")
        where = f"AWARD_CONTRACT[{award_el.get('ITEM')}]/AWARDED_CONTRACT"
        received = v.integer(text(result, "TENDERS", "NB_TENDERS_RECEIVED"),
                             f"{where}/TENDERS/NB_TENDERS_RECEIVED")
        values = child(result, "VALUES")
        estimate, currency = _legacy_amount(values if values is not None else result,
                                            "VAL_ESTIMATED_TOTAL", f"{where}/VALUES/VAL_ESTIMATED_TOTAL")
        _emit(ctx, f"{SOURCE}:{award.native_id}", procurement, "award", published_on=dispatched,
              procedure_scheme="ted_legacy" if code else None, procedure_code=code,
              procedure_text=_accelerated(procedure), bids_received=received,
              estimated_amount=estimate, estimated_currency=currency)


def _accelerated(procedure) -> str | None:
    return "accelerated procedure" if child(procedure, "ACCELERATED_PROC") is not None else None


# -- eForms -----------------------------------------------------------------------------------

def _x(el, path: str, ns: dict) -> list:
    return el.xpath(path, namespaces=ns) if el is not None else []


def _xtext(el, path: str, ns: dict) -> str | None:
    found = _x(el, path, ns)
    return v.clean(found[0].text) if found and found[0].text else None


def _eforms_moment(el, path: str, ns: dict, field: str):
    day = _xtext(el, f"{path}/cbc:EndDate", ns)
    hour = _xtext(el, f"{path}/cbc:EndTime", ns)
    return moment(f"{day[:10]}T{hour}" if day and hour else day, field)


def eforms_procurement(root, ns: dict, notice: Notice) -> str:
    folder = _xtext(root, "cbc:ContractFolderID", ns)  # BT-04
    return f"{SOURCE}:folder:{folder}" if folder else f"{SOURCE}:{notice.key}"


def _dispatched(root, ns: dict):
    return moment(_xtext(root, "cbc:IssueDate", ns), "cbc:IssueDate")  # BT-05


def eforms_call(ctx: LoadContext, root, ns: dict, notice: Notice, estimate, currency) -> None:
    """An eForms call: procedure (BT-105), dispatch (BT-05) and the first deadline of the lots:
    requests to participate (BT-1311), else tenders (BT-131)."""
    firsts = []
    for lot in _x(root, "cac:ProcurementProjectLot", ns):
        for period in ("cac:ParticipationRequestReceptionPeriod",
                       "cac:TenderSubmissionDeadlinePeriod"):
            found = _eforms_moment(lot, f"cac:TenderingProcess/{period}", ns,
                                   f"{period}/cbc:EndDate")
            if found:
                firsts.append(found)
                break
    deadline = min(firsts) if firsts else None
    dispatched = _dispatched(root, ns)
    procurement = eforms_procurement(root, ns, notice)
    code = _xtext(root, "cac:TenderingProcess/cbc:ProcedureCode", ns)
    _emit(ctx, procurement, procurement, "notice", published_on=dispatched,
          procedure_scheme="eforms" if code else None, procedure_code=code,
          procedure_text=_xtext(root, "cac:TenderingProcess/cbc:Description", ns),
          tender_published_on=dispatched if deadline else None, tender_deadline=deadline,
          estimated_amount=estimate, estimated_currency=currency)


def eforms_awards(ctx: LoadContext, root, result, ns: dict, notice: Notice, awards: list[Award],
                  targets: dict[str, str] | None = None) -> None:
    """An eForms result (or modification): per settled contract, the tenders its lot received
    (BT-759 where BT-760 is `tenders`) and the lot's estimate (BT-27-Lot)."""
    received: dict[str, int] = {}
    lot_of: dict[str, str] = {}
    for lot_result in _x(result, "efac:LotResult", ns):
        lot = _xtext(lot_result, "efac:TenderLot/cbc:ID", ns)
        for stat in _x(lot_result, "efac:ReceivedSubmissionsStatistics", ns):
            if _xtext(stat, "efbc:StatisticsCode", ns) == "tenders":
                received[lot] = v.integer(_xtext(stat, "efbc:StatisticsNumeric", ns),
                                          f"efac:LotResult[{lot}]/efbc:StatisticsNumeric")
        for ref in _x(lot_result, "efac:SettledContract/cbc:ID", ns):
            lot_of.setdefault(ref.text.strip(), lot)
    estimates = {}
    for lot in _x(root, "cac:ProcurementProjectLot", ns):
        node = _x(lot, "cac:ProcurementProject/cac:RequestedTenderTotal/"
                       "cbc:EstimatedOverallContractAmount", ns)
        if node and (node[0].text or "").strip():
            lot_id = _xtext(lot, "cbc:ID", ns)
            estimates[lot_id] = (v.money(node[0].text, f"BT-27-Lot[{lot_id}]"),
                                 v.currency(node[0].get("currencyID"), f"BT-27-Lot[{lot_id}]"))
    code = _xtext(root, "cac:TenderingProcess/cbc:ProcedureCode", ns)
    procurement = eforms_procurement(root, ns, notice)
    stage = "modification" if targets else "award"
    for award in awards:
        lot = lot_of.get(award.native_id.rsplit("/", 1)[1], award.lot_key)
        estimate, currency = estimates.get(lot, (None, None))
        native = (targets or {}).get(award.native_id, award.native_id)
        _emit(ctx, f"{SOURCE}:{native}", procurement, stage, published_on=_dispatched(root, ns),
              procedure_scheme="eforms" if code else None, procedure_code=code,
              bids_received=received.get(lot), estimated_amount=estimate,
              estimated_currency=currency)

