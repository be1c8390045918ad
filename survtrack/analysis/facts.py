"""What spending is, as SQL: one row per contract (`contract_facts`), the measures every
spending view sums, the cubes that pre-aggregate them and every party once. The snapshot
publisher (`warehouse/snapshot.py`) is handed these tables (`DERIVED`), and the spending views
(`spending.py`) run the same SQL over the tidy tables when no snapshot provides them.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from survtrack.analysis import search
from survtrack.warehouse import snapshot
from survtrack.warehouse.schema import CANCELLED_SQL

# One row per contract with everything the spending views filter and group by. The vendor
# is its resolved entity where entity resolution has run, else the organization as published.
# `cancelled`: a cancelled, annulled or never awarded contract is listed, never summed.
# `paid`: the sum of the contract's published payments in its own currency (NULL where
# there are none, or where one is in another currency); `paid_usd` each payment converted at
# its own date's rate (NULL unless every one is converted).
# `flags`: the red flags raised for the contract; `flags_known`: those decided for it, raised
# or clear (a flag in neither is unknown for it: rates are over the knowable; docs/flags.md).
FACTS_SQL = f"""
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
FROM contracts c
LEFT JOIN organizations vo ON vo.org_id = c.vendor_id
LEFT JOIN entities ve ON ve.entity_id = vo.entity_id
LEFT JOIN organizations bo ON bo.org_id = c.buyer_id
LEFT JOIN entities be ON be.entity_id = bo.entity_id
LEFT JOIN (SELECT contract_id, list(DISTINCT category ORDER BY category) AS categories
           FROM tags GROUP BY contract_id) t ON t.contract_id = c.contract_id
LEFT JOIN (SELECT contract_id, count(*) AS payments, sum(amount) AS paid,
                  list(DISTINCT currency ORDER BY currency) AS currencies,
                  sum(amount_usd) AS paid_usd, count(amount_usd) AS converted
           FROM payments GROUP BY contract_id) p ON p.contract_id = c.contract_id
LEFT JOIN (SELECT contract_id, list(flag ORDER BY flag) FILTER (WHERE raised) AS flags,
                  list(flag ORDER BY flag) AS flags_known
           FROM flags GROUP BY contract_id) fl ON fl.contract_id = c.contract_id
