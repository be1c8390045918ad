"""What the JSON API reads from the published snapshot: contracts paged by keyset, one contract
with everything that refers to it, vendors and buyers, spending views.

User text reaches SQL only as bound parameters; filters go through the dashboard's own
URL codec (`dashboard/urls.py`) and the spending views' `where()`, so an API query and the dashboard URL with the same parameters
select the same contracts.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import date
from urllib.parse import quote, urlencode

from survtrack.analysis import spending
from survtrack.analysis.spending import Filters
from survtrack.dashboard import urls
from survtrack.warehouse import schema

# The dashboard's default order (newest first, undated last) as plain comparable keys, so a
# page can start after the last row of the previous one (keyset paging: no OFFSET, no row
# skipped or repeated however deep the client pages).
YEAR_KEY = "coalesce(year, -1)"
DATE_KEY = "coalesce(signed_on, DATE '0001-01-01')"
ORDER = f"{YEAR_KEY} DESC, {DATE_KEY} DESC, contract_id"
AFTER = (f"({YEAR_KEY} < ? OR ({YEAR_KEY} = ? AND ({DATE_KEY} < ?"
         f" OR ({DATE_KEY} = ? AND contract_id > ?))))")

CONTRACT_FIELDS = ("contract_id", "source", "title", "signed_on", "year", "date_basis",
                   "amount", "currency", "amount_usd", "cancelled", "status", "paid",
                   "paid_usd", "payments AS n_payments", "vendor_key", "vendor_name", "vendor_id",
                   "buyer_key", "buyer_name", "buyer_id", "country", "categories", "url",
                   "document_id")
MAX_SIZE = 1000


class BadRequest(ValueError):
    """A query the API refuses, with the reason said to the client (HTTP 400)."""


def contract_path(contract_id: str) -> str:
    """The dashboard's page of a contract (the id URL-encoded whole, slashes too)."""
    return "/contract/" + quote(contract_id, safe="")


def links(row: Mapping) -> dict:
    """Where a contract row leads: its page, its API record, its archived document and the
    source's public page."""
    cid, doc = row.get("contract_id"), row.get("document_id")
    return {"contract": contract_path(cid) if cid else None,
            "api": "/api/contracts/" + quote(cid, safe="") if cid else None,
            "document": f"/document/{doc}" if doc else None,
            "source_url": row.get("url")}


