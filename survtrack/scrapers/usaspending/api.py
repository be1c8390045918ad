"""USAspending API v2 JSON: award detail, spending_by_award search pages, recipient profiles.

The document's shape says what it is (its keys), since an archived response no longer
carries the URL it was fetched from. A shape we do not know is rejected with its keys.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from survtrack import datafiles
from survtrack.scrapers import jsonsafe
from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import LoadContext, Rejected

from .common import (
    API_AWARD,
    API_RECIPIENT,
    API_SEARCH,
    Award,
    Organizations,
    amount,
    award_category,
    country2,
    emit_award,
    text,
)


def parse_json(ctx: LoadContext) -> None:
    if ctx.document.size > jsonsafe.DEFAULT.max_part_bytes:  # an API response is read whole
        raise Rejected(f"JSON response of {ctx.document.size} bytes, over the cap of"
                       f" {jsonsafe.DEFAULT.max_part_bytes}", "JSON")
    try:
        # utf-8-sig: a byte-order mark, as some tools save JSON, is not an error
        data = jsonsafe.loads(ctx.document.read().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise Rejected(f"JSON is not UTF-8: {exc.reason} at byte {exc.start}", "JSON") from None
    except jsonsafe.LimitExceeded as exc:
        raise Rejected(f"JSON refused: {exc}", "JSON") from None
    except json.JSONDecodeError as exc:
        raise Rejected(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                       "JSON") from None
    if not isinstance(data, dict):
        raise Rejected(f"JSON of unknown shape: a top-level {type(data).__name__}, not an object",
                       "(root)")
    if "generated_unique_award_id" in data and "category" in data:
        award_detail(ctx, data)
    elif isinstance(data.get("results"), list) and ("page_metadata" in data or "limit" in data):
        search_page(ctx, data)
    elif "recipient_id" in data and "recipient_level" in data:
        recipient(ctx, data)
    else:
        keys = ", ".join(sorted(map(str, data))[:12])
        raise Rejected(f"JSON of unknown shape: not an award detail, spending_by_award page or"
                       f" recipient profile (keys: {keys})", "(root)")


def _obj(data: dict, key: str, where: str) -> dict:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected(f"expected an object, found {type(value).__name__}", f"{where}{key}")
    return value


def award_detail(ctx: LoadContext, data: dict) -> None:
    """GET /api/v2/awards/<id>/ of a contract or IDV."""
    award_id = text(data.get("generated_unique_award_id"))
    if not award_id:
        raise Rejected("award detail without generated_unique_award_id",
                       "generated_unique_award_id")
    category = award_category(award_id, "generated_unique_award_id")
    if category == "assistance":
        ctx.describe("award_detail", f"assistance award {award_id} ({data.get('category')}):"
                     " not procurement", contract_bearing=False, url=API_AWARD.format(award_id))
        return
    period = _obj(data, "period_of_performance", "")
    top = _obj(_obj(data, "awarding_agency", ""), "toptier_agency", "awarding_agency.")
    sub = _obj(_obj(data, "awarding_agency", ""), "subtier_agency", "awarding_agency.")
    who = _obj(data, "recipient", "")
    where = _obj(who, "location", "recipient.")
    latest = _obj(data, "latest_transaction_contract_data", "")
    psc = _obj(_obj(data, "psc_hierarchy", ""), "base_code", "psc_hierarchy.")
    naics = _obj(_obj(data, "naics_hierarchy", ""), "base_code", "naics_hierarchy.")
    parent = _obj(data, "parent_award", "")
    award = Award(
        award_id=award_id,
        piid=text(data.get("piid")),
        type_description=text(data.get("type_description")),
        description=text(data.get("description")),
        # obligations; for an IDV that is what was obligated on the IDV itself, while
        # base_and_all_options (its ceiling) is never read
        amount=amount(data.get("total_obligation"), "total_obligation"),
        signed_on=v.day(text(data.get("date_signed")), "date_signed"),
        started_on=v.day(text(period.get("start_date")), "period_of_performance.start_date"),
        last_modified=v.moment(text(period.get("last_modified_date")),
                               "period_of_performance.last_modified_date"),
        agency_code=text(top.get("code")), agency_name=text(top.get("name")),
        sub_agency_code=text(sub.get("code")), sub_agency_name=text(sub.get("name")),
        sub_agency_abbreviation=text(sub.get("abbreviation")),
        recipient_uei=text(who.get("recipient_uei")),
        recipient_duns=text(who.get("recipient_unique_id")),
        recipient_name=text(who.get("recipient_name")),
        recipient_country=country2(text(where.get("location_country_code"))),
        parent_uei=text(who.get("parent_recipient_uei")),
        parent_duns=text(who.get("parent_recipient_unique_id")),
        parent_name=text(who.get("parent_recipient_name")),
        psc_code=text(latest.get("product_or_service_code")) or text(psc.get("code")),
        psc_name=text(latest.get("product_or_service_description")) or text(psc.get("description")),
        naics_code=text(latest.get("naics")) or text(naics.get("code")),
        naics_name=text(latest.get("naics_description")) or text(naics.get("description")),
        extent_competed=text(latest.get("extent_competed_description")),
        solicitation_procedures=text(latest.get("solicitation_procedures_description")),
        extent_code=text(latest.get("extent_competed")),
        offers=text(latest.get("number_of_offers_received")),
        set_aside=text(latest.get("type_set_aside")),
        parent_award=text(parent.get("generated_unique_award_id")) or text(parent.get("piid")),
    )
    orgs = Organizations(ctx)
    emit_award(ctx, orgs, award, "detail")
    orgs.flush()
    ctx.describe("award_detail", f"{category} {award_id}: {award.type_description},"
                 f" obligated {award.amount} USD", url=API_AWARD.format(award_id))


def _code(row: dict, *keys: str) -> tuple[str | None, str | None]:
    """(code, name) from a field that is either an object {code, description} or a string."""
    for key in keys:
        value = row.get(key)
        if isinstance(value, dict):
            return text(value.get("code")), text(value.get("description"))
        if value not in (None, ""):
            raw = text(value)
            code, _, name = raw.partition(":") if raw and ":" in raw else (raw, "", "")
            return code.strip() or None, name.strip() or None
    return None, None


def search_row(row: dict, where: str) -> Award | None:
    """One result of POST /api/v2/search/spending_by_award/ (None: an assistance award)."""
    award_id = text(row.get("generated_internal_id"))
    if not award_id:
        raise Rejected("result without generated_internal_id", f"{where}.generated_internal_id")
    field = f"{where}.generated_internal_id"
    if award_category(award_id, field) == "assistance":
        return None
    psc_code, psc_name = _code(row, "PSC", "psc_code", "Product or Service Code")
    naics_code, naics_name = _code(row, "NAICS", "naics_code", "NAICS Code")
    if not psc_name:
        psc_name = text(row.get("psc_description"))
    if not naics_name:
        naics_name = text(row.get("naics_description"))
    location = row.get("Recipient Location")
    return Award(
        award_id=award_id,
        piid=text(row.get("Award ID")),
        type_description=text(row.get("Contract Award Type")) or text(row.get("Award Type")),
        description=text(row.get("Description")),
        # "Award Amount" is the award's total_obligation for contracts and IDVs alike
        amount=amount(row.get("Award Amount"), f'{where}."Award Amount"'),
        signed_on=v.day(text(row.get("Base Obligation Date")), f'{where}."Base Obligation Date"'),
        started_on=v.day(text(row.get("Start Date")), f'{where}."Start Date"'),
        last_modified=v.moment(text(row.get("Last Modified Date")),
                               f'{where}."Last Modified Date"'),
        agency_code=text(row.get("Awarding Agency Code")),
        agency_name=text(row.get("Awarding Agency")),
        sub_agency_code=text(row.get("Awarding Sub Agency Code")),
        sub_agency_name=text(row.get("Awarding Sub Agency")),
        recipient_uei=text(row.get("Recipient UEI")),
        recipient_duns=text(row.get("Recipient DUNS Number")),
        recipient_name=text(row.get("Recipient Name")),
        recipient_country=country2(text(location.get("country_code")))
        if isinstance(location, dict) else None,
        psc_code=psc_code, psc_name=psc_name, naics_code=naics_code, naics_name=naics_name,
    )


@cache
def result_shapes() -> list[dict]:
    """What a page of `results` is, told by a key of its rows (result_shapes.csv)."""
    return datafiles.rows(Path(__file__).with_name("result_shapes.csv"))


def page_shape(results: list) -> dict | None:
    rows = [r for r in results if isinstance(r, dict)]
    for shape in result_shapes():
        if any(shape["key"] in row for row in rows):
            return shape
    return None


def search_page(ctx: LoadContext, data: dict) -> None:
    """A page of `results`: spending_by_award rows become contracts; the pages of other
    endpoints (result_shapes.csv) are recognised and kept, never read as awards."""
    results = data["results"]
    meta = data.get("page_metadata") if isinstance(data.get("page_metadata"), dict) else {}
    shape = page_shape(results)
    if shape and shape["loads"] == "reject":
        raise Rejected(f"a {shape['shape']} page: {shape['doc'].split(': ', 1)[1]}; load the"
                       " awards (spending_by_award, award detail or bulk files) instead",
                       f"results[0].{shape['key']}")
    if shape and shape["loads"] == "none":
        ctx.describe(shape["shape"], f"{shape['doc']}: {len(results)} results;"
                     " not contract-bearing", contract_bearing=False)
        return
    if results and shape is None:
        keys = ", ".join(sorted({str(k) for r in results if isinstance(r, dict) for k in r})[:12])
        raise Rejected(f"a page of results of unknown shape: no row has a key of"
                       f" result_shapes.csv (keys: {keys})", "results[0]")
    orgs = Organizations(ctx)
    loaded = assistance = 0
    for i, row in enumerate(results):
        where = f"results[{i}]"
        if not isinstance(row, dict):
            ctx.reject_part(f"{where}: expected an object, found {type(row).__name__}", where)
            continue
        try:
            award = search_row(row, where)
        except Rejected as exc:
            ctx.reject_part(f"{where} ({row.get('generated_internal_id')}): {exc.reason}",
                            exc.field)
            continue
        if award is None:
            assistance += 1
            continue
        emit_award(ctx, orgs, award, "search")
        loaded += 1
    orgs.flush()
    detail = (f"spending_by_award page {meta.get('page')}: {loaded} contract awards and IDVs"
              + (f", {assistance} assistance awards skipped (not procurement)" if assistance
                 else "")
              + (f", {len(ctx.part_rejects)} results rejected" if ctx.part_rejects else "")
              + ("; more pages follow" if meta.get("hasNext") else ""))
    ctx.describe("search_page", detail, contract_bearing=loaded > 0, url=API_SEARCH)


def recipient(ctx: LoadContext, data: dict) -> None:
    """GET /api/v2/recipient/<id>/: the organization and its parent; no contract in it."""
    where = _obj(data, "location", "")
    orgs = Organizations(ctx)
    org_id = orgs.recipient(text(data.get("uei")), text(data.get("duns")), text(data.get("name")),
                            country2(text(where.get("country_code"))))
    if org_id is None:
        raise Rejected("recipient profile without uei, duns or name", "uei")
    parent_id = orgs.parent(org_id, text(data.get("parent_uei")), text(data.get("parent_duns")),
                            text(data.get("parent_name")))
    orgs.flush()
    ctx.describe("recipient", f"recipient profile of {org_id}"
                 + (f", parent {parent_id}" if parent_id and parent_id != org_id else "")
                 + "; not contract-bearing", contract_bearing=False,
                 url=API_RECIPIENT.format(text(data.get("recipient_id"))))
