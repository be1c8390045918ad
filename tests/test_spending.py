"""Spending views on real EIS documents plus the hand-written tagged fixture contracts."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlencode

import duckdb
import pytest
from dashboard_fixture import load_fixture

from survtrack.analysis import spending
from survtrack.analysis.facts import publish_snapshot
from survtrack.analysis.spending import OTHERS, Filters
from survtrack.dashboard import urls

BELGOROD = "eis:3312100001816000003"  # real 44-FZ contract, hand-tagged video_surveillance by the fixture
USD_TAGGED = {"fixture-entity:vocord": 15_000_000.0, "RU-INN:7701000002": 5_000_000.0,
              "name:fixture:hikvision-usa": 2_500_000.0, "RU-INN:7701000003": 1_000_000.0}


@pytest.fixture(params=["tables", "snapshot"])
def con(request, warehouse, load, shared, tmp_path):
    """The views over the tidy tables directly, and over a snapshot's contract_facts."""
    assert load("eis", shared / "eis")["loaded"] == 11
    load_fixture(warehouse)
    if request.param == "tables":
        yield warehouse.con
        return
    snap = publish_snapshot(warehouse.path, warehouse.con)
    reader = duckdb.connect(str(snap), read_only=True)
    yield reader
    reader.close()


def test_totals_leave_unconverted_amounts_out_of_usd_sum(con):
    tot = spending.totals(con, Filters()).iloc[0]
    assert tot.contracts == 8  # 7 fixture contracts and the real Belgorod one carry tags
    assert tot.total == sum(USD_TAGGED.values()) == 23_500_000.0
    assert tot.not_converted == 2  # fixture:axxon-2022 and the real Belgorod contract
    assert (tot.vendors, tot.buyers) == (5, 4)
    assert (tot.first_year, tot.last_year) == (2016, 2022)


def test_original_currency_sums_only_that_currency(con):
    rub = spending.totals(con, Filters(currency="RUB")).iloc[0]
    expected = sum(Decimal(a) for a in ("700000000", "350000000", "210000000", "140000000",
                                        "70000000", "35000000", "6987268.99"))
    assert rub.contracts == 7
    assert rub.total == pytest.approx(float(expected), abs=0.005)
    usd = spending.totals(con, Filters(currency="USD", surveillance_only=False)).iloc[0]
    assert usd.contracts == 13  # every contract, its USD amount where converted
    eur = spending.totals(con, Filters(currency="EUR")).iloc[0]
    assert (eur.contracts, eur.total) == (0, 0)


def test_all_contracts_switch_includes_untagged(con):
    tot = spending.totals(con, Filters(surveillance_only=False, currency="RUB")).iloc[0]
    # 5 real EIS contracts (all RUB) and 7 RUB fixture contracts, one of them untagged
    assert tot.contracts == 12


def test_vendor_year_top_and_others(con):
    df = spending.by_vendor_year(con, Filters(), top=2)
    rows = {(r.vendor_key, None if r.year != r.year else int(r.year)): (r.amount, r.contracts)
            for r in df.itertuples()}
    assert rows[("fixture-entity:vocord", 2020)] == (10_000_000.0, 1)
    assert rows[("fixture-entity:vocord", 2021)] == (5_000_000.0, 1)  # other spelling merged
    assert rows[("RU-INN:7701000002", 2020)] == (3_000_000.0, 1)
    assert rows[(OTHERS, 2021)] == (3_500_000.0, 2)  # Hikvision 2.5 m + Axxon 1 m
    assert rows[(OTHERS, 2016)][1] == 1  # Belgorod: counted, not summed (not converted)
    assert list(dict.fromkeys(df["vendor_name"])) == ["Vocord", "NtechLab", "others"]


def test_vendor_falls_back_to_organization_name(con):
    df = spending.by_vendor(con, Filters(), limit=None)
    names = dict(zip(df["key"], df["name"]))
    assert names["RU-INN:6901067107"] == 'Филиал ПАО "МРСК Центра" - "Белгородэнерго"'
    assert names["fixture-entity:vocord"] == "Vocord"  # the entity's display name
    shares = dict(zip(df["key"], df["share"]))
    assert shares["fixture-entity:vocord"] == pytest.approx(15 / 23.5)


