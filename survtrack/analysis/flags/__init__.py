"""Red flags: how each contract was won, and what looks wrong about it.

Each flag is data (`flags.csv`: names in English and Russian, definition, the facts it needs,
the sources that publish them, the indicator it follows), thresholds per regime are data
(`thresholds.csv`), and one function in `rules.py` decides it from `competition`
(analysis/competition.py). A contract is raised, clear, not applicable (a single bid cannot
happen in a direct award) or unknown (the documents do not say enough); `flags` keeps the
raised and clear rows, so a contract without a row for a flag is never counted as clear, and
every rate is over the contracts where the flag is knowable, with their number
(docs/flags.md).

The function-level API: `definitions()`, `compute(wh)` (the build step, recomputing the
contracts whose inputs changed: analysis/inputs.py), `for_contract(con,
contract_id)` (what a contract's page shows: the build's rows, the rest decided), `decide(con,
contract_id)` (every flag decided from the facts), `counts(con)` and `rates(con, …)`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import pandas as pd
import pyarrow as pa

from survtrack.analysis import inputs
from survtrack.datafiles import numbered_rows

from . import flips
from .rules import (
    COMPOSED,
    CONCENTRATION_NUMBERS,
    GROUP_COLUMNS,
    GROUP_RULES,
    RULES,
    Scope,
    composed,
    concentration_members,
)

FOLDER = Path(__file__).parent
STATUSES = ("raised", "clear", "not_applicable", "unknown")


@dataclass(frozen=True)
class Flag:
    flag: str
    name_en: str
    name_ru: str
    definition: str
    requires: str
    sources: tuple[str, ...]
    reference: str
    reference_url: str
    parameters: dict = field(default_factory=dict)
    caveat: str = ""

    def name(self, lang: str = "en") -> str:
        return self.name_ru if lang == "ru" else self.name_en


@cache
def definitions() -> dict[str, Flag]:
    """The flags of flags.csv, in order; each has a function of its name in rules.py."""
    out = {}
    for line, row in numbered_rows(FOLDER / "flags.csv"):
        if row["flag"] not in RULES:
            raise ValueError(f"flags.csv line {line}: no rule function {row['flag']!r} in"
                             " analysis/flags/rules.py")
        params = dict(p.split("=", 1) for p in row["parameters"].split(";") if p)
        out[row["flag"]] = Flag(row["flag"], row["name_en"], row["name_ru"], row["definition"],
                                row["requires"], tuple(row["sources"].split()),
                                row["reference"], row["reference_url"], params,
                                row["caveat"])
    missing = set(RULES) - set(out)
    if missing:
        raise ValueError(f"rules without a row in flags.csv: {sorted(missing)}")
    return out


@cache
def thresholds() -> pd.DataFrame:
    """thresholds.csv as a relation for the rules' SQL (shell patterns for GLOB, dates)."""
    rows = []
    for rank, (line, row) in enumerate(numbered_rows(FOLDER / "thresholds.csv")):
        if row["flag"] not in RULES:
            raise ValueError(f"thresholds.csv line {line}: unknown flag {row['flag']!r}")
        rows.append(dict(
            flag=row["flag"], regime=row["regime"] or "*", procedure=row["procedure"] or "*",
            procedure_type=row["procedure_type"] or "*", threshold=float(row["threshold"]),
            unit=row["unit"], currency=row["currency"] or None,
            valid_from=date.fromisoformat(row["valid_from"]) if row["valid_from"] else None,
            valid_to=date.fromisoformat(row["valid_to"]) if row["valid_to"] else None,
            basis=row["basis"], rank=rank))
    frame = pd.DataFrame(rows)
    for col in ("valid_from", "valid_to"):
        frame[col] = pd.to_datetime(frame[col])
    return frame.astype({"currency": "string"})


@cache
def calendar(first: int = 1990, last: int = 2035) -> pd.DataFrame:
    """Working days per regime's country: `n` counts the working days up to each day, so the
    working days between two dates are the difference of their `n`. Weekends and the public
    holidays (with substituted days off) of python-holidays are non-working; Russia's moved
    working Saturdays are not in it and count as days off, which can only shorten a delay."""
    import holidays

    from survtrack.analysis.competition import regimes

    frames = []
    days = pd.date_range(f"{first}-01-01", f"{last}-12-31", freq="D")
    for country in sorted({r["calendar"] for r in regimes() if r["calendar"]}):
        off = pd.DatetimeIndex(list(holidays.country_holidays(country,
                                                              years=range(first, last + 1))))
        working = (days.day_of_week < 5) & ~days.isin(off)
        frames.append(pd.DataFrame({"country": country, "day": days.date,
                                    "n": working.cumsum().astype("int32")}))
    return pd.concat(frames, ignore_index=True)


def regime_calendars() -> pd.DataFrame:
    from survtrack.analysis.competition import regimes

    return pd.DataFrame([(r["regime"], r["calendar"] or None) for r in regimes()],
                        columns=["regime", "country"])


