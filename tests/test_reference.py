"""Facts checked against reference data (issue 17, item 12): ../shared/data/reference/ holds
Bank of Russia daily rates, US CPI-U and the official CPV 2008, NAICS 2022 and OKPD2 code lists,
each with its PROVENANCE.md. The rates and CPI figures the money code uses, and every code and
code name of the taxonomy, are compared with them here; data files and docs cite publications,
never a path on someone's machine."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from conftest import ROOT, SHARED
from lxml import etree

from survtrack.analysis.classify import TAXONOMY
from survtrack.analysis.datafiles import table
from survtrack.analysis.money import convert_money

REF = SHARED / "reference"
CBR_FIXTURES = ROOT / "tests" / "fixtures" / "cbr"


# -- Bank of Russia rates ----------------------------------------------------------------------

def _reference_rates() -> dict[tuple[str, date], Decimal]:
    """(currency, day the rate is in force) -> roubles per unit, from the reference files."""
    rates = {}
    with open(REF / "cbr" / "murashev_usd_rub.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            rates["USD", datetime.strptime(r["date"], "%m/%d/%Y").date()] = Decimal(r["rate"])
    for currency in ("EUR", "GBP"):  # CNY is quoted per 10 yuan without a nominal column
        path = REF / "cbr" / f"sovcom_{currency.lower()}_quotes.csv"
        with open(path, encoding="utf-8") as fh:
            for r in csv.DictReader(fh, delimiter=";"):
                day = date.fromisoformat(r["updated"])
                if day.year >= 1998:  # SovCom's earlier values are not redenominated
                    rates[currency, day] = Decimal(r["price"])
    return rates


def _fixture_rates() -> dict[tuple[str, date], Decimal]:
    """(currency, day) -> roubles per unit in every hand-written CBR document of the tests."""
    found = {}
    for path in sorted(CBR_FIXTURES.glob("*.xml")):
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False,
                                                      no_network=True)).getroot()
        if root.tag == "ValCurs" and root.find("Valute") is not None:
            day = datetime.strptime(root.get("Date"), "%d.%m.%Y").date()
            for v in root.iter("Valute"):
                nominal = Decimal(v.findtext("Nominal"))
                found[v.findtext("CharCode"), day] = (
                    Decimal(v.findtext("Value").replace(",", ".")) / nominal)
        else:  # XML_dynamic of the dollar (VAL_NM_RQ=R01235)
            for rec in root.iter("Record"):
                day = datetime.strptime(rec.get("Date"), "%d.%m.%Y").date()
                found["USD", day] = (Decimal(rec.findtext("Value").replace(",", "."))
                                     / Decimal(rec.findtext("Nominal")))
    return found


def test_every_test_rate_is_the_bank_of_russias():
    """Each rate in the tests' CBR documents is the rate the Bank set for that day, where the
    reference covers it (USD to 2024; EUR and GBP to November 2022)."""
    reference, fixtures = _reference_rates(), _fixture_rates()
    checked = {k: v for k, v in fixtures.items() if k in reference}
    assert {k: reference[k] for k in checked} == checked
    assert {k for k in fixtures if k[0] == "USD"} <= set(checked)  # every dollar rate checked
    assert fixtures["USD", date(2015, 12, 30)] == Decimal("72.5066")  # not 72.5071
    unchecked = sorted(k for k in fixtures if k not in reference)
    assert unchecked == [("EUR", date(2024, 3, 1)), ("EUR", date(2024, 3, 2))]  # after 2022


def test_a_rouble_contract_converts_at_the_reference_rate(warehouse, load):
    """The money code's dollars: 65,000 RUB on 30.12.2015 at the rate in force that day."""
    load("cbr", *sorted(CBR_FIXTURES.glob("*.xml")))
    warehouse.con.execute(
        "INSERT INTO contracts (contract_id, source, native_id, version, signed_on, dated_on,"
        " year, date_basis, amount, currency, document_id) VALUES ('test:rub', 'test', 'rub',"
        " 1, DATE '2015-12-30', DATE '2015-12-30', 2015, 'signed', 65000, 'RUB', 'test')")
    convert_money(warehouse, load_ecb_rates=False)
    usd, source = warehouse.query("SELECT amount_usd, fx_source FROM contracts")[0]
    rate = _reference_rates()["USD", date(2015, 12, 30)]
    assert source == "cbr" and round(usd, 2) == round(65000 / float(rate), 2) == 896.47


