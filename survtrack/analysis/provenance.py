"""Everything the warehouse knows about one contract or one document, each fact with where
it came from: the contract page and the document page read these, and so can a notebook.

Values are plain Python (None for NULL, `date`, `Decimal`), never pandas' NaN or NaT, so a
reader can format them without guessing which missing value it holds.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from survtrack.analysis import money
from survtrack.analysis.facts import FACTS_SQL
from survtrack.warehouse import suspicious
from survtrack.warehouse.archive import Archive
from survtrack.warehouse.schema import CANCELLED_STATUSES

MAX_LISTED = 200  # most contracts a document page lists (a daily file may feed thousands)


def rows(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _one(con, sql: str, params: list) -> dict | None:
    found = rows(con, sql, params)
    return found[0] if found else None


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()}


def _facts(con) -> str:
    return "contract_facts" if "contract_facts" in _tables(con) else f"({FACTS_SQL})"


def _party(con, org_id: str | None, key: str, name: str) -> dict:
    """A buyer or vendor: the organization as published and the entity it was resolved to."""
    org = _one(con, "SELECT * FROM organizations WHERE org_id = ?", [org_id]) if org_id else None
    entity = None
    if org and org.get("entity_id"):
        entity = _one(con, "SELECT * FROM entities WHERE entity_id = ?", [org["entity_id"]])
    return {"key": key, "name": name, "org_id": org_id, "organization": org, "entity": entity}


def _changes(versions: list[dict]) -> None:
    """What each version changed against the one before (amount, currency, document)."""
    previous = None
    for v in versions:
        said = []
        if previous is None:
            said.append("first version seen")
        else:
            if v["amount"] != previous["amount"]:
                said.append(f"amount {_plain(previous['amount'])} -> {_plain(v['amount'])}")
            if v["currency"] != previous["currency"]:
                said.append(f"currency {previous['currency']} -> {v['currency']}")
            if v["document_id"] != previous["document_id"]:
                said.append("published in another document")
            if not said:
                said.append("no change in amount or currency")
        v["changes"] = said
        previous = v


def _plain(amount) -> str:
    return "none" if amount is None else f"{amount:,}"


def contract_record(con, contract_id: str, archive: Archive | None = None) -> dict | None:
    """The contract, its parties, money, versions, items, payments, events, tags and the
    documents behind each; None if the warehouse has no such contract. With the `archive`,
    a lead from reporting also gets its row of the curated CSV."""
    contract = _one(con, "SELECT * FROM contracts WHERE contract_id = ?", [contract_id])
    if contract is None:
        return None
    facts = _one(con, f"SELECT vendor_key, vendor_name, buyer_key, buyer_name, categories,"
                      f" paid_usd"
                      f" FROM {_facts(con)} WHERE contract_id = ?", [contract_id]) or {}
    versions = rows(con, "SELECT * FROM contract_versions WHERE contract_id = ?"
                         " ORDER BY version, published_on NULLS FIRST", [contract_id])
    _changes(versions)
    payments = rows(con, "SELECT * FROM payments WHERE contract_id = ?"
                         " ORDER BY paid_on NULLS LAST, payment_id", [contract_id])
    paid: dict[str, Decimal] = {}
    for p in payments:
        if p["amount"] is not None:
            paid[p["currency"] or "?"] = paid.get(p["currency"] or "?", Decimal(0)) + p["amount"]
    record = {
        "contract": contract,
        "vendor": _party(con, contract["vendor_id"], facts.get("vendor_key"),
                         facts.get("vendor_name")),
        "buyer": _party(con, contract["buyer_id"], facts.get("buyer_key"),
                        facts.get("buyer_name")),
        "categories": list(facts.get("categories") or []),
        "money": _money(con, contract),
        "versions": versions,
        "items": rows(con, "SELECT * FROM items WHERE contract_id = ? ORDER BY line_no",
                      [contract_id]),
        "payments": payments,
        "paid": paid,
        # what the spending views' 'paid' measure sums for it (snapshot facts): in USD each
        # payment at its own date's rate, None unless every payment is converted
        "paid_usd": facts.get("paid_usd"),
        "cancelled": contract["status"] in CANCELLED_STATUSES,
        "events": rows(con, "SELECT * FROM contract_events WHERE contract_id = ?"
                            " ORDER BY occurred_on NULLS LAST, event", [contract_id]),
        "tags": rows(con, "SELECT * FROM tags WHERE contract_id = ? ORDER BY category, rule",
                     [contract_id]),
        "notices": rows(con, "SELECT * FROM notices WHERE notice_id = ?"
                             " ORDER BY published_on NULLS LAST, kind", [contract["notice_id"]])
        if contract["notice_id"] else [],
    }
    record["warnings"] = [dict(zip(("column", "value", "rule", "reason"), w))
                          for w in suspicious.for_contract(con, contract_id)] \
        if "warnings" in _tables(con) else []
    record["documents"] = _documents_of(con, record)
    record["lead"] = _lead(contract, archive) if contract["source"] == "curated" else None
    return record


def _money(con, c: dict) -> dict:
    """The amount as published, in US dollars with the rate used, and in constant dollars."""
    out = {"rate": None, "rate_document": None, "why_not_converted": None,
           "base_year": money.cpi_base_year()}
    if c["amount"] is not None and c["amount_usd"]:
        out["rate"] = float(c["amount"]) / c["amount_usd"]  # units per USD, as applied
    if c["fx_date"] is not None and c["fx_source"] in ("ecb", "cbr"):
        found = _one(con, "SELECT units_per_usd, document_id FROM fx_rates"
                          " WHERE date = ? AND currency = ? AND source = ?",
                     [c["fx_date"], c["currency"], c["fx_source"]])
        if found:
            out["rate"], out["rate_document"] = found["units_per_usd"], found["document_id"]
    if c["amount"] is not None and c["amount_usd"] is None:
        out["why_not_converted"] = con.execute(
            f"SELECT {money.WHY_NOT_CONVERTED} FROM contracts WHERE contract_id = ?",
            [c["contract_id"]]).fetchone()[0]
    return out


def _documents_of(con, record: dict) -> list[dict]:
    """Each document behind the contract, once, with what it told (its roles)."""
    roles: dict[str, list[str]] = {}

    def add(document_id: str | None, role: str) -> None:
        if document_id and role not in roles.setdefault(document_id, []):
            roles[document_id].append(role)

    add(record["contract"]["document_id"], "the version shown")
    for v in record["versions"]:
        add(v["document_id"], f"version {v['version']}")
    for p in record["payments"]:
        add(p["document_id"], "payments")
    for e in record["events"]:
        add(e["document_id"], f"event: {e['event']}")
    for n in record["notices"]:
        add(n["document_id"], f"notice: {n['kind']}")
    for role in ("buyer", "vendor"):
        org = record[role]["organization"]
        add(org and org.get("document_id"), f"{role}'s details")
    add(record["money"]["rate_document"], "exchange rate")
    if not roles:
        return []
    found = {d["document_id"]: d for d in rows(
        con, "SELECT document_id, source, kind, url, origin, fetched_at, media_type, bytes"
             " FROM documents WHERE document_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(roles)])}
    return [{**found.get(d, {"document_id": d}), "roles": r, "known": d in found}
            for d, r in roles.items()]


def _lead(contract: dict, archive: Archive | None) -> dict:
    """A contract known from reporting: its row of the curated CSV, with the citation."""
    document_id = contract["document_id"]
    row = csv_row(archive.read(document_id), contract["native_id"]) \
        if archive and archive.has(document_id) else None
    return {"row": row, "outlet": (row or {}).get("outlet"),
            "published_on": (row or {}).get("published_on"), "url": contract["url"],
            "checked": (row or {}).get("checked"),
            "registry_ref": contract["notice_id"] or (row or {}).get("registry_ref") or None}


# -- documents ------------------------------------------------------------------------------

def document_record(con, document_id: str) -> dict | None:
    """What a document is and what it fed; None if the warehouse has no such document."""
    document = _one(con, "SELECT * FROM documents WHERE document_id = ?", [document_id])
    if document is None:
        return None
    fed = """SELECT contract_id FROM contracts WHERE document_id = ?
             UNION SELECT contract_id FROM contract_versions WHERE document_id = ?
             UNION SELECT contract_id FROM payments WHERE document_id = ?
             UNION SELECT contract_id FROM contract_events WHERE document_id = ?"""
    params = [document_id] * 4
    total = con.execute(f"SELECT count(*) FROM ({fed})", params).fetchone()[0]
    contracts = rows(con, f"""
        SELECT c.contract_id, c.native_id, c.version, c.title, c.signed_on, c.amount,
               c.currency, c.url, c.document_id = ? AS shown_from_here
        FROM contracts c WHERE c.contract_id IN ({fed})
        ORDER BY c.contract_id LIMIT ?""", [document_id, *params, MAX_LISTED])
    counts = {}
    for table in ("contract_versions", "payments", "contract_events", "notices",
                  "organizations", "fx_rates", "ocds_releases"):
        counts[table] = con.execute(f"SELECT count(*) FROM {table} WHERE document_id = ?",
                                    [document_id]).fetchone()[0]
    return {"document": document, "contracts": contracts, "contracts_total": total,
            "notices": rows(con, "SELECT * FROM notices WHERE document_id = ?"
                                 " ORDER BY notice_id, kind LIMIT ?", [document_id, MAX_LISTED]),
            "rejects": rows(con, "SELECT origin, field, reason, rejected_at FROM rejects"
                                 " WHERE document_id = ? ORDER BY rejected_at", [document_id]),
            "counts": counts}


def csv_row(data: bytes, native_id: str) -> dict | None:
    """The row of a CSV document a contract came from: the curated CSV holds one lead a row,
    keyed by `id`. None if no row has that id."""
    text = data.decode("utf-8-sig", errors="replace")
    for row in csv.DictReader(io.StringIO(text)):
        if (row.get("id") or "").strip() == native_id:
            return {k: (v or "").strip() for k, v in row.items() if k is not None}
    return None
