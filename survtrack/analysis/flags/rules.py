"""One function per red flag (flags.csv), each returning the SQL that decides it.

Every function takes a `Scope` and returns a SELECT of (contract_id, status, value,
threshold, regime, evidence, document_id), one row per contract in scope, where status is
`raised`, `clear`, `not_applicable` (the question does not arise: a single bid in a direct
award) or `unknown` (the documents do not say enough). `competition` holds the facts;
`thresholds` (thresholds.csv), `calendar` (working days per country) and `settings` are
relations the caller provides. The build keeps the raised and clear rows in `flags`.
"""

from __future__ import annotations

from dataclasses import dataclass

from survtrack.analysis.inputs import rows
from survtrack.warehouse.schema import CANCELLED_SQL

# The columns of `contracts` the group rules read: a table scope's groups are gathered once
# with these alone (`Scope.members`; one scan of them, not a scan for rowids then another).
GROUP_COLUMNS = ("contract_id", "buyer_id", "vendor_id", "year", "signed_on", "amount",
                 "currency", "amount_usd", "status", "document_id")


@dataclass(frozen=True)
class Scope:
    """Which contracts to decide: every one (neither field), the one named (`contract_id`), or
    those listed in a table (`table`, a column contract_id: the build's work); a flag decided
    from several contracts reads the groups of those in scope (`same`)."""

    contract_id: str | None = None
    table: str | None = None
    facts: str | None = None  # a table scope's competition rows, if gathered (`rows`)
    # a table scope's group mates, if gathered (`members`): a table of the contracts' rows
    # (GROUP_COLUMNS) holding every contract that shares a buyer and year, or a buyer and
    # vendor, with one in scope
    mates: str | None = None
    # buyer_concentration's groups to sum (buyer_id, category, year), when the build names
    # them, and `tagged`, a table of (contract_id, category) holding each of their members'
    # among the mates: `concentration_members` then reads those groups' members alone, not
    # every member of their buyers' years and those members' tags (most of the mates, a scan
    # of `tags`' keys)
    groups: str | None = None
    tagged: str | None = None

    @property
    def narrow(self) -> bool:
        return self.contract_id is not None or self.table is not None

    def _literal(self) -> str:
        return "'" + str(self.contract_id).replace("'", "''") + "'"

    def filter(self, alias: str = "c", word: str = "WHERE") -> str:
        """` WHERE <alias>.contract_id` is the one in scope (or among them), else nothing."""
        if self.table is not None:
            return f" {word} {alias}.contract_id IN (SELECT contract_id FROM {self.table})"
        if self.contract_id is None:
            return ""
        return f" {word} {alias}.contract_id = {self._literal()}"

    def rows(self) -> str:
        """`competition` as the one-contract rules read it: for a table scope, its contracts'
        rows (`facts`, a temporary table of them the build makes once for every rule, else
        found by rowid: inputs.rows); for a contract or every contract, the table."""
        if self.table is None:
            return "competition"
        return self.facts or rows("competition",
                                  f"contract_id IN (SELECT contract_id FROM {self.table})")

    def of_groups(self, relation: str, *columns: str) -> str:
        """`relation` (with a column contract_id), narrowed to the contracts sharing `columns`
        with one in scope, so that deciding a few contracts' group flags (a contract's page,
        a build's work) reads their groups' rows, not the whole table's (at 10 M contracts a
        DISTINCT over every tag, or a join with every competition row, cost 0.5-1.3 s a
        contract). For a table scope, the statement's CTEs of `members`, which the rule made
        with the same `columns`. Every contract: the relation."""
        if self.table is not None:
            if relation == "contracts":
                return "members"
            if relation == "competition":
                return "member_facts"
            return rows(relation, "contract_id IN (SELECT contract_id FROM members)")
        if self.contract_id is None:
            return relation
        return (f"(SELECT * FROM {relation} WHERE contract_id IN (SELECT contract_id"
                f" FROM contracts g WHERE TRUE{self.same('g', *columns)}))")

    def members(self, *columns: str) -> str:
        """For a table scope, CTEs (then a comma) computed once per statement: `members`,
        the `contracts` rows (GROUP_COLUMNS) sharing `columns` with one in scope (whole
        groups; a NULL in `columns` shares with none), and `member_facts`, their competition
        rows; `of_groups` reads them. Otherwise nothing."""
        if self.table is None:
            return ""
        keys = ", ".join(columns)
        on = " AND ".join(f"g.{col} = k.{col}" for col in columns)
        # from the gathered mates, when the build gathered them: each scan of `contracts`
        # here reads every contract's keys (no index)
        mates = self.mates or "contracts"
        return f"""members AS MATERIALIZED (
        SELECT {", ".join(f"g.{col}" for col in GROUP_COLUMNS)} FROM {mates} g
        JOIN (SELECT DISTINCT {keys} FROM {mates}
              WHERE contract_id IN (SELECT contract_id FROM {self.table})) k ON {on}),
    member_facts AS MATERIALIZED (
        SELECT * FROM {rows("competition", "contract_id IN (SELECT contract_id FROM members)")}),
    """

    def same(self, alias: str, *columns: str) -> str:
        """` AND` the rows of `alias` sharing `columns` with a contract in scope."""
        if self.table is not None:
            on = " AND ".join(f"s.{col} = {alias}.{col}" for col in columns)
            return (f" AND EXISTS (SELECT 1 FROM contracts s JOIN {self.table} w"
                    f" ON w.contract_id = s.contract_id WHERE {on})")
        if self.contract_id is None:
            return ""
        return "".join(f" AND {alias}.{col} = (SELECT {col} FROM contracts WHERE contract_id ="
                       f" {self._literal()})" for col in columns)