# -- US CPI-U ----------------------------------------------------------------------------------

def test_cpi_annual_averages_are_the_bls_figures():
    """us_cpi_u.csv against the annual means of the monthly BLS series (equal to the BLS's
    published averages, PROVENANCE.md), to the decimals the file gives."""
    with open(REF / "cpi" / "DERIVED_cpi_u_annual_avg_from_monthly.csv", encoding="utf-8") as fh:
        reference = {int(r["year"]): (Decimal(r["annual_avg_computed"]), int(r["months"]))
                     for r in csv.DictReader(fh)}
    ours = table("us_cpi_u")
    assert len(ours) >= 26
    for row in ours:
        value, months = reference[int(row["year"])]
        places = len(row["cpi_u"].split(".")[1])
        assert months == 12, row["year"]
        assert value.quantize(Decimal(1).scaleb(-places)) == Decimal(row["cpi_u"]), row["year"]


# -- the taxonomy's codes ----------------------------------------------------------------------

def _cpv() -> dict[str, str]:
    with open(REF / "codes" / "cpv2008_en_procuR.csv", encoding="utf-8-sig") as fh:
        return {r["CODE"].split("-")[0]: r["EN"] for r in csv.DictReader(fh)}


def _okpd2() -> dict[str, str]:
    names = {}
    with open(REF / "codes" / "okpd2_prog815_okpd_table.tsv", encoding="utf-8") as fh:
        for line in fh:
            code, _, name = line.rstrip("\n").partition("\t")
            names[code.strip()] = name.strip()
    return names


def _naics() -> dict[str, str]:
    from openpyxl import load_workbook

    book = load_workbook(REF / "codes" / "census_2-6 digit_2022_Codes.xlsx", read_only=True)
    rows = book["tbl_2022_title_description_coun"].iter_rows(min_row=2, values_only=True)
    return {str(code).strip(): str(title).strip() for _, code, title, *_ in rows if code}


def _psc() -> dict[str, str]:  # the GSA manual, as USAspending publishes it
    with open(SHARED / "usaspending" / "psc_codes.csv", encoding="utf-8", errors="replace") as fh:
        return {r["PSC CODE"]: r["PRODUCT AND SERVICE CODE NAME"] for r in csv.DictReader(fh)}


OFFICIAL = {"CPV": _cpv, "OKPD2": _okpd2, "NAICS": _naics, "PSC": _psc}


def test_every_taxonomy_code_and_name_is_in_its_official_list():
    with open(TAXONOMY / "codes.csv", encoding="utf-8") as fh:
        rules = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    lists = {scheme: load() for scheme, load in OFFICIAL.items()}
    checked, unchecked = 0, []
    for r in rules:
        official = lists.get(r["scheme"])
        if official is None:
            unchecked.append(r["rule"])
            assert r["checked_against"].startswith(r["scheme"])
            continue
        assert r["code"] in official, f"{r['rule']}: {r['code']} is no {r['scheme']} code"
        assert official[r["code"]] == r["name"], f"{r['rule']}: named {official[r['code']]!r}"
        assert r["checked_against"].split(" (")[0] in ("OKPD2", "CPV 2008", "NAICS 2022", "PSC")
        checked += 1
    assert checked == 21
    assert unchecked == ["code:UNSPSC:46171610", "code:UNSPSC:461716"]  # no official list here


# -- citations, not paths ----------------------------------------------------------------------

MACHINE_PATH = re.compile(r"(?<![\w.])(/(work|home|Users|root|mnt)/|[A-Z]:\\|file://)")
CITING_FILES = [*ROOT.glob("survtrack/**/*.csv"), *ROOT.glob("survtrack/**/*.toml"),
                *ROOT.glob("docs/*.md"), ROOT / "README.md"]


@pytest.mark.parametrize("path", CITING_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_data_files_and_docs_name_no_path_on_a_machine(path):
    lines = [f"{n}: {line.strip()[:120]}" for n, line in enumerate(
        path.read_text(encoding="utf-8").splitlines(), 1) if MACHINE_PATH.search(line)]
    assert lines == []
