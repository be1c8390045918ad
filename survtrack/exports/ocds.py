"""`survtrack export ocds`: the selected contracts as an OCDS 1.1 release package.

One release per contract (tag `contract`), built from the tidy tables: the buyer and the
supplier as parties (org-id.guide identifiers where the warehouse has a registry number), the
award and the contract with the value as published, items with their classification scheme,
amendments (every later version in `contract_versions`), implementation transactions
(`payments`), and the tender's procedure and number of tenderers where the warehouse knows them
(`competition`, when flags have been built). Contracts read from OCDS keep their ocid and
contract id; others get the ocid `survtrack-<contract_id>` (not a registered prefix: says
plainly that survtrack, not the publisher, made the release). Re-ingested by the `ocds` source,
each becomes the same contract (`ocds:<ocid>/<contract id>`) with the same amount.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pycountry

from survtrack.analysis import spending
from survtrack.analysis.spending import Filters

VERSION = "1.1"
# contracts.status -> OCDS contractStatus (closed codelist)
CONTRACT_STATUS = {"active": "active", "completed": "terminated", "annulled": "cancelled",
                   "unknown": None}
# competition.procedure_type -> OCDS procurementMethod (closed codelist)
METHOD = {"open": "open", "restricted": "selective", "negotiated_with_call": "limited",
          "direct": "direct"}


def ids(contract_id: str, source: str, native_id: str) -> tuple[str, str]:
    """(ocid, contract id) of a contract's release."""
    if source == "ocds" and "/" in native_id:
        ocid, cid = native_id.split("/", 1)
        return ocid, cid
    return f"survtrack-{contract_id}", native_id