def _threshold(flag: str, scope: Scope, day: str, within: str | None = None,
               source: str | None = None) -> str:
    """A CTE `thr`: per contract in scope (or in `within`, SQL on `c`; or every contract of
    `source`, a relation of competition rows), the first thresholds.csv row of `flag`
    matching its regime, procedure and the day the rule is read at (`day`, SQL on `c`)."""
    where = f"WHERE {within}" if within else "" if source else scope.filter()
    source = source or (scope.rows() if within is None else "competition")
    return f"""thr AS (
        SELECT c.contract_id,
               arg_min({{'threshold': t.threshold, 'unit': t.unit, 'currency': t.currency,
                        'basis': t.basis}}, t.rank) AS t
        FROM {source} c JOIN thresholds t ON t.flag = '{flag}'
         AND (t.regime = '*' OR t.regime = c.regime)
         AND coalesce(c.procedure, '') GLOB t.procedure
         AND coalesce(c.procedure_type, '') GLOB t.procedure_type
         AND ((t.valid_from IS NULL AND t.valid_to IS NULL)
              OR ({day} >= coalesce(t.valid_from, DATE '1900-01-01')
                  AND {day} <= coalesce(t.valid_to, DATE '2999-12-31')))
        {where}
        GROUP BY c.contract_id)"""


