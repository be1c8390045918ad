"""What spending is, as SQL: one row per contract (`contract_facts`), the measures every
spending view sums, the cubes that pre-aggregate them and every party once. The snapshot
publisher (`warehouse/snapshot.py`) is handed these tables (`DERIVED`), and the spending views
(`spending.py`) run the same SQL over the tidy tables when no snapshot provides them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from survtrack.analysis import search
from survtrack.warehouse import snapshot
from survtrack.warehouse.schema import CANCELLED_SQL


def among_rows(table: str, only: str) -> str:
    """SQL: WHERE the rows of `table` meeting `only` (none: every row). Their row ids are
    found from the columns `only` reads, then the rows read by row id: a filter by a join (an
    IN subquery) on the table itself read every column of every row."""
    return f" WHERE rowid IN (SELECT rowid FROM {table} WHERE {only})" if only else ""


# One row per contract with everything the spending views filter and group by. The vendor
# is its resolved entity where entity resolution has run, else the organization as published.
# `cancelled`: a cancelled, annulled or never awarded contract is listed, never summed.
# `paid`: the sum of the contract's published payments in its own currency (NULL where
# there are none, or where one is in another currency); `paid_usd` each payment converted at
# its own date's rate (NULL unless every one is converted).
# `flags`: the red flags raised for the contract; `flags_known`: those decided for it, raised
# or clear (a flag in neither is unknown for it: rates are over the knowable; docs/flags.md).
def facts_sql(only: str = "") -> str:
    """The facts of every contract, or with `only` (a SQL condition on `contract_id`, e.g.
    "contract_id IN (SELECT …)") of those alone: applied to the contracts and to each of the
    per-contract aggregates, so that a few contracts' facts read only their own rows."""
    where = {t: among_rows(t, only) for t in ("contracts", "tags", "payments", "flags")}
    contracts = f"(SELECT * FROM contracts{where['contracts']})" if only else "contracts"
    return f"""
SELECT c.contract_id, c.source, c.country, c.year, c.signed_on, c.dated_on, c.date_basis,
       c.title, c.amount, c.currency, c.amount_usd, c.status, c.url, c.document_id,
       c.vendor_id, c.buyer_id,
       coalesce({CANCELLED_SQL.format(status="c.status")}, false) AS cancelled,
       coalesce(p.payments, 0) AS payments,
       CASE WHEN p.currencies = [c.currency] THEN p.paid END AS paid,
       CASE WHEN p.converted = p.payments THEN p.paid_usd END AS paid_usd,
       coalesce(vo.entity_id, c.vendor_id, '(unpublished)') AS vendor_key,
       coalesce(ve.name, vo.name, c.vendor_id, '(vendor not published)') AS vendor_name,
       coalesce(bo.entity_id, c.buyer_id, '(unpublished)') AS buyer_key,
       coalesce(be.name, bo.name, c.buyer_id, '(buyer not published)') AS buyer_name,
       t.categories,
       t.categories IS NOT NULL AS tagged,
       coalesce(fl.flags, []::VARCHAR[]) AS flags,
       coalesce(fl.flags_known, []::VARCHAR[]) AS flags_known
FROM {contracts} c
LEFT JOIN organizations vo ON vo.org_id = c.vendor_id
LEFT JOIN entities ve ON ve.entity_id = vo.entity_id
LEFT JOIN organizations bo ON bo.org_id = c.buyer_id
LEFT JOIN entities be ON be.entity_id = bo.entity_id
LEFT JOIN (SELECT contract_id, list(DISTINCT category ORDER BY category) AS categories
           FROM tags{where['tags']} GROUP BY contract_id) t ON t.contract_id = c.contract_id
LEFT JOIN (SELECT contract_id, count(*) AS payments, sum(amount) AS paid,
                  list(DISTINCT currency ORDER BY currency) AS currencies,
                  sum(amount_usd) AS paid_usd, count(amount_usd) AS converted
           FROM payments{where['payments']} GROUP BY contract_id) p ON p.contract_id = c.contract_id
LEFT JOIN (SELECT contract_id, list(flag ORDER BY flag) FILTER (WHERE raised) AS flags,
                  list(flag ORDER BY flag) AS flags_known
           FROM flags{where['flags']} GROUP BY contract_id) fl ON fl.contract_id = c.contract_id
"""


