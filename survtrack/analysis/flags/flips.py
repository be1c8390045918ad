"""Which contracts an incremental build's group rules decide, of those whose groups may have
changed: the members of the groups and pairs' spans a written contract is or was in (no group
hash finds them first; analysis/flags `compute`).

A member's buyer_concentration status, per category, is a function of its group's numbers
(count, count with an amount, total, the amount without a vendor) and its vendor's sum, which
the build keeps per group (`concentration_groups`, `concentration_vendors`), and its `flags`
row keeps the status alone. So an incremental build compares each changed group's new
numbers with the stored ones and decides only the members of the (group, vendor) pairs whose
status changes, with the contracts whose own inputs or place in the groups changed; and it
decides them from the new numbers, where the rule read every member of their groups again
to sum what the numbers hold (the rule decides a share at the threshold). split_purchase
decides the contracts of the pairs' spans a changed contract is or was in. The other members
keep their rows: neither decided, rewritten nor recorded. A full build runs the rules.
"""

from __future__ import annotations

from survtrack.analysis import inputs

from .rules import _setting

# a (group, vendor) pair's status from its numbers, as the rule (rules.buyer_concentration)
# decides each of its members: {x} is one side of the comparison, NULL where the pair is not
# (tests/test_flips.py checks it against the rule's rows over a whole warehouse)
STATUS = """CASE WHEN {x}.here IS NULL THEN NULL
     WHEN {x}.n < {least} OR {x}.valued_n < {x}.n OR {x}.total IS NULL OR {x}.total <= 0
          THEN 'unknown'
     WHEN {x}.mine / {x}.total > {thr} THEN 'raised'
     WHEN ({x}.mine + coalesce({x}.unvendored, 0)) / {x}.total <= {thr} THEN 'clear'
     ELSE 'unknown' END"""
# A share this close to the threshold: the stored sums and the rule's (summed in another
# order) may fall on either side of it, so a changed pair that near is decided by the rule
NEAR = 1e-9
NEAR_SQL = """coalesce({x}.total > 0 AND (abs({x}.mine / {x}.total - {thr}) <= {near}
     OR abs(({x}.mine + coalesce({x}.unvendored, 0)) / {x}.total - {thr}) <= {near}), FALSE)"""
NUMBERS = ("n", "valued_n", "total", "unvendored", "mine")
# the rule's threshold (thresholds.csv, as the relation `thresholds`)
THRESHOLD = ("(SELECT threshold FROM thresholds WHERE flag = 'buyer_concentration'"
             " ORDER BY rank LIMIT 1)")
# the group rules an incremental build decides from the group numbers (`concentration_rows`)
NUMBERED = {"buyer_concentration"}


def _side(groups: str, vendors: str) -> str:
    """Each (group, vendor) pair of the groups in `flips_groups` with its numbers."""
    return f"""(SELECT v.buyer_id, v.category, v.year, v.vendor_id, g.n, g.valued_n, g.total,
                       g.unvendored, v.mine, TRUE AS here
                FROM {vendors} v JOIN {groups} g USING (buyer_id, category, year)
                SEMI JOIN flips_groups k ON k.buyer_id = v.buyer_id
                      AND k.category = v.category AND k.year = v.year)"""


def fill(template: str, x: str) -> str:
    """STATUS or NEAR_SQL on the side `x`, with the rule's threshold (thresholds.csv, the
    relation `thresholds`) and least count of contracts (flags.csv)."""
    least = str(_setting("buyer_concentration", "min_contracts", 3))
    return template.replace("{x}", x).replace("{thr}", THRESHOLD).replace(
        "{least}", least).replace("{near}", repr(NEAR))