def test_buyer_category_country(con):
    buyers = spending.by_buyer(con, Filters())
    assert buyers.iloc[0]["name"] == "Департамент информационных технологий"
    assert buyers.iloc[0]["amount"] == 15_000_000.0
    cats = spending.by_category(con, Filters()).set_index("category")
    # vocord-2020 is both facial_recognition and video_surveillance: it counts in each
    assert cats.loc["facial_recognition", "amount"] == 15_000_000.0
    assert cats.loc["video_surveillance", "amount"] == 10_000_000.0 + 1_000_000.0 + 2_500_000.0
    assert cats.loc["video_surveillance", "contracts"] == 5
    countries = spending.by_country(con, Filters()).set_index("key")
    assert countries.loc["US", "amount"] == 2_500_000.0
    assert countries.loc["RU", "contracts"] == 7


def test_one_vendor_views(con):
    f = Filters(vendor="fixture-entity:vocord")
    tot = spending.totals(con, f).iloc[0]
    assert (tot.contracts, tot.total, tot.buyers, tot.vendors) == (2, 15_000_000.0, 1, 1)
    cats = spending.by_category(con, f).set_index("category")
    assert cats.loc["facial_recognition", "amount"] == 15_000_000.0
    assert cats.loc["video_surveillance", "contracts"] == 1
    buyers = spending.by_buyer(con, f)
    assert list(buyers["name"]) == ["Департамент информационных технологий"]
    assert list(spending.by_year(con, f)["amount"]) == [10_000_000.0, 5_000_000.0]
    by_buyer = spending.by_vendor(con, Filters(buyer="RU-INN:7702000001"))
    assert dict(zip(by_buyer["name"], by_buyer["contracts"])) == {"NtechLab": 2,
                                                                  "Axxon Soft": 2}


def test_concentration_hhi(con):
    c = spending.concentration(con, Filters()).iloc[0]
    total = sum(USD_TAGGED.values())
    assert c.hhi == pytest.approx(sum((100 * v / total) ** 2 for v in USD_TAGGED.values()))
    assert c.top1_share == pytest.approx(15 / 23.5)
    assert c.vendors == 4  # vendors with a converted amount


def test_contracts_behind_a_bar(con):
    f = spending.selection(Filters(), "fixture-entity:vocord", 2021)
    page = spending.contracts(con, f)
    assert list(page["contract_id"]) == ["fixture:vocord-2021"]
    assert page.iloc[0]["vendor_name"] == "Vocord"



def test_contracts_behind_an_undated_bar(warehouse, shared, load):
    """A contract without a signing date: the chart's "n.d." bar, and its drill-down."""
    load("eis", shared / "eis")
    load_fixture(warehouse)
    warehouse.con.execute("UPDATE contracts SET signed_on = NULL, dated_on = NULL, year = NULL"
                          " WHERE contract_id = 'fixture:ntech-2021'")
    snap = duckdb.connect(str(publish_snapshot(warehouse.path, warehouse.con)), read_only=True)
    for con in (warehouse.con, snap):
        bars = spending.by_vendor_year(con, Filters())
        undated = bars[bars.year.isna()]
        assert list(undated["vendor_key"]) == ["RU-INN:7701000002"]
        f = spending.selection(Filters(), "RU-INN:7701000002", None, undated=True)
        assert urls.from_query(parse_qs(urlencode(urls.to_query(f)))) == f
        assert list(spending.contracts(con, f)["contract_id"]) == ["fixture:ntech-2021"]
        assert spending.totals(con, f).iloc[0].total == undated.iloc[0]["amount"] == 2_000_000.0
    snap.close()


def test_contracts_behind_the_others_bar_match_it(con):
    top = ["fixture-entity:vocord", "RU-INN:7701000002"]
    bars = spending.by_vendor_year(con, Filters(), top=2)
    bar = bars[(bars.vendor_key == OTHERS) & (bars.year == 2021)].iloc[0]
    f = spending.selection(Filters(), OTHERS, 2021, top_vendors=top)
    assert f.vendor is None and f.exclude_vendors == tuple(sorted(top))
    assert (f.year_from, f.year_to) == (2021, 2021)
    listed = spending.contracts(con, f)
    assert sorted(listed["contract_id"]) == ["fixture:axxon-2021", "fixture:hikvision-2021"]
    tot = spending.totals(con, f).iloc[0]
    assert (tot.contracts, tot.total) == (bar.contracts, bar.amount) == (2, 3_500_000.0)
    assert spending.count_contracts(con, f) == 2
    assert spending.by_buyer(con, f)["contracts"].sum() == 2  # buyer view: no cube, same rows


