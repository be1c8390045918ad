"""The OCDS source's data files, read once: merge rules, identifier schemes, item schemes,
statuses and publishers. Each file documents its own rows."""

from __future__ import annotations

import gettext
import re
from functools import cache
from pathlib import Path

import pycountry

from survtrack.datafiles import rows

HERE = Path(__file__).parent


def _rows(name: str) -> list[dict]:
    return rows(HERE / name)


@cache
def merge_rules() -> dict[tuple[str, ...], str]:
    return {tuple(r["path"].split(".")): r["rule"] for r in _rows("merge_rules.csv")}


@cache
def org_id_codes() -> dict[str, str | None]:
    """org-id.guide code -> ISO country (None for international lists)."""
    return {r["code"]: r["country"] or None for r in _rows("org_id_codes.csv")}


@cache
def local_schemes() -> dict[tuple[str, str], tuple[str, re.Pattern]]:
    """(ocid prefix or *, scheme as published) -> (org-id.guide code, id pattern)."""
    return {(r["publisher"].lower(), r["local_scheme"].strip()): (r["scheme"],
                                                                   re.compile(r["pattern"]))
            for r in _rows("identifier_schemes.csv")}


@cache
def item_schemes() -> dict[str, str]:
    return {r["local_scheme"].strip().casefold(): r["scheme"] for r in _rows("item_schemes.csv")}


@cache
def statuses() -> dict[tuple[str, str], str]:
    return {(r["kind"], r["ocds_status"]): r["status"] for r in _rows("statuses.csv")}


@cache
def publishers() -> dict[str, dict]:
    return {r["prefix"].lower(): r for r in _rows("publishers.csv")}


def ocid_prefix(ocid: str) -> str:
    """`ocds-be6bcu` of `ocds-be6bcu-UA-2016-12-29-000657-c` (OCDS prefixes are ocds-xxxxxx)."""
    match = re.match(r"^(ocds-[0-9a-z]{6})-", ocid, re.IGNORECASE)
    return match.group(1).lower() if match else ""


# Languages whose country names publishers write in countryName (Україна, México, Россия…).
COUNTRY_LANGUAGES = ("es", "uk", "ru", "pt", "fr", "de", "it", "ro")


@cache
def _country_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for lang in COUNTRY_LANGUAGES:
        try:
            tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
        except OSError:
            continue
        for c in pycountry.countries:
            for name in (c.name, getattr(c, "official_name", None),
                         getattr(c, "common_name", None)):
                if name:
                    names.setdefault(tr.gettext(name).casefold(), c.alpha_2)
    return names


@cache
def country_code(name: str | None) -> str | None:
    """ISO 3166-1 alpha-2 of a country as publishers write it: `MX`, ` United Kingdom`,
    `Україна`, `MÉXICO`; None where pycountry does not know it."""
    if not name or not str(name).strip():
        return None
    text = " ".join(str(name).split())
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return _country_names().get(text.casefold())


def rules_csv(release_schema: str) -> str:
    """merge_rules.csv from an OCDS release schema (local file), for a new OCDS version."""
    import json

    from ocdsmerge.rules import get_merge_rules

    with open(release_schema, encoding="utf-8") as fh:
        rules = get_merge_rules(json.load(fh))
    return "path,rule\n" + "".join(f"{'.'.join(k)},{v}\n" for k, v in sorted(rules.items()))


if __name__ == "__main__":
    import sys

    sys.stdout.write(rules_csv(sys.argv[1]))