FACTS_SQL = facts_sql()


# What a US-dollar total leaves out, in the contracts' own money (spending.not_converted):
# per measure (value, paid) the money with no dollar figure, its contracts and, of them, those
# with no date to take a rate for. Kept as DECIMAL, so a cube's sum of sums is the exact sum.
LEFT_OUT = {
    "left_amt": "CASE WHEN NOT cancelled AND amount_usd IS NULL THEN amount END",
    "left_n": "(NOT cancelled AND amount IS NOT NULL AND amount_usd IS NULL)::INTEGER",
    "left_undated": "(NOT cancelled AND amount IS NOT NULL AND amount_usd IS NULL"
                    " AND dated_on IS NULL)::INTEGER",
    "left_pamt": "CASE WHEN NOT cancelled AND paid_usd IS NULL THEN paid END",
    "left_pn": "(NOT cancelled AND paid IS NOT NULL AND paid_usd IS NULL)::INTEGER",
    "left_pundated": "(NOT cancelled AND paid IS NOT NULL AND paid_usd IS NULL"
                     " AND dated_on IS NULL)::INTEGER",
}
LEFT_OUT_ROWS = ",\n       ".join(f"{sql} AS {name}" for name, sql in LEFT_OUT.items())
LEFT_OUT_SUMS = ",\n       ".join(f"sum({sql}) AS {name}" for name, sql in LEFT_OUT.items())


# Measures every spending view sums; on contract_facts they are per contract, in the cubes below
# per group, so the views run the same SQL on either. A cancelled contract counts among the
# contracts (`n`, it is listed) and in `n_cancelled`, never in a sum. Two measures of money:
# the contract value (`usd`, `amt`) and what was paid where payments are published
# (`pusd`, `pamt`; `n_paid` contracts with payments).
MEASURES = f"""1 AS n,
       CASE WHEN NOT cancelled THEN amount_usd END AS usd,
       CASE WHEN NOT cancelled THEN amount::DOUBLE END AS amt,
       (NOT cancelled AND amount IS NOT NULL AND amount_usd IS NULL)::INTEGER AS n_unconverted,
       (NOT cancelled AND amount IS NULL)::INTEGER AS n_no_amount,
       cancelled::INTEGER AS n_cancelled,
       CASE WHEN NOT cancelled THEN paid_usd END AS pusd,
       CASE WHEN NOT cancelled THEN paid::DOUBLE END AS pamt,
       (NOT cancelled AND payments > 0)::INTEGER AS n_paid,
       (NOT cancelled AND payments > 0 AND paid_usd IS NULL)::INTEGER AS n_paid_unconverted,
       {LEFT_OUT_ROWS}"""
SUMS = f"""count(*) AS n,
       sum(amount_usd) FILTER (WHERE NOT cancelled) AS usd,
       sum(amount) FILTER (WHERE NOT cancelled)::DOUBLE AS amt,
       count(*) FILTER (WHERE NOT cancelled AND amount IS NOT NULL AND amount_usd IS NULL)
           AS n_unconverted,
       count(*) FILTER (WHERE NOT cancelled AND amount IS NULL) AS n_no_amount,
       count(*) FILTER (WHERE cancelled) AS n_cancelled,
       sum(paid_usd) FILTER (WHERE NOT cancelled) AS pusd,
       sum(paid) FILTER (WHERE NOT cancelled)::DOUBLE AS pamt,
       count(*) FILTER (WHERE NOT cancelled AND payments > 0) AS n_paid,
       count(*) FILTER (WHERE NOT cancelled AND payments > 0 AND paid_usd IS NULL)
           AS n_paid_unconverted,
       {LEFT_OUT_SUMS}"""
DIMENSIONS = "year, country, source, currency, tagged"
# spending_by_flag's money: per measure, contracts with a sum, their sum, that of those raising
FLAG_SUMS = ",\n               ".join(
    f"count({m}) AS valued_{m}, sum({m}) AS known_{m},"
    f" sum({m}) FILTER (WHERE list_contains(flags, flag)) AS raised_{m}"
    for m in ("usd", "amt", "pusd", "pamt"))