def encode_cursor(row: Mapping) -> str:
    signed = row.get("signed_on")
    key = [row.get("year"), signed.isoformat() if signed else None, row["contract_id"]]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[int, date, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        year, signed, cid = json.loads(raw)
        year = -1 if year is None else int(year)
        signed = date.fromisoformat(signed) if signed else date(1, 1, 1)
        if not isinstance(cid, str):
            raise TypeError(cid)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadRequest("_next is not a cursor this API gave out") from exc
    return year, signed, cid


def _rows(cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def contracts_page(con, f: Filters, *, text: str | None = None, after: str | None = None,
                   size: int = 100) -> tuple[list[dict], str | None]:
    """(rows, cursor of the next page or None): `size` contracts behind the filters, in the
    dashboard's order, starting after the row the cursor names."""
    where, params = spending.where(f, [("title", "contains", text)] if text else [])
    if after:
        year, signed, cid = decode_cursor(after)
        where += f" AND {AFTER}"
        params += [year, year, signed, signed, cid]
    facts = spending._facts(con)
    columns = ', '.join(CONTRACT_FIELDS)
    if facts == "contract_facts" and spending._tail_start(con) is None:
        # stored in this order (facts.DEFAULT_ORDER): read in it, a page stops after its rows
        # instead of sorting every contract behind the filters
        cur = con.execute(f"SELECT {columns} FROM contract_facts WHERE {where} LIMIT ?",
                          [*params, size + 1])
    elif facts == "contract_facts":  # and a tail: the page's row ids merged, then their rows
        rows, reads = spending.default_order_sql(
            con, "rowid AS r, year, signed_on, contract_id", where, size + 1)
        ids = [r[0] for r in con.execute(f"SELECT r FROM ({rows}) ORDER BY {ORDER} LIMIT ?",
                                         [*params * reads, size + 1]).fetchall()]
        cur = con.execute(f"SELECT {columns} FROM contract_facts"
                          f" WHERE rowid IN (SELECT unnest(?::BIGINT[])) ORDER BY {ORDER}", [ids])
    else:
        cur = con.execute(f"SELECT {columns} FROM {facts} WHERE {where} ORDER BY {ORDER}"
                          " LIMIT ?", [*params, size + 1])
    rows = _rows(cur)
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


def count(con, f: Filters, text: str | None = None) -> int:
    return spending.count_contracts(con, f, [("title", "contains", text)] if text else [])


def _present(con) -> set[str]:
    return spending._tables(con)


def related_tables(con) -> list[str]:
    """Every warehouse table (flags and competition included, once they exist) whose rows
    belong to a contract, in the schema's order."""
    present = _present(con)
    return [name for name, table in schema.TABLES.items()
            if name != "contracts" and name in present and "contract_id" in table.column_names]


def contract(con, contract_id: str) -> dict | None:
    """One contract: its facts, its published record, everything that refers to it (versions,
    items, payments, events, tags, warnings, competition, flags) and the documents behind
    them; None when no contract has that id."""
    facts = spending._facts(con)
    cur = con.execute(f"SELECT {', '.join(CONTRACT_FIELDS)} FROM {facts} WHERE contract_id = ?",
                      [contract_id])
    found = _rows(cur)
    if not found:
        return None
    out = dict(found[0])
    out["record"] = _rows(con.execute("SELECT * FROM contracts WHERE contract_id = ?",
                                      [contract_id]))[0]
    documents = {out["document_id"]} - {None}
    for table in related_tables(con):
        order = ", ".join(schema.TABLES[table].key)
        if table == "flags":  # its group flags' value and evidence composed
            from survtrack.analysis.flags import stored_sql

            rows = _rows(con.execute(f"SELECT * FROM ({stored_sql(con, contract=True)})"
                                     f" ORDER BY {order}", {"contract": contract_id}))
        else:
            rows = _rows(con.execute(f"SELECT * FROM {table} WHERE contract_id = ?"
                                     f" ORDER BY {order}", [contract_id]))
        out[table] = rows
        documents |= {v for r in rows for k, v in r.items() if k.endswith("document_id") and v}
    docs = _rows(con.execute(
        """SELECT document_id, source, url, media_type, fetched_at, bytes FROM documents
           WHERE list_contains(?::VARCHAR[], document_id) ORDER BY fetched_at, document_id""",
        [sorted(documents)]))
    for d in docs:
        d["links"] = {"document": f"/document/{d['document_id']}", "source_url": d["url"]}
    out["documents"] = docs
    out["links"] = links(out)
    return out


def parties(con, role: str, text: str | None, size: int) -> list[dict]:
    found = spending.search_parties(con, role, text or "", limit=size)
    rows = [{"key": r.key, "name": r.name, "contracts": int(r.contracts),
             "names": [n for n in (r.names or "").split(" | ") if n]}
            for r in found.itertuples()]
    for r in rows:
        r["links"] = party_links(role, r["key"])
    return rows


def party_links(role: str, key: str) -> dict:
    plural = "vendors" if role == "vendor" else "buyers"
    return {"page": f"/{role}?scope=all&id={quote(key, safe='')}",
            "api": f"/api/{plural}/{quote(key, safe='')}",
            "contracts": f"/api/contracts?scope=all&{role}={quote(key, safe='')}"}


def party(con, role: str, key: str, f: Filters) -> dict | None:
    """A vendor or buyer: the entity, every organization merged into it with identifiers,
    and its totals over the filters; None when the key names no one."""
    profile = spending.party_profile(con, role, key)
    selected = f.with_(**{role: key})
    totals = spending.totals(con, selected)
    if profile["organizations"].empty and not int(totals["contracts"].iloc[0]) \
            and not spending.count_contracts(con, selected.with_(surveillance_only=False)):
        return None
    orgs = profile["organizations"]
    orgs = orgs.astype(object).where(orgs.notna(), None).to_dict("records")
    return {"key": key, "role": role, "name": profile["name"], "names": profile["names"],
            "identifiers": profile["identifiers"], "resolved": profile["resolved"],
            "reason": profile["reason"], "organizations": orgs,
            "totals": frame_rows(totals)[0], "links": party_links(role, key)}


def frame_rows(df) -> list[dict]:
    """A DataFrame's rows with None where pandas has NaN/NaT/NA."""
    return df.astype(object).where(df.notna(), None).to_dict("records")


# view name -> (function, its documentation)
SPENDING_VIEWS = {
    "totals": (spending.totals, "contracts, vendors, buyers, the total and what it leaves out"),
    "vendor-year": (spending.by_vendor_year,
                    "spending per vendor and year: the top vendors by total, the rest as"
                    " __others__ (parameter top, default 7)"),
    "vendors": (spending.by_vendor, "vendors by spending with their share"),
    "buyers": (spending.by_buyer, "buyers by spending with their share"),
    "countries": (spending.by_country, "spending per buyer country"),
    "categories": (spending.by_category, "spending per surveillance category (a contract"
                                         " counts in each of its categories)"),
    "years": (spending.by_year, "spending per year"),
    "concentration": (spending.concentration,
                      "vendor concentration: HHI (0-10,000), top-1 and top-5 shares"),
}


def spending_view(con, view: str, f: Filters, top: int = 7) -> list[dict]:
    function, _ = SPENDING_VIEWS[view]
    if view == "vendor-year":
        df = function(con, f, top=top)
    elif view in ("vendors", "buyers"):
        df = function(con, f, limit=None)
    else:
        df = function(con, f)
    rows = frame_rows(df)
    for r in rows:  # every row leads to the contracts behind it
        target = _row_selection(view, f, r)
        if target is not None:
            r["links"] = {"contracts": "/api/contracts" + _query(target),
                          "dashboard": "/contracts" + _query(target)}
    return rows


def _row_selection(view: str, f: Filters, row: dict) -> Filters | None:
    if view in ("vendor-year", "vendors") and row.get("vendor_key", row.get("key")):
        key = row.get("vendor_key", row.get("key"))
        if key == spending.OTHERS:
            return None  # "others" depends on the chart's top vendors: no single selection
        year = row.get("year") if view == "vendor-year" else None
        return spending.selection(f, key, int(year) if year is not None else None,
                                  undated=view == "vendor-year" and year is None)
    if view == "buyers" and row.get("key"):
        return f.with_(buyer=row["key"])
    if view == "countries" and row.get("key"):
        return f.with_(country=row["key"])
    if view == "categories" and row.get("category"):
        return f.with_(category=row["category"])
    if view == "years":
        year = row.get("year")
        return spending.selection(f, None, int(year) if year is not None else None,
                                  undated=year is None)
    return None


def _query(f: Filters) -> str:
    params = urls.to_query(f)
    return "?" + urlencode(params, doseq=True) if params else ""
