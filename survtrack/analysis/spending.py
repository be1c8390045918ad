"""Spending views: who was paid how much, by whom, for what, where, over one set of filters.

Every function takes a DuckDB connection and a `Filters` and returns a pandas DataFrame computed
in DuckDB. User input only ever reaches SQL as a bound parameter; the few identifiers that vary
(sort column, grid filter column) are looked up in whitelists.

Money rules (a wrong sum is worse than none):
- `currency="USD"` sums `amount_usd`; a contract whose amount is not converted yet is left out
  of the sum and counted in `not_converted`.
- any other currency is an original currency: only contracts in that currency are selected and
  their `amount` is summed, so currencies never mix in one sum.
- a contract in several categories counts once in each category: category rows do not add up.

The views read `contract_facts` (one row per contract with vendor and buyer resolved) where a
snapshot provides it, else compute the same rows from the tidy tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from survtrack.analysis import flags, levels, per_snapshot
from survtrack.analysis.facts import (
    CUBES,
    CUBES_VERSION,
    DEFAULT_ORDER,
    FACTS_SQL,
    MEASURES,
    cluster_of,
    parties_sql,
)

OTHERS = "__others__"
NO_COUNTRY = "unknown"  # the country filter's value for contracts whose buyer country is unknown
MAX_TEXT = 200  # longest text a filter value or a grid filter may hold
# what a view sums: the contracts' value, or what was paid where payments are published
MEASURE_COLUMNS = {"value": ("usd", "amt", "n_unconverted"),
                   "paid": ("pusd", "pamt", "n_paid_unconverted")}


@dataclass(frozen=True)
class Filters:
    """What the user selected. Every field is optional except the two with defaults."""

    country: str | None = None
    source: str | None = None
    category: str | None = None
    buyer: str | None = None  # buyer key: entity_id, else org_id
    # buyers counted as signed (office), one level up (agency) or at the top (department)
    buyer_level: str = levels.DEFAULT
    vendor: str | None = None  # vendor key: entity_id, else org_id
    year_from: int | None = None
    year_to: int | None = None
    undated: bool = False  # only contracts without a signing year (the chart's "n.d." bars)
    currency: str = "USD"  # USD (converted) or an original ISO 4217 currency
    # no currency was asked for (a dashboard URL without one): the dashboard shows the
    # selection's one currency where it holds one (sole_currency), else USD; links leave it out
    currency_auto: bool = False
    measure: str = "value"  # value (contract value) or paid (published payments)
    flag: str | None = None  # only contracts for which this red flag is raised (flags.csv)
    surveillance_only: bool = True  # only contracts with at least one tag
    # vendor keys left out: the "others" of a chart are the selection minus its top vendors
    exclude_vendors: tuple[str, ...] = ()
    # compare mode: only these vendors, side by side (a URL's vendor=a&vendor=b)
    vendors: tuple[str, ...] = ()

    def with_(self, **changes) -> Filters:
        if "currency" in changes:  # a currency named is a choice, no longer automatic
            changes.setdefault("currency_auto", False)
        if "vendor" in changes:  # one vendor chosen (or none) ends a comparison
            changes.setdefault("vendors", ())
        return replace(self, **changes)

    @property
    def usd(self) -> bool:
        return self.currency == "USD"


def _tables(con) -> set[str]:
    """The tables of the database; cubes of another shape than this survtrack's (a snapshot
    published by an older one) left out, so the views read the contracts instead."""
    return per_snapshot.kept(con, "tables", lambda: _read_tables(con))


def _read_tables(con) -> set[str]:
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()}
    if tables & CUBES.keys():
        version = con.execute("SELECT max(version) FROM cubes_version").fetchone()[0] \
            if "cubes_version" in tables else None
        if version != CUBES_VERSION:
            tables -= CUBES.keys()
    return tables


def _facts(con, tables: set[str] | None = None) -> str:
    tables = _tables(con) if tables is None else tables
    return "contract_facts" if "contract_facts" in tables else f"({FACTS_SQL})"


# grain -> the cubes that may answer a view, tried in order: (table, the filters it cannot
# answer, the filters it needs, whether it has a row per year). The year-less ones (facts.py)
# answer the views that neither group nor filter by year, in fewer rows.
_NO_YEAR = ("year_from", "year_to", "undated")
CUBE_FOR = {
    "vendor": [("spending_by_vendor_category_total", ("buyer", "flag", *_NO_YEAR),
                ("category",), False),
               ("spending_by_vendor_total", ("category", "buyer", "flag", *_NO_YEAR), (), False),
               ("spending_by_vendor_category", ("buyer", "flag"), ("category",), True),
               ("spending_by_vendor", ("category", "buyer", "flag"), (), True)],
    "buyer": [("spending_by_buyer_category_total",
               ("vendor", "exclude_vendors", "vendors", "flag", *_NO_YEAR), ("category",), False),
              ("spending_by_buyer_total",
               ("category", "vendor", "exclude_vendors", "vendors", "flag", *_NO_YEAR), (), False),
              ("spending_by_buyer_category", ("vendor", "exclude_vendors", "vendors", "flag"),
               ("category",), True),
              ("spending_by_buyer", ("category", "vendor", "exclude_vendors", "vendors", "flag"),
               (), True)],
    "category": [("spending_by_category_within",
                  ("buyer", "vendor", "exclude_vendors", "vendors", "flag"), ("category",), True),
                 ("spending_by_category",
                  ("category", "buyer", "vendor", "exclude_vendors", "vendors", "flag"), (), True)],
    "flag": [("spending_by_flag_category",
              ("buyer", "vendor", "exclude_vendors", "vendors", "flag"), ("category",), True),
             ("spending_by_flag",
              ("category", "buyer", "vendor", "exclude_vendors", "vendors", "flag"), (), True)]}
# filter -> (copy of the contracts clustered by it, its column there), tried in this order:
# a view filtered by one reads only the row groups holding its value. The category and flag
# copies hold a contract once per category (raised flag), so the value selects each once.
CLUSTERED = {"vendor": ("facts_by_vendor", "vendor_key"),
             "buyer": ("facts_by_buyer", "buyer_key"),
             "flag": ("facts_by_flag", "flag"),
             "category": ("facts_by_category", "category")}


def _relation(con, f: Filters, grain: str, years: bool = True) -> tuple[str, list]:
    """The rows a view sums (and the relation's own bound parameters): a snapshot's cube
    where it answers the filters (with `years`, one with a `year` per row); else the
    contracts, from a copy clustered by a filtered value where there is one."""
    tables = _tables(con)
    for cube, unanswerable, needed, per_year in CUBE_FOR[grain]:
        if cube in tables and (per_year or not years) \
                and all(getattr(f, name) for name in needed) \
                and not any(getattr(f, name) for name in unanswerable):
            return cube, []
    rows, params = _contract_rows(con, f, tables)
    if grain == "category":
        # a contract counts once in each of its categories (unnested after the filter)
        rows = f"(SELECT unnest(categories) AS category, * EXCLUDE (category) FROM {rows})" \
            if rows.startswith("(SELECT * EXCLUDE (cluster) FROM facts_by_category ") else \
            f"(SELECT unnest(categories) AS category, * FROM {rows})"
    return rows, params


def _contract_rows(con, f: Filters, tables: set[str] | None = None) -> tuple[str, list]:
    """One row per contract with the measures (and the relation's bound parameters): from a
    copy clustered by a filtered value (CLUSTERED) where there is one."""
    tables = _tables(con) if tables is None else tables
    for name, (table, column) in CLUSTERED.items():
        value = getattr(f, name)
        if name == "buyer" and f.buyer_level != levels.DEFAULT:
            continue  # a body rolled up from its sub-units: their keys are its contracts too
        if value is not None and table in tables:
            # its row groups alone, found by the number the copy is sorted by (facts.py)
            return (f"(SELECT * EXCLUDE (cluster) FROM {table}"
                    f" WHERE cluster = {cluster_of('?')} AND {column} = ?)", [value, value])
    return f"(SELECT *, {MEASURES} FROM {_facts(con, tables)})", []


def _where(f: Filters) -> tuple[str, list]:
    conds, params = ["TRUE"], []
    if f.country == NO_COUNTRY:
        conds.append("country IS NULL")
    for column in ("country", "source", "buyer", "vendor"):
        value = getattr(f, column)
        if value is not None and not (column == "country" and value == NO_COUNTRY):
            key = {"buyer": "buyer_key", "vendor": "vendor_key"}.get(column, column)
            if column == "buyer" and f.buyer_level != levels.DEFAULT:
                # a body rolled up from its sub-units: theirs are its contracts too
                conds.append(f"(buyer_key = ? OR buyer_key IN"
                             f" ({levels.members_of_sql(f.buyer_level)}))")
                params.append(value)
            else:
                conds.append(f"{key} = ?")
            params.append(value)
    if f.exclude_vendors:
        conds.append("NOT list_contains(?::VARCHAR[], vendor_key)")
        params.append(list(f.exclude_vendors))
    if f.vendors:
        conds.append("list_contains(?::VARCHAR[], vendor_key)")
        params.append(list(f.vendors))
    if f.category is not None:
        conds.append("list_contains(categories, ?)")
        params.append(f.category)
    elif f.surveillance_only:
        conds.append("tagged")
    if f.flag is not None:
        conds.append("list_contains(flags, ?)")
        params.append(f.flag)
    if f.year_from is not None:
        conds.append("year >= ?")
        params.append(f.year_from)
    if f.undated:
        conds.append("year IS NULL")
    if f.year_to is not None:
        conds.append("year <= ?")
        params.append(f.year_to)
    if not f.usd:
        conds.append("currency = ?")
        params.append(f.currency)
    return " AND ".join(conds), params


def _selected(con, f: Filters, grain: str = "vendor", years: bool = True) -> tuple[str, list]:
    """`WITH sel AS (...)`: the filtered rows, `value` the money summed and `n` contracts;
    `first_year` and `last_year` the years they span (without `years`, sel may have no
    `year` of its own: a year-less cube).

    `value` is the contracts' value, or with `measure=paid` their published payments. In USD,
    `unconverted` counts contracts with money but no USD figure; in an original currency
    nothing is left out but contracts without money. Cancelled contracts are counted in `n`
    (they are listed) and never summed (the measures are NULL for them).
    """
    where, params = _where(f)
    usd, amt, not_converted = MEASURE_COLUMNS[f.measure]
    value = usd if f.usd else amt
    unconverted = not_converted if f.usd else "0"
    relation, relation_params = _relation(con, f, grain, years)
    span = "" if _is_yearless(relation) else ", year AS first_year, year AS last_year"
    sql = (f"WITH sel AS (SELECT *, {value} AS value, {unconverted} AS unconverted{span}"
           f" FROM {relation} WHERE {where})")
    return sql, [*relation_params, *params]


def _is_yearless(relation: str) -> bool:
    return any(relation == cube for cubes in CUBE_FOR.values()
               for cube, _, _, per_year in cubes if not per_year)


def totals(con, f: Filters) -> pd.DataFrame:
    """One row: contracts, vendors, buyers, total, and what the total leaves out: contracts
    not converted, without an amount (or, for `paid`, without published payments), and
    cancelled ones (listed, never summed)."""
    sel, params = _selected(con, f, "vendor", years=False)
    no_money = ("n_no_amount" if f.measure == "value"
                else "n - n_cancelled - n_paid")  # paid: no payments published
    out = con.execute(
        f"""{sel} SELECT coalesce(sum(n), 0) AS contracts,
                  count(DISTINCT vendor_key) AS vendors,
                  coalesce(sum(value), 0) AS total,
                  coalesce(sum(unconverted), 0) AS not_converted,
                  coalesce(sum({no_money}), 0) AS no_amount,
                  coalesce(sum(n_cancelled), 0) AS cancelled,
                  coalesce(sum(n_paid), 0) AS with_payments,
                  min(first_year) AS first_year, max(last_year) AS last_year
           FROM sel""", params).df()
    sel, params = _selected(con, f, "buyer", years=False)
    rollup = "" if f.buyer_level == levels.DEFAULT else \
        f"LEFT JOIN ({levels.ROLLUP_SQL}) r ON r.key = s.buyer_key"
    out.insert(2, "buyers", con.execute(
        f"{sel} SELECT count(DISTINCT {levels.key_sql(f.buyer_level, 's.buyer_key')})"
        f" FROM sel s {rollup}", params).fetchone()[0])
    return out


def sole_currency(con, f: Filters) -> str | None:
    """The one currency of every contract in the selection (whatever `f.currency`), or None
    where it holds several, none, or a contract with no currency: in that one currency the
    view shows the same contracts as in US dollars, and nothing is left out unconverted."""
    anything = f.with_(currency="USD")
    where, params = _where(anything)
    relation, relation_params = _relation(con, anything, "vendor", years=False)
    found = con.execute(
        f"""SELECT DISTINCT currency FROM {relation}
            WHERE {where} LIMIT 2""", [*relation_params, *params]).fetchall()
    return found[0][0] if len(found) == 1 else None


def not_converted(con, f: Filters) -> pd.DataFrame:
    """What a US-dollar total leaves out, per original currency: currency, amount (summed in
    that currency), contracts, undated (of them, those with no date to take a rate for) — the
    money with no exchange rate for its date. Empty in an original currency's view (nothing
    is converted there)."""
    if not f.usd:
        return pd.DataFrame(columns=["currency", "amount", "contracts", "undated"])
    where, params = _where(f)
    relation, relation_params = _relation(con, f, "vendor", years=False)
    money, n, undated = ("left_amt", "left_n", "left_undated") if f.measure == "value" \
        else ("left_pamt", "left_pn", "left_pundated")
    return con.execute(
        f"""SELECT currency, sum({money})::DOUBLE AS amount, sum({n})::BIGINT AS contracts,
                   sum({undated})::BIGINT AS undated
            FROM {relation} WHERE {where}
            GROUP BY currency HAVING sum({n}) > 0
            ORDER BY amount DESC NULLS LAST, currency""", [*relation_params, *params]).df()


def by_vendor_year(con, f: Filters, top: int = 7) -> pd.DataFrame:
    """Spending per vendor entity and year: the `top` vendors by total, the rest as OTHERS.

    Columns: vendor_key, vendor_name, year (NULL where the signing date is unknown), amount,
    contracts, rank (1 = biggest; OTHERS last).
    """
    # the top vendors first (a top-N of the vendors' sums, from a year-less cube where one
    # answers), then one pass sums each top vendor's years and the others' years: no join of
    # every row with its vendor's rank
    sel, params = _selected(con, f, "vendor", years=False)
    leaders = con.execute(
        f"""{sel} SELECT vendor_key, any_value(vendor_name) AS vendor_name FROM sel
           GROUP BY vendor_key ORDER BY sum(value) DESC NULLS LAST, vendor_key LIMIT ?""",
        [*params, top]).fetchall()
    sel, params = _selected(con, f, "vendor")
    keys = [k for k, _ in leaders]
    names = dict(leaders)
    out = con.execute(
        f"""{sel} SELECT coalesce(list_position(?::VARCHAR[], vendor_key), ?) AS rank,
                  year, sum(value) AS amount, sum(n) AS contracts
           FROM sel GROUP BY ALL ORDER BY rank, year""", [*params, keys, top + 1]).df()
    out.insert(0, "vendor_key", [keys[r - 1] if r <= len(keys) else OTHERS
                                 for r in out["rank"]])
    out.insert(1, "vendor_name", [names[k] if k != OTHERS else "others"
                                  for k in out["vendor_key"]])
    return out[["vendor_key", "vendor_name", "year", "amount", "contracts", "rank"]]


def _by(con, f: Filters, grain: str, key: str, name: str, limit: int | None) -> pd.DataFrame:
    """Parties (or countries) by the money of the selection: key, name, amount, contracts,
    share; for vendors and buyers also `names` (how many names are merged into the entity),
    `bodies` (how many bodies a rolled-up buyer counts), `members` (a joint award's) and
    `member_of` (the joint awards a member's money is counted with instead)."""
    sel, params = _selected(con, f, grain, years=False)
    limit_sql = "LIMIT ?" if limit else ""
    lvl = f.buyer_level if grain == "buyer" else levels.DEFAULT
    party = grain in ("vendor", "buyer") and key.endswith("_key")
    rollup = f"LEFT JOIN ({levels.ROLLUP_SQL}) r ON r.key = s.{key}" \
        if party and lvl != levels.DEFAULT else ""
    grouped = levels.key_sql(lvl, f"s.{key}") if party else key
    info = (f"LEFT JOIN ({levels.info_sql(lvl, 'g' if lvl == levels.DEFAULT else None)})"
            " i ON i.key = g.key" if party else
            "LEFT JOIN (SELECT NULL AS key, NULL AS name, 1 AS names, 1 AS bodies,"
            " NULL::VARCHAR[] AS members, NULL::VARCHAR[] AS member_of) i ON FALSE")
    # the top first, then their names and members: the lookups join `limit` rows, not
    # every party of the selection
    return con.execute(
        f"""{sel}, every AS (SELECT {grouped} AS key, any_value({name}) AS name,
                                   sum(value) AS amount, sum(n) AS contracts
                            FROM sel s {rollup} GROUP BY 1),
           g AS (SELECT * FROM every ORDER BY amount DESC NULLS LAST, key {limit_sql})
           SELECT g.key, coalesce(i.name, g.name) AS name, g.amount, g.contracts,
                  g.amount / nullif((SELECT sum(amount) FROM every), 0) AS share,
                  coalesce(i.names, 1) AS names, coalesce(i.bodies, 1) AS bodies,
                  i.members, i.member_of
           FROM g {info} ORDER BY amount DESC NULLS LAST, key""",
        [*params, *([limit] if limit else [])]).df()


def by_vendor(con, f: Filters, limit: int | None = 50) -> pd.DataFrame:
    """Vendors by spending with their share of the selection's total."""
    return _by(con, f, "vendor", "vendor_key", "vendor_name", limit)


def by_buyer(con, f: Filters, limit: int | None = 50) -> pd.DataFrame:
    """Buyers by spending with their share of the selection's total."""
    return _by(con, f, "buyer", "buyer_key", "buyer_name", limit)


def by_country(con, f: Filters) -> pd.DataFrame:
    """Spending per buyer country (ISO 3166-1 alpha-2; NO_COUNTRY where unknown)."""
    return _by(con, f, "vendor", f"coalesce(country, '{NO_COUNTRY}')", "country", None)


def by_category(con, f: Filters) -> pd.DataFrame:
    """Spending per surveillance category. A contract counts in each of its categories."""
    sel, params = _selected(con, f, "category")
    return con.execute(
        f"""{sel} SELECT category, sum(value) AS amount, sum(n) AS contracts
           FROM sel GROUP BY category ORDER BY amount DESC NULLS LAST, category""",
        params).df()


def by_year(con, f: Filters) -> pd.DataFrame:
    sel, params = _selected(con, f, "vendor")
    return con.execute(f"{sel} SELECT year, sum(value) AS amount, sum(n) AS contracts"
                       " FROM sel GROUP BY year ORDER BY year", params).df()


def concentration(con, f: Filters) -> pd.DataFrame:
    """Market concentration among vendors: HHI (0-10,000 on % shares), top-1/top-5 shares."""
    sel, params = _selected(con, f, "vendor", years=False)
    return con.execute(
        f"""{sel}, v AS (SELECT vendor_key, sum(value) AS amount FROM sel
                        WHERE value IS NOT NULL GROUP BY vendor_key),
           s AS (SELECT amount / nullif(sum(amount) OVER (), 0) AS share,
                        row_number() OVER (ORDER BY amount DESC) AS rank FROM v)
           SELECT count(*) AS vendors, sum(power(100 * share, 2)) AS hhi,
                  sum(share) FILTER (WHERE rank = 1) AS top1_share,
                  sum(share) FILTER (WHERE rank <= 5) AS top5_share
           FROM s""", params).df()


def flag_rates(con, f: Filters) -> pd.DataFrame:
    """Per red flag (flags.csv order), over the selection (its own flag filter aside): the
    contracts selected, those where the flag is knowable (raised or clear), those raised and
    their rate among the knowable; the same for the money summed (the selection's measure and
    currency) over the `valued` knowable contracts that have a sum (cancelled contracts are
    counted, never summed). A contract where a flag is unknown is in neither the numerator nor
    the denominator (docs/flags.md)."""
    g = f.with_(flag=None)
    where, params = _where(g)
    usd, amt, _ = MEASURE_COLUMNS[g.measure]
    value = usd if g.usd else amt
    relation, relation_params = _relation(con, g, "flag")
    if relation in [cube for cube, *_ in CUBE_FOR["flag"]]:  # per flag, summed already
        found = con.execute(
            f"""SELECT flag, sum(knowable) AS knowable, sum(raised) AS raised,
                       sum(valued_{value}) AS valued, sum(known_{value}) AS amount_knowable,
                       sum(raised_{value}) AS amount_raised
                FROM {relation} WHERE {where} GROUP BY flag""", params).df()
    else:
        found = con.execute(
            f"""WITH sel AS (SELECT flags, flags_known, {value} AS value FROM {relation}
                             WHERE {where}),
                    k AS (SELECT u.flag, list_contains(sel.flags, u.flag) AS raised, sel.value
                          FROM sel, unnest(sel.flags_known) AS u(flag))
               SELECT flag, count(*) AS knowable, count(*) FILTER (WHERE raised) AS raised,
                      count(value) AS valued, sum(value) AS amount_knowable,
                      sum(value) FILTER (WHERE raised) AS amount_raised
               FROM k GROUP BY flag""", [*relation_params, *params]).df()
    selected = count_contracts(con, g)
    by_flag = {r.flag: r for r in found.itertuples()}
    out = []
    for name, flag in flags.definitions().items():
        r = by_flag.get(name)
        knowable, raised, valued = (int(r.knowable), int(r.raised), int(r.valued)) if r \
            else (0, 0, 0)
        known_amount = r.amount_knowable if r is not None and pd.notna(r.amount_knowable) else None
        raised_amount = (r.amount_raised if r is not None and pd.notna(r.amount_raised)
                         else (0.0 if known_amount is not None else None))
        out.append({"flag": name, "name_en": flag.name_en, "name_ru": flag.name_ru,
                    "contracts": selected, "knowable": knowable, "raised": raised,
                    "rate": raised / knowable if knowable else None, "valued": valued,
                    "amount_knowable": known_amount, "amount_raised": raised_amount,
                    "amount_rate": raised_amount / known_amount
                    if known_amount else None})
    return pd.DataFrame(out)


# -- the contracts behind a selection ---------------------------------------------------------

# grid column -> SQL expression; the only identifiers a request may choose
CONTRACT_COLUMNS = {
    "contract_id": "contract_id", "signed_on": "signed_on", "year": "year",
    "vendor_name": "vendor_name", "buyer_name": "buyer_name", "title": "title",
    "amount": "amount", "currency": "currency", "amount_usd": "amount_usd",
    "country": "country", "source": "source", "status": "status",
    "cancelled": "cancelled", "paid": "paid", "paid_usd": "paid_usd",
    "date_basis": "date_basis",
}
# Conditions on those columns, as (column, op, value): text ops match case-insensitively,
# number ops compare; "between" takes (low, high). The dashboard translates AG Grid's filter
# model into these (dashboard/grid.py); nothing here knows a widget's vocabulary.
TEXT_OPS = {"contains": ("ILIKE", "%{}%"), "not_contains": ("NOT ILIKE", "%{}%"),
            "is": ("ILIKE", "{}"), "is_not": ("NOT ILIKE", "{}"),
            "starts_with": ("ILIKE", "{}%"), "ends_with": ("ILIKE", "%{}")}
NUMBER_OPS = ("=", "<>", ">", ">=", "<", "<=", "between")
Condition = tuple[str, str, Any]
Sort = tuple[str, str]  # (column, "asc" | "desc")

def selection(f: Filters, vendor: str | None = None, year: int | None = None,
              top_vendors: list[str] | tuple[str, ...] = (), undated: bool = False) -> Filters:
    """The filters of the contracts behind one bar: a vendor in a year (or `undated`), or
    OTHERS (every vendor but `top_vendors`, the ones the chart shows by name)."""
    changes: dict[str, Any] = {}
    if vendor == OTHERS:
        changes["exclude_vendors"] = tuple(sorted(set(top_vendors) | set(f.exclude_vendors)))
    elif vendor:
        changes["vendor"] = vendor
    if year is not None:
        changes |= {"year_from": year, "year_to": year}
    elif undated:
        changes |= {"undated": True, "year_from": None, "year_to": None}
    return f.with_(**changes)


def where(f: Filters, conditions: Sequence[Condition] = ()) -> tuple[str, list]:
    """The SQL condition over contract_facts (and its bound parameters) selecting the
    contracts of `f` that meet every one of `conditions`; one that names no column of
    CONTRACT_COLUMNS, no known op, or a value of the wrong kind is ignored, not trusted."""
    sql, params = _where(f)
    conds = [sql]
    for column, op, value in conditions:
        expr = CONTRACT_COLUMNS.get(column)
        if expr is None:
            continue
        if op in TEXT_OPS and isinstance(value, (str, int, float)):
            sql_op, pattern = TEXT_OPS[op]
            escaped = str(value)[:MAX_TEXT].replace("\\", "\\\\").replace("%", "\\%") \
                .replace("_", "\\_")
            conds.append(f"CAST({expr} AS VARCHAR) {sql_op} ? ESCAPE '\\'")
            params.append(pattern.format(escaped))
        elif op == "between" and isinstance(value, (list, tuple)) and len(value) == 2 \
                and all(map(_is_number, value)):
            conds.append(f"{expr} BETWEEN ? AND ?")
            params += [float(value[0]), float(value[1])]
        elif op in NUMBER_OPS and op != "between" and _is_number(value):
            conds.append(f"{expr} {op} ?")
            params.append(float(value))
    return " AND ".join(conds), params


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# newest first; contract_facts is stored in this order (but for a tail a row-by-row publish
# appended: default_order_sql), so the grid's default pages need no sort


def _tail_start(con) -> int | None:
    """The row id where contract_facts' tail begins (the rows a row-by-row publish appended
    after the sorted body: facts_update._facts), None when it has none. The tail's rows are
    the table's last ones, as many as contract_facts_tail names."""
    def start():
        if "contract_facts_tail" not in _tables(con):
            return None
        n = con.execute("SELECT count(*) FROM contract_facts_tail").fetchone()[0]
        return con.execute("SELECT min(rowid) FROM (SELECT rowid FROM contract_facts"
                           " ORDER BY rowid DESC LIMIT ?)", [n]).fetchone()[0] if n else None
    return per_snapshot.kept(con, "contract_facts tail", start)


def default_order_sql(con, columns: str, where_sql: str, n: int) -> tuple[str, int]:
    """(SQL, how many times it reads `where_sql`'s parameters): at least the first `n` rows
    of contract_facts behind `where_sql` in DEFAULT_ORDER, as `columns` (which must hold the
    order's columns), unordered; order them and cut the page from them. Without a tail, the
    first `n` in the stored order; with one, the sorted body's first `n` in its stored order
    and the tail's first `n` sorted (a top-N over the tail alone)."""
    start = _tail_start(con)
    if start is None:
        return f"SELECT {columns} FROM contract_facts WHERE {where_sql} LIMIT {int(n)}", 1
    return f"""(SELECT {columns} FROM contract_facts WHERE ({where_sql}) AND rowid < {start}
                LIMIT {int(n)})
               UNION ALL
               (SELECT {columns} FROM contract_facts WHERE ({where_sql}) AND rowid >= {start}
                ORDER BY {DEFAULT_ORDER} LIMIT {int(n)})""", 2


def _order(sort: Sequence[Sort] | None, stored_in_order: bool,
           tiebreak: str = "contract_id") -> str:
    """ORDER BY clause ('' where the table's own order is the default order)."""
    terms = []
    for column, direction in sort or ():
        expr = CONTRACT_COLUMNS.get(column)
        if expr:
            terms.append(f"{expr} {'DESC' if direction == 'desc' else 'ASC'} NULLS LAST")
    if not terms and stored_in_order:
        return ""
    return "ORDER BY " + ", ".join(terms + ([] if terms else [DEFAULT_ORDER]) + [tiebreak])


PAGE_COLUMNS = f"{', '.join(CONTRACT_COLUMNS)}, vendor_key, buyer_key, url, document_id"


def contracts(con, f: Filters, *, offset: int = 0, limit: int = 100,
              sort: Sequence[Sort] | None = None,
              conditions: Sequence[Condition] = ()) -> pd.DataFrame:
    """One page of the contracts behind the filters, sorted, meeting the `conditions`."""
    sql, params = where(f, conditions)
    facts = _facts(con)
    page = [max(0, min(int(limit), 10_000)), max(0, int(offset))]
    if facts != "contract_facts":
        return con.execute(f"SELECT {PAGE_COLUMNS} FROM {facts} WHERE {sql}"
                           f" {_order(sort, False)} LIMIT ? OFFSET ?", [*params, *page]).df()
    # Sort only the row ids (a snapshot never changes, so rowid is a stable tie-break), then
    # read the wide columns of the page's rows alone.
    order = _order(sort, True, "rowid")
    if order or _tail_start(con) is None:
        query = f"SELECT rowid FROM contract_facts WHERE {sql} {order} LIMIT ? OFFSET ?"
    else:  # the default order, a tail appended: each part's first offset + limit, merged
        rows, reads = default_order_sql(con, "rowid AS r, year, signed_on, contract_id", sql,
                                        page[0] + page[1])
        query = f"SELECT r FROM ({rows}) ORDER BY {DEFAULT_ORDER} LIMIT ? OFFSET ?"
        params = params * reads
    rowids = [r[0] for r in con.execute(query, [*params, *page]).fetchall()]
    return con.execute(
        f"""SELECT {PAGE_COLUMNS} FROM contract_facts
            WHERE rowid IN (SELECT unnest(?::BIGINT[]))
            ORDER BY list_position(?::BIGINT[], rowid)""", [rowids, rowids]).df()


def count_contracts(con, f: Filters, conditions: Sequence[Condition] = ()) -> int:
    if not conditions:  # a cube counts faster than the contracts themselves
        sel, params = _selected(con, f, "vendor", years=False)
        return int(con.execute(f"{sel} SELECT coalesce(sum(n), 0) FROM sel",
                               params).fetchone()[0])
    sql, params = where(f, conditions)
    return con.execute(f"SELECT count(*) FROM {_facts(con)} WHERE {sql}", params).fetchone()[0]


# The columns of a download, as an analyst quotes them: name -> SQL over the selected facts
# `f`, the contract row `c` and the curated citation `cit`.
EXPORT_COLUMNS = {
    "contract_id": "f.contract_id", "source": "f.source", "registry_number": "c.native_id",
    "title": "f.title", "buyer": "f.buyer_name", "buyer_id": "f.buyer_key",
    "vendor": "f.vendor_name", "vendor_id": "f.vendor_key", "country": "f.country",
    "signed_on": "f.signed_on", "dated_on": "f.dated_on", "date_basis": "f.date_basis",
    "year": "f.year", "published_on": "c.published_on",
    "amount": "f.amount", "currency": "f.currency", "amount_usd": "f.amount_usd",
    "fx_source": "c.fx_source", "fx_date": "c.fx_date",
    "amount_usd_constant": "c.amount_usd_constant", "paid": "f.paid", "paid_usd": "f.paid_usd",
    "status": "f.status", "cancelled": "f.cancelled",
    "categories": "array_to_string(f.categories, ';')",
    # red flags raised, and those decided (raised or clear): a flag in neither is unknown
    "flags": "array_to_string(f.flags, ';')", "flags_known": "array_to_string(f.flags_known, ';')",
    "source_url": "f.url",
    "citation": "cit.citation", "document_id": "f.document_id",
}


def iter_contracts(con, f: Filters, sort: Sequence[Sort] | None = None,
                   conditions: Sequence[Condition] = (), batch: int = 10_000):
    """(column names, batches of rows) of every contract behind the filters, for downloads:
    EXPORT_COLUMNS, in the grid's order. A lead from reporting (source curated) carries its
    citation (the evidence of its `curated` tags)."""
    sql, params = where(f, conditions)
    facts = _facts(con)
    order = _order(sort, False).replace("ORDER BY", "", 1)
    columns = ", ".join(f"{sql} AS {name}" for name, sql in EXPORT_COLUMNS.items())
    cur = con.execute(
        f"""WITH f AS (SELECT *, row_number() OVER (ORDER BY {order}) AS ordinal
                       FROM {facts} WHERE {sql}),
                 cit AS (SELECT contract_id, string_agg(DISTINCT evidence, ' | ') AS citation
                         FROM tags WHERE rule = 'curated' GROUP BY contract_id)
            SELECT {columns} FROM f JOIN contracts c USING (contract_id)
            LEFT JOIN cit USING (contract_id) ORDER BY f.ordinal""", params)
    names = [d[0] for d in cur.description]

    def rows():
        while chunk := cur.fetchmany(batch):
            yield chunk

    return names, rows()


# -- choices and profiles ---------------------------------------------------------------------

def choices(con) -> dict[str, list]:
    """Values offered by the filter controls (over all contracts, not the selection)."""
    return per_snapshot.kept(con, "choices", lambda: _choices(con))


def _choices(con) -> dict[str, list]:
    everything = Filters(surveillance_only=False)
    rows, _ = _relation(con, everything, "vendor")  # no filter: no parameters

    def distinct(column: str, relation: str = rows) -> list:
        return [r[0] for r in con.execute(
            f"SELECT DISTINCT {column} FROM {relation} WHERE {column} IS NOT NULL ORDER BY 1"
        ).fetchall()]

    years, no_country = con.execute(
        f"SELECT [min(year), max(year)], bool_or(country IS NULL) FROM {rows}").fetchone()
    return {"country": distinct("country") + ([NO_COUNTRY] if no_country else []), "source": distinct("source"),
            "category": distinct("category", _relation(con, everything, "category")[0]),
            "currency": distinct("currency"), "years": list(years or [None, None])}


def search_parties(con, role: str, text: str | None, limit: int = 30,
                   include: str | list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
    """Vendors or buyers (key, name, contracts, names) whose name, key or any name merged
    into it contains `text`; the `include`d keys (one or several: the selected ones) first,
    beyond the `limit`."""
    if role not in ("vendor", "buyer"):
        raise ValueError(f"role is vendor or buyer, not {role!r}")
    included = [include] if isinstance(include, str) else list(include or [])
    if text:
        return _search_parties(con, role, text, limit, included)
    # no text: the busiest, the same for every view of a snapshot (kept), with the chosen
    # ones first, looked up by key where they are not among them
    busiest = per_snapshot.kept(con, f"busiest {role} {limit + len(included)}",
                                lambda: _search_parties(con, role, None,
                                                        limit + len(included), []))
    if not included:
        return busiest.head(limit)
    chosen = busiest["key"].isin(included)
    missing = sorted(set(included) - set(busiest["key"]))
    first = pd.concat([busiest[chosen], _parties_by_key(con, role, missing)]) if missing \
        else busiest[chosen]
    first = first.sort_values(["contracts", "key"], ascending=[False, True])
    return pd.concat([first, busiest[~chosen]]).head(
        limit + max(len(included) - 1, 0)).reset_index(drop=True)


def _parties(con) -> str:
    tables = _tables(con)
    return "parties" if "parties" in tables else f"({parties_sql(_facts(con, tables))})"


def _parties_by_key(con, role: str, keys: list[str]) -> pd.DataFrame:
    return con.execute(
        f"""SELECT key, name, contracts, names FROM {_parties(con)}
            WHERE role = ? AND list_contains(?::VARCHAR[], key)""", [role, keys]).df()


def _search_parties(con, role: str, text: str | None, limit: int,
                    included: list[str]) -> pd.DataFrame:
    pattern = "%" + (text or "")[:MAX_TEXT].replace("\\", "\\\\").replace("%", "\\%") \
        .replace("_", "\\_") + "%"
    return con.execute(
        f"""SELECT key, name, contracts, names FROM {_parties(con)}
            WHERE role = ? AND (name ILIKE ? ESCAPE '\\' OR key ILIKE ? ESCAPE '\\'
                                OR names ILIKE ? ESCAPE '\\' OR list_contains(?::VARCHAR[], key))
            ORDER BY list_contains(?::VARCHAR[], key) DESC, contracts DESC, key LIMIT ?""",
        [role, pattern, pattern, pattern, included, included,
         limit + max(len(included) - 1, 0)]).df()


def party_profile(con, role: str, key: str) -> dict:
    """Who a vendor or buyer key is: display name, merged names with the reason, identifiers."""
    entity = con.execute("SELECT entity_id, name, aliases, identifiers, reason FROM entities"
                         " WHERE entity_id = ?", [key]).fetchone()
    orgs = con.execute(
        """SELECT org_id, name, short_name, scheme, identifier, kpp, country FROM organizations
           WHERE entity_id = ? OR org_id = ? ORDER BY org_id""", [key, key]).df()
    if entity:
        names = sorted(set(entity[2] or []) | set(orgs["name"].dropna()))
        return {"key": key, "name": entity[1], "names": names,
                "identifiers": sorted(set(entity[3] or []) | set(orgs["org_id"])),
                "reason": entity[4], "organizations": orgs, "resolved": True}
    name = orgs["name"].dropna().iloc[0] if orgs["name"].notna().any() else key
    return {"key": key, "name": name, "names": sorted(set(orgs["name"].dropna())),
            "identifiers": list(orgs["org_id"]), "reason": None, "organizations": orgs,
            "resolved": False}


def bodies_of(con, key: str, level: str) -> pd.DataFrame:
    """The bodies (key, name) a buyer counts at `level`: itself and its sub-units rolled into
    it (just itself at the office level)."""
    if level == levels.DEFAULT:
        return con.execute("SELECT entity_id AS key, name FROM entities WHERE entity_id = ?",
                           [key]).df()
    return con.execute(
        f"""SELECT e.entity_id AS key, e.name FROM entities e
            WHERE e.entity_id IN ({levels.members_of_sql(level)})
            ORDER BY e.entity_id <> ?, e.name""", [key, key]).df()


def document_media_type(con, document_id: str) -> tuple[bool, str | None]:
    row = con.execute("SELECT media_type FROM documents WHERE document_id = ?",
                      [document_id]).fetchone()
    return (row is not None, row[0] if row else None)



def contract_exists(con, contract_id: str) -> bool:
    return con.execute("SELECT count(*) FROM contracts WHERE contract_id = ?",
                       [contract_id]).fetchone()[0] > 0


def unknown_values(con, f: Filters) -> dict[str, tuple[str, list]]:
    """The filter values no contract of the warehouse has (a mistyped or stale link), each with
    the values it does have: field -> (value, known values)."""
    if not any((f.country, f.source, f.category, f.buyer, f.vendor, f.vendors)) and f.usd:
        return {}
    known = choices(con)
    out: dict[str, tuple[str, list]] = {}
    for name in ("country", "source", "category"):
        value = getattr(f, name)
        if value is not None and value not in known[name]:
            out[name] = (value, known[name])
    if not f.usd and f.currency not in known["currency"]:
        out["currency"] = (f.currency, known["currency"])
    for role in ("buyer", "vendor"):
        key = getattr(f, role)
        if key is not None and not party_exists(con, role, key, f.buyer_level):
            out[role] = (key, [])
    missing = [k for k in f.vendors if not party_exists(con, "vendor", k)]
    if missing:
        out["vendor"] = (missing[0], [])
    return out


def party_exists(con, role: str, key: str, level: str = levels.DEFAULT) -> bool:
    """Whether some contract has this vendor (or buyer) key; at a buyer `level` above the
    office, also a body that some contract's buyer rolls up to."""
    if search_parties(con, role, None, limit=1, include=key)["key"].tolist() == [key]:
        return True
    return role == "buyer" and level != levels.DEFAULT and con.execute(
        f"SELECT count(*) FROM ({levels.members_of_sql(level)})", [key]).fetchone()[0] > 0