@dataclass(frozen=True)
class Cube:
    """A pre-aggregated table: SELECT `select` FROM `rows(table)` GROUP BY `group`, where
    `table` names the derived table it sums (contract_facts, facts_by_category, a cube).
    Its rows are the group `group`'s sums alone, so a publish that changes a few contracts
    re-sums only their groups, or adds the new contracts' sums (COMBINED; facts_update.py):
    `rows` over those contracts' facts names them."""
    select: str
    table: str
    rows: Callable[[str], str]
    group: str
    keyed: str = ""  # the group as the cube's own columns, where they differ from `group`
    # of a cube whose `rows` unnest a list, the group's columns that are `table`'s own: a
    # publish summing a few groups again reads only the rows of their values of these
    scanned: str = ""

    def sql(self, table: str | None = None) -> str:
        return f"""
        SELECT {self.select}
        FROM {self.rows(table or self.table)} GROUP BY {self.group}"""


def _unnest(column: str, alias: str, extra: str = "") -> Callable[[str], str]:
    """Rows: a contract once per element of its list `column` (as `alias`)."""
    return lambda t: f"(SELECT unnest({column}) AS {alias}, *{extra} FROM {t})"


def as_is(t: str) -> str:
    return t


# Pre-aggregated spending, so the front page never scans every contract. Each cube answers the
# filters on its dimensions; the views fall back to contract_facts for any other filter.
GROUPED = {
    "spending_by_vendor": Cube(
        f"vendor_key, any_value(vendor_name) AS vendor_name, {DIMENSIONS}, {SUMS}",
        "contract_facts", as_is, f"vendor_key, {DIMENSIONS}"),
    "spending_by_buyer": Cube(
        f"buyer_key, any_value(buyer_name) AS buyer_name, {DIMENSIONS}, {SUMS}",
        "contract_facts", as_is, f"buyer_key, {DIMENSIONS}"),
    "spending_by_category": Cube(f"category, {DIMENSIONS}, {SUMS}", "contract_facts",
                                 _unnest("categories", "category"), f"category, {DIMENSIONS}",
                                 scanned=DIMENSIONS),
    # per red flag, the contracts where it is knowable and raised and the money of each
    # measure over them (spending.flag_rates without a party or category chosen)
    "spending_by_flag": Cube(
        f"""flag, {DIMENSIONS}, count(*) AS knowable,
               count(*) FILTER (WHERE list_contains(flags, flag)) AS raised,
               {FLAG_SUMS}""", "contract_facts",
        lambda t: f"(SELECT unnest(flags_known) AS flag, * FROM (SELECT *, {MEASURES} FROM {t}))",
        f"flag, {DIMENSIONS}", scanned=DIMENSIONS),
}
# narrow copies clustered by vendor, buyer, category and raised flag: a view filtered by one
# of them reads only the row groups holding it instead of every contract. The category and flag
# copies hold a contract once per category (raised flag) it has. Each row names its contract
# (last column), so that a publish can replace a few contracts' rows (facts_update.py).
CLUSTERED = {name: (key, lead, rows) for name, (key, lead, rows) in {
    "vendor": ("vendor_key", "", as_is),
    "buyer": ("buyer_key", "", as_is),
    "category": ("category", "category, ", _unnest("categories", "category")),
    "flag": ("flag", "flag, ", _unnest("flags", "flag")),
}.items()}


def cluster_of(value: str) -> str:
    """The number a clustered copy is sorted by first: its key's (`value`, SQL) MD5, lower 64
    bits. DuckDB keeps only the first 8 bytes of a text column's min and max per row group,
    and keys share longer prefixes ('RU-INN:77…', 'ent:…'), so sorted by the key alone a
    filter on it could skip no row group; on this number it reads the key's row groups only.
    MD5, not DuckDB's hash(): the same number for the same key in any DuckDB version."""
    return f"md5_number_lower({value})"


def clustered_sql(name: str, table: str = "contract_facts") -> str:
    """facts_by_<name>'s rows of the contracts in `table` (unordered; sorted by `cluster_order`)."""
    key, lead, rows = CLUSTERED[name]
    return f"""
        SELECT {cluster_of(key)} AS cluster, {lead}vendor_key, vendor_name, buyer_key,
               buyer_name, categories, flags, flags_known, {DIMENSIONS}, {MEASURES},
               contract_id
        FROM {rows(table)}"""


