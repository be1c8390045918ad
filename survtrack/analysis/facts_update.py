"""Bring a snapshot's spending tables up to date with a few changed rows, instead of
recomputing them over every contract (`facts.DERIVED`).

The snapshot publisher (`warehouse/snapshot.py`) starts a new snapshot from a copy of the
current one, replaces the rows of the published tables that changed and hands `refresh` the
snapshot with, per changed table, its removed rows (`publish_changes.<table>_old`) and its
added ones (`<table>_new`). From them:

- the contracts whose facts may have changed: their own rows, tags, payments or flags
  changed, or their vendor's or buyer's organization or entity did;
- `contract_facts`: those contracts' facts recomputed from their rows alone (their old ones,
  which the cubes' update reads, made from the new ones where only flags changed); their old rows
  deleted and the new ones appended as the table's tail (`contract_facts_tail`), which the
  grid sorts and merges with the sorted body it reads in its stored order; the whole table
  rewritten in `DEFAULT_ORDER` when the tail would grow past TAIL_SHARE of the contracts;
- the clustered copies (`facts_by_*`): those contracts' rows replaced (appended, not
  re-clustered: a filtered view reads the appended row groups too); each rewritten in its
  order once its appended rows pass CLUSTERED_SHARE of its rows (`_clustered`), as
  search_postings is (the search tables' update appends to it);
- each cube: the groups where a changed contract's part (its sums in the group) changed or
  left, deleted and summed again from their contracts alone (read by the group's columns the
  cube's table has), so each group's sums are those
  of a full publish (DECIMAL sums exact); a part the same before and after (a contract whose
  flags alone changed, in a cube that does not read them) leaves its group as it is; the
  groups that only gained contracts get the new ones' sums added to their rows
  (DOUBLE sums then differ from a full publish's by the order of additions, ~1e-15
  relative; counts, DECIMAL sums, first and last years exact);
- `parties`: those of the contracts' vendors and buyers and of the changed organizations;
  not for a contract whose raised flags alone changed (WORDED), whose parties' rows and
  search documents read no flag;
- the search tables: the changed contracts' (WORDED) and parties' index rows made again,
  those not the same as before numbered between their neighbours' (search.py numbers
  documents and terms DOC_GAP and TERM_GAP apart, so no other number moves), their postings
  replaced, the words' uses and the per-term and per-prefix counts by difference, new terms
  numbered between theirs (search_update.py); the per-kind runs made again (a few rows).
When more than FULL_SHARE of the contracts are touched, `refresh` declines (None) and the
publisher recomputes every derived table.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from survtrack.analysis import facts, search, search_update
from survtrack.warehouse.snapshot import CHANGES, swap_table

FULL_SHARE = 0.2  # beyond this share of the contracts touched, recompute everything
# contract_facts' unsorted tail (see _facts) kept under this share of the contracts: the grid's
# default page sorts the tail's rows behind its filters (top-N), reads the body in order
TAIL_SHARE = 0.1
# each clustered copy (facts.APPENDED: facts_by_*, search_postings) rewritten in its order once
# the rows appended to it since (clustered_tail) pass this share of its rows: a filter on its
# cluster reads the appended row groups too (at 1 M contracts 35 % appended cost the one-vendor
# overview +27 % and searches 3-7 ms; at ~13 % reads matched a full copy's: docs/scale.md), and
# no full copy re-clusters them any more (warehouse/snapshot.py GROWTH)
CLUSTERED_SHARE = 0.1
BY_CONTRACT = ("contracts", "tags", "payments", "flags")  # what contract_facts reads per contract
PARTIES = ("organizations", "entities")  # what it reads per vendor and buyer
AFFECTED, OLD, NEW, CHANGED, GROUPS, GAINED, KEYS, BOTH, SAME, WORDED, REREAD = (
    "publish_affected", "publish_old_facts", "publish_new_facts", "publish_changed_facts",
    "publish_groups", "publish_gained", "publish_party_keys", "publish_both", "publish_same",
    "publish_worded", "publish_reread")


def _change(table: str, column: str, changed: Mapping[str, int]) -> list[str]:
    """SELECTs of `column` of `table`'s removed and added rows (none if it did not change)."""
    if table not in changed:
        return []
    return [f"SELECT {column} FROM {CHANGES}.{table}_{side}" for side in ("old", "new")]