def single_bid(scope: Scope) -> str:
    return f"""
    WITH {_threshold('single_bid', scope, 'NULL')}
    SELECT c.contract_id,
        CASE WHEN c.competitive IS NULL THEN 'unknown'
             WHEN NOT c.competitive THEN 'not_applicable'
             WHEN c.bids_received >= 1 THEN
                  CASE WHEN c.bids_received <= thr.t.threshold THEN 'raised' ELSE 'clear' END
             WHEN c.bids_received IS NULL AND c.bids_admitted >= 1 THEN
                  CASE WHEN c.bids_admitted <= thr.t.threshold THEN 'raised' ELSE 'clear' END
             ELSE 'unknown' END AS status,
        coalesce(c.bids_received, c.bids_admitted)::DOUBLE AS value,
        thr.t.threshold AS threshold, c.regime,
        CASE WHEN c.competitive IS NULL THEN 'procedure not known to be competitive or not'
             WHEN NOT c.competitive THEN 'not a competitive procedure: ' || c.procedure
             WHEN c.bids_received IS NOT NULL THEN
                  c.bids_received || ' bid(s) received; procedure ' || c.procedure_type
                  || ' (' || c.procedure || ')'
             WHEN c.bids_admitted IS NOT NULL THEN
                  c.bids_admitted || ' bid(s) admitted, bids received not published ('
                  || c.procedure || ')'
             ELSE 'no count of bids published' END AS evidence,
        CASE WHEN c.competitive THEN c.bids_document_id ELSE c.procedure_document_id END
            AS document_id
    FROM {scope.rows()} c LEFT JOIN thr USING (contract_id){scope.filter()}"""


def no_competition(scope: Scope) -> str:
    return f"""
    SELECT c.contract_id,
        CASE WHEN c.competitive IS NULL THEN 'unknown'
             WHEN c.competitive THEN 'clear' ELSE 'raised' END AS status,
        CASE WHEN c.competitive IS NULL THEN NULL
             WHEN c.competitive THEN 0.0 ELSE 1.0 END AS value,
        NULL::DOUBLE AS threshold, c.regime,
        CASE WHEN c.procedure IS NULL THEN 'no procedure published'
             WHEN c.competitive IS NULL THEN 'procedure ' || c.procedure
                  || ': not known to be competitive or not'
             ELSE c.procedure_type || ' procedure: ' || c.procedure END AS evidence,
        c.procedure_document_id AS document_id
    FROM {scope.rows()} c{scope.filter()}"""


def short_tender_period(scope: Scope) -> str:
    return f"""
    WITH {_threshold('short_tender_period', scope, 'c.tender_published_on::DATE')}
    SELECT c.contract_id,
        CASE WHEN c.competitive IS NULL THEN 'unknown'
             WHEN NOT c.competitive THEN 'not_applicable'
             WHEN c.tender_days IS NULL OR thr.t.threshold IS NULL THEN 'unknown'
             WHEN c.tender_days < thr.t.threshold THEN 'raised' ELSE 'clear' END AS status,
        round(c.tender_days, 2) AS value, thr.t.threshold AS threshold, c.regime,
        CASE WHEN c.tender_days IS NULL THEN 'no call publication and deadline published'
             WHEN thr.t.threshold IS NULL THEN round(c.tender_days, 1) || ' days from call to'
                  || ' deadline; no legal minimum known for ' || coalesce(c.regime, '?') || ' '
                  || coalesce(c.procedure, '')
             ELSE round(c.tender_days, 1) || ' days from the call ('
                  || strftime(c.tender_published_on, '%Y-%m-%d') || ') to the deadline ('
                  || strftime(c.tender_deadline, '%Y-%m-%d') || '); least allowed '
                  || thr.t.threshold || ' days: ' || thr.t.basis END AS evidence,
        c.tender_document_id AS document_id
    FROM {scope.rows()} c LEFT JOIN thr USING (contract_id){scope.filter()}"""