@cache
def relations() -> dict[str, pa.Table]:
    """What the rules' SQL reads beside the warehouse's tables, as Arrow tables made once: a
    DataFrame is converted at every scan, and the calendar's 33,602 dates (Python objects)
    cost ~10 ms a scan, twice in late_publication: most of a contract page's flags at 1 M."""
    return {name: pa.Table.from_pandas(frame, preserve_index=False)
            for name, frame in (("thresholds", thresholds()), ("calendar", calendar()),
                                ("regime_calendars", regime_calendars()))}


# What a contract's flags are decided from (analysis/inputs.py): its own inputs (step
# `flags`, every rule: its competition row and its contract's columns), hashed; and its groups
# (step `flags_group`, the GROUP_RULES only: its buyer and vendor's contracts signed near it,
# split_purchase; every contract of its buyer, category and year, buyer_concentration), not
# hashed: the members of the groups a written contract is or was in are the step's work
# (`inputs.candidates`; `build_inputs` keeps no row of it), and the group rules decide which
# of them can change (flips.py). A group hash of every member cost the most of a +1 % build's
# flags step (23.6 of 91.3 CPU s at 10 M, docs/scale.md) to find what the rules find again.
def own_inputs_sql(only: str | None = None) -> str:
    """The contracts' own hashes (`only`: of the contracts in that temporary table)."""
    own = inputs.among(only)
    return f"""
SELECT c.contract_id,
       hash(k, c.buyer_id, c.vendor_id, c.year, c.signed_on, c.amount, c.currency,
            c.amount_usd, c.status, c.document_id, $code) AS inputs
FROM {inputs.rows("contracts", own)} c JOIN {inputs.rows("competition", own)} k
  USING (contract_id)
"""


OWN_INPUTS_SQL = own_inputs_sql()
# the contracts whose own inputs a recorded write may have changed: their rows, their
# competition rows (analysis/inputs.py)
OWN_READS = inputs.Reads(("contracts", "competition"),
                         inputs.keys("flags", "contracts", "competition"))
# The group mates of some contracts (`{keys}`: their buyer_id, vendor_id, year): every
# contract sharing a buyer and year, or a buyer and vendor, with one of them, with the columns
# the group rules read (rules.GROUP_COLUMNS); gathered in one scan of `contracts` (for a build
# in passes or one the record does not narrow, and for buyer_concentration's rule at the
# threshold: a build the record narrows gathers the places of PLACES instead).
MATES = """
SELECT {columns} FROM contracts c
WHERE EXISTS (SELECT 1 FROM {keys} k WHERE k.buyer_id = c.buyer_id AND k.year = c.year)
   OR EXISTS (SELECT 1 FROM {keys} k WHERE k.buyer_id = c.buyer_id
                                       AND k.vendor_id = c.vendor_id)
""".replace("{columns}", ", ".join(f"c.{col}" for col in GROUP_COLUMNS))
# The buyer_concentration groups (buyer, category, year) the contracts written are or were in
# (`flags_written_at`): whose members are the group step's candidates and whose numbers are
# summed again (`_summed_groups`).
WRITTEN_GROUPS = """
    SELECT DISTINCT buyer_id, category, year
    FROM (SELECT buyer_id, year, unnest(categories) AS category FROM flags_written_at
          WHERE buyer_id IS NOT NULL AND year IS NOT NULL)"""