def refresh(con: duckdb.DuckDBPyConnection, changed: Mapping[str, int]) -> set[str] | None:
    """Update the derived tables of the snapshot `con` for the `changed` tables (name -> rows
    removed and added); the derived tables now up to date (the rest the publisher recomputes),
    or None where too much changed to do it row by row."""
    if not set(changed) & {*BY_CONTRACT, *PARTIES}:
        return set(facts.DERIVED)  # nothing any derived table reads
    orgs = _change("organizations", "org_id", changed)
    if "entities" in changed:
        entities = " UNION ".join(_change("entities", "entity_id", changed))
        orgs.append(f"SELECT org_id FROM organizations WHERE entity_id IN ({entities})")
    ids = [q for t in BY_CONTRACT if t != "flags" for q in _change(t, "contract_id", changed)]
    if orgs:
        union = " UNION ".join(orgs)
        ids.append(f"SELECT contract_id FROM contracts"
                   f" WHERE vendor_id IN ({union}) OR buyer_id IN ({union})")
    # WORDED: the contracts whose parties' rows and search documents may have changed, all
    # but those whose raised flags alone did (neither reads flags; at +1 % most of the
    # affected: a group rule decides again every member of a group a new contract joins)
    if "flags" in changed:
        # the facts hold which flags a contract raised and which were decided, not their
        # values: a row whose value or evidence alone changed (split_purchase's window sum)
        # leaves them as they were
        flagged = [f"SELECT contract_id, flag, raised FROM {CHANGES}.flags_{side}"
                   for side in ("old", "new")]
        con.execute(f"CREATE TEMP TABLE {WORDED} AS SELECT * FROM"
                    f" ({' UNION '.join(ids or ['SELECT NULL::VARCHAR WHERE false'])})"
                    " w(contract_id)")
        ids = [f"SELECT contract_id FROM {WORDED}",
               f"SELECT contract_id FROM ({flagged[0]} EXCEPT {flagged[1]})"
               f" UNION SELECT contract_id FROM ({flagged[1]} EXCEPT {flagged[0]})"]
    con.execute(f"CREATE TEMP TABLE {AFFECTED} AS {' UNION '.join(ids)}")
    if "flags" not in changed:
        con.execute(f"CREATE TEMP VIEW {WORDED} AS SELECT contract_id FROM {AFFECTED}")
    touched, total = con.execute(
        f"SELECT (SELECT count(*) FROM {AFFECTED}), (SELECT count(*) FROM contracts)").fetchone()
    if touched > FULL_SHARE * max(total, 1):
        return None
    among = f"contract_id IN (SELECT contract_id FROM {AFFECTED})"
    con.execute(f"CREATE TEMP TABLE {NEW} AS {facts.facts_sql(among)}")
    _old_facts(con, changed)
    con.execute(f"CREATE TEMP TABLE {CHANGED} AS SELECT * FROM {OLD} UNION ALL"
                f" SELECT * FROM {NEW}")
    con.execute(f"CREATE TEMP TABLE {BOTH} AS SELECT contract_id FROM {OLD}"
                f" SEMI JOIN {NEW} USING (contract_id)")
    _facts(con, among, total)
    for name in facts.CLUSTERED:
        con.execute(f"DELETE FROM facts_by_{name} WHERE {among}")
        added = con.execute(f"INSERT INTO facts_by_{name} {facts.clustered_sql(name, NEW)}"
                            f" ORDER BY {facts.cluster_order(name)}").fetchone()[0]
        _clustered(con, f"facts_by_{name}", added)
    for name, cube in facts.GROUPED.items():
        _regroup(con, name, cube)
    _parties(con, changed)
    searched = search_update.update(con, WORDED, KEYS)
    if searched:
        _clustered(con, "search_postings", con.execute(
            "SELECT count(*) FROM publish_new_postings").fetchone()[0])
    else:  # made whole by the publisher
        con.execute("UPDATE clustered_tail SET rows = 0 WHERE table_name = 'search_postings'")
    return set(facts.DERIVED) - set(search.TABLES) | (set(search_update.REMADE) if searched else set())