def price_near_estimate(scope: Scope) -> str:
    return f"""
    WITH {_threshold('price_near_estimate', scope, 'NULL')}
    SELECT c.contract_id,
        CASE WHEN c.competitive IS NULL THEN 'unknown'
             WHEN NOT c.competitive THEN 'not_applicable'
             WHEN c.estimated_amount IS NULL OR c.estimated_amount <= 0
                  OR c.award_amount IS NULL
                  OR c.estimated_currency IS DISTINCT FROM c.amount_currency THEN 'unknown'
             WHEN abs(c.award_amount - c.estimated_amount) / c.estimated_amount
                  <= thr.t.threshold THEN 'raised' ELSE 'clear' END AS status,
        CASE WHEN c.estimated_amount > 0
             AND c.estimated_currency IS NOT DISTINCT FROM c.amount_currency
             THEN round((abs(c.award_amount - c.estimated_amount)
                         / c.estimated_amount)::DOUBLE, 6) END AS value,
        thr.t.threshold AS threshold, c.regime,
        CASE WHEN c.estimated_amount IS NULL THEN 'no estimate published'
             WHEN c.award_amount IS NULL THEN 'no award value published'
             WHEN c.estimated_currency IS DISTINCT FROM c.amount_currency THEN
                  'estimate in ' || c.estimated_currency || ', award in '
                  || coalesce(c.amount_currency, '?')
             ELSE 'awarded ' || c.award_amount || ' ' || c.amount_currency || ' against an estimate'
                  || ' of ' || c.estimated_amount || ' ' || c.estimated_currency END AS evidence,
        coalesce(c.estimate_document_id, c.award_document_id) AS document_id
    FROM {scope.rows()} c LEFT JOIN thr USING (contract_id){scope.filter()}"""


def all_but_winner_rejected(scope: Scope) -> str:
    return f"""
    WITH {_threshold('all_but_winner_rejected', scope, 'NULL')}
    SELECT c.contract_id,
        CASE WHEN c.bids_received IS NULL OR c.bids_admitted IS NULL THEN 'unknown'
             WHEN c.bids_received < 2 THEN 'not_applicable'
             WHEN c.bids_admitted = 1 AND c.bids_rejected >= thr.t.threshold THEN 'raised'
             ELSE 'clear' END AS status,
        c.bids_rejected::DOUBLE AS value, thr.t.threshold AS threshold, c.regime,
        CASE WHEN c.bids_received IS NULL OR c.bids_admitted IS NULL THEN
                  'bids received and admitted not both published'
             ELSE c.bids_received || ' bid(s) received, ' || c.bids_admitted || ' admitted, '
                  || c.bids_rejected || ' rejected' END AS evidence,
        c.bids_document_id AS document_id
    FROM {scope.rows()} c LEFT JOIN thr USING (contract_id){scope.filter()}"""


def value_increase(scope: Scope) -> str:
    return f"""
    WITH {_threshold('value_increase', scope, 'NULL')}
    SELECT c.contract_id,
        CASE WHEN coalesce(c.versions, 0) < 2 OR c.award_amount IS NULL
                  OR c.award_amount <= 0 THEN 'unknown'
             WHEN c.final_amount / c.award_amount - 1 > thr.t.threshold THEN 'raised'
             ELSE 'clear' END AS status,
        CASE WHEN c.award_amount > 0 AND c.versions >= 2
             THEN round((c.final_amount / c.award_amount - 1)::DOUBLE, 6) END AS value,
        thr.t.threshold AS threshold, c.regime,
        CASE WHEN coalesce(c.versions, 0) < 2 THEN
                  'the value is stated at one point in time only: modifications unknown'
             ELSE 'value ' || c.award_amount || ' ' || c.amount_currency || ' when awarded, '
                  || c.final_amount || ' in the latest of ' || c.versions || ' versions' END
            AS evidence,
        c.final_document_id AS document_id
    FROM {scope.rows()} c LEFT JOIN thr USING (contract_id){scope.filter()}"""