# The places (`flags_places`: contract_id, buyer_id, vendor_id, signed_on, year, categories;
# `written`, `paired`, `grouped`) of the contracts whose group flags a recorded write may
# change, or that their group rules read: the contracts written that are still there (their
# places now, `flags_written_at`), and of the others, whose places as last decided
# (`flags_groups`) are their places now (a place changes only with its contract's row or
# tags, which the record names), those of a written contract's pair signed in its span of
# split_purchase's window_days (now or as last decided) or the two beside it on either side
# (`paired` the spans beside it: split_purchase decides those, and reads the next ones), and
# the tagged members of the groups the written contracts are or were in (`grouped`). One
# scan of `flags_groups`' place columns; the scan of `contracts` that found them (MATES)
# gathered every contract of the written contracts' buyers' years and pairs, ~80 % of the
# contracts when new ones fall in most buyers' years (the bench at 10 M: docs/scale.md).
PLACES = """
WITH spans AS MATERIALIZED (
    SELECT buyer_id, vendor_id, b + d AS bucket, bool_or(abs(d) <= 1) AS paired
    FROM (SELECT buyer_id, vendor_id, {span} AS b FROM flags_written_at
          WHERE buyer_id IS NOT NULL AND vendor_id IS NOT NULL AND signed_on IS NOT NULL),
         (SELECT unnest([-2, -1, 0, 1, 2]) AS d)
    GROUP BY ALL),
groups AS MATERIALIZED ({groups}),
-- two scans of the place columns, each a join with few keys (a join of the buyers' years,
-- then the categories matched as lists, cost twice as much at 1 M)
found AS (
    SELECT g.*, s.paired, FALSE AS grouped FROM flags_groups g
    JOIN spans s ON s.buyer_id = g.buyer_id AND s.vendor_id = g.vendor_id
     AND s.bucket = {span_g}
    UNION ALL
    SELECT contract_id, buyer_id, vendor_id, signed_on, year, categories, FALSE, TRUE
    FROM (SELECT *, unnest(categories) AS category FROM flags_groups
          WHERE categories IS NOT NULL) g
    SEMI JOIN groups k ON k.buyer_id = g.buyer_id AND k.category = g.category
          AND k.year = g.year)
SELECT contract_id, buyer_id, vendor_id, signed_on, year, categories, TRUE AS written,
       FALSE AS paired, FALSE AS grouped
FROM flags_written_at WHERE now
UNION ALL
SELECT contract_id, any_value(buyer_id), any_value(vendor_id), any_value(signed_on),
       any_value(year), any_value(categories), FALSE, bool_or(paired), bool_or(grouped)
FROM found WHERE contract_id NOT IN (SELECT contract_id FROM flags_written)
GROUP BY contract_id
""".replace("{groups}", WRITTEN_GROUPS)
# The group step's candidates: those written, the members of their pairs' spans and of their
# groups (PLACES)
GROUP_EXPAND = "SELECT contract_id FROM flags_places WHERE written OR paired OR grouped"
# Each contract's place in the groups, as its group flags were last decided (`flags_groups`),
# rewritten for every contract, or for those written since (a place changes only with its
# contract's row or tags): read by rowid (`inputs.rows`), or for those written, their places
# now as `_gather_written` read them (`flags_written_at`: `decided`, those with a
# competition row).
CATEGORIES = "list(DISTINCT category ORDER BY category)"
GROUPS_OF = """
SELECT c.contract_id, c.buyer_id, c.vendor_id, c.signed_on, c.year, t.categories
FROM {contracts} c JOIN {competition} k USING (contract_id)
LEFT JOIN (SELECT contract_id, {categories} AS categories
           FROM {tags} GROUP BY 1) t USING (contract_id)
""".replace("{categories}", CATEGORIES)
WRITTEN_GROUPS_OF = """
SELECT contract_id, buyer_id, vendor_id, signed_on, year, categories FROM flags_written_at
WHERE now AND decided"""


def _window() -> str:
    from .rules import _setting

    return str(max(1, _setting("split_purchase", "window_days", 30)))


# Every contract: the group step's work when the record does not narrow it (`inputs.candidates`)
EVERY = "SELECT contract_id FROM contracts JOIN competition USING (contract_id)"


def group_reads() -> inputs.Reads:
    """The group step's candidates (GROUP_EXPAND), among the places of the contracts written
    (`_gather_written`)."""
    return inputs.Reads(("contracts", "competition", "tags"), GROUP_EXPAND, _gather_written)


def write_groups(wh, only: str | None) -> None:
    """`flags_groups` of the contracts in `only` (a temporary table; None: every contract;
    `flags_written`: from `flags_written_at`, which read their rows and tags), inside the
    transaction recording the group step's work."""
    own = inputs.among(only)
    wh.execute("DELETE FROM flags_groups" + (f" WHERE {own}" if own else ""))
    wh.execute("INSERT INTO flags_groups " + (WRITTEN_GROUPS_OF if only == "flags_written" else
                                              GROUPS_OF.format(**{
        table: inputs.rows(table, own) for table in ("contracts", "competition", "tags")})))


def code_version() -> str:
    import holidays

    from survtrack.analysis.competition import FOLDER as COMPETITION

    return inputs.version(*sorted(FOLDER.glob("*.csv")), Path(__file__).with_name("rules.py"),
                          COMPETITION / "regimes.csv", holidays.__version__)


# Contracts decided per pass of the rules. A rule's windows and group joins grow with the
# contracts it reads: at 10 M one pass ran out of a 5.5 GiB limit (docs/scale.md), 1 M
# decides within 550 MB. But each pass of a group rule reads the whole tables for group
# mates: at 10 M, 4 passes of 2.5 M cost 436 CPU s within 4 GB, 10 passes of 1 M 615.
# Passes split the work by buyer, so a buyer's groups fall in one pass.
SLICE = 2_500_000


