"""Every figure the project ships from reporting names the page that was read, quotes it, and
points at no machine: curated contracts, claims and context events (docs/curated.md)."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from urllib.parse import urlsplit

import pytest

from survtrack.analysis.claims import DEFAULT_CLAIMS
from survtrack.datafiles import rows
from survtrack.scrapers.curated import CSV, amount_bases

EVENTS = CSV.parent.parent / "context" / "events.toml"
VERIFIED = re.compile(r"^verified (\d{4}-\d{2}-\d{2}) against ")
QUOTE = re.compile(r"'[^']{12,}'")
# a path on somebody's machine is no citation: absolute home/work/tmp paths, relative climbs,
# file URLs, Windows drives and the project's own seed folder
MACHINE_PATH = re.compile(r"(?:^|[\s(])(?:/(?:work|home|tmp|Users|mnt|var)/|\.\./|~/)|file:/|"
                          r"\b[A-Za-z]:\\|seeds/")


def _rows(path) -> list[dict]:
    return rows(path)


def _events() -> list[dict]:
    with open(EVENTS, "rb") as fh:
        return tomllib.load(fh)["event"]


def _check_note(note: str, url: str, label: str) -> None:
    m = VERIFIED.match(note)
    assert m, f"{label}: checked must start 'verified <date> against': {note[:80]!r}"
    date.fromisoformat(m.group(1))
    assert urlsplit(url).scheme in ("http", "https"), f"{label}: url {url!r}"
    host = urlsplit(url).netloc.removeprefix("www.")
    assert host in note, f"{label}: the note names another page than the cited {host}"
    assert QUOTE.search(note), f"{label}: the note quotes nothing from the page"
    assert not MACHINE_PATH.search(note), f"{label}: a machine path in {note!r}"


@pytest.mark.parametrize("row", _rows(CSV), ids=lambda r: r["id"])
def test_curated_row_citation_is_complete(row):
    for column in ("url", "outlet", "amount", "currency", "amount_basis", "checked"):
        assert row[column].strip(), f"{row['id']}: {column} is empty"
    assert row["amount_basis"] in amount_bases()
    if row["published_on"]:
        date.fromisoformat(row["published_on"])
    if row["signed_on"] and row["year"]:
        assert date.fromisoformat(row["signed_on"]).year == int(row["year"])
    _check_note(row["checked"], row["url"], row["id"])
    assert not any(MACHINE_PATH.search(row[c]) for c in row if c != "checked" and row[c])


@pytest.mark.parametrize("claim", _rows(DEFAULT_CLAIMS), ids=lambda r: r["id"])
def test_claim_citation_is_complete(claim):
    assert claim["url"] and claim["outlet"], claim["id"]
    _check_note(claim["checked"], claim["url"], claim["id"])


@pytest.mark.parametrize("event", _events(), ids=lambda e: e["id"])
def test_context_event_citation_is_complete(event):
    for key in ("id", "date", "date_basis", "kind", "jurisdiction", "forum", "title",
                "outcome", "url", "outlet", "checked"):
        assert event.get(key), f"{event.get('id')}: {key} is empty"
    assert isinstance(event["date"], date)
    assert event["party"], f"{event['id']}: no party"
    _check_note(event["checked"], event["url"], event["id"])


def test_moscow_leads_span_the_years():
    moscow = [r for r in _rows(CSV) if r["id"].startswith("ru-moscow-")]
    years = {int(r["year"]) for r in moscow if r["year"]}
    assert len(moscow) >= 30
    assert len(years & set(range(2016, 2025))) >= 5, sorted(years)
    # a lead without a year is allowed only when the page gives none, and says so
    for r in moscow:
        if not r["year"]:
            assert "not stated" in r["checked"] or "not stated" in r["subject"], r["id"]


def test_context_events_link_moscow_buyers_or_ntechlab():
    linked = [e for e in _events()
              if any(p.get("match") for p in e["party"])]
    assert len(linked) >= 8