"""


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
    f" sum({m}) FILTER (WHERE list_contains(flags, u.flag)) AS raised_{m}"
    for m in ("usd", "amt", "pusd", "pamt"))
# Pre-aggregated spending, so the front page never scans every contract. Each cube answers the
# filters on its dimensions; the views fall back to contract_facts for any other filter.
CUBES = {
    "spending_by_vendor": f"""
        SELECT vendor_key, any_value(vendor_name) AS vendor_name, {DIMENSIONS}, {SUMS}
        FROM contract_facts GROUP BY vendor_key, {DIMENSIONS}""",
    "spending_by_buyer": f"""
        SELECT buyer_key, any_value(buyer_name) AS buyer_name, {DIMENSIONS}, {SUMS}
        FROM contract_facts GROUP BY buyer_key, {DIMENSIONS}""",
    "spending_by_category": f"""
        SELECT category, {DIMENSIONS}, {SUMS}
        FROM (SELECT unnest(categories) AS category, * FROM contract_facts)
        GROUP BY category, {DIMENSIONS}""",
    # per red flag, the contracts where it is knowable and raised and the money of each
    # measure over them (spending.flag_rates without a party or category chosen)
    "spending_by_flag": f"""
        SELECT u.flag, {DIMENSIONS}, count(*) AS knowable,
               count(*) FILTER (WHERE list_contains(flags, u.flag)) AS raised,
               {FLAG_SUMS}
        FROM (SELECT *, {MEASURES} FROM contract_facts), unnest(flags_known) AS u(flag)
        GROUP BY u.flag, {DIMENSIONS}""",
    # narrow copies clustered by vendor, buyer, category and raised flag: a view filtered by
    # one of them reads only the row groups holding it instead of every contract. The
    # category and flag copies hold a contract once per category (raised flag) it has.
    **{f"facts_by_{name}": f"""
        SELECT {lead}vendor_key, vendor_name, buyer_key, buyer_name, categories, flags,
               flags_known, {DIMENSIONS}, {MEASURES}
        FROM {rows} ORDER BY {key}"""
       for name, (key, lead, rows) in {
           "vendor": ("vendor_key", "", "contract_facts"),
           "buyer": ("buyer_key", "", "contract_facts"),
           "category": ("category", "category, ",
                        "(SELECT unnest(categories) AS category, * FROM contract_facts)"),
           "flag": ("flag", "flag, ", "(SELECT unnest(flags) AS flag, * FROM contract_facts)"),
       }.items()},
}


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
    CUBES[f"spending_by_{_party}_total"] = f"""
        SELECT {_party}_key, any_value({_party}_name) AS {_party}_name, {YEARLESS},
               min(year) AS first_year, max(year) AS last_year, {RESUMS}
        FROM spending_by_{_party} GROUP BY {_party}_key, {YEARLESS}"""
    CUBES[f"spending_by_{_party}_category_total"] = f"""
        SELECT category, [category] AS categories, {_party}_key,
               any_value({_party}_name) AS {_party}_name, {YEARLESS},
               min(year) AS first_year, max(year) AS last_year, {RESUMS}
        FROM facts_by_category GROUP BY category, {_party}_key, {YEARLESS}"""

# A category filter's views that group or filter by year, from facts_by_category (a contract
# once per category it has; `categories` is that category alone, so the views' category
# condition reads them as it reads the contracts), clustered by category: a category reads
# its row groups of a few rows per party and year instead of each of its contracts.
for _party in ("vendor", "buyer"):
    CUBES[f"spending_by_{_party}_category"] = f"""
        SELECT category, [category] AS categories, {_party}_key,
               any_value({_party}_name) AS {_party}_name, {DIMENSIONS}, {RESUMS}
        FROM facts_by_category GROUP BY category, {_party}_key, {DIMENSIONS}"""
# by_category within one category: per category filtered by (`categories`) and each category
# its contracts have (`category`, itself among them)
CUBES["spending_by_category_within"] = f"""
    SELECT [within] AS categories, category, {DIMENSIONS}, {RESUMS}
    FROM (SELECT category AS within, unnest(categories) AS category,
                 * EXCLUDE (category, categories) FROM facts_by_category)
    GROUP BY within, category, {DIMENSIONS}"""
# spending_by_flag per category (flag_rates with a category filter)
CUBES["spending_by_flag_category"] = f"""
    SELECT category, [category] AS categories, u.flag, {DIMENSIONS}, count(*) AS knowable,
           count(*) FILTER (WHERE list_contains(flags, u.flag)) AS raised, {FLAG_SUMS}
    FROM facts_by_category, unnest(flags_known) AS u(flag)
    GROUP BY category, u.flag, {DIMENSIONS}"""


def parties_sql(facts: str) -> str:
    """Every vendor and buyer once with its contract count and every name merged into it."""
    return f"""
        WITH p AS (SELECT 'vendor' AS role, vendor_key AS key, any_value(vendor_name) AS name,
                          count(*) AS contracts FROM {facts} GROUP BY vendor_key
                   UNION ALL
                   SELECT 'buyer', buyer_key, any_value(buyer_name), count(*) FROM {facts}
                   GROUP BY buyer_key)
        SELECT p.*, coalesce(string_agg(DISTINCT o.name, ' | '), '') AS names
        FROM p LEFT JOIN organizations o ON o.entity_id = p.key OR o.org_id = p.key
        GROUP BY ALL"""


# every vendor and buyer once, for the filter controls' search
CUBES["parties"] = parties_sql("contract_facts")
# The shape of CUBES, recorded in each snapshot (table cubes_version): a snapshot published
# by an older survtrack has older cubes, which the views then leave aside (they read the
# contracts instead) until a new snapshot is published. Raise it when a cube's columns change.
CUBES_VERSION = 2


# newest first: contract_facts is stored in this order, so the grid pages it without sorting
DEFAULT_ORDER = "year DESC NULLS LAST, signed_on DESC NULLS LAST, contract_id"
# the snapshot's derived tables, in the order they are made (the cubes read contract_facts)
DERIVED = {"contract_facts": f"{FACTS_SQL} ORDER BY {DEFAULT_ORDER}",
           **{name: sql if name.startswith("facts_by_") else f"{sql} ORDER BY 1"
              for name, sql in CUBES.items()},
           # the search box's index: every party and contract by every name it is known by
           **search.TABLES,
           "cubes_version": f"SELECT {CUBES_VERSION} AS version"}


def publish_snapshot(db_path: str | os.PathLike, con: duckdb.DuckDBPyConnection | None = None,
                     lock_wait: float | None = None) -> Path:
    """Publish the warehouse's snapshot with the spending tables (`DERIVED`); its path."""
    return snapshot.publish_snapshot(db_path, con, lock_wait, derived=DERIVED)