def _rows(cur) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _grouped(con, table: str, contract_ids: list[str], order: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for row in _rows(con.execute(
            f"SELECT * FROM {table} WHERE list_contains(?::VARCHAR[], contract_id)"
            f" ORDER BY contract_id, {order}", [contract_ids])):
        out[row["contract_id"]].append(row)
    return out


def _tables(con) -> set[str]:
    return spending._tables(con)


def contracts(con, f: Filters, batch: int = 1000) -> Iterator[list[dict]]:
    """The selected contracts (their published rows), in batches."""
    where, params = spending.where(f)
    cur = con.execute(
        f"""SELECT c.* FROM contracts c
            WHERE c.contract_id IN (SELECT contract_id FROM {spending._facts(con)}
                                    WHERE {where})
            ORDER BY c.contract_id""", params)
    names = [d[0] for d in cur.description]
    while chunk := cur.fetchmany(batch):
        yield [dict(zip(names, r)) for r in chunk]


def releases(con, f: Filters, published: datetime | None = None) -> Iterator[dict]:
    """One release per selected contract."""
    published = published or datetime.now(UTC)
    tables = _tables(con)
    for chunk in contracts(con, f):
        cids = [c["contract_id"] for c in chunk]
        orgs = {o["org_id"]: o for o in _rows(con.execute(
            "SELECT * FROM organizations WHERE list_contains(?::VARCHAR[], org_id)",
            [sorted({c[k] for c in chunk for k in ("buyer_id", "vendor_id") if c[k]})]))}
        items = _grouped(con, "items", cids, "line_no")
        versions = _grouped(con, "contract_versions", cids, "version")
        payments = _grouped(con, "payments", cids, "paid_on NULLS LAST, payment_id")
        competition = (_grouped(con, "competition", cids, "contract_id")
                       if "competition" in tables else {})
        for c in chunk:
            cid = c["contract_id"]
            yield release(c, orgs, items[cid], versions[cid], payments[cid],
                          (competition.get(cid) or [None])[0], published)


def _amount(value) -> float | int | None:
    """A JSON number for OCDS's `amount` (exact for amounts below 10^13 with cents)."""
    if value is None:
        return None
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def _value(amount, currency) -> dict | None:
    if amount is None:
        return None
    out = {"amount": _amount(amount)}
    if currency:
        out["currency"] = currency
    return out


def _datetime(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    return None


def _party(org: dict | None, org_id: str | None, roles: list[str]) -> dict | None:
    if not org_id:
        return None
    org = org or {}
    party = {"id": org_id, "roles": roles}
    if org.get("name"):
        party["name"] = org["name"]
    scheme = org.get("scheme")
    if scheme and org.get("identifier"):
        # the org id's part after the scheme is the whole registry identifier (US-FED:097/5700)
        local = org_id[len(scheme) + 1:] if org_id.startswith(scheme + ":") else org["identifier"]
        party["identifier"] = {"scheme": scheme, "id": local}
        if org.get("name"):
            party["identifier"]["legalName"] = org["name"]
    country = pycountry.countries.get(alpha_2=org["country"]) if org.get("country") else None
    if country:
        party["address"] = {"countryName": country.name}
    return party


def _clean(obj):
    """Drop empty values: OCDS wants a field absent rather than null or empty."""
    if isinstance(obj, dict):
        out = {k: _clean(v) for k, v in obj.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(obj, list):
        return [x for x in (_clean(v) for v in obj) if x not in (None, "", [], {})]
    return obj


def release(c: dict, orgs: dict, items: list[dict], versions: list[dict], payments: list[dict],
            competition: dict | None, published: datetime) -> dict:
    ocid, native = ids(c["contract_id"], c["source"], c["native_id"])
    buyer, vendor = c.get("buyer_id"), c.get("vendor_id")
    if buyer and buyer == vendor:
        parties = [_party(orgs.get(buyer), buyer, ["buyer", "supplier"])]
    else:
        parties = [_party(orgs.get(buyer), buyer, ["buyer"]),
                   _party(orgs.get(vendor), vendor, ["supplier"])]
    ref = {o["id"]: {"id": o["id"], "name": o.get("name")} for o in parties if o}
    lines = [{
        "id": str(i["line_no"]), "description": i.get("description"),
        "classification": ({"scheme": i["scheme"] or "local", "id": i["code"]}
                           if i.get("code") else None),
        "quantity": i.get("quantity"),
        "unit": {"name": i.get("unit"),
                 "value": _value(i.get("unit_price"), c.get("currency"))},
    } for i in items]
    amendments = [{"id": str(v["version"]), "date": _datetime(v.get("published_on")),
                   "description": f"version {v['version']}: value"
                                  f" {v.get('amount')} {v.get('currency') or ''}".strip()}
                  for v in versions[1:]]
    transactions = [{"id": p["payment_id"], "date": _datetime(p.get("paid_on")),
                     "value": _value(p.get("amount"), p.get("currency")),
                     "payer": ref.get(buyer), "payee": ref.get(vendor)} for p in payments]
    award_date = c.get("dated_on") if c.get("date_basis") == "award_decision" else None
    award = {"id": f"award-{native}", "title": c.get("title"),
             "date": _datetime(award_date or c.get("signed_on")),
             "value": _value(c.get("amount"), c.get("currency")),
             "suppliers": [ref[vendor]] if vendor in ref else []}
    contract = {
        "id": native, "awardID": award["id"], "title": c.get("title"),
        "description": c.get("description"), "status": CONTRACT_STATUS.get(c.get("status")),
        "value": _value(c.get("amount"), c.get("currency")),
        "dateSigned": _datetime(c.get("signed_on")), "items": lines,
        "amendments": amendments,
        "implementation": {"transactions": transactions},
        "documents": [{"id": "source", "title": "the publisher's page of this contract",
                       "url": c["url"]}] if c.get("url") else [],
    }
    tender = {"id": c.get("notice_id") or f"tender-{native}",
              "procurementMethodDetails": c.get("procedure")}
    if competition:
        tender["procurementMethod"] = METHOD.get(competition.get("procedure_type"))
        tender["numberOfTenderers"] = competition.get("bids_received")
    date_ = _datetime(c.get("published_on")) or _datetime(c.get("signed_on")) \
        or _datetime(published)
    return _clean({
        "ocid": ocid, "id": f"{ocid}-{native}-{c.get('version', 0)}", "date": date_,
        "tag": ["contract"], "initiationType": "tender", "language": None,
        "parties": parties, "buyer": ref.get(buyer), "tender": tender,
        "awards": [award], "contracts": [contract],
    })


def package(con, f: Filters, uri: str | None = None) -> dict:
    """The release package of the selected contracts (all in memory: see write())."""
    published = datetime.now(UTC).replace(microsecond=0)
    return {"uri": uri or f"urn:survtrack:export:{published:%Y%m%dT%H%M%SZ}",
            "version": VERSION, "publishedDate": _datetime(published),
            "publisher": {"name": "survtrack export"},
            "releases": list(releases(con, f, published))}


def write(con, f: Filters, output: Path, lines: bool = False) -> int:
    """Write the release package (or, with `lines`, one release per line); return the count.
    Streams: the releases are written as they are built."""
    published = datetime.now(UTC).replace(microsecond=0)
    n = 0
    with open(output, "w", encoding="utf-8") as fh:
        if lines:
            for r in releases(con, f, published):
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
                n += 1
            return n
        head = {"uri": f"urn:survtrack:export:{published:%Y%m%dT%H%M%SZ}", "version": VERSION,
                "publishedDate": _datetime(published), "publisher": {"name": "survtrack export"}}
        fh.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "releases": [')
        for r in releases(con, f, published):
            fh.write(("," if n else "") + "\n" + json.dumps(r, ensure_ascii=False))
            n += 1
        fh.write("\n]}\n")
    return n


def validator(schema_dir: Path, package_schema: str = "release-package-schema.json"):
    """A JSON Schema validator of OCDS release packages from the schema files in `schema_dir`
    (release-package-schema.json, release-schema.json: the 1.1.5 schema, offline)."""
    from jsonschema import Draft4Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    schemas = {p.name: json.loads(p.read_text(encoding="utf-8"))
               for p in Path(schema_dir).glob("*-schema.json")}
    registry = Registry().with_resources(
        (s["id"], Resource.from_contents(s, default_specification=DRAFT4))
        for s in schemas.values())
    return Draft4Validator(schemas[package_schema], registry=registry,
                           format_checker=FormatChecker())


def errors(package_: dict, schema_dir: Path) -> list[str]:
    """Every schema error of a release package, as `path: message`."""
    found = validator(schema_dir).iter_errors(package_)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(package)'}: {e.message}"
            for e in sorted(found, key=lambda e: list(map(str, e.absolute_path)))]


def file_errors(path: Path, schema_dir: Path, lines: bool = False) -> list[str]:
    """Schema errors of a written export: a release package, or one release per line
    (each checked as a package of one)."""
    if not lines:
        return errors(json.loads(Path(path).read_text(encoding="utf-8")), schema_dir)
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            one = {"uri": "urn:survtrack:line", "version": VERSION,
                   "publishedDate": "2000-01-01T00:00:00Z", "publisher": {"name": "survtrack"},
                   "releases": [json.loads(line)]}
            out += [f"line {n}: {e}" for e in errors(one, schema_dir)]
    return out