def _clustered(con, table: str, added: int) -> None:
    """Count `added` rows appended to clustered copy `table` (clustered_tail); once those
    appended since it was last written in its order (facts.APPENDED) pass CLUSTERED_SHARE of
    its rows, rewrite it in that order, as a full publish writes it. search_postings (~100 M
    rows at 10 M contracts) is sorted in ranges of terms (search.Postings' pieces), each
    within the memory of a piece."""
    appended, rows = con.execute(
        f"SELECT (SELECT rows FROM clustered_tail WHERE table_name = ?) + ?,"
        f" (SELECT count(*) FROM {table})", [table, added]).fetchone()
    if appended > CLUSTERED_SHARE * max(rows, 1):
        order = facts.APPENDED[table]
        ranges = search.Postings().ranges(con, table) if table == "search_postings" else ["true"]
        for i, where in enumerate(ranges):
            piece = f"SELECT * FROM {table} WHERE {where} ORDER BY {order}"
            con.execute(f"CREATE TABLE publish_clustered AS {piece}" if i == 0 else
                        f"INSERT INTO publish_clustered {piece}")
        swap_table(con, "publish_clustered", table)
        appended = 0
    con.execute("UPDATE clustered_tail SET rows = ? WHERE table_name = ?", [appended, table])


def _old_facts(con, changed: Mapping[str, int]) -> None:
    """OLD: the affected contracts' facts as the snapshot held them. Those of a contract
    whose raised flags alone changed (not WORDED: at +1 % every old contract a group rule
    decided again) are its new facts with the flags it had: its flags rows now (NEW's lists;
    a contract has each flag once, the table's key) less those added, plus those removed.
    Read back from contract_facts they cost a scan of its contract_id for a few rows. The
    WORDED ones are read back (REREAD), but not those new to `contracts`: no facts before."""
    reread = f"SELECT contract_id FROM {WORDED}"
    if "contracts" in changed:
        reread += (f" EXCEPT (SELECT contract_id FROM {CHANGES}.contracts_new"
                   f" EXCEPT SELECT contract_id FROM {CHANGES}.contracts_old)")
    con.execute(f"CREATE TEMP TABLE {REREAD} AS {reread}")
    among = f"contract_id IN (SELECT contract_id FROM {REREAD})"
    if not con.execute(f"SELECT count(*) FROM {REREAD}").fetchone()[0]:
        among = "false"  # DuckDB would still scan the column for an empty list
    read = f"SELECT * FROM contract_facts{facts.among_rows('contract_facts', among)}"
    if "flags" not in changed:  # every affected contract is WORDED
        con.execute(f"CREATE TEMP TABLE {OLD} AS {read}")
        return
    flagged = ("SELECT contract_id, flag, raised FROM {}"
               " SEMI JOIN publish_only USING (contract_id)")
    con.execute(f"""CREATE TEMP TABLE {OLD} AS
        WITH publish_only AS (SELECT * FROM {NEW} ANTI JOIN {WORDED} USING (contract_id))
        {read} UNION ALL
        SELECT n.* REPLACE (coalesce(o.flags, []::VARCHAR[]) AS flags,
                            coalesce(o.flags_known, []::VARCHAR[]) AS flags_known)
        FROM publish_only n LEFT JOIN (
            SELECT contract_id, list(flag ORDER BY flag) FILTER (WHERE raised) AS flags,
                   list(flag ORDER BY flag) AS flags_known
            FROM (SELECT * FROM (
                      SELECT contract_id, flag, list_contains(flags, flag) AS raised
                      FROM (SELECT contract_id, flags, unnest(flags_known) AS flag FROM publish_only)
                      EXCEPT ALL {flagged.format(f'{CHANGES}.flags_new')})
                  UNION ALL {flagged.format(f'{CHANGES}.flags_old')})
            GROUP BY contract_id) o USING (contract_id)""")


def _facts(con, among: str, total: int) -> None:
    """contract_facts: the changed contracts' rows deleted and their new facts appended after
    the others (the tail, named in contract_facts_tail, which the grid sorts and merges with
    the body read in its stored order); the table rewritten in DEFAULT_ORDER instead, its tail
    emptied, once the tail would pass TAIL_SHARE of the contracts (a write of every row:
    most of this step's cost, which the tail defers)."""
    tail = con.execute(f"SELECT (SELECT count(*) FROM contract_facts_tail WHERE NOT {among})"
                       f" + (SELECT count(*) FROM {NEW})").fetchone()[0]
    con.execute(f"DELETE FROM contract_facts_tail WHERE {among}")
    if tail > TAIL_SHARE * max(total, 1):
        con.execute(f"""CREATE TABLE publish_facts AS
            SELECT * FROM (SELECT * FROM contract_facts WHERE NOT {among}
                           UNION ALL SELECT * FROM {NEW})
            ORDER BY {facts.DEFAULT_ORDER}""")
        swap_table(con, "publish_facts", "contract_facts")
        con.execute("DELETE FROM contract_facts_tail")
        return
    con.execute(f"DELETE FROM contract_facts WHERE {among}")
    con.execute(f"INSERT INTO contract_facts SELECT * FROM {NEW} ORDER BY {facts.DEFAULT_ORDER}")
    con.execute(f"INSERT INTO contract_facts_tail SELECT contract_id FROM {NEW}")