def late_publication(scope: Scope) -> str:
    return f"""
    WITH {_threshold('late_publication', scope, 'c.signed_on')},
    delay AS (
        SELECT c.contract_id,
               CASE WHEN thr.t.unit = 'working_days' THEN p.n - s.n
                    ELSE date_diff('day', c.signed_on, c.first_published_on::DATE) END AS days
        FROM {scope.rows()} c JOIN thr USING (contract_id)
        LEFT JOIN regime_calendars rc ON rc.regime = c.regime
        LEFT JOIN calendar s ON s.country = rc.country AND s.day = c.signed_on
        LEFT JOIN calendar p ON p.country = rc.country
              AND p.day = c.first_published_on::DATE{scope.filter()})
    SELECT c.contract_id,
        CASE WHEN c.signed_on IS NULL OR c.first_published_on IS NULL
                  OR thr.t.threshold IS NULL OR d.days IS NULL THEN 'unknown'
             WHEN d.days <= thr.t.threshold THEN 'clear'
             WHEN c.first_version THEN 'raised'
             ELSE 'unknown' END AS status,
        d.days::DOUBLE AS value, thr.t.threshold AS threshold, c.regime,
        CASE WHEN c.signed_on IS NULL THEN 'no signing date published'
             WHEN c.first_published_on IS NULL THEN 'no publication date published'
             WHEN thr.t.threshold IS NULL THEN 'no publication deadline known for '
                  || coalesce(c.regime, '?')
             ELSE 'signed ' || strftime(c.signed_on, '%Y-%m-%d') || ', published '
                  || strftime(c.first_published_on, '%Y-%m-%d') || ': ' || d.days || ' '
                  || replace(thr.t.unit, '_', ' ') || ' (allowed ' || thr.t.threshold || ': '
                  || thr.t.basis || ')'
                  || CASE WHEN d.days > thr.t.threshold AND NOT c.first_version
                          THEN '; this may be a later version of a record first published'
                               || ' earlier' ELSE '' END END AS evidence,
        c.first_document_id AS document_id
    FROM {scope.rows()} c LEFT JOIN thr USING (contract_id)
    LEFT JOIN delay d USING (contract_id){scope.filter()}"""


def _concentration_groups(scope: Scope) -> str:
    """The CTEs (then a comma) of buyer_concentration's groups in scope: `valued`, each
    member's row per category, with its group's count `n`, its amount in the group's unit
    (`v`) and the unit; the groups named (`scope.groups`) if any."""
    return f"""{_concentration_base(scope)},
    groups AS (
        SELECT buyer_id, category, year, count(*) AS n,
               count(DISTINCT currency) = 1 AND count(amount) = count(*) AS one_currency,
               count(amount_usd) = count(*) AS all_usd,
               any_value(currency) AS currency
        FROM base GROUP BY ALL),
    valued AS (
        SELECT b.*, g.n, g.currency AS group_currency,
               CASE WHEN g.one_currency THEN b.amount::DOUBLE
                    WHEN g.all_usd THEN b.amount_usd END AS v,
               CASE WHEN g.one_currency THEN g.currency WHEN g.all_usd THEN 'USD' END AS unit
        FROM base b JOIN groups g USING (buyer_id, category, year)),
    """


def _concentration_base(scope: Scope) -> str:
    """The CTEs ending with `base`: the members' rows per category (cancelled ones left out)
    of the groups in scope, or of the groups named (`scope.groups`), found among the mates
    by their categories (`scope.tagged`)."""
    if scope.groups is not None:
        return f"""base AS (
        SELECT c.contract_id, c.buyer_id, c.vendor_id, c.year, t.category, c.amount,
               c.currency, c.amount_usd, c.document_id
        FROM {scope.mates} c JOIN {scope.tagged} t USING (contract_id)
        SEMI JOIN {scope.groups} g ON g.buyer_id = c.buyer_id AND g.category = t.category
              AND g.year = c.year
        WHERE NOT coalesce({CANCELLED_SQL.format(status='c.status')}, FALSE))"""
    return f"""{scope.members('buyer_id', 'year')}tagged AS (
        SELECT DISTINCT contract_id, category
        FROM {scope.of_groups('tags', 'buyer_id', 'year')}),
    base AS (
        SELECT c.contract_id, c.buyer_id, c.vendor_id, c.year, t.category, c.amount,
               c.currency, c.amount_usd, c.document_id
        FROM {scope.of_groups('contracts', 'buyer_id', 'year') if scope.table else 'contracts'} c
        JOIN tagged t USING (contract_id)
        WHERE c.buyer_id IS NOT NULL AND c.year IS NOT NULL
          AND NOT coalesce({CANCELLED_SQL.format(status='c.status')}, FALSE)
          {_in_scope_groups(scope) if scope.table else scope.same('c', 'buyer_id', 'year')})"""


