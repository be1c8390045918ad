"""`survtrack export ftm`: the selected contracts as FollowTheMoney entities (JSON lines), the
interchange format of OCCRP's Aleph, built with the `followthemoney` library's model.

For each contract: a `Contract` (title, amount and currency as published, USD amount, signing
date, procedure, status, buyer as `authority`, classification codes, source URL), a
`ContractAward` linking it to the supplier, and one `Payment` per published payment (payer the
buyer, beneficiary the supplier). Buyers are `PublicBody`, suppliers `Company` (an organization
that is both is an `Organization`), each with its name, the names merged into its entity as
aliases, country and registry identifier (exports/data/ftm_identifiers.csv says which FtM
property holds which scheme). Entity ids are derived from survtrack's own ids, so exporting
again gives the same ids and Aleph merges rather than duplicates.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from survtrack.analysis.spending import Filters
from survtrack.datafiles import rows

from .ocds import _grouped, _rows, contracts

DATA = Path(__file__).with_name("data")


@cache
def identifier_properties() -> dict[str, str]:
    return {row["scheme"]: row["property"]
            for row in rows(DATA / "ftm_identifiers.csv", required=("scheme", "property"))}


def _make(schema: str, *key: str):
    from followthemoney import model

    entity = model.make_entity(schema)
    entity.make_id("survtrack", *key)
    return entity


def _org(org: dict, roles: set[str], aliases: list[str]):
    schema = "PublicBody" if roles == {"buyer"} else "Company" if roles == {"vendor"} \
        else "Organization"
    entity = _make(schema, "org", org["org_id"])
    entity.add("name", org.get("name") or org["org_id"])
    entity.add("alias", [a for a in aliases if a and a != org.get("name")])
    entity.add("country", org.get("country"))
    if org.get("scheme") and org.get("identifier"):
        entity.add(identifier_properties().get(org["scheme"], "registrationNumber"),
                   org["identifier"])
    entity.add("publisher", "survtrack")
    return entity


def entities(con, f: Filters) -> Iterator:
    """Every FtM entity of the selected contracts: parties first (once each), then contracts,
    awards and payments."""
    for chunk in contracts(con, f):
        cids = [c["contract_id"] for c in chunk]
        roles: dict[str, set[str]] = defaultdict(set)
        for c in chunk:
            if c.get("buyer_id"):
                roles[c["buyer_id"]].add("buyer")
            if c.get("vendor_id"):
                roles[c["vendor_id"]].add("vendor")
        orgs = {o["org_id"]: o for o in _rows(con.execute(
            """SELECT o.*, e.aliases FROM organizations o
               LEFT JOIN entities e USING (entity_id)
               WHERE list_contains(?::VARCHAR[], o.org_id)""", [sorted(roles)]))}
        parties = {}
        for org_id, role in roles.items():
            org = orgs.get(org_id) or {"org_id": org_id}
            parties[org_id] = _org(org, role, list(org.get("aliases") or []))
        yield from parties.values()
        items = _grouped(con, "items", cids, "line_no")
        payments = _grouped(con, "payments", cids, "paid_on NULLS LAST, payment_id")
        for c in chunk:
            yield from _contract(c, parties, items[c["contract_id"]],
                                 payments[c["contract_id"]])


def _day(value) -> str | None:
    return value.isoformat() if value is not None else None


def _contract(c: dict, parties: dict, items: list[dict], payments: list[dict]) -> Iterator:
    cid = c["contract_id"]
    contract = _make("Contract", "contract", cid)
    contract.add("title", c.get("title") or f"contract {c['native_id']}")
    contract.add("description", c.get("description"))
    contract.add("amount", str(c["amount"]) if c.get("amount") is not None else None)
    contract.add("currency", c.get("currency"))
    if c.get("amount_usd") is not None:
        contract.add("amountUsd", f"{c['amount_usd']:.2f}")
    contract.add("contractDate", _day(c.get("signed_on")))
    contract.add("procedure", c.get("procedure"))
    contract.add("procedureNumber", c.get("notice_id"))
    contract.add("status", c.get("status"))
    contract.add("country", c.get("country"))
    contract.add("sourceUrl", c.get("url"))
    contract.add("publisher", f"survtrack: {c['source']}")
    contract.add("classification", sorted({f"{i['scheme'] or 'local'}:{i['code']}"
                                           for i in items if i.get("code")}))
    contract.add("notes", f"survtrack contract {cid}; archived document {c['document_id']}")
    buyer = parties.get(c.get("buyer_id"))
    vendor = parties.get(c.get("vendor_id"))
    if buyer:
        contract.add("authority", buyer)
    yield contract
    if vendor:
        award = _make("ContractAward", "award", cid)
        award.add("contract", contract)
        award.add("supplier", vendor)
        award.add("amount", str(c["amount"]) if c.get("amount") is not None else None)
        award.add("currency", c.get("currency"))
        award.add("date", _day(c.get("signed_on") or c.get("dated_on")))
        award.add("sourceUrl", c.get("url"))
        award.add("cpvCode", sorted({i["code"] for i in items
                                     if i.get("scheme") == "CPV" and i.get("code")}))
        yield award
    for p in payments:
        if not (buyer and vendor):
            break  # FtM requires both payer and beneficiary
        payment = _make("Payment", "payment", cid, p["payment_id"])
        payment.add("payer", buyer)
        payment.add("beneficiary", vendor)
        payment.add("contract", contract)
        payment.add("amount", str(p["amount"]) if p.get("amount") is not None else None)
        payment.add("currency", p.get("currency"))
        payment.add("date", _day(p.get("paid_on")))
        payment.add("transactionNumber", p.get("reference"))
        payment.add("sourceUrl", c.get("url"))
        yield payment


def write(con, f: Filters, output: Path) -> int:
    """Write the entities as JSON lines (what `ftm` and Aleph read); return the count."""
    n = 0
    with open(output, "w", encoding="utf-8") as fh:
        for entity in entities(con, f):
            fh.write(json.dumps(entity.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n