def flipped_pairs(wh) -> None:
    """`concentration_flips` (buyer_id, category, year, vendor_id): the pairs of the groups
    summed by this pass (`concentration_members`) whose status differs between the stored
    numbers and the new ones (`new_concentration_*`), a pair appearing or going among them,
    and the changed pairs whose share is within NEAR of the threshold."""
    changed = " OR ".join(f"o.{col} IS DISTINCT FROM n.{col}" for col in NUMBERS)
    wh.execute("""CREATE OR REPLACE TEMP TABLE flips_groups AS
                  SELECT DISTINCT buyer_id, category, year FROM concentration_members""")
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE concentration_flips AS
        WITH pairs AS (
            SELECT coalesce(n.buyer_id, o.buyer_id) AS buyer_id,
                   coalesce(n.category, o.category) AS category,
                   coalesce(n.year, o.year) AS year,
                   coalesce(n.vendor_id, o.vendor_id) AS vendor_id,
                   {fill(STATUS, 'n')} AS new_status, {fill(STATUS, 'o')} AS old_status,
                   ({changed}) AND ({fill(NEAR_SQL, 'n')} OR {fill(NEAR_SQL, 'o')}) AS near
            FROM {_side('new_concentration_groups', 'new_concentration_vendors')} n
            FULL JOIN {_side('concentration_groups', 'concentration_vendors')} o
              ON o.buyer_id = n.buyer_id AND o.category = n.category AND o.year = n.year
             AND o.vendor_id = n.vendor_id)
        SELECT buyer_id, category, year, vendor_id FROM pairs
        WHERE new_status IS DISTINCT FROM old_status OR near""")
    wh.execute("DROP TABLE flips_groups")


def tagged(wh, group_work: str, places: bool = False) -> None:
    """`flags_tagged` (contract_id, category): the categories of `group_work`'s contracts,
    read once for the groups summed, `to_decide` and `concentration_rows`; `places`: from
    their places (`flags_places`, which holds every contract of `group_work`), not `tags`."""
    source = ("(SELECT contract_id, unnest(categories) AS category FROM flags_places"
              f" WHERE {inputs.among(group_work)})" if places
              else inputs.rows("tags", inputs.among(group_work)))
    wh.execute("CREATE OR REPLACE TEMP TABLE flags_tagged AS SELECT DISTINCT contract_id,"
               f" category FROM {source}")


def to_decide(wh, work: str, group_work: str, mates: str, into: str,
              places: bool = False) -> None:
    """`into` (contract_id): the contracts buyer_concentration decides in this pass: those of
    `work` (their own inputs changed), and of `group_work` (decided for their groups) those
    whose place in the groups differs from the one last decided (`flags_groups`: buyer,
    vendor, year, categories; none stored) or that belong to a flipped pair
    (`concentration_flips`, `flipped_pairs`). `mates`: the gathered mates holding their
    contracts' rows; `flags_tagged` (`tagged`) their categories. `flags_groups_before` keeps
    their and the removed contracts' `flags_groups` rows (`split_to_decide` reads them
    again: call it after); `places`: taken from the places the build gathered (the written
    contracts' as last decided, `flags_written_at`), not read from `flags_groups` again: the
    other places are as last decided (PLACES read them there), so only the written
    contracts' places are compared, and `flags_groups_before` holds theirs alone (the members
    of the written groups, most of the work, were copied and compared to find none changed:
    docs/scale.md)."""
    # their places as last decided, and the removed contracts': read once for both rules
    gone = " UNION ALL ".join(f"SELECT contract_id FROM {t}" for t in (
        group_work, "flags_gone") if inputs.temporary(wh, t))
    source = inputs.rows('flags_groups', f'contract_id IN ({gone})') if not places else f"""(
        SELECT contract_id, buyer_id, vendor_id, signed_on, year, categories
        FROM flags_written_at WHERE NOT now AND contract_id IN ({gone}))"""
    compared = " AND c.contract_id IN (SELECT contract_id FROM flags_written)" if places else ""
    wh.execute(f"CREATE OR REPLACE TEMP TABLE flags_groups_before AS SELECT * FROM {source}")
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE {into} AS
        WITH cand AS MATERIALIZED (
            SELECT m.contract_id, m.buyer_id, m.vendor_id, m.year FROM {mates} m
            WHERE m.contract_id IN (SELECT contract_id FROM {group_work}
                                    EXCEPT SELECT contract_id FROM {work})),
        tagged AS (SELECT * FROM flags_tagged),
        now AS (SELECT c.contract_id, c.buyer_id, c.vendor_id, c.year,
                       list(t.category ORDER BY t.category)
                           FILTER (WHERE t.category IS NOT NULL) AS categories
                FROM cand c LEFT JOIN tagged t USING (contract_id)
                WHERE TRUE{compared} GROUP BY ALL),
        last AS (SELECT contract_id, buyer_id, vendor_id, year, categories
                 FROM flags_groups_before)
        SELECT contract_id FROM {work}
        UNION
        SELECT n.contract_id FROM now n LEFT JOIN last l USING (contract_id)
        WHERE l.contract_id IS NULL OR n.buyer_id IS DISTINCT FROM l.buyer_id
           OR n.vendor_id IS DISTINCT FROM l.vendor_id OR n.year IS DISTINCT FROM l.year
           OR coalesce(n.categories, []) <> coalesce(l.categories, [])
        UNION
        SELECT c.contract_id FROM cand c JOIN tagged t USING (contract_id)
        JOIN concentration_flips f ON f.buyer_id = c.buyer_id AND f.category = t.category
         AND f.year = c.year AND f.vendor_id = c.vendor_id""")