def test_contracts_default_order_is_newest_first(con):
    page = spending.contracts(con, Filters(surveillance_only=False), limit=3)
    assert list(page["contract_id"]) == ["fixture:axxon-2022", "fixture:axxon-2021",
                                         "fixture:untagged-2021"]
    rest = spending.contracts(con, Filters(surveillance_only=False), offset=10, limit=5)
    assert list(rest["contract_id"]) == ["eis:2366200608816001262",  # 21 Nov 2016
                                         "eis:3312100001816000003",  # 22 Jan 2016
                                         "eis:51511012960150000010000"]


def test_contracts_page_sort_and_column_filters(con):
    f = Filters(surveillance_only=False)
    page = spending.contracts(con, f, offset=0, limit=3,
                              sort=[("amount_usd", "desc")])
    assert list(page["contract_id"]) == ["fixture:vocord-2020", "fixture:vocord-2021",
                                         "fixture:ntech-2020"]
    second = spending.contracts(con, f, offset=3, limit=2,
                                sort=[("amount_usd", "desc")])
    assert list(second["contract_id"]) == ["fixture:hikvision-2021", "fixture:ntech-2021"]
    belgorod = spending.contracts(con, f, conditions=[
        ("vendor_name", "contains", "белгородэнерго")])
    assert list(belgorod["contract_id"]) == [BELGOROD]
    row = belgorod.iloc[0]
    assert row["amount"] == 6987268.99 and row["currency"] == "RUB"
    assert str(row["signed_on"])[:10] == "2016-01-22"
    assert row["buyer_name"].startswith("АДМИНИСТРАЦИЯ МУНИЦИПАЛЬНОГО РАЙОНА")
    assert row["document_id"] == ("e0bfbd501e57957cf3da31f6e5156c4c"
                                  "319dd7cdb339d5c0a97298955d16c4c2")
    big = spending.count_contracts(con, f, [("amount", ">", 1e8)])
    assert big == 4  # 700 m, 350 m, 210 m and 140 m roubles


def test_user_text_never_becomes_sql(con):
    hostile = "x' OR '1'='1"
    assert spending.totals(con, Filters(vendor=hostile)).iloc[0].contracts == 0
    f = Filters(surveillance_only=False)
    page = spending.contracts(con, f, sort=[("amount; DROP TABLE contracts", "desc")],
                              conditions=[("1=1 OR title", "contains", "x"),
                                          ("title", "contains", "%"),
                                          ("amount", "; DROP TABLE contracts", 1)])
    assert page.empty  # '%' is matched literally; the unknown column and op are ignored
    sql, params = spending.where(f, [("amount", "between", (1, 2)), ("title", "is", None)])
    assert sql == "TRUE AND amount BETWEEN ? AND ?" and params == [1.0, 2.0]
    assert spending.count_contracts(con, Filters(surveillance_only=False)) == 13


def test_vendor_profile_shows_merged_names_and_reason(con):
    who = spending.party_profile(con, "vendor", "fixture-entity:vocord")
    assert who["name"] == "Vocord" and who["resolved"]
    assert who["names"] == ["VOCORD LLC", "ООО «Вокорд»"]
    assert who["identifiers"] == ["RU-INN:7701000001", "name:fixture:vocord-llc"]
    assert who["reason"].startswith("same company")
    plain = spending.party_profile(con, "vendor", "RU-INN:6901067107")
    assert not plain["resolved"]
    assert plain["name"] == 'Филиал ПАО "МРСК Центра" - "Белгородэнерго"'


def test_party_search_finds_merged_spellings(con):
    found = spending.search_parties(con, "vendor", "вокорд")
    assert list(found["key"]) == ["fixture-entity:vocord"]
    assert found.iloc[0]["name"] == "Vocord" and found.iloc[0]["contracts"] == 2
    assert "VOCORD LLC" in found.iloc[0]["names"]
    assert spending.search_parties(con, "buyer", "100%").empty  # '%' is literal
    busiest = spending.search_parties(con, "buyer", None, limit=1)
    assert list(busiest["key"]) == ["RU-INN:7702000001"]  # 5 contracts, tagged or not
