"""Legacy TED XML (R2.0.9 `TED_EXPORT`, forms F01-F25), the format of notices before eForms.

The form (F03 contract award, F15 voluntary ex ante…; document_kinds.csv) sits in
FORM_SECTION, once per language: the ORIGINAL one is read. Each AWARD_CONTRACT with an
AWARDED_CONTRACT is one contract: its CONTRACTORs, VAL_TOTAL and DATE_CONCLUSION_CONTRACT.
"""

from __future__ import annotations

from collections import Counter

from survtrack.scrapers import values as v
from survtrack.scrapers.xmlsafe import child, children, local, text
from survtrack.warehouse.protocol import LoadContext, Rejected

from . import competition
from .common import (
    Award,
    Notice,
    country,
    cpv_code,
    document_kinds,
    emit_awards,
    emit_notice,
    moment,
    notice_url,
    org,
    publication_number,
    settle_amounts,
)


def _paragraphs(el) -> str | None:
    if el is None:
        return None
    return v.clean(" ".join(t for t in el.itertext() if t.strip())) or None


def _amount(el, name: str, field: str):
    node = child(el, name)
    if node is None or not (node.text or "").strip():
        return None, None
    return v.money(node.text, field), v.currency(node.get("CURRENCY"), f"{field}/@CURRENCY")


def _org(ctx: LoadContext, address, field: str, published=None) -> str | None:
    if address is None:
        return None
    code = child(address, "COUNTRY")
    return org(ctx, name=text(address, "OFFICIALNAME"), raw_id=text(address, "NATIONALID"),
               country_code=country(code.get("VALUE") if code is not None else None,
                                    f"{field}/COUNTRY"), published=published)


def _cpv(el) -> list[str]:
    return [c for c in (cpv_code(n.get("CODE")) for n in el.iter()
                        if local(n.tag) == "CPV_CODE") if c] if el is not None else []