def _concentration_evidence() -> str:
    """SQL of buyer_concentration's evidence of one contract's category, on n, valued_n,
    total, vendor_id, share, mine, unit, category and year; and of the one reported among
    its categories (the highest share, then the category), `value` the highest share. Read
    by the rule and by the composition of a stored row (`composed`)."""
    least = _setting('buyer_concentration', 'min_contracts', 3)
    return f"""round(max(share), 6) AS value,
        arg_max(CASE
            WHEN n < {least} THEN 'only ' || n
                 || ' contract(s) of its buyer in ' || category || ', ' || year
                 || ': too few to tell'
            WHEN valued_n < n OR total IS NULL THEN 'not every contract of its buyer in '
                 || category || ', ' || year || ' has an amount in one currency or in dollars'
            WHEN vendor_id IS NULL THEN 'vendor not published'
            ELSE 'vendor''s share ' || round(100 * share, 1) || '% of ' || n
                 || ' contracts of its buyer in ' || category || ', ' || year || ' ('
                 || round(mine, 2) || ' of ' || round(total, 2) || ' ' || unit || ')' END,
                -- the share as reported (sums of doubles differ in their last bits from
                -- one run to the next), then the category: ties name one category, always
                (round(coalesce(share, -1), 6), category)) AS evidence"""


def buyer_concentration(scope: Scope) -> str:
    """Groups are a buyer's contracts of one category and year (cancelled ones left out); a
    contract is raised when its vendor's share of the group is above the threshold, clear when
    even the amounts of contracts without a known vendor could not lift it above."""
    return f"""
    WITH {_concentration_groups(scope)}thr AS (
        SELECT threshold FROM thresholds WHERE flag = 'buyer_concentration'
        ORDER BY rank LIMIT 1),
    shares AS (
        SELECT *, sum(v) OVER (PARTITION BY buyer_id, category, year) AS total,
               sum(v) OVER (PARTITION BY buyer_id, category, year, vendor_id) AS mine,
               sum(CASE WHEN vendor_id IS NULL THEN v END)
                   OVER (PARTITION BY buyer_id, category, year) AS unvendored,
               count(v) OVER (PARTITION BY buyer_id, category, year) AS valued_n
        FROM valued),
    decided AS (
        SELECT s.*, (SELECT threshold FROM thr) AS threshold,
            CASE WHEN s.n < {_setting('buyer_concentration', 'min_contracts', 3)}
                      OR s.valued_n < s.n OR s.total IS NULL OR s.total <= 0
                      OR s.vendor_id IS NULL THEN 'unknown'
                 WHEN s.mine / s.total > (SELECT threshold FROM thr) THEN 'raised'
                 WHEN (s.mine + coalesce(s.unvendored, 0)) / s.total
                      <= (SELECT threshold FROM thr) THEN 'clear'
                 ELSE 'unknown' END AS status,
            CASE WHEN s.total > 0 THEN s.mine / s.total END AS share
        FROM shares s)
    SELECT contract_id,
        CASE WHEN bool_or(status = 'raised') THEN 'raised'
             WHEN bool_and(status = 'clear') THEN 'clear' ELSE 'unknown' END AS status,
        any_value(threshold) AS threshold, NULL::VARCHAR AS regime,
        {_concentration_evidence()},
        any_value(document_id) AS document_id
    FROM decided d{scope.filter('d')}
    GROUP BY contract_id"""


