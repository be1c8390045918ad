"""The snapshot's cubes and clustered copies answer every spending view exactly as a scan of the
contracts does: on the demo warehouse (every document of ../shared/data, built: tags, entities,
money, flags), for each filter value alone and for random combinations of filters.

The scan is the same view over a database holding the snapshot's contract_facts alone: the
views then sum every contract (test_spending.py checks that the views over contract_facts and
over the tidy tables agree).
Counts must be equal; sums of floating-point money equal up to the order of additions.
"""

from __future__ import annotations

import random
import re

import duckdb
import pandas as pd
import pytest

from survtrack.analysis import flags, levels, spending
from survtrack.analysis.spending import NO_COUNTRY, Filters
from survtrack.warehouse.snapshot import current_snapshot

VIEWS = {
    "totals": spending.totals,
    "not_converted": spending.not_converted,
    "by_vendor_year": lambda con, f: spending.by_vendor_year(con, f, top=3),
    "by_vendor": lambda con, f: spending.by_vendor(con, f, limit=None),
    "by_buyer": lambda con, f: spending.by_buyer(con, f, limit=None),
    "by_country": spending.by_country,
    "by_category": spending.by_category,
    "by_year": spending.by_year,
    "concentration": spending.concentration,
    "flag_rates": spending.flag_rates,
    "count": lambda con, f: pd.DataFrame({"n": [spending.count_contracts(con, f)]}),
}


def facts_alone(snapshot) -> duckdb.DuckDBPyConnection:
    """A database holding the snapshot's contract_facts (and the parties' tables the views
    name them from) and nothing derived from it: every view there sums the contracts."""
    scan = duckdb.connect()
    scan.execute(f"ATTACH '{snapshot}' AS snap (READ_ONLY)")
    for table in ("contract_facts", "entities", "organizations"):
        scan.execute(f"CREATE TABLE {table} AS FROM snap.{table}")
    scan.execute("DETACH snap")
    return scan


@pytest.fixture(scope="module")
def scan_and_cubes(demo_db):
    snapshot = current_snapshot(demo_db)
    scan = facts_alone(snapshot)
    cubes = duckdb.connect(str(snapshot), read_only=True)
    assert "spending_by_flag" in spending._tables(cubes)
    assert spending._tables(scan) == {"contract_facts", "entities", "organizations"}
    yield scan, cubes
    scan.close()
    cubes.close()


@pytest.fixture(scope="module")
def values(scan_and_cubes) -> dict[str, list]:
    """Filter values the demo's contracts have (the busiest parties, every category, every
    raised flag, ...), and one no contract has."""
    _, con = scan_and_cubes

    def column(sql: str) -> list:
        return [r[0] for r in con.execute(sql).fetchall()]

    return {
        "country": [NO_COUNTRY] + column("SELECT country FROM contract_facts"
                                         " WHERE country IS NOT NULL GROUP BY 1"
                                         " ORDER BY count(*) DESC, 1"),
        "source": column("SELECT DISTINCT source FROM contract_facts"),
        "category": column("SELECT category FROM (SELECT unnest(categories) AS category"
                           " FROM contract_facts) GROUP BY 1 ORDER BY count(*) DESC, 1"),
        "buyer": column("SELECT buyer_key FROM contract_facts GROUP BY 1"
                        " ORDER BY count(*) DESC, 1 LIMIT 6") + ["no-such-buyer"],
        "vendor": column("SELECT vendor_key FROM contract_facts WHERE tagged GROUP BY 1"
                         " ORDER BY count(*) DESC, 1 LIMIT 6"),
        "flag": column("SELECT DISTINCT unnest(flags) FROM contract_facts"),
        "currency": column("SELECT DISTINCT currency FROM contract_facts"
                           " WHERE currency IS NOT NULL"),
        "year": column("SELECT DISTINCT year FROM contract_facts WHERE year IS NOT NULL"),
    }


def same(scan, cubes, f: Filters) -> None:
    for name, view in VIEWS.items():
        expected, got = view(scan, f), view(cubes, f)
        try:
            pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                          expected.reset_index(drop=True),
                                          check_dtype=False, rtol=1e-9, atol=1e-6)
        except AssertionError as exc:
            raise AssertionError(f"{name} differs for {f}: {exc}") from None


