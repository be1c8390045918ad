"""eForms notices (UBL 2.3 with the eForms extension): awards, modifications and calls.

XPaths follow the eForms SDK field catalogue (fields.json); each is named by its business
term. The result section lives in the UBL extension (`efac:NoticeResult`): a lot result
(BT-13713) names the winning tenders (OPT-320) and the settled contracts (OPT-315); a
tender (OPT-321) has its value (BT-720) and tendering party (OPT-310), whose tenderers
(OPT-300) are organizations (BT-500/BT-501/BT-514). One contract row per settled contract
(OPT-316): it is what the buyer signed, may cover several lots (its tenders, BT-3202), and
carries the signing date (BT-145).
"""

from __future__ import annotations

from decimal import Decimal

from survtrack.scrapers import values as v
from survtrack.scrapers.xmlsafe import local
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
    is_publication_number,
    moment,
    notice_url,
    org,
    publication_number,
    settle_amounts,
)

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "efac": "http://data.europa.eu/p27/eforms-ubl-extension-aggregate-components/1",
    "efbc": "http://data.europa.eu/p27/eforms-ubl-extension-basic-components/1",
    "efext": "http://data.europa.eu/p27/eforms-ubl-extensions/1",
    "ext": "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2",
}
EXT = "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/efext:EformsExtension"


def _all(el, path: str) -> list:
    return el.xpath(path, namespaces=NS) if el is not None else []


def _one(el, path: str):
    found = _all(el, path)
    return found[0] if found else None


def _text(el, path: str) -> str | None:
    node = _one(el, path)
    return v.clean(node.text) if node is not None and node.text else None


def _amount(el, path: str, field: str) -> tuple[Decimal | None, str | None]:
    node = _one(el, path)
    if node is None or not (node.text or "").strip():
        return None, None
    amount = v.money(node.text, field)
    return amount, v.currency(node.get("currencyID"), f"{field}/@currencyID")


def _in_language(el, path: str, lang: str | None) -> str | None:
    """Multilingual text: the notice language's version, else the first one given."""
    nodes = [n for n in _all(el, path) if (n.text or "").strip()]
    chosen = next((n for n in nodes if n.get("languageID") == lang), nodes[0] if nodes else None)
    return v.clean(chosen.text) if chosen is not None else None


def recognise(root) -> dict:
    name = local(root.tag)
    kinds = document_kinds()
    notice_type = _text(root, "cbc:NoticeTypeCode")  # BT-02
    row = kinds.get(("eforms", f"{name}:{notice_type}")) or kinds.get(("eforms", name))
    if row is None:
        raise Rejected(f"unknown eForms notice <{name}>", name)
    return row