def concentration_members(scope: Scope) -> str:
    """The SELECT of buyer_concentration's members in scope, a row per member and category
    (buyer_id, category, year, vendor_id, n, v, unit: `_concentration_groups`), which the
    build sums into concentration_groups and concentration_vendors (a table scope: the
    groups of its contracts; every group otherwise)."""
    return f"""
    WITH {_concentration_groups(scope)}done AS (SELECT 1)
    SELECT buyer_id, category, year, vendor_id, n, v, unit FROM valued"""


# concentration_groups and concentration_vendors from `concentration_members`' rows
# (`{members}`)
CONCENTRATION_NUMBERS = (
    """SELECT buyer_id, category, year, any_value(n) AS n, count(v) AS valued_n,
              sum(v) AS total, any_value(unit) AS unit,
              sum(CASE WHEN vendor_id IS NULL THEN v END) AS unvendored
       FROM {members} GROUP BY buyer_id, category, year""",
    """SELECT buyer_id, category, year, vendor_id, sum(v) AS mine
       FROM {members} WHERE vendor_id IS NOT NULL GROUP BY buyer_id, category, year, vendor_id""")


def composed(flags: str, contracts: str = "contracts", tags: str = "tags",
             groups: str = "concentration_groups",
             vendors: str = "concentration_vendors") -> str:
    """SQL: (contract_id, value, evidence) of the buyer_concentration rows of `flags` (a
    relation of `flags` rows), composed from the group numbers as the rule gives them: the
    build keeps a member's status alone, so that a contract joining a group rewrites the
    group's numbers, not every member's row."""
    return f"""
    SELECT contract_id, {_concentration_evidence()}
    FROM (
        SELECT c.contract_id, k.category, c.year, c.vendor_id, g.n, g.valued_n, g.total,
               g.unit, v.mine, CASE WHEN g.total > 0 THEN v.mine / g.total END AS share
        FROM (SELECT contract_id FROM {flags} WHERE flag = 'buyer_concentration') f
        JOIN {contracts} c USING (contract_id)
        JOIN (SELECT DISTINCT contract_id, category FROM {tags}) k USING (contract_id)
        JOIN {groups} g ON g.buyer_id = c.buyer_id AND g.category = k.category
                       AND g.year = c.year
        LEFT JOIN {vendors} v ON v.buyer_id = c.buyer_id AND v.category = k.category
                             AND v.year = c.year AND v.vendor_id = c.vendor_id)
    GROUP BY contract_id"""


def _in_scope_groups(scope: Scope) -> str:
    """` AND` the base row's group (buyer, category, year) is one of a contract in the table
    scope: the other categories of its buyers' years are read, not decided."""
    return f"""AND (c.buyer_id, t.category, c.year) IN (
              SELECT (m.buyer_id, g.category, m.year) FROM members m
              JOIN tagged g USING (contract_id)
              WHERE m.contract_id IN (SELECT contract_id FROM {scope.table}))"""


