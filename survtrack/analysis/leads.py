"""Leads: contracts known from reporting (source `curated`), with the reported figure and how
to look each up in the registry online.

A lead is not evidence (claims never count it); it is where an analyst starts. Each carries the
exact `survtrack scrape eis` command that searches EIS for it: by its notice number when the
reporting named one (`registry_ref` = eis:<number>), else by the `eis_query` words of its row
in the project's curated CSV, over the lead's year. Tenders (amount basis `ceiling`) are
searched among notices (`--mode orders`), awarded contracts among contracts. The search covers
44-FZ: a joint-stock company's purchases (223-FZ) are not in it.
"""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path

import pandas as pd

from survtrack import datafiles

# the project's curated list, read as data by path (as claims.csv is): the reported figure,
# its basis and the search words live there; the warehouse holds the loaded contracts
CURATED_CSV = Path(__file__).resolve().parents[1] / "scrapers" / "curated" / "contracts.csv"


@cache
def _rows(path: Path = CURATED_CSV) -> dict[str, dict]:
    return {r["id"]: r for r in datafiles.rows(path, ("id",))}


def verify_command(*, basis: str | None, year, notice_id: str | None,
                   query: str | None, vendor: str | None = None) -> str | None:
    """The `survtrack scrape eis` command that looks the lead up online, quoted for a shell."""
    number = notice_id.split(":", 1)[1] if notice_id and notice_id.startswith("eis:") else None
    words = number or query or vendor
    if not words:
        return None
    args = ["survtrack", "scrape", "eis", "--mode", "orders" if basis == "ceiling" else
            "contracts", "--query", words]
    if year is not None and not pd.isna(year) and not number:
        args += ["--since", f"{int(year)}-01-01", "--until", f"{int(year)}-12-31"]
    return shlex.join(args)


def verify_lead(contract_id: str, year=None, vendor: str | None = None,
                curated_csv: Path = CURATED_CSV) -> str | None:
    """The verifying command of one curated contract (`curated:<row id>`), from its row."""
    row = _rows(curated_csv).get(contract_id.split(":", 1)[-1], {}) \
        if curated_csv.exists() else {}
    if row.get("country", "RU") != "RU":
        return None  # the command searches Russia's EIS: no use for a U.S. or UK contract
    ref = row.get("registry_ref") or ""
    return verify_command(basis=row.get("amount_basis"), year=year,
                          notice_id=ref if ref.startswith("eis:") else None,
                          query=row.get("eis_query") or None, vendor=vendor)


def leads(con, *, buyer: str | None = None, country: str | None = None,
          curated_csv: Path = CURATED_CSV) -> pd.DataFrame:
    """Curated contracts in the warehouse (optionally buyers whose name contains one of the
    `|`-separated patterns, and a country), with the reported figure, its basis, the citation
    and the command to verify each online."""
    where, params = ["c.source = 'curated'"], []
    if country:
        where.append("c.country = ?")
        params.append(country)
    if buyer:
        parts = [p.strip() for p in buyer.split("|") if p.strip()]
        where.append("(" + " OR ".join("strpos(lower(b.name), lower(?)) > 0"
                                       for _ in parts) + ")")
        params += parts
    found = con.execute(f"""
        SELECT c.contract_id, c.native_id, c.year, b.name AS buyer,
               coalesce(b.entity_id, c.buyer_id) AS buyer_key, v.name AS vendor,
               coalesce(v.entity_id, c.vendor_id) AS vendor_key, c.amount, c.currency,
               c.notice_id, c.title, c.url, c.published_on
        FROM contracts c
        LEFT JOIN organizations b ON b.org_id = c.buyer_id
        LEFT JOIN organizations v ON v.org_id = c.vendor_id
        WHERE {' AND '.join(where)}
        ORDER BY c.year NULLS LAST, c.contract_id""", params).df()
    rows = _rows(curated_csv) if curated_csv.exists() else {}
    reported = [rows.get(n, {}) for n in found["native_id"]]
    found["reported_amount"] = [pd.to_numeric(r.get("amount"), errors="coerce")
                                for r in reported]
    found["amount_basis"] = [r.get("amount_basis") or None for r in reported]
    found["outlet"] = [r.get("outlet") or None for r in reported]
    found["verify"] = [
        verify_command(basis=r.get("amount_basis"), year=y, notice_id=n,
                       query=r.get("eis_query") or None, vendor=v)
        for r, y, n, v in zip(reported, found["year"], found["notice_id"], found["vendor"])]
    return found.drop(columns=["native_id"])