def compute(wh, full: bool = False, slice_size: int = SLICE) -> dict:
    """The build step: decide every flag for the contracts whose own inputs changed since the
    last build, and the group flags for those whose groups may have changed (every flag of
    every contract when `full`); keep raised and clear rows in `flags`. Of the latter, each
    group rule decides only the contracts whose rows can change (flips.py). Returns counts
    per flag: `changed` contracts whose own inputs changed or whose groups may have,
    `group_only` of them for their groups alone (the members of a written contract's groups
    and spans), `decided_<rule>` the contracts each group rule decided, `groups_summed` the
    buyer_concentration groups whose numbers were summed again, `groups_changed` those whose
    numbers changed, `gathered` the places gathered for a build the record narrows (PLACES;
    None otherwise). The work is decided
    `slice_size` contracts at a time (by buyer)."""
    code = code_version()
    try:
        own = inputs.stale(wh, "flags", own_inputs_sql, code, full, OWN_READS)
        # the candidates of the record (every contract without it) are decided for their
        # groups, not hashed: the group rules decide which of them can change (flips.py)
        narrowed = inputs.candidates(wh, "flags_group", code, group_reads(), EVERY, full)
        # the group rules decide both works; the other rules the contracts' own changes only
        wh.execute("""CREATE OR REPLACE TEMP TABLE flags_any AS
                      SELECT contract_id FROM flags_work
                      UNION SELECT contract_id FROM flags_group_work""")
        changed = wh.scalar("SELECT count(*) FROM flags_any")
        gathered = wh.scalar("SELECT count(*) FROM flags_places") if narrowed else None
        passes = max(1, -(-changed // slice_size))
        # the work is every contract (a first build, --full) in one pass: the rules read the
        # tables whole, without narrowing them to the work
        whole = passes == 1 and own == changed == wh.scalar("SELECT count(*) FROM competition")
        with wh.using(**relations()):
            wh.execute("CREATE OR REPLACE TEMP TABLE new_flags AS"
                       f" {_rows(next(iter(definitions())), Scope(table='flags_work'))} LIMIT 0")
            for table in GROUP_NUMBERS:
                wh.execute(f"CREATE OR REPLACE TEMP TABLE new_{table} AS"
                           f" SELECT * FROM {table} LIMIT 0")
            # the contracts each group rule decided: every one of flags_any, by the rules,
            # when every contract's own inputs changed (a first build, --full, a code change)
            every = own == wh.scalar("SELECT count(*) FROM competition")
            for decided in DECIDED.values():
                wh.execute(f"CREATE OR REPLACE TEMP TABLE {decided} AS SELECT contract_id"
                           " FROM flags_any" + ("" if every else " LIMIT 0"))
            near = 0
            for n in range(passes):
                scopes = {"flags_work": "flags_pass", "flags_any": "flags_any_pass"}
                if passes > 1:
                    for work, one_pass in scopes.items():
                        wh.execute(f"""
                            CREATE OR REPLACE TEMP TABLE {one_pass} AS
                            SELECT w.contract_id FROM {work} w JOIN contracts c USING (contract_id)
                            WHERE hash(coalesce(c.buyer_id, '')) % $passes = $n""",
                                   {"passes": passes, "n": n})
                else:
                    scopes = {work: work for work in scopes}
                summed = None  # the groups summed again, when not those of the whole work
                near_pass = 0
                # the pass's competition rows, read once for the one-contract rules (each
                # read them again: a scan of every row's key, ~0.2 s a rule at 1 M contracts)
                # (of a build the record narrows, the written contracts' rows: the work is
                # among them, and each rule reads its scope's alone: `_gather_written`)
                facts = "flags_written_facts" if narrowed and passes == 1 else "flags_facts"
                if not whole:
                    if facts == "flags_facts":
                        wh.execute(f"""CREATE OR REPLACE TEMP TABLE flags_facts AS SELECT * FROM
                            {inputs.rows("competition", inputs.among(scopes["flags_work"]))}""")
                    # the written contracts' places and mates (`_gather_written`)
                    places = narrowed and passes == 1 and not every
                    if not every:
                        flips.tagged(wh, scopes["flags_any"], places)
                    if places:
                        summed = _summed_groups(wh)
                    else:
                        gather_mates(wh, scopes["flags_any"])
                # buyer_concentration's numbers of the groups decided (of the groups the
                # written contracts are or were in, when the record narrows the build), summed
                # first: they say which members its rule must decide again (flips.py)
                scope = Scope() if whole else Scope(
                    table=scopes["flags_any"], mates="flags_mates", groups=summed,
                    tagged=summed and "flags_tagged")
                wh.execute("CREATE OR REPLACE TEMP TABLE concentration_members AS"
                           f" {concentration_members(scope)}")
                for table, sql in zip(GROUP_NUMBERS, CONCENTRATION_NUMBERS):
                    wh.execute(f"INSERT INTO new_{table}"
                               f" {sql.replace('{members}', 'concentration_members')}")
                if not every:
                    # which members each group rule decides (`DECIDED`); buyer_concentration's
                    # from the new numbers, the rule deciding only the contracts with a share
                    # at the threshold (`flags_near_pass`, flips.NEAR)
                    flips.flipped_pairs(wh)
                    flips.to_decide(wh, scopes["flags_work"], scopes["flags_any"],
                                    "flags_mates", "flags_flipped_pass", places)
                    flips.split_to_decide(wh, scopes["flags_work"], scopes["flags_any"],
                                          "flags_mates", "flags_split_pass", _window())
                    # split_purchase reads only its decided contracts' spans of their pairs
                    flips.split_mates(wh, "flags_split_pass", "flags_mates", "flags_split_mates",
                                      _window())
                    for decided in DECIDED.values():
                        wh.execute(f"INSERT INTO {decided} SELECT * FROM {decided}_pass")
                    wh.execute("INSERT INTO new_flags " + flips.concentration_rows(
                        wh, "flags_flipped_pass", "flags_mates", "flags_near_pass", summed))
                    near_pass = wh.scalar("SELECT count(*) FROM flags_near_pass")
                    near += near_pass
                    if summed and near_pass:
                        # the rule reads whole buyers' years, of which the places hold the
                        # written groups alone
                        gather_mates(wh, "flags_near_pass", "flags_near_mates")
                # one statement per rule: a UNION ALL of every rule holds several rules' hash
                # tables at once, which DuckDB could not spill
                for name in definitions():
                    table = scopes["flags_any" if name in GROUP_RULES else "flags_work"]
                    if name in DECIDED and not every:
                        table = "flags_near_pass" if name in flips.NUMBERED \
                            else f"{DECIDED[name]}_pass"
                    mates = "flags_split_mates" if name == "split_purchase" and not every \
                        else "flags_near_mates" if name in flips.NUMBERED and summed \
                        and near_pass else "flags_mates"
                    scope = Scope() if whole else Scope(table=table, facts=facts,
                                                        mates=mates)
                    wh.execute(f"INSERT INTO new_flags {_rows(name, scope)}")
        _keep_same_rows(wh)
        _group_keys(wh, every, narrowed)
        decided = {f"decided_{name}": wh.scalar(f"SELECT count(*) FROM {table}")
                   for name, table in DECIDED.items()}
        summed_again = wh.scalar("SELECT count(*) FROM new_concentration_groups")
        removed = inputs.replace(
            wh, "flags", "flags", "new_flags", partial={"flags_group": _decided()},
            unchanged="flags_kept",
            # a contract's place changes only when it is written
            inside=lambda: (write_groups(wh, "flags_written" if narrowed else None),
                            _write_numbers(wh)))
        kept = wh.scalar("SELECT count(*) FROM flags_kept")
        regrouped = wh.scalar("SELECT count(*) FROM concentration_changed")
        per_flag = {flag: {"raised": raised, "clear": clear} for flag, raised, clear in wh.query(
            "SELECT flag, count(*) FILTER (WHERE raised), count(*) FILTER (WHERE NOT raised)"
            " FROM flags GROUP BY 1 ORDER BY 1")}
    finally:
        inputs.done(wh, "flags", "new_flags", "flags_pass", "flags_any", "flags_any_pass",
                    "flags_facts", "flags_mates", "flags_written", "flags_written_at",
                    "flags_written_facts",
                    "flags_summed_groups",
                    "flags_group_work", "flags_group_candidates",
                    "flags_group_consumed", "flags_kept", "concentration_changed",
                    "concentration_members", "concentration_flips", "flags_tagged",
                    "flags_split_mates", "flags_groups_before", "flags_numbered", "flags_near_pass",
                    "flags_places", "flags_near_mates",
                    *DECIDED.values(), *(f"{table}_pass" for table in DECIDED.values()),
                    *(f"new_{table}" for table in GROUP_NUMBERS))
    return {"changed": changed, "group_only": changed - own, "removed": removed,
            **decided, "decided_by_the_rule_near_the_threshold": near,
            "kept": kept, "groups_summed": summed_again, "groups_changed": regrouped,
            "gathered": gathered,
            "passes": passes, "flags": per_flag}


# buyer_concentration's numbers per group (rules.CONCENTRATION_NUMBERS), kept by the build
# beside `flags`, whose rows of that flag keep the status alone (rules.COMPOSED)
GROUP_NUMBERS = ("concentration_groups", "concentration_vendors")
_ROW = "contract_id, flag, raised, value, threshold, regime, evidence, document_id"


# The contracts each group rule decides (flips.py): of the group step's work, the
# members of the concentration pairs whose status can change, and the contracts of the split
# pairs' windows a changed contract is or was in; the others keep their rows, not rewritten
DECIDED = {"buyer_concentration": "flags_flipped", "split_purchase": "flags_split"}
assert set(DECIDED) == GROUP_RULES


def _decided() -> str:
    """SQL on `flags`' columns: the group rules' rows the build decided again (each rule's of
    the contracts in its DECIDED table)."""
    return " OR ".join(f"(flag = '{name}' AND contract_id IN (SELECT contract_id FROM"
                       f" {DECIDED[name]}))" for name in sorted(GROUP_RULES))


def _keep_same_rows(wh) -> None:
    """`flags_kept`: the contracts decided for their groups alone (not their own inputs)
    whose group flags' rows came out as stored. Their rows are not rewritten nor recorded as
    changed: a member of a group a contract joined keeps its row when its status stays
    (buyer_concentration's numbers are the group's, `_write_numbers`), and the snapshot
    does not copy it. Their new rows leave `new_flags`."""
    alone = "(SELECT contract_id FROM flags_group_work EXCEPT SELECT contract_id FROM flags_work)"
    # each rule's rows by a scan of their own (its flag's row groups, one semi-join each
    # row): the rules' conditions joined by OR ran both semi-joins on both rules' rows
    stored = " UNION ALL ".join(
        f"SELECT {_ROW} FROM " + inputs.rows("flags", f"flag = '{name}' AND contract_id IN"
                                             f" (SELECT contract_id FROM {DECIDED[name]})"
                                             f" AND contract_id IN {alone}")
        for name in sorted(GROUP_RULES))
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE flags_kept AS
        WITH new AS (SELECT {_ROW} FROM new_flags WHERE contract_id IN {alone}),
        old AS MATERIALIZED ({stored}),
        differ AS (SELECT contract_id FROM (SELECT * FROM new EXCEPT SELECT * FROM old)
                   UNION SELECT contract_id FROM (SELECT * FROM old EXCEPT SELECT * FROM new))
        SELECT contract_id FROM {alone} EXCEPT SELECT contract_id FROM differ""")
    wh.execute("DELETE FROM new_flags WHERE contract_id IN (SELECT contract_id FROM flags_kept)")


def _group_keys(wh, every: bool, written: bool) -> None:
    """`concentration_changed` (buyer_id, category, year): the groups whose numbers differ
    from those stored, among the groups summed and those their members were in when last
    decided (`flags_groups`, read before the build rewrites it: a group every member left
    goes); `written`: the groups summed were those the contracts written are or were in
    (`_gather_written`), so only theirs. Every group when `every` contract was decided."""
    if every:
        wh.execute("CREATE OR REPLACE TEMP TABLE concentration_changed AS"
                   " SELECT buyer_id, category, year FROM new_concentration_groups"
                   " UNION SELECT buyer_id, category, year FROM concentration_groups")
        return
    # their places as last decided: of the written contracts, read by `_gather_written`
    before = "(SELECT * FROM flags_written_at WHERE NOT now)" if written else inputs.rows(
        "flags_groups", "contract_id IN (SELECT contract_id FROM flags_any"
        " UNION ALL SELECT contract_id FROM flags_gone)")
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE concentration_changed AS
        WITH keys AS MATERIALIZED (
            SELECT buyer_id, category, year FROM new_concentration_groups
            UNION SELECT buyer_id, unnest(categories) AS category, year FROM {before}
            WHERE buyer_id IS NOT NULL AND year IS NOT NULL),
        old_groups AS (SELECT g.* FROM concentration_groups g SEMI JOIN keys k
                       ON g.buyer_id = k.buyer_id AND g.category = k.category
                      AND g.year = k.year),
        old_vendors AS (SELECT v.* FROM concentration_vendors v SEMI JOIN keys k
                        ON v.buyer_id = k.buyer_id AND v.category = k.category
                       AND v.year = k.year)
        SELECT buyer_id, category, year FROM (
            SELECT * FROM new_concentration_groups EXCEPT SELECT * FROM old_groups
            UNION ALL (SELECT * FROM old_groups EXCEPT SELECT * FROM new_concentration_groups))
        UNION SELECT buyer_id, category, year FROM (
            SELECT * FROM new_concentration_vendors EXCEPT SELECT * FROM old_vendors
            UNION ALL (SELECT * FROM old_vendors EXCEPT SELECT * FROM new_concentration_vendors))
        """)


def _write_numbers(wh) -> None:
    """Inside the build's transaction: the changed groups' numbers replaced, their buyers
    recorded for the publisher (warehouse/changes.py)."""
    from survtrack.warehouse import changes

    changed = ("(buyer_id, category, year) IN (SELECT (buyer_id, category, year)"
               " FROM concentration_changed)")
    for table in GROUP_NUMBERS:
        wh.execute(f"DELETE FROM {table} WHERE {changed}")
        wh.execute(f"INSERT INTO {table} SELECT * FROM new_{table} WHERE {changed}")
        changes.record(wh, table, "SELECT buyer_id FROM concentration_changed")


def gather_mates(wh, work: str, into: str = "flags_mates") -> None:
    """The temporary table `into`: the group mates (MATES) of the contracts of `work` (a
    build in passes, or one the record does not narrow: `_gather_written` otherwise). The
    group rules read their groups from it (`Scope.members`), where each statement scanned
    every contract, twice for a rule. (Their competition rows
    are not gathered: fetching them by rowid, ~200,000 rows of 40 columns for 22,682
    contracts at 1 M, cost more than the one rule reading them scans.)"""
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE {into} AS
        WITH k AS MATERIALIZED (
            SELECT DISTINCT buyer_id, vendor_id, year
            FROM {inputs.rows("contracts", inputs.among(work))})
        {MATES.replace("{keys}", "k")}""")


def _gather_written(wh) -> None:
    """For a build the record narrows (`group_reads`, from `flags_group_keys`):
    `flags_written` (contract_id), the contracts written since the flags were last decided
    (their rows, competition rows or tags), with those whose own inputs changed and the
    removed ones; `flags_written_at`, their places as they are now (`now`: those there are;
    `decided`: with a competition row, whose places `write_groups` keeps) and were when last
    decided (`flags_groups`); `flags_places` (PLACES), the places of those there are and of
    the contracts of their pairs' spans and groups, where every contract the group rules
    decide, and every member of a group whose numbers can change, is (flips.py); and
    `flags_mates`, their `contracts` rows (GROUP_COLUMNS), by rowid."""
    written = " UNION ".join(f"SELECT contract_id FROM {table}" for table in (
        "flags_work", "flags_gone") if inputs.temporary(wh, table))
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE flags_written AS
        SELECT key AS contract_id FROM flags_group_keys
        WHERE table_name IN ('contracts', 'competition', 'tags')
        {"UNION " + written if written else ""}""")
    own = inputs.among("flags_written")
    # their competition rows: whether they have one (`decided`), and the one-contract rules'
    # facts of the work among them (`compute`'s `flags_facts`), from one scan of the key
    wh.execute("CREATE OR REPLACE TEMP TABLE flags_written_facts AS SELECT * FROM"
               f" {inputs.rows('competition', own)}")
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE flags_written_at AS
        SELECT contract_id, FALSE AS now, buyer_id, vendor_id, signed_on, year, categories,
               NULL::BOOLEAN AS decided
        FROM {inputs.rows("flags_groups", own)}
        UNION ALL
        SELECT contract_id, TRUE, c.buyer_id, c.vendor_id, c.signed_on, c.year, t.categories,
               k.contract_id IS NOT NULL
        FROM {inputs.rows("contracts", own)} c
        LEFT JOIN (SELECT contract_id, {CATEGORIES} AS categories
                   FROM {inputs.rows("tags", own)} GROUP BY 1) t USING (contract_id)
        LEFT JOIN flags_written_facts k USING (contract_id)""")
    window = _window()
    wh.execute("CREATE OR REPLACE TEMP TABLE flags_places AS " + PLACES.replace(
        "{span}", flips.span("signed_on", window)).replace(
        "{span_g}", flips.span("g.signed_on", window)))
    columns = ", ".join(GROUP_COLUMNS)
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE flags_mates AS SELECT {columns} FROM
        {inputs.rows("contracts", "contract_id IN (SELECT contract_id FROM flags_places)")}""")