def test_the_demo_has_what_the_cubes_hold(values):
    """The comparisons below mean something: parties, categories and raised flags exist."""
    assert values["category"] and values["flag"] and len(values["vendor"]) >= 3
    assert set(values["flag"]) <= set(flags.definitions())


@pytest.mark.parametrize("field", ["country", "source", "category", "buyer", "vendor", "flag",
                                   "currency"])
def test_each_filter_value_alone(scan_and_cubes, values, field):
    scan, cubes = scan_and_cubes
    for value in values[field][:5]:
        f = Filters(currency=value) if field == "currency" else Filters(**{field: value})
        same(scan, cubes, f)
        same(scan, cubes, f.with_(surveillance_only=False, measure="paid"))


def test_random_filter_combinations(scan_and_cubes, values):
    scan, cubes = scan_and_cubes
    rng = random.Random(20261202)
    for _ in range(30):
        pick = {name: rng.choice(values[name]) if rng.random() < 0.35 else None
                for name in ("country", "source", "category", "buyer", "vendor", "flag")}
        years = sorted(rng.sample(values["year"], 2)) if rng.random() < 0.4 else [None, None]
        f = Filters(**pick, year_from=years[0], year_to=years[1],
                    currency=rng.choice(["USD", "USD", *values["currency"]]),
                    measure=rng.choice(["value", "paid"]),
                    buyer_level=rng.choice(levels.LEVELS),
                    surveillance_only=rng.random() < 0.6)
        if rng.random() < 0.2:  # the "others" of a chart: every vendor but the top ones
            f = f.with_(vendor=None, exclude_vendors=tuple(values["vendor"][:3]))
        same(scan, cubes, f)


def test_an_older_snapshots_cubes_are_left_aside(tmp_path, demo_db):
    """A snapshot whose cubes are of another shape (published by an older survtrack) is read
    through its contracts, with the same answers, until a new one is published."""
    path = tmp_path / "older.duckdb"
    path.write_bytes(current_snapshot(demo_db).read_bytes())
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE cubes_version")
        con.execute("ALTER TABLE spending_by_vendor DROP COLUMN left_n")
    older = duckdb.connect(str(path), read_only=True)
    scan = facts_alone(path)
    try:
        assert "spending_by_vendor" not in spending._tables(older)
        same(scan, older, Filters())
    finally:
        older.close()
        scan.close()


YEARLESS = ("spending_by_vendor_total", "spending_by_buyer_total",
            "spending_by_vendor_category_total", "spending_by_buyer_category_total")


def test_views_without_a_year_read_the_year_less_cubes(scan_and_cubes, values):
    """The views that neither group nor filter by year (totals, top parties, concentration,
    what is left out, counts) read the cubes summed over the years; the comparisons above
    check their answers."""
    _, cubes = scan_and_cubes
    assert set(YEARLESS) <= spending._tables(cubes)
    category = values["category"][0]
    chosen = {
        (Filters(), "vendor", False): "spending_by_vendor_total",
        (Filters(), "vendor", True): "spending_by_vendor",
        (Filters(), "buyer", False): "spending_by_buyer_total",
        (Filters(category=category), "vendor", False): "spending_by_vendor_category_total",
        (Filters(category=category), "buyer", False): "spending_by_buyer_category_total",
        (Filters(year_from=2020), "vendor", False): "spending_by_vendor",
    }
    for (f, grain, years), table in chosen.items():
        assert spending._relation(cubes, f, grain, years)[0] == table, (f, grain, years)


PER_CATEGORY = ("spending_by_vendor_category", "spending_by_buyer_category",
                "spending_by_category_within", "spending_by_flag_category")


def test_a_category_filter_reads_the_per_category_cubes(scan_and_cubes, values):
    """With a category filter the views by year, by category and the flag rates read the
    cubes per category (a few rows per party and year) instead of the category's contracts;
    the comparisons above check their answers."""
    _, cubes = scan_and_cubes
    assert set(PER_CATEGORY) <= spending._tables(cubes)
    category = values["category"][0]
    f = Filters(category=category)
    chosen = {
        (f, "vendor", True): "spending_by_vendor_category",
        (f, "buyer", True): "spending_by_buyer_category",
        (f.with_(year_from=2020), "vendor", False): "spending_by_vendor_category",
        (f.with_(year_from=2020), "buyer", False): "spending_by_buyer_category",
        (f, "category", True): "spending_by_category_within",
        (f, "flag", True): "spending_by_flag_category",
        (f.with_(country="RU", year_to=2022), "flag", True): "spending_by_flag_category",
    }
    for (g, grain, years), table in chosen.items():
        assert spending._relation(cubes, g, grain, years)[0] == table, (g, grain, years)
    # a filter such a cube does not hold: the clustered contracts
    buyer = f.with_(buyer=values["buyer"][0])
    assert "facts_by_buyer" in spending._relation(cubes, buyer, "vendor", True)[0]
    assert "facts_by_flag" in spending._relation(cubes, f.with_(flag=values["flag"][0]),
                                                     "category", True)[0]