def cluster_order(name: str) -> str:
    """The order of facts_by_<name>: its key's cluster number, then the key."""
    return f"cluster, {CLUSTERED[name][0]}"


# The same sums without the year: a view that does not group or filter by year (the totals,
# the top vendors and buyers, their concentration, what is left out) reads a few rows per
# party instead of one per party and year. Summed from the cubes above (or, per category,
# from facts_by_category), with the year cubes' column types; `first_year` and `last_year`
# bound the years summed. In the per-category ones a contract counts once in each of its
# categories, so they answer a view filtered by one category only (`categories` is that
# category alone, so the views' category condition reads them as it reads the contracts).
COUNT_SUMS = ("n", "n_unconverted", "n_no_amount", "n_cancelled", "n_paid", "n_paid_unconverted")
RESUMS = ", ".join([f"sum({c})::BIGINT AS {c}" for c in COUNT_SUMS]
                   + [f"sum({c}) AS {c}" for c in ("usd", "amt", "pusd", "pamt", *LEFT_OUT)])
YEARLESS = "country, source, currency, tagged"
for _party in ("vendor", "buyer"):
    GROUPED[f"spending_by_{_party}_total"] = Cube(
        f"""{_party}_key, any_value({_party}_name) AS {_party}_name, {YEARLESS},
               min(year) AS first_year, max(year) AS last_year, {RESUMS}""",
        f"spending_by_{_party}", as_is, f"{_party}_key, {YEARLESS}")
    GROUPED[f"spending_by_{_party}_category_total"] = Cube(
        f"""category, [category] AS categories, {_party}_key,
               any_value({_party}_name) AS {_party}_name, {YEARLESS},
               min(year) AS first_year, max(year) AS last_year, {RESUMS}""",
        "facts_by_category", as_is, f"category, {_party}_key, {YEARLESS}")

# A category filter's views that group or filter by year, from facts_by_category (a contract
# once per category it has; `categories` is that category alone, so the views' category
# condition reads them as it reads the contracts), clustered by category: a category reads
# its row groups of a few rows per party and year instead of each of its contracts.
for _party in ("vendor", "buyer"):
    GROUPED[f"spending_by_{_party}_category"] = Cube(
        f"""category, [category] AS categories, {_party}_key,
               any_value({_party}_name) AS {_party}_name, {DIMENSIONS}, {RESUMS}""",
        "facts_by_category", as_is, f"category, {_party}_key, {DIMENSIONS}")
# by_category within one category: per category filtered by (`categories`) and each category
# its contracts have (`category`, itself among them)
GROUPED["spending_by_category_within"] = Cube(
    f"[within] AS categories, category, {DIMENSIONS}, {RESUMS}", "facts_by_category",
    lambda t: f"""(SELECT category AS within, unnest(categories) AS category,
                          * EXCLUDE (category, categories) FROM {t})""",
    f"within, category, {DIMENSIONS}", keyed=f"categories[1], category, {DIMENSIONS}",
    scanned=DIMENSIONS)
# spending_by_flag per category (flag_rates with a category filter)
GROUPED["spending_by_flag_category"] = Cube(
    f"""category, [category] AS categories, flag, {DIMENSIONS}, count(*) AS knowable,
           count(*) FILTER (WHERE list_contains(flags, flag)) AS raised, {FLAG_SUMS}""",
    "facts_by_category", _unnest("flags_known", "flag"), f"category, flag, {DIMENSIONS}",
    scanned=f"category, {DIMENSIONS}")

# How a cube's columns combine the sums of two disjoint sets of a group's contracts (a publish
# adds a group's new contracts to its row: facts_update._merge): counts and sums add up (a NULL
# sum, of nothing, is none), a group column is the group's, and these columns are neither.
COMBINED = {"first_year": "least", "last_year": "greatest",
            "vendor_name": "coalesce", "buyer_name": "coalesce", "categories": "coalesce"}

# the cubes, then the clustered copies, in the order they are made (a cube of cubes after them)
_FIRST = ("spending_by_vendor", "spending_by_buyer", "spending_by_category", "spending_by_flag")
CUBES = {**{name: GROUPED[name].sql() for name in _FIRST},
         **{f"facts_by_{name}": f"{clustered_sql(name)} ORDER BY {cluster_order(name)}"
            for name in CLUSTERED},
         **{name: cube.sql() for name, cube in GROUPED.items() if name not in _FIRST}}