def _summed_groups(wh) -> str:
    """`flags_summed_groups` (buyer_id, category, year): the groups whose numbers a build the
    record narrows sums again (`_gather_written`), those a written contract is or was in: no
    other group's members changed. Every member of them is among the mates and the
    candidates (GROUP_EXPAND), so its categories are in `flags_tagged`: the members are
    found there (`Scope.groups`), where summing every group of the written contracts and of
    those members read every contract of their buyers' years and its tags. A decided
    contract's other groups keep their stored numbers (flips.concentration_rows)."""
    wh.execute(f"CREATE OR REPLACE TEMP TABLE flags_summed_groups AS {WRITTEN_GROUPS}")
    return "flags_summed_groups"


def _rows(name: str, scope: Scope) -> str:
    """The `flags` rows (raised and clear) of one rule for the contracts in scope."""
    # a COMPOSED flag's value and evidence are its group's: composed when read (stored_sql)
    value, evidence = ("NULL", "NULL::VARCHAR") if name in COMPOSED else ("value", "evidence")
    return (f"SELECT contract_id, '{name}' AS flag, status = 'raised' AS raised,"
            f" {value}::DOUBLE AS value, threshold::DOUBLE AS threshold, regime,"
            f" {evidence} AS evidence, document_id FROM ({RULES[name](scope)})"
            " WHERE status IN ('raised', 'clear')")