def split_purchase(scope: Scope) -> str:
    """Per buyer, vendor and threshold: contracts under the threshold in its currency; a window
    of `window_days` opening at each one; every contract inside a window whose sum passes the
    threshold with two or more contracts is raised."""
    window = _setting("split_purchase", "window_days", 30)
    pair = "TRUE" + scope.same("x", "buyer_id", "vendor_id")
    within = f"c.contract_id IN (SELECT contract_id FROM contracts x WHERE {pair})" \
        if scope.contract_id is not None else None
    contracts = scope.of_groups("contracts", "buyer_id", "vendor_id") if scope.table \
        else "contracts"
    competition = scope.of_groups("competition", "buyer_id", "vendor_id")
    return f"""
    WITH {scope.members('buyer_id', 'vendor_id')}{_threshold(
        'split_purchase', scope, 'c.signed_on', within, competition if scope.table else None)},
    base AS (
        SELECT c.contract_id, c.buyer_id, c.vendor_id, c.signed_on, c.amount, c.currency,
               c.document_id, thr.t.threshold AS threshold, thr.t.currency AS thr_currency,
               thr.t.basis AS basis
        FROM {contracts} c JOIN {competition} k USING (contract_id)
        LEFT JOIN thr USING (contract_id)
        WHERE NOT coalesce({CANCELLED_SQL.format(status='c.status')}, FALSE)
              {"" if scope.table else scope.same('c', 'buyer_id', 'vendor_id')}),
    parts AS (
        SELECT *,
            sum(amount) OVER w_fwd AS window_sum, count(*) OVER w_fwd AS window_n
        FROM base
        WHERE buyer_id IS NOT NULL AND vendor_id IS NOT NULL AND signed_on IS NOT NULL
          AND amount IS NOT NULL AND threshold IS NOT NULL AND currency = thr_currency
          AND amount < threshold
        WINDOW w_fwd AS (PARTITION BY buyer_id, vendor_id, threshold ORDER BY signed_on
                         RANGE BETWEEN CURRENT ROW AND INTERVAL {window} DAY FOLLOWING)),
    flagged AS (
        SELECT *,
            max(CASE WHEN window_n >= 2 AND window_sum > threshold THEN window_sum END)
                OVER w_back AS split_sum,
            max(CASE WHEN window_n >= 2 AND window_sum > threshold THEN window_n END)
                OVER w_back AS split_n
        FROM parts
        WINDOW w_back AS (PARTITION BY buyer_id, vendor_id, threshold ORDER BY signed_on
                          RANGE BETWEEN INTERVAL {window} DAY PRECEDING AND CURRENT ROW))
    SELECT b.contract_id,
        CASE WHEN b.buyer_id IS NULL OR b.vendor_id IS NULL OR b.signed_on IS NULL
                  OR b.amount IS NULL OR b.threshold IS NULL
                  OR b.currency IS DISTINCT FROM b.thr_currency THEN 'unknown'
             WHEN b.amount >= b.threshold THEN 'clear'
             WHEN f.split_sum IS NOT NULL THEN 'raised' ELSE 'clear' END AS status,
        coalesce(f.split_sum, f.window_sum, b.amount)::DOUBLE AS value,
        b.threshold, k.regime,
        CASE WHEN b.threshold IS NULL THEN 'no threshold known for this regime and date'
             WHEN b.currency IS DISTINCT FROM b.thr_currency THEN 'amount in '
                  || coalesce(b.currency, '?') || ', threshold in ' || b.thr_currency
             WHEN b.amount >= b.threshold THEN b.amount || ' ' || b.currency
                  || ' is not under the threshold of ' || b.threshold
             WHEN f.split_sum IS NOT NULL THEN f.split_n || ' contracts to this vendor within '
                  || {window} || ' days, each under ' || b.threshold || ' ' || b.thr_currency
                  || ', together ' || f.split_sum || ' (' || b.basis || ')'
             ELSE 'no other contract to this vendor within ' || {window} || ' days lifts the'
                  || ' sum above ' || b.threshold || ' ' || b.thr_currency END AS evidence,
        b.document_id
    FROM base b JOIN {competition} k USING (contract_id)
    LEFT JOIN flagged f USING (contract_id){scope.filter('b')}"""


def _setting(flag: str, key: str, default: int) -> int:
    from . import definitions

    return int(definitions()[flag].parameters.get(key, default))


RULES = {f.__name__: f for f in (
    single_bid, no_competition, short_tender_period, price_near_estimate,
    all_but_winner_rejected, value_increase, late_publication, buyer_concentration,
    split_purchase)}
# flags decided from several contracts at once (the others read one contract's facts)
GROUP_RULES = {"buyer_concentration", "split_purchase"}
# flags whose stored rows keep the status alone, their value and evidence composed when read
# from the group numbers (`composed`)
COMPOSED = {"buyer_concentration"}