def parties_sql(facts: str, keys: str = "") -> str:
    """Every vendor and buyer once with its contract count and every name merged into it;
    with `keys` (a SQL relation of one column, `key`) those parties alone. A party's names are
    those of the organizations it is (org_id) or that resolve to it (entity_id): one equi-join
    with both keys (a join ON either of them was a nested loop over parties x organizations:
    4 CPU s at 1 M contracts, 0.3-0.5 this way)."""
    only = {role: f" WHERE {role}_key IN (SELECT key FROM {keys})" if keys else ""
            for role in ("vendor", "buyer")}
    return f"""
        WITH p AS (SELECT 'vendor' AS role, vendor_key AS key, any_value(vendor_name) AS name,
                          count(*) AS contracts FROM {facts}{only['vendor']} GROUP BY vendor_key
                   UNION ALL
                   SELECT 'buyer', buyer_key, any_value(buyer_name), count(*)
                   FROM {facts}{only['buyer']} GROUP BY buyer_key)
        SELECT p.*, coalesce(string_agg(DISTINCT o.name, ' | ' ORDER BY o.name), '') AS names
        FROM p LEFT JOIN (SELECT entity_id AS key, name FROM organizations
                          WHERE entity_id IS NOT NULL
                          UNION SELECT org_id, name FROM organizations) o ON o.key = p.key
        GROUP BY ALL"""


# every vendor and buyer once, for the filter controls' search
CUBES["parties"] = parties_sql("contract_facts")


# The shape of CUBES, recorded in each snapshot (table cubes_version): a snapshot published
# by an older survtrack has older cubes, which the views then leave aside (they read the
# contracts instead) until a new snapshot is published. Raise it when a cube's columns change.
CUBES_VERSION = 4  # 3: facts_by_* name their contract; 4: and are sorted by `cluster`


# newest first: contract_facts is stored in this order, so the grid pages it without sorting,
# except for a tail: a row-by-row publish (facts_update.py) appends the changed contracts'
# facts after the sorted body instead of rewriting the table, `contract_facts_tail` names them
# (empty after a full publish) and the grid merges them in (spending.default_order_sql)
DEFAULT_ORDER = "year DESC NULLS LAST, signed_on DESC NULLS LAST, contract_id"
TAIL_SQL = "SELECT contract_id FROM contract_facts WHERE false"
# the copies a row-by-row publish appends to unsorted (facts_update.py), and their order
APPENDED = {**{f"facts_by_{name}": cluster_order(name) for name in CLUSTERED},
            "search_postings": "term, doc"}
# the rows appended to each of them since it was last written in its order (none after a full
# publish): facts_update rewrites it in order once they pass CLUSTERED_SHARE of its rows
APPENDED_SQL = ("SELECT unnest([" + ", ".join(f"'{name}'" for name in APPENDED) + "])"
                " AS table_name, 0::BIGINT AS rows")
# the snapshot's derived tables, in the order they are made (the cubes read contract_facts)
DERIVED = {"contract_facts": f"{FACTS_SQL} ORDER BY {DEFAULT_ORDER}",
           "contract_facts_tail": TAIL_SQL,
           "clustered_tail": APPENDED_SQL,
           **{name: sql if name.startswith("facts_by_") else f"{sql} ORDER BY 1"
              for name, sql in CUBES.items()},
           # the search box's index: every party and contract by every name it is known by
           **search.TABLES,
           "cubes_version": f"SELECT {CUBES_VERSION} AS version"}


# search._rows reads a search result's rows by their numbers, which are no row numbers since
# a row-by-row publish appends the changed documents' rows (kept in step by DuckDB)
INDEXES = {"search_index": "doc"}


def publish_snapshot(db_path: str | os.PathLike, con: duckdb.DuckDBPyConnection | None = None,
                     lock_wait: float | None = None) -> Path:
    """Publish the warehouse's snapshot with the spending tables (`DERIVED`); its path. When
    a current snapshot of the same code exists and little changed, it is updated row by row
    (`facts_update.refresh`) instead of recomputed."""
    from survtrack.analysis import facts_update  # it reads this module's SQL

    return snapshot.publish_snapshot(db_path, con, lock_wait, derived=DERIVED,
                                     update=facts_update.refresh, indexes=INDEXES)