def for_contract(con, contract_id: str) -> list[dict]:
    """Every flag for one contract: status, value, threshold, evidence and document, in
    flags.csv order. A flag the build decided (raised or clear) is read from its `flags` row,
    one look-up by contract (the snapshot indexes it): what the overview, the grid and the
    counts show for the contract. Only the others (unknown or not applicable, which the build
    does not keep, or none yet) are decided here from the facts: deciding every flag again
    read the contract's groups, 0.5-1.0 s a page at 10 M. `con` is a DuckDB connection to a
    warehouse or a snapshot."""
    cur = con.cursor()  # the caller's connection may hold an unfinished result
    try:
        stored = {row[1]: row[2:] for row in cur.execute(
            stored_sql(cur, contract=True), {"contract": contract_id}).fetchall()}
    finally:
        cur.close()
    live = decide(con, contract_id, [name for name in definitions() if name not in stored])
    out = []
    for name, flag in definitions().items():
        if name in stored:
            raised, value, threshold, regime, evidence, document_id = stored[name]
            found = {"status": "raised" if raised else "clear", "value": value,
                     "threshold": threshold, "regime": regime, "evidence": evidence,
                     "document_id": document_id}
        else:
            found = live[name]
        out.append({"flag": name, "name_en": flag.name_en, "name_ru": flag.name_ru,
                    "group": name in GROUP_RULES, **found})
    return out