def parse(ctx: LoadContext, root) -> None:
    kind = recognise(root)
    ext = _one(root, EXT)
    lang = _text(root, "cbc:NoticeLanguageCode")  # BT-702(a)
    publication = publication_number(
        _text(ext, "efac:Publication/efbc:NoticePublicationID[@schemeName='ojs-notice-id']"),
        "efac:Publication/efbc:NoticePublicationID")  # OPP-010
    notice_uuid = _text(root, "cbc:ID[@schemeName='notice-id']")  # BT-701
    if not (publication or notice_uuid):
        raise Rejected("eForms notice without a publication number (OPP-010) or a notice"
                       " identifier (BT-701)", "efac:Publication/efbc:NoticePublicationID")
    published = moment(_text(ext, "efac:Publication/efbc:PublicationDate"),  # OPP-012
                       "efac:Publication/efbc:PublicationDate")
    if published is None:  # not published yet (SDK examples): the dispatch date, BT-05
        issued = _text(root, "cbc:IssueDate")
        issued_at = _text(root, "cbc:IssueTime")
        published = moment(f"{issued[:10]}T{issued_at}" if issued and issued_at else issued,
                           "cbc:IssueDate")

    organizations = {}
    for company in _all(ext, "efac:Organizations/efac:Organization/efac:Company"):
        ref = _text(company, "cac:PartyIdentification/cbc:ID")
        organizations[ref] = company

    def org_id(ref: str | None) -> str | None:
        company = organizations.get(ref)
        if company is None:
            if ref:
                ctx.reject_part(f"organization {ref} is referenced but not described",
                                "efac:Organizations/efac:Organization")
            return None
        where = f"efac:Organization[{ref}]"
        return org(ctx, name=_in_language(company, "cac:PartyName/cbc:Name", lang),  # BT-500
                   raw_id=_text(company, "cac:PartyLegalEntity/cbc:CompanyID"),  # BT-501
                   country_code=country(_text(  # BT-514
                       company, "cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
                       f"{where}/cac:PostalAddress/cac:Country"), published=published)

    buyer_refs = [n.text.strip() for n in  # OPT-300-Procedure-Buyer
                  _all(root, "cac:ContractingParty/cac:Party/cac:PartyIdentification/cbc:ID")]
    buyer_ids = [org_id(ref) for ref in buyer_refs]
    buyer_company = organizations.get(buyer_refs[0]) if buyer_refs else None
    key = publication or notice_uuid
    notice = Notice(
        key=key, published_on=published, buyer_id=buyer_ids[0] if buyer_ids else None,
        country=country(_text(buyer_company, "cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
                        "buyer country") if buyer_company is not None else None,
        procedure=_text(root, "cac:TenderingProcess/cbc:ProcedureCode"),  # BT-105
        url=notice_url(publication),
        dispatched_on=v.day(_text(root, "cbc:IssueDate"), "cbc:IssueDate"))  # BT-05
    title = _in_language(root, "cac:ProcurementProject/cbc:Name", lang)  # BT-21-Procedure
    document_type = "/".join(filter(None, (
        local(root.tag), _text(root, "cbc:NoticeTypeCode"),
        _text(ext, "efac:NoticeSubType/cbc:SubTypeCode"))))

    changed = _text(ext, "efac:Changes/efbc:ChangedNoticeIdentifier")  # BT-758
    if changed and kind["kind"] != "notice":
        # A change notice republishes a notice under a new publication number but names the
        # changed one by its UUID and version: its contracts would be keyed apart from the
        # original's and counted twice, so it is kept as a notice only.
        emit_notice(ctx, notice, kind="change", document_type=document_type, title=title)
        ctx.describe("change", f"{document_type} {key}: changes notice {changed}; kept as a"
                     " notice, the original's contracts stand; not contract-bearing",
                     contract_bearing=False, url=notice.url)
        return

    if kind["kind"] == "notice":
        amount, cur = _amount(root, "cac:ProcurementProject/cac:RequestedTenderTotal/"
                              "cbc:EstimatedOverallContractAmount", "BT-27-Procedure")
        emit_notice(ctx, notice, kind="notice", document_type=document_type, title=title,
                    amount=amount, currency=cur)
        competition.eforms_call(ctx, root, NS, notice, amount, cur)
        ctx.describe("notice", f"{document_type} {key}: a call for tenders, no contract;"
                     " not contract-bearing", contract_bearing=False, url=notice.url)
        return

    result = _one(ext, "efac:NoticeResult")
    # BT-161 notice value, else the framework approximate (BT-1118) or maximum (BT-118) value
    for path, bt in (("cbc:TotalAmount", "BT-161-NoticeResult"),
                     ("efbc:OverallApproximateFrameworkContractsAmount", "BT-1118-NoticeResult"),
                     ("efbc:OverallMaximumFrameworkContractsAmount", "BT-118-NoticeResult")):
        notice.total, notice.total_currency = _amount(result, path, bt)
        if notice.total is not None:
            notice.total_field = f"efac:NoticeResult/{path} ({bt})"
            break
    emit_notice(ctx, notice, kind=kind["kind"], document_type=document_type, title=title,
                amount=notice.total, currency=notice.total_currency)

    awards = _awards(ctx, root, result, key, lang, org_id, title)
    if kind["kind"] == "modification":
        targets = _modification(ctx, ext, notice, awards, document_type)
        if targets:  # None: the modified notice is not matched, this one is kept as a notice
            competition.eforms_awards(ctx, root, result, NS, notice,
                                      [a for a in awards if a.native_id in targets], targets)
        return
    notes = settle_amounts(ctx, notice, awards)
    emit_awards(ctx, notice, awards)
    competition.eforms_awards(ctx, root, result, NS, notice, awards)
    ctx.describe("award", f"{document_type} {key}: {len(awards)} contracts"
                 + "".join(f"; {n}" for n in notes), contract_bearing=bool(awards),
                 url=notice.url)


def _lots(root, lang: str | None) -> dict[str, dict]:
    """Lot and lot-group id -> title and CPV codes (BT-262 main, BT-263 additional)."""
    procedure = _one(root, "cac:ProcurementProject")
    procedure_cpv = [cpv_code(n.text) for n in _all(procedure, (
        "cac:MainCommodityClassification/cbc:ItemClassificationCode[@listName='cpv']"
        " | cac:AdditionalCommodityClassification/cbc:ItemClassificationCode[@listName='cpv']"))]
    lots = {}
    for lot in _all(root, "cac:ProcurementProjectLot"):
        project = _one(lot, "cac:ProcurementProject")
        codes = [cpv_code(n.text) for n in _all(project, (
            "cac:MainCommodityClassification/cbc:ItemClassificationCode[@listName='cpv']"
            " | cac:AdditionalCommodityClassification/cbc:ItemClassificationCode"
            "[@listName='cpv']"))]
        lots[_text(lot, "cbc:ID")] = {
            "title": _in_language(project, "cbc:Name", lang),  # BT-21-Lot
            "cpv": [c for c in codes if c] or [c for c in procedure_cpv if c]}
    lots[None] = {"title": None, "cpv": [c for c in procedure_cpv if c]}
    return lots


def _awards(ctx: LoadContext, root, result, key: str, lang, org_id, notice_title) -> list[Award]:
    if result is None:
        return []
    lots = _lots(root, lang)
    tenders = {}
    for tender in _all(result, "efac:LotTender"):
        tid = _text(tender, "cbc:ID")  # OPT-321
        unreadable = False
        try:
            amount, cur = _amount(tender, "cac:LegalMonetaryTotal/cbc:PayableAmount",
                                  f"efac:LotTender[{tid}]/cac:LegalMonetaryTotal/cbc:PayableAmount")
        except Rejected as exc:  # its contract's amount is then unknown, not understated
            ctx.reject_part(f"tender {tid}: {exc.reason}", exc.field)
            amount, cur, unreadable = None, None, True
        tenders[tid] = {"amount": amount, "currency": cur, "unreadable": unreadable,
                        "party": _text(tender, "efac:TenderingParty/cbc:ID"),  # OPT-310
                        "lot": _text(tender, "efac:TenderLot/cbc:ID")}  # BT-13714
    parties = {}
    for party in _all(result, "efac:TenderingParty"):
        members = _all(party, "efac:Tenderer")
        # the group leader (OPT-170) first, then the others in document order
        members.sort(key=lambda m: _text(m, "efbc:GroupLeadIndicator") != "true")
        parties[_text(party, "cbc:ID")] = [_text(m, "cbc:ID") for m in members]
    lot_of_contract = {}
    named = {}  # lot -> the settled contracts its results name (OPT-315)
    settled = {r.text.strip() for r in _all(result, "efac:SettledContract/efac:LotTender/cbc:ID")}
    for lot_result in _all(result, "efac:LotResult"):
        lot_id = _text(lot_result, "efac:TenderLot/cbc:ID")  # BT-13713
        for ref in _all(lot_result, "efac:SettledContract/cbc:ID"):  # OPT-315
            lot_of_contract.setdefault(ref.text.strip(), lot_id)
            named.setdefault(lot_id, set()).add(ref.text.strip())
        winners = [t.text.strip() for t in _all(lot_result, "efac:LotTender/cbc:ID")]
        if _text(lot_result, "cbc:TenderResultCode") == "selec-w" and \
                not _all(lot_result, "efac:SettledContract") and not settled & set(winners):
            ctx.reject_part(f"lot {lot_id}: a winner was chosen but no settled contract is"
                            " published; its tenders are not loaded as contracts",
                            "efac:LotResult/efac:SettledContract")

    contracts = _all(result, "efac:SettledContract")
    own_refs = _own_tenders(ctx, contracts, tenders, named)
    awards = []
    for contract in contracts:
        cid = _text(contract, "cbc:ID")  # OPT-316
        where = f"efac:SettledContract[{cid}]"
        refs = own_refs.get(cid, [])
        own = [tenders[t] for t in refs if t in tenders]
        missing = [t for t in refs if t not in tenders]
        if missing:
            ctx.reject_part(f"contract {cid} names tenders {missing} that are not described",
                            f"{where}/efac:LotTender")
        amounts = [t for t in own if t["amount"] is not None]
        currencies = {t["currency"] for t in amounts}
        amount = cur = None
        if any(t["unreadable"] for t in own):
            pass  # already in rejects: a sum without that tender would understate the contract
        elif len(currencies) > 1:
            ctx.reject_part(f"contract {cid} sums tenders in several currencies {sorted(currencies)}"
                            "; amount left NULL", f"{where}/efac:LotTender")
        elif amounts:
            amount, cur = sum((t["amount"] for t in amounts), Decimal(0)), currencies.pop()
        vendor_id = None
        for t in own:
            for member in parties.get(t["party"], []):
                oid = org_id(member)
                vendor_id = vendor_id or oid
        lot_ids = list(dict.fromkeys(t["lot"] for t in own)) or [lot_of_contract.get(cid)]
        cpv = [(code, lots.get(lot, {}).get("title"))
               for lot in lot_ids for code in lots.get(lot, lots[None])["cpv"]]
        lot_titles = [lots.get(lot, {}).get("title") for lot in lot_ids]
        title = (_in_language(contract, "cbc:Title", lang)  # BT-721
                 or v.clean("; ".join(dict.fromkeys(t for t in lot_titles if t)), 1000)
                 or notice_title)
        awards.append(Award(
            native_id=f"{key}/{cid}", lot_key=lot_of_contract.get(cid), amount=amount,
            currency=cur, amount_field=f"{where} tenders' cac:LegalMonetaryTotal/cbc:PayableAmount"
            " (BT-720)", signed_on=v.day(_text(contract, "cbc:IssueDate"), f"{where}/cbc:IssueDate"),
            decided_on=v.day(_text(contract, "cbc:AwardDate"), f"{where}/cbc:AwardDate"),
            title=v.clean(title, 1000), vendor_id=vendor_id, cpv=cpv))
    return awards


def _own_tenders(ctx: LoadContext, contracts: list, tenders: dict, named: dict
                 ) -> dict[str, list[str]]:
    """Settled contract id -> its own tenders (BT-3202 references), each counted in one
    contract only: the one its lot's result names (OPT-315). A contract referencing the
    tender of a lot whose result names another contract (a publisher's slip: 2024/S
    065-191534 lists M&G Cleaning's lot-2 tender in Belgo Facility Services' contract) does
    not add it to its amount or vendors; the named contract gets it."""
    own: dict[str, list[str]] = {}
    ids = {_text(c, "cbc:ID") for c in contracts}
    for contract in contracts:
        cid = _text(contract, "cbc:ID")
        own.setdefault(cid, [])
        for ref in (t.text.strip() for t in _all(contract, "efac:LotTender/cbc:ID")):
            owners = named.get((tenders.get(ref) or {}).get("lot"), set()) & ids or {cid}
            owner = cid if cid in owners else next(iter(owners)) if len(owners) == 1 else cid
            if owner != cid:
                ctx.reject_part(f"contract {cid} names tender {ref}, whose lot's result names"
                                f" contract {owner}: counted in {owner} only",
                                f"efac:SettledContract[{cid}]/efac:LotTender")
            if ref not in own.setdefault(owner, []):
                own[owner].append(ref)
    return own


def _modification(ctx: LoadContext, ext, notice: Notice, awards: list[Award],
                  document_type: str) -> dict[str, str] | None:
    """A modification notice restates the modified contract (BT-1501(c)) of an earlier notice
    (BT-1501(n)): it becomes a new version of that contract, never a second contract."""
    by_id = {a.native_id.rsplit("/", 1)[1]: a for a in awards}
    changed, targets, unmatched = [], {}, []
    for mod in _all(ext, "efac:ContractModification"):
        raw = _text(mod, "efbc:ChangedNoticeIdentifier")
        contract = _text(mod, "efbc:ModifiedContractIdentifier")
        if raw and contract and not is_publication_number(raw):
            # the modified notice named by its notice identifier (a UUID and version), not
            # its publication number: its contracts are keyed by the publication number,
            # which this notice does not give, so the modification cannot be matched to them
            unmatched.append(f"{contract} of notice {raw}")
            continue
        previous = publication_number(raw,
                                      "efac:ContractModification/efbc:ChangedNoticeIdentifier")
        if not (previous and contract):
            raise Rejected("modification notice without the modified notice or contract"
                           " (BT-1501)", "efac:ContractModification")
        award = by_id.get(contract)
        if award is None:
            raise Rejected(f"modified contract {contract} is not among this notice's settled"
                           " contracts", "efac:ContractModification/efbc:ModifiedContractIdentifier")
        changed.append(award)
        targets[award.native_id] = f"{previous}/{contract}"
    if not changed and unmatched:
        ctx.describe("modification", f"{document_type} {notice.key}: modifies contract"
                     f" {', '.join(unmatched)}, a notice named by its identifier rather than its"
                     " publication number: kept as a notice, the modified contract stands as"
                     " loaded; not contract-bearing", contract_bearing=False, url=notice.url)
        return
    if not changed:
        raise Rejected("modification notice without efac:ContractModification",
                       "efac:ContractModification")
    emit_awards(ctx, notice, changed, targets)
    ctx.describe("modification", f"{document_type} {notice.key}: modifies "
                 + ", ".join(f"ted:{t}" for t in targets.values()), url=notice.url)
    return targets
