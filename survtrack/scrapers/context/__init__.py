"""Context around surveillance buying: court cases, rulings, complaints, sanctions and laws.

`events.toml` (kept in the project, beside this module) is the document: one `[[event]]` per
event with its date, kind, jurisdiction, forum, outcome and the citation that was read to
check it, and its parties as `[[event.party]]`. A party names the buyers or vendors it is (or
is about) by `match` patterns, matched like claims.csv's buyer and vendor patterns, so an
event shows on the profile of every organization it concerns, whatever the registry calls it.
EIS complaints and control-body decisions land in the same tables (scrapers/eis/complaints.py).

A bad event is rejected on its own, naming the event and the field; the others load.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from functools import cache
from pathlib import Path

import pycountry

from survtrack import datafiles
from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import LoadContext, Rejected

HERE = Path(__file__).parent
EVENTS = HERE / "events.toml"
SOURCE_NAME = "context"
EVENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,100}$")
# beyond ISO 3166-1: the European Union and the Council of Europe (the ECHR's system)
EXTRA_JURISDICTIONS = {"EU", "CoE"}
REQUIRED = ("id", "date", "date_basis", "kind", "jurisdiction", "forum", "title", "outcome",
            "url", "outlet", "checked")


@cache
def vocabulary(name: str) -> frozenset[str]:
    """The codes of one of this folder's vocabularies: kinds, roles, date_bases."""
    return frozenset(next(iter(row.values())) for row in datafiles.rows(HERE / f"{name}.csv"))


def parse(ctx: LoadContext) -> None:
    try:
        data = tomllib.loads(ctx.document.read().decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise Rejected(f"not a TOML document of events: {exc}", "event") from None
    events = data.get("event")
    if not isinstance(events, list) or not events:
        raise Rejected("no [[event]] in the document", "event")
    seen: set[str] = set()
    loaded = 0
    for n, event in enumerate(events, start=1):
        label = f"event {n} ({event.get('id') or 'no id'})" if isinstance(event, dict) \
            else f"event {n}"
        try:
            if not isinstance(event, dict):
                raise Rejected("not a table of fields", "event")
            if event.get("id") in seen:
                raise Rejected(f"duplicate id {event['id']!r}", "id")
            _load_event(ctx, event)
        except Rejected as exc:
            ctx.reject_part(f"{label}: {exc.reason}", exc.field)
            continue
        seen.add(event["id"])
        loaded += 1
    if not loaded:
        raise Rejected(f"no event loaded of {len(events)}", "event")
    ctx.describe("context_events", f"context events: {loaded} loaded,"
                 f" {len(ctx.part_rejects)} rejected", contract_bearing=False)


def _day(value, field: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    return v.day(str(value), field)


def _load_event(ctx: LoadContext, event: dict) -> None:
    """Validate every field first, then emit: a bad event emits nothing."""
    for key in REQUIRED:
        if event.get(key) in (None, ""):
            raise Rejected(f"{key} is empty", key)
    if not EVENT_ID.match(str(event["id"])):
        raise Rejected(f"id {event['id']!r} is not a lower-case slug", "id")
    occurred = _day(event["date"], "date")
    for key, vocab in (("kind", "kinds"), ("date_basis", "date_bases")):
        if event[key] not in vocabulary(vocab):
            raise Rejected(f"{key} {event[key]!r} is not one of {sorted(vocabulary(vocab))}", key)
    where = str(event["jurisdiction"])
    if where not in EXTRA_JURISDICTIONS and pycountry.countries.get(alpha_2=where) is None:
        raise Rejected(f"jurisdiction {where!r} is neither ISO 3166-1 alpha-2 nor EU/CoE",
                       "jurisdiction")
    if not re.match(r"^https?://\S+$", str(event["url"])):
        raise Rejected(f"url {event['url']!r} is not an http(s) URL", "url")
    if not str(event["checked"]).startswith(("verified", "unverified")):
        raise Rejected("checked must start with 'verified' (naming the page read) or"
                       " 'unverified'", "checked")
    published = _day(event.get("published_on"), "published_on")
    parties = event.get("party") or []
    if not parties:
        raise Rejected("an event needs at least one [[event.party]]", "party")
    rows = [_party(p, i) for i, p in enumerate(parties, start=1)]

    event_id = f"{SOURCE_NAME}:{event['id']}"
    ctx.emit("context_events", event_id=event_id, source=SOURCE_NAME, kind=event["kind"],
             occurred_on=occurred, date_basis=event["date_basis"], jurisdiction=where,
             forum=v.clean(event["forum"]), title=v.clean(event["title"]),
             outcome=v.clean(event["outcome"]), case_number=v.clean(event.get("case_number")),
             procurement_id=v.clean(event.get("procurement")), url=event["url"],
             outlet=v.clean(event["outlet"]), published_on=published,
             checked=event["checked"], document_id=ctx.document.document_id)
    for row in rows:
        ctx.emit("context_parties", event_id=event_id, **row)


def _party(party, position: int) -> dict:
    if not isinstance(party, dict):
        raise Rejected(f"party {position} is not a table of fields", "party")
    if party.get("role") not in vocabulary("roles"):
        raise Rejected(f"party {position}: role {party.get('role')!r} is not one of"
                       f" {sorted(vocabulary('roles'))}", "role")
    if not party.get("name"):
        raise Rejected(f"party {position}: name is empty", "name")
    match = party.get("match") or []
    if isinstance(match, str):
        match = [match]
    if not all(isinstance(m, str) and len(m.strip()) >= 3 for m in match):
        raise Rejected(f"party {position}: match must be names of three letters or more",
                       "match")
    org_id = party.get("org_id") or None
    if org_id and not re.match(r"^([A-Z]{2}-[A-Z0-9]+|name):\S+$", org_id):
        raise Rejected(f"party {position}: org_id {org_id!r} is not <scheme>:<id>", "org_id")
    return {"position": position, "role": party["role"], "name": v.clean(party["name"]),
            "org_id": org_id, "match": [m.strip() for m in match] or None}