def split_to_decide(wh, work: str, group_work: str, mates: str, into: str,
                    window: str) -> None:
    """`into` (contract_id): the contracts split_purchase decides in this pass: those of `work`
    (their own inputs changed), and of `group_work` those of a buyer and vendor pair signed in
    the span of `window` days of a contract of `work`, or beside it, as it is now or was when
    last decided (`flags_groups`; a removed contract's too): the contracts whose windows it
    is or was in. Every input of split_purchase (the pair, the date, the amount, the status,
    the threshold's regime and procedure) is in a contract's own inputs, so the other members
    of `group_work` (decided for a concentration group) keep their windows, sums and rows."""
    gone = " UNION ALL ".join(f"SELECT contract_id FROM {t}" for t in (
        work, "flags_gone") if inputs.temporary(wh, t))
    # `to_decide` read them (flags_groups_before)
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE {into} AS
        WITH changed AS MATERIALIZED (
            SELECT DISTINCT buyer_id, vendor_id, {span('signed_on', window)} AS bucket FROM (
                SELECT buyer_id, vendor_id, signed_on FROM {mates}
                WHERE contract_id IN (SELECT contract_id FROM {work})
                UNION ALL
                SELECT buyer_id, vendor_id, signed_on FROM flags_groups_before
                WHERE contract_id IN ({gone}))
            WHERE buyer_id IS NOT NULL AND vendor_id IS NOT NULL AND signed_on IS NOT NULL),
        cand AS (
            SELECT m.contract_id, m.buyer_id, m.vendor_id, {span('m.signed_on', window)} AS bucket
            FROM {mates} m
            WHERE m.contract_id IN (SELECT contract_id FROM {group_work}
                                    EXCEPT SELECT contract_id FROM {work})
              AND m.signed_on IS NOT NULL)
        SELECT contract_id FROM {work}
        UNION
        SELECT c.contract_id FROM cand c JOIN changed s
          ON s.buyer_id = c.buyer_id AND s.vendor_id = c.vendor_id
         AND abs(c.bucket - s.bucket) <= 1""")


def span(signed_on: str, window: str) -> str:
    """SQL: the span of `window` days a contract signed on `signed_on` falls in (a contract's
    windows read only contracts of its span and the two beside it)."""
    return f"floor(date_diff('day', DATE '1970-01-01', {signed_on}) / {window})::BIGINT"


def split_mates(wh, decided: str, mates: str, into: str, window: str) -> None:
    """`into`: the rows of `mates` split_purchase reads to decide the contracts of `decided`:
    those contracts and their pair's contracts signed in the span of `window` days of one of
    them or beside it. A contract's row reads only its pair's contracts signed within the
    window before or after it (its window's sum, and the sums of the windows opening before
    it that hold it), all in those three spans; the rest of the pair, read by the rule for
    every decided contract, cost as much whichever few it decided (0.53 s for 52,555 or
    11,506 contracts at 1 M: docs/scale.md)."""
    # the spans as keys of an equal join (a join on the buckets' difference cost ~3x)
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE {into} AS
        WITH spans AS (
            SELECT DISTINCT buyer_id, vendor_id, unnest([b - 1, b, b + 1]) AS bucket
            FROM (SELECT buyer_id, vendor_id, {span('m.signed_on', window)} AS b FROM {mates} m
                  WHERE contract_id IN (SELECT contract_id FROM {decided})
                    AND signed_on IS NOT NULL))
        SELECT m.* FROM {mates} m LEFT JOIN spans s ON s.buyer_id = m.buyer_id
           AND s.vendor_id = m.vendor_id AND s.bucket = {span('m.signed_on', window)}
        WHERE s.bucket IS NOT NULL OR m.contract_id IN (SELECT contract_id FROM {decided})""")