def test_a_snapshot_without_the_year_less_cubes_answers_from_the_others(tmp_path, demo_db,
                                                                        values):
    """A snapshot published before the year-less and per-category cubes existed reads the
    year cubes and the clustered contracts."""
    path = tmp_path / "before.duckdb"
    path.write_bytes(current_snapshot(demo_db).read_bytes())
    with duckdb.connect(str(path)) as con:
        for table in (*YEARLESS, *PER_CATEGORY):
            con.execute(f"DROP TABLE {table}")
    before = duckdb.connect(str(path), read_only=True)
    scan = facts_alone(path)
    try:
        assert spending._relation(before, Filters(), "vendor", False)[0] == "spending_by_vendor"
        for f in (Filters(), Filters(category=values["category"][0]),
                  Filters(surveillance_only=False, measure="paid")):
            same(scan, before, f)
    finally:
        before.close()
        scan.close()


@pytest.mark.parametrize("role", ["vendor", "buyer"])
def test_party_options_from_kept_busiest_equal_one_search(scan_and_cubes, role):
    """The party controls' options (the busiest parties, kept per snapshot, with the chosen
    ones looked up beside them) equal one search of the parties for the same keys."""
    _, cubes = scan_and_cubes
    keys = [k for (k,) in cubes.execute(
        "SELECT key FROM parties WHERE role = ? ORDER BY contracts DESC, key", [role]).fetchall()]
    assert len(keys) > 6
    for include in ([], [keys[0]], [keys[-1]], [keys[1], keys[-1], keys[-2]],
                    ["no such party"], keys[-1]):
        for _ in range(2):  # computed, then from what was kept
            got = spending.search_parties(cubes, role, None, limit=3, include=include)
            wanted = spending._search_parties(
                cubes, role, None, 3, [include] if isinstance(include, str) else include)
            pd.testing.assert_frame_equal(got, wanted, check_dtype=False)


def test_a_party_filter_reads_only_its_row_groups_of_a_clustered_copy(demo_db, tmp_path):
    """facts_by_buyer as the publisher sorts it, over the demo's contracts repeated under 2,000
    buyer keys sharing a long prefix (as real keys do: DuckDB keeps 8 bytes of a text
    column's min and max per row group): one buyer's rows are read from its row groups only,
    and they are all of that buyer's rows."""
    from survtrack.analysis import facts

    con = duckdb.connect(str(tmp_path / "clustered.duckdb"))
    con.execute(f"ATTACH '{current_snapshot(demo_db)}' AS snap (READ_ONLY)")
    con.execute("""CREATE TABLE contract_facts AS
        SELECT * REPLACE ('RU-INN:7702' || lpad((i % 2000)::VARCHAR, 6, '0') AS buyer_key)
        FROM snap.contract_facts, range(4000) r(i)""")
    con.execute("DETACH snap")
    con.execute(f"CREATE TABLE facts_by_buyer AS {facts.CUBES['facts_by_buyer']}")
    con.execute(f"CREATE TABLE cubes_version AS SELECT {facts.CUBES_VERSION} AS version")
    buyer = "RU-INN:7702001234"
    relation, params = spending._contract_rows(con, Filters(buyer=buyer))
    assert "facts_by_buyer" in relation
    plan = con.execute(f"EXPLAIN ANALYZE SELECT count(*) FROM {relation}", params).fetchall()
    scanned, groups = map(int, re.search(r"Row Groups Scanned: (\d+) / (\d+)",
                                         plan[0][1]).groups())
    assert groups >= 4 and scanned <= 2, (scanned, groups)
    assert con.execute(f"SELECT count(*) FROM {relation}", params).fetchone()[0] == \
        con.execute("SELECT count(*) FROM contract_facts WHERE buyer_key = ?",
                    [buyer]).fetchone()[0] > 0