def parse(ctx: LoadContext, root) -> None:
    publication = publication_number(root.get("DOC_ID"), "TED_EXPORT/@DOC_ID")
    if not publication:
        raise Rejected("TED_EXPORT without DOC_ID (the publication number)", "TED_EXPORT/@DOC_ID")
    coded = child(root, "CODED_DATA_SECTION")
    published = moment(text(coded, "REF_OJS", "DATE_PUB"), "REF_OJS/DATE_PUB")
    section = child(root, "FORM_SECTION")
    forms = [f for f in section if isinstance(f.tag, str)] if section is not None else []
    if not forms:
        raise Rejected("TED_EXPORT without a form in FORM_SECTION", "FORM_SECTION")
    form = next((f for f in forms if f.get("CATEGORY") == "ORIGINAL"), forms[0])
    form_code = form.get("FORM") or local(form.tag).split("_")[0]
    kind = document_kinds().get(("legacy", form_code))
    if kind is None:
        raise Rejected(f"unknown TED form {form_code} <{local(form.tag)}>", "FORM_SECTION")

    body = child(form, "CONTRACTING_BODY")
    buyer = child(body, "ADDRESS_CONTRACTING_BODY")
    buyer_country = child(buyer, "COUNTRY")
    procedure_el = child(form, "PROCEDURE")
    procedure = next((local(n.tag)[3:].lower() for n in procedure_el.iter()
                      if local(n.tag).startswith("PT_")), None) if procedure_el is not None else None
    notice = Notice(
        key=publication, published_on=published,
        buyer_id=_org(ctx, buyer, "ADDRESS_CONTRACTING_BODY", published),
        country=country(buyer_country.get("VALUE"), "ADDRESS_CONTRACTING_BODY/COUNTRY")
        if buyer_country is not None else None,
        procedure=procedure, url=notice_url(publication),
        dispatched_on=v.day(text(form, "COMPLEMENTARY_INFO", "DATE_DISPATCH_NOTICE")
                            or text(coded, "CODIF_DATA", "DS_DATE_DISPATCH"),
                            "COMPLEMENTARY_INFO/DATE_DISPATCH_NOTICE"))
    for extra in children(body, "ADDRESS_CONTRACTING_BODY_ADDITIONAL"):  # joint procurement
        _org(ctx, extra, "ADDRESS_CONTRACTING_BODY_ADDITIONAL", published)
    obj = child(form, "OBJECT_CONTRACT")
    title = _paragraphs(child(obj, "TITLE"))
    document_type = f"TED_EXPORT/{local(form.tag)}"
    awarded = [a for a in children(form, "AWARD_CONTRACT") if child(a, "AWARDED_CONTRACT") is not None]
    bearing = kind["kind"] == "award" or (kind["kind"] == "award_if_present" and awarded)

    if not bearing:
        amount, cur = _amount(obj, "VAL_ESTIMATED_TOTAL", "OBJECT_CONTRACT/VAL_ESTIMATED_TOTAL")
        emit_notice(ctx, notice, kind="notice", document_type=document_type, title=title,
                    amount=amount, currency=cur)
        competition.legacy_call(ctx, form, notice, amount, cur)
        ctx.describe("notice", f"{form_code} {publication}: {kind['doc']}; not contract-bearing",
                     contract_bearing=False, url=notice.url)
        return

    notice.total, notice.total_currency = _amount(obj, "VAL_TOTAL", "OBJECT_CONTRACT/VAL_TOTAL")
    notice.total_field = "OBJECT_CONTRACT/VAL_TOTAL"
    # an award notice of lots none of which was awarded (procurement discontinued or
    # unsuccessful) is a notice of a non-award: no contract, nothing spent
    emit_notice(ctx, notice, kind="award" if awarded else "non_award",
                document_type=document_type, title=title, amount=notice.total,
                currency=notice.total_currency)

    main_cpv = _cpv(child(obj, "CPV_MAIN"))
    lots = {}
    for descr in children(obj, "OBJECT_DESCR"):
        lots[text(descr, "LOT_NO")] = {"title": _paragraphs(child(descr, "TITLE")),
                                       "cpv": main_cpv + [c for extra in children(
                                           descr, "CPV_ADDITIONAL") for c in _cpv(extra)]}
    keys = _contract_keys(awarded)
    awards = []
    for award, key in zip(awarded, keys):
        where = f"AWARD_CONTRACT[{award.get('ITEM')}]"
        result = child(award, "AWARDED_CONTRACT")
        # R2.0.9 wraps values in VALUES; older forms put VAL_TOTAL directly in AWARDED_CONTRACT
        holder = child(result, "VALUES")
        holder = holder if holder is not None else result
        amount, cur = _amount(holder, "VAL_TOTAL", f"{where}/AWARDED_CONTRACT/VALUES/VAL_TOTAL")
        vendor_id = None
        for contractor in result.iter():
            if local(contractor.tag) == "ADDRESS_CONTRACTOR":
                oid = _org(ctx, contractor, f"{where}/CONTRACTOR", published)
                vendor_id = vendor_id or oid
        lot_no = text(award, "LOT_NO")
        lot = lots.get(lot_no, {"title": None, "cpv": main_cpv})
        awards.append(Award(
            # an award without LOT_NO belongs to the notice's only lot
            native_id=f"{publication}/{key}", lot_key=lot_no or "-", amount=amount, currency=cur,
            amount_field=f"{where}/AWARDED_CONTRACT/VALUES/VAL_TOTAL",
            signed_on=v.day(text(result, "DATE_CONCLUSION_CONTRACT"),
                            f"{where}/AWARDED_CONTRACT/DATE_CONCLUSION_CONTRACT"),
            title=v.clean(_paragraphs(child(award, "TITLE")) or lot["title"] or title, 1000),
            vendor_id=vendor_id, cpv=[(c, lot["title"]) for c in (lot["cpv"] or main_cpv)]))
    notes = settle_amounts(ctx, notice, awards)
    emit_awards(ctx, notice, awards)
    competition.legacy_awards(ctx, form, notice, list(zip(awarded, awards)))
    not_awarded: Counter = Counter()  # PROCUREMENT_DISCONTINUED, PROCUREMENT_UNSUCCESSFUL
    for a in children(form, "AWARD_CONTRACT"):
        none = child(a, "NO_AWARDED_CONTRACT")
        if none is not None:
            not_awarded.update(local(why.tag).lower().replace("_", " ") for why in none
                               if isinstance(why.tag, str))
    unsuccessful = len(children(form, "AWARD_CONTRACT")) - len(awarded)
    ctx.describe("award" if awards else "non_award", f"{form_code} {publication}:"
                 f" {len(awards)} contracts"
                 + (f", {unsuccessful} lots not awarded" if unsuccessful else "")
                 + (f" ({', '.join(f'{n} {why}' for why, n in sorted(not_awarded.items()))})"
                    if not_awarded else "")
                 + "".join(f"; {n}" for n in notes), contract_bearing=bool(awards),
                 url=notice.url)


def _contract_keys(awarded: list) -> list[str]:
    """The contract part of contract_id: the lot number where each award has its own lot,
    else the buyer's contract number where those are distinct, else the award's position.

    CONTRACT_NO is the buyer's free text and repeats across lots in real notices ("1" for
    six lots of 2022/S 035-088158); LOT_NO repeats when a lot went to several suppliers.
    """
    for element, prefix in (("LOT_NO", "lot"), ("CONTRACT_NO", "contract")):
        values = [text(a, element) for a in awarded]
        if all(values) and len(set(values)) == len(values):
            return [f"{prefix}-{x}" for x in values]
    return [f"award-{a.get('ITEM') or i}" for i, a in enumerate(awarded, 1)]