def _rows_of(table: str, facts_rows: str) -> str:
    """SQL: the rows of derived table `table` (contract_facts, facts_by_category, a cube) that
    the contracts whose facts are `facts_rows` make, as the cubes over `table` read it, each
    naming its contract (`contract_id`): a cube's rows summed per group and contract."""
    if table == "contract_facts":
        return facts_rows
    if table == "facts_by_category":
        return f"({facts.clustered_sql('category', facts_rows)})"
    cube = facts.GROUPED[table]
    rows = cube.rows(_rows_of(cube.table, facts_rows))
    return f"(SELECT contract_id, {cube.select} FROM {rows} GROUP BY {cube.group}, contract_id)"


def _regroup(con, name: str, cube: facts.Cube) -> None:
    """Cube `name` over the groups of the changed contracts' rows (those of their old facts,
    OLD, and of their new ones, NEW), but for a contract's part of a group that is the same
    before and after (_parts: it leaves the group as it is). A group that lost a contract,
    or a part of one, is summed again from all its rows, as a full publish sums it: a sum
    less a contract's is not that sum in DOUBLE, nor says when no value is left (NULL). A
    group that only gained contracts gets their sums added to its row (_merge), without
    reading its other rows: at +1 % most groups, and re-summing them read each one's every
    contract (a scan of the group columns of the table the cube sums)."""
    group = [c.strip() for c in cube.group.split(",")]
    keyed = [c.strip() for c in (cube.keyed or cube.group).split(",")]
    _parts(con, cube, group)
    kept = " AND ".join(["r.contract_id = u.contract_id"] + [
        f"r.{c} IS NOT DISTINCT FROM u.publish_g{i}" for i, c in enumerate(group)])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {GROUPS} AS SELECT DISTINCT {cube.group} FROM"
                f" {cube.rows(_rows_of(cube.table, OLD))} r ANTI JOIN {SAME} u ON {kept}")
    among = " AND ".join(f"r.{c} IS NOT DISTINCT FROM g.{c}" for c in group)
    if con.execute(f"SELECT count(*) FROM {GROUPS}").fetchone()[0]:
        same = " AND ".join(f"t.{k} IS NOT DISTINCT FROM g.{c}" for k, c in zip(keyed, group))
        con.execute(f"DELETE FROM {name} t USING {GROUPS} g WHERE {same}")
        rows = _group_rows(cube, among)
        con.execute(f"INSERT INTO {name} SELECT {cube.select} FROM {rows} GROUP BY {cube.group}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {GAINED} AS SELECT {cube.select} FROM"
                f" (SELECT r.* FROM {cube.rows(_rows_of(cube.table, NEW))} r"
                f" ANTI JOIN {SAME} u ON {kept} ANTI JOIN {GROUPS} g ON {among})"
                f" GROUP BY {cube.group}")
    _merge(con, name, group, keyed)


def _group_rows(cube: facts.Cube, among: str) -> str:
    """SQL: the rows of the cube's groups in GROUPS, as its `select` reads them. The table's
    rows of the groups' values of the columns it has itself (the whole group, or the cube's
    `scanned`) are found from those columns alone and read by row id: a flag cube's groups
    summed again unnested and measured every contract's facts to keep a few groups' rows."""
    if cube.rows is facts.as_is:
        return (f"(SELECT * FROM {cube.table} WHERE rowid IN (SELECT r.rowid FROM"
                f" {cube.table} r SEMI JOIN {GROUPS} g ON {among}))")
    return f"(SELECT r.* FROM {cube.rows(_scanned_rows(cube))} r SEMI JOIN {GROUPS} g ON {among})"