def stored_sql(con, contract: bool = False) -> str:
    """SQL: the `flags` rows (its columns) as readers show them, the value and evidence of
    the COMPOSED flags composed from their groups' numbers (rules.composed); `contract`: of
    the contract `$contract` alone (its rows, tags and buyer's groups looked up by key). A
    snapshot or warehouse of an earlier survtrack, without the group numbers, is read as it
    is."""
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name ="
                       " 'concentration_vendors' AND schema_name = 'main'").fetchone()[0]:
        return f"SELECT {_ROW} FROM flags" + (" WHERE contract_id = $contract" if contract
                                               else "")
    names = ", ".join(f"'{name}'" for name in sorted(COMPOSED))
    if contract:
        # each relation looked up by its key alone (a snapshot indexes it): joined as
        # relations, DuckDB pushed the join's keys into their scans, which then read every
        # row (~26 ms CPU a contract at 1 M, ~15 so)
        lookups = """WITH f AS MATERIALIZED (SELECT * FROM flags WHERE contract_id = $contract),
        c AS MATERIALIZED (SELECT * FROM contracts WHERE contract_id = $contract),
        k AS MATERIALIZED (SELECT * FROM tags WHERE contract_id = $contract),
        g AS MATERIALIZED (SELECT * FROM concentration_groups
                           WHERE buyer_id = (SELECT buyer_id FROM c)),
        v AS MATERIALIZED (SELECT * FROM concentration_vendors
                           WHERE buyer_id = (SELECT buyer_id FROM c))"""
        relations = ("f", "c", "k", "g", "v")
    else:
        lookups, relations = "", ("flags", "contracts", "tags", "concentration_groups",
                                  "concentration_vendors")
    return f"""{lookups}
    SELECT f.contract_id, f.flag, f.raised,
           CASE WHEN f.flag IN ({names}) THEN m.value ELSE f.value END AS value,
           f.threshold, f.regime,
           CASE WHEN f.flag IN ({names}) THEN m.evidence ELSE f.evidence END AS evidence,
           f.document_id
    FROM {relations[0]} f
    LEFT JOIN ({composed(*relations)}) m ON m.contract_id = f.contract_id
          AND f.flag IN ({names})"""