def concentration_rows(wh, decided: str, mates: str, near: str,
                       summed: str | None = None) -> str:
    """The SELECT of buyer_concentration's `flags` rows (raised and clear) of the contracts of
    `decided`, each from its groups' new numbers (`new_concentration_*`) as the rule decides
    it: per category STATUS, raised where one is raised, clear where all are clear; threshold
    the rule's, document its contract's, value and evidence composed when read. The rule
    read every member of their groups again to sum what the numbers already hold. A contract
    with a share within NEAR of the threshold is left out and put in `near` (for the rule).
    `summed`: the table of the groups summed again (buyer_id, category, year), when not every
    group of the decided contracts was: the others', which no written contract is or was in,
    are their stored numbers (`concentration_*`), as the build last summed them."""
    from survtrack.warehouse.schema import CANCELLED_SQL

    status = fill(STATUS, "x")
    numbers = {table: f"new_{table}" for table in ("concentration_groups",
                                                   "concentration_vendors")}
    kept = ""
    if summed is not None:
        # the decided contracts' groups not summed again, with their stored numbers
        kept = f""",
        kept AS MATERIALIZED (
            SELECT DISTINCT d.buyer_id, t.category, d.year FROM d
            JOIN flags_tagged t USING (contract_id)
            ANTI JOIN {summed} s ON s.buyer_id = d.buyer_id AND s.category = t.category
                  AND s.year = d.year)"""
        for table in numbers:
            numbers[table] = f"""(SELECT * FROM new_{table} UNION ALL
                SELECT * FROM {table} o SEMI JOIN kept k ON k.buyer_id = o.buyer_id
                       AND k.category = o.category AND k.year = o.year)"""
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE flags_numbered AS
        WITH d AS MATERIALIZED (
            SELECT contract_id, buyer_id, vendor_id, year, document_id FROM {mates}
            WHERE contract_id IN (SELECT contract_id FROM {decided})
              AND buyer_id IS NOT NULL AND year IS NOT NULL
              AND NOT coalesce({CANCELLED_SQL.format(status='status')}, FALSE)){kept},
        x AS (
            SELECT d.contract_id, d.vendor_id, d.document_id, g.n, g.valued_n, g.total,
                   g.unvendored, v.mine, TRUE AS here
            FROM d JOIN flags_tagged t USING (contract_id)
            JOIN {numbers["concentration_groups"]} g ON g.buyer_id = d.buyer_id
             AND g.category = t.category AND g.year = d.year
            LEFT JOIN {numbers["concentration_vendors"]} v ON v.buyer_id = d.buyer_id
             AND v.category = t.category AND v.year = d.year AND v.vendor_id = d.vendor_id)
        SELECT contract_id, any_value(document_id) AS document_id,
               CASE WHEN bool_or(status = 'raised') THEN 'raised'
                    WHEN bool_and(status = 'clear') THEN 'clear' ELSE 'unknown' END AS status,
               bool_or(near) AS near
        FROM (SELECT contract_id, document_id,
                     CASE WHEN vendor_id IS NULL THEN 'unknown' ELSE {status} END AS status,
                     vendor_id IS NOT NULL AND {fill(NEAR_SQL, "x")} AS near
              FROM x)
        GROUP BY contract_id""")
    wh.execute(f"CREATE OR REPLACE TEMP TABLE {near} AS"
               " SELECT contract_id FROM flags_numbered WHERE near")
    return (f"SELECT contract_id, 'buyer_concentration' AS flag, status = 'raised' AS raised,"
            f" NULL::DOUBLE AS value, {THRESHOLD}::DOUBLE AS threshold, NULL::VARCHAR AS regime,"
            " NULL::VARCHAR AS evidence, document_id FROM flags_numbered"
            " WHERE NOT near AND status IN ('raised', 'clear')")