def _scanned_rows(cube: facts.Cube) -> str:
    """SQL: the rows of the cube's table with the values of GROUPS' `scanned` columns (every
    row where the cube names none)."""
    if not cube.scanned:
        return cube.table
    own = [c.strip() for c in cube.scanned.split(",")]
    on = " AND ".join(f"r.{c} IS NOT DISTINCT FROM g.{c}" for c in own)
    return (f"(SELECT * FROM {cube.table} WHERE rowid IN (SELECT r.rowid FROM {cube.table} r"
            f" SEMI JOIN (SELECT DISTINCT {', '.join(own)} FROM {GROUPS}) g ON {on}))")


def _parts(con, cube: facts.Cube, group: list[str]) -> None:
    """TEMP SAME: the parts of the cube's groups (each group's sums over one contract's rows
    alone; the group as publish_g0, publish_g1…) that a changed contract has the same
    before and after. Such a part leaves its group's row as it is, exactly: a contract whose
    flags alone changed keeps its parts of every cube that does not read them, and those
    groups were summed again from all their contracts. Only the contracts with old and new
    facts (BOTH) can keep a part; parts are compared by their hashes, as the publisher
    compares rows (snapshot._apply; an EXCEPT of the parts' ~25 columns cost more)."""
    groups = ", ".join(f"{c} AS publish_g{i}" for i, c in enumerate(group))
    for side, facts_rows in (("old", OLD), ("new", NEW)):
        rows = _rows_of(cube.table, f"(SELECT * FROM {facts_rows} SEMI JOIN {BOTH}"
                                    " USING (contract_id))")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE publish_{side}_parts AS
            SELECT contract_id, {', '.join(f'publish_g{i}' for i in range(len(group)))},
                   hash(p) AS publish_h FROM (
                SELECT contract_id, {groups}, {cube.select} FROM {cube.rows(rows)}
                GROUP BY {cube.group}, contract_id) p""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SAME} AS SELECT * FROM publish_new_parts"
                " SEMI JOIN publish_old_parts USING (publish_h)")


def _merge(con, name: str, group: list[str], keyed: list[str]) -> None:
    """Add the sums of the groups in GAINED (over contracts cube `name` does not hold yet) to
    the cube's rows of those groups, each column as facts.COMBINED says; a new group's row
    inserted. The stored rows are found by their row ids from a scan of the group columns."""
    same = " AND ".join(f"t.{k} IS NOT DISTINCT FROM d.{k}" for k in keyed)
    con.execute(f"CREATE OR REPLACE TEMP TABLE publish_held AS"
                f" SELECT t.rowid AS r FROM {name} t SEMI JOIN {GAINED} d ON {same}")
    columns = [r[0] for r in con.execute(f"DESCRIBE {GAINED}").fetchall()]
    combined = []
    for c in columns:
        how = "group" if c in group else facts.COMBINED.get(c)
        combined.append(f"d.{c}" if how == "group" else f"{how}(t.{c}, d.{c}) AS {c}" if how
                        else f"coalesce(t.{c} + d.{c}, t.{c}, d.{c}) AS {c}")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE publish_merged AS
        SELECT {', '.join(combined)} FROM {GAINED} d
        LEFT JOIN (SELECT * FROM {name} WHERE rowid IN (SELECT r FROM publish_held)) t
          ON {same}""")
    con.execute(f"DELETE FROM {name} WHERE rowid IN (SELECT r FROM publish_held)")
    con.execute(f"INSERT INTO {name} SELECT * FROM publish_merged")


def _parties(con, changed: Mapping[str, int]) -> None:
    """`parties` again for the changed contracts' vendors and buyers (as before and after;
    not those of a contract whose flags alone changed: a party's row does not read them) and
    for the changed organizations and entities."""
    keys = [f"SELECT {role}_key FROM {CHANGED} WHERE contract_id IN"
            f" (SELECT contract_id FROM {WORDED})" for role in ("vendor", "buyer")]
    keys += _change("organizations", "org_id", changed)
    keys += _change("organizations", "entity_id", changed)
    keys += _change("entities", "entity_id", changed)
    con.execute(f"CREATE TEMP TABLE {KEYS} AS SELECT * FROM ({' UNION '.join(keys)}) k(key)"
                " WHERE key IS NOT NULL")
    con.execute(f"DELETE FROM parties WHERE key IN (SELECT key FROM {KEYS})")
    con.execute(f"INSERT INTO parties {facts.parties_sql('contract_facts', KEYS)}")