def decide(con, contract_id: str, names: list[str] | None = None) -> dict[str, dict]:
    """{flag: status, value, threshold, regime, evidence, document_id} of one contract,
    decided from its facts (a flag of several contracts reads its group) by the rules the
    build runs; `names` (default every flag) in flags.csv order."""
    from survtrack.warehouse.derived import relations_on

    flags = definitions()
    out = {}
    if names == []:
        return out
    con = con.cursor()
    try:
        with relations_on(con, **relations()):
            for name in names if names is not None else flags:
                cur = con.execute(RULES[name](Scope(contract_id)))
                cols = [d[0] for d in cur.description]
                rows = cur.fetchall()
                found = dict(zip(cols, rows[0])) if rows else {
                    "status": "unknown", "value": None, "threshold": None, "regime": None,
                    "evidence": f"needs {flags[name].requires}", "document_id": None}
                found.pop("contract_id", None)
                out[name] = found
    finally:
        con.close()
    return out


def counts(con) -> list[dict]:
    """Per flag and each source it can be computed for (flags.csv): contracts raised, clear and
    not knowable (unknown or not applicable), and the rate of raised among the knowable."""
    con = con.cursor()
    rows = con.execute("""
        SELECT f.flag, c.source, count(*) FILTER (WHERE f.raised) AS raised,
               count(*) FILTER (WHERE NOT f.raised) AS clear
        FROM flags f JOIN contracts c USING (contract_id) GROUP BY ALL""").fetchall()
    totals = dict(con.execute("SELECT source, count(*) FROM contracts GROUP BY 1").fetchall())
    found = {(flag, source): (raised, clear) for flag, source, raised, clear in rows}
    out = []
    for name, flag in definitions().items():
        for source in sorted(s for s in totals if s in flag.sources):
            raised, clear = found.get((name, source), (0, 0))
            knowable = raised + clear
            out.append({"flag": name, "source": source, "contracts": totals[source],
                        "raised": raised, "clear": clear, "knowable": knowable,
                        "not_knowable": totals[source] - knowable,
                        "rate": raised / knowable if knowable else None})
    return out


def known_names(names: list[str] | None) -> list[str]:
    """Flag ids, each checked against flags.csv (shell patterns allowed)."""
    if not names:
        return []
    out = []
    for name in names:
        matched = [f for f in definitions() if fnmatch.fnmatchcase(f, name)]
        if not matched:
            raise KeyError(f"unknown flag {name!r}; flags: {', '.join(definitions())}")
        out += [m for m in matched if m not in out]
    return out
