"""What the screen calls things: sources, categories and parties by name, never by key.

Keys (`eis`, `facial_recognition`, `ent:RU-INN:…`) stay in URLs and downloads; every visible
text goes through here (the names are rows of i18n.csv: `source_<key>`, `category_<key>`).
"""

from __future__ import annotations

import re

import pandas as pd

from survtrack.analysis import spending

from .i18n import t


def _named(prefix: str, key: str | None, lang: str) -> str:
    if not key:
        return "–"
    text = t(f"{prefix}_{key}", lang)
    return key.replace("_", " ") if text == f"{prefix}_{key}" else text


def source_name(key: str | None, lang: str = "en") -> str:
    """'eis' -> 'Russia — EIS'; a source without a row shows its key in words."""
    return _named("source", key, lang)


def category_name(key: str | None, lang: str = "en") -> str:
    """'facial_recognition' -> 'Facial recognition' (ru 'Распознавание лиц')."""
    return _named("category", key, lang)


UNPUBLISHED = "(unpublished)"  # contract_facts' key for a vendor or buyer the source left out


def party_label(key: str | None, name: str | None, role: str, lang: str = "en") -> str:
    """A vendor's or buyer's name as the screen shows it; one the source did not publish reads
    '(vendor not published)' in the page's language."""
    if key == UNPUBLISHED or not name:
        return f"({t(role + '_not_published', lang)})"
    return name


def context_name(what: str, key: str | None, lang: str = "en") -> str:
    """A court case's, complaint's or sanction's kind or a party's role in it in words
    ('respondent' -> 'сторона по жалобе'); an unlisted one in words of its own."""
    return _named(f"context_{what}", key, lang)


def kind_name(kind: str | None, lang: str = "en") -> str:
    """A document's or notice's kind in words ('placement_result' -> 'placement result',
    ru 'итоги размещения'); an unlisted kind in words of its own."""
    if not kind:
        return t("unknown_kind", lang)
    return _named("kind", kind, lang)


def status_name(status: str | None, lang: str = "en") -> str:
    """A contract's status in words ('unknown' -> 'неизвестен'); an unlisted one as published."""
    if not status:
        return "–"
    text = t(f"status_{status}", lang)
    return status if text == f"status_{status}" else text


# provenance._documents_of's roles ("version 2", "notice: award") -> message and its part
DOCUMENT_ROLES = [(re.compile(pattern), key) for pattern, key in (
    (r"the version shown", "doc_role_shown"), (r"version (?P<n>\d+)", "doc_role_version"),
    (r"payments", "doc_role_payments"), (r"event: (?P<what>.*)", "doc_role_event"),
    (r"notice: (?P<what>.*)", "doc_role_notice"), (r"buyer's details", "doc_role_buyer"),
    (r"vendor's details", "doc_role_vendor"), (r"exchange rate", "doc_role_rate"))]


def document_role(role: str, lang: str = "en") -> str:
    """What a document told about a contract, in words: an event as a status, a notice by
    its kind ('notice: placement_result' -> 'извещение: итоги размещения')."""
    for pattern, key in DOCUMENT_ROLES:
        found = pattern.fullmatch(role)
        if found:
            parts = found.groupdict()
            if "what" in parts:
                parts["what"] = (status_name(parts["what"], lang) if key == "doc_role_event"
                                 else kind_name(parts["what"], lang))
            return t(key, lang).format(**parts)
    return role


def identifier(org_id: str | None) -> str | None:
    """A registry identifier as published ('RU-INN:7710878000'); None for the keys the
    warehouse makes up for organizations published without one ('name:curated:…')."""
    if not org_id or org_id.startswith(("name:", "ent:")):
        return None
    return org_id


def readable_reason(reason: str | None, organizations: pd.DataFrame) -> str | None:
    """Entity resolution's reason with each organization key replaced by its published name
    ('name:curated:department-of-homeland-security-ice merged into …' -> '“Department of
    Homeland Security (ICE)” merged into …'); registry identifiers stay, they are public."""
    if not reason:
        return reason
    named = {o: n for o, n in zip(organizations["org_id"], organizations["name"])
             if isinstance(n, str) and not identifier(o)}
    for org_id in sorted(named, key=len, reverse=True):
        reason = reason.replace(org_id, f"“{named[org_id]}”")
    return reason


def entity_reason(con, entity_id: str, reason: str | None) -> str | None:
    """readable_reason for an entity, its organizations read from the warehouse."""
    orgs = con.execute("SELECT org_id, name FROM organizations WHERE entity_id = ?",
                       [entity_id]).df()
    return readable_reason(reason, orgs)


def with_category_names(df, lang: str):
    """A by_category frame with a `name` column: the category as the screen shows it."""
    return df.assign(name=[category_name(c, lang) for c in df["category"]])


def party_name(con, role: str, key: str | None) -> str | None:
    """The display name of a vendor or buyer key (None if no contract has it)."""
    if not key:
        return None
    found = spending.search_parties(con, role, None, limit=1, include=key)
    if found["key"].tolist() == [key]:
        return found["name"].iloc[0]
    # a body that signs nothing itself, counted with its sub-units (a department)
    entity = con.execute("SELECT name FROM entities WHERE entity_id = ?", [key]).fetchone() \
        if role == "buyer" else None
    return entity[0] if entity else None


def names_of(con, f) -> dict[str, str]:
    """Display names for every key the filters hold (buyer, vendor, source, category)."""
    names = {}
    for role, key in [("buyer", f.buyer), ("vendor", f.vendor),
                      *[("vendor", k) for k in getattr(f, "vendors", ())]]:
        name = party_name(con, role, key) if key else None
        if name:
            names[key] = name
    return names
