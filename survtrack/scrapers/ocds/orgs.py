"""Parties of an OCDS process: the buyer and the suppliers, as `organizations` rows.

An organization reference (`buyer`, `award.suppliers[]`) points into `parties` by id; OCDS 1.0
publishers put the whole organization in the reference instead, so both are read. The org_id
is `<org-id.guide code>:<id>` when the identifier's scheme is an org-id.guide code (or a
publisher's local name for one, identifier_schemes.csv), else `name:ocds:<normalized name>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from survtrack.scrapers import values as v

from . import codes

SOURCE = "ocds"
_FLOAT_ID = re.compile(r"^\d+\.0$")  # 11111111.0: a number that went through a spreadsheet
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$")


def localized(obj, field: str, language: str | None = None) -> str | None:
    """A text field, or where it is missing or empty its language variant (OCDS writes a
    translation as `<field>_<language tag>`: `name_en`, `title_fr`): the release's language
    first, then the variants in the order of their tags."""
    if not isinstance(obj, dict):
        return None
    text = _text(obj.get(field)) if not isinstance(obj.get(field), (dict, list)) else None
    if text:
        return text
    prefix = f"{field}_"
    variants = sorted(k for k in obj if isinstance(k, str) and k.startswith(prefix)
                      and _LANGUAGE_TAG.match(k[len(prefix):]))
    if language:
        variants.sort(key=lambda k: k[len(prefix):].casefold() != str(language).casefold())
    for key in variants:
        value = obj[key]
        if not isinstance(value, (dict, list)) and _text(value):
            return _text(value)
    return None


@dataclass
class Org:
    org_id: str
    name: str | None
    scheme: str | None
    identifier: str | None
    country: str | None


def parties_by_id(release: dict) -> dict[str, dict]:
    return {str(p["id"]): p for p in release.get("parties") or []
            if isinstance(p, dict) and p.get("id") is not None}


def resolve(ref, parties: dict[str, dict]) -> dict | None:
    """The party a reference points to, completed by what the reference itself states."""
    if not isinstance(ref, dict):
        return None
    party = parties.get(str(ref.get("id"))) if ref.get("id") is not None else None
    return {**ref, **party} if party else ref


def buyer_of(release: dict, parties: dict[str, dict]) -> dict | None:
    """`buyer`, else the party with role buyer, else the procuring entity."""
    if isinstance(release.get("buyer"), dict):
        return resolve(release["buyer"], parties)
    for role in ("buyer", "procuringEntity"):
        for party in parties.values():
            if role in (party.get("roles") or []):
                return party
    tender = release.get("tender") or {}
    return resolve(tender.get("procuringEntity"), parties)


def organization(party: dict | None, ocid: str, fallback_country: str | None = None,
                 language: str | None = None) -> Org | None:
    if not party:
        return None
    ident = party.get("identifier") if isinstance(party.get("identifier"), dict) else {}
    name = v.clean(localized(party, "name", language)
                   or localized(ident, "legalName", language), 500)
    raw_id = _text(ident.get("id"))
    if raw_id and _FLOAT_ID.match(raw_id):
        raw_id = raw_id[:-2]
    scheme = _scheme(_text(ident.get("scheme")) or "", raw_id, ocid) if raw_id else None
    if scheme:
        org_id = f"{scheme}:{raw_id}"
    elif name:
        org_id, raw_id = f"name:{SOURCE}:{v.name_key(name)}", None
    else:
        return None
    address = party.get("address") if isinstance(party.get("address"), dict) else {}
    country = (codes.country_code(_text(address.get("countryName")))
               or (codes.org_id_codes().get(scheme) if scheme else None) or fallback_country)
    return Org(org_id, name, scheme, raw_id if scheme else None, country)


def _scheme(published: str, raw_id: str, ocid: str) -> str | None:
    """The org-id.guide code of a published scheme, or None where there is none."""
    local = codes.local_schemes()
    for key in ((codes.ocid_prefix(ocid), published), ("*", published)):
        if key in local:
            scheme, pattern = local[key]
            return scheme if pattern.match(raw_id) else None
    return published if published in codes.org_id_codes() else None


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
