"""Bring a snapshot's spending tables up to date with a few changed rows, instead of
recomputing them over every contract (`facts.DERIVED`).

The snapshot publisher (`warehouse/snapshot.py`) starts a new snapshot from a copy of the
current one, replaces the rows of the published tables that changed and hands `refresh` the
snapshot with, per changed table, its removed rows (`publish_changes.<table>_old`) and its
added ones (`<table>_new`). From them:

- the contracts whose facts may have changed: their own rows, tags, payments or flags
  changed, or their vendor's or buyer's organization or entity did;
- `contract_facts`: those contracts' facts recomputed from their rows alone; their old rows
  deleted and the new ones appended as the table's tail (`contract_facts_tail`), which the
  grid sorts and merges with the sorted body it reads in its stored order; the whole table
  rewritten in `DEFAULT_ORDER` when the tail would grow past TAIL_SHARE of the contracts;
- the clustered copies (`facts_by_*`): those contracts' rows replaced (appended, not
  re-clustered: a filtered view reads the appended row groups too);
- each cube: the groups where a changed contract's part (its sums in the group) changed or
  left, deleted and summed again from their contracts alone, so each group's sums are those
  of a full publish (DECIMAL sums exact); a part the same before and after (a contract whose
  flags alone changed, in a cube that does not read them) leaves its group as it is; the
  groups that only gained contracts get the new ones' sums added to their rows
  (DOUBLE sums then differ from a full publish's by the order of additions, ~1e-15
  relative; counts, DECIMAL sums, first and last years exact);
- `parties`: those of the contracts' vendors and buyers and of the changed organizations.

- the search tables: the changed contracts' and parties' index rows made again and numbered
  between their neighbours' (search.py numbers documents and terms DOC_GAP and TERM_GAP
  apart, so no other number moves), their postings replaced, the words' uses and the
  per-term counts by difference, new terms numbered between theirs; the per-kind runs and
  per-prefix counts made again from them (a few rows each).
When more than FULL_SHARE of the contracts are touched, `refresh` declines (None) and the
publisher recomputes every derived table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import duckdb

from survtrack.analysis import facts, search
from survtrack.warehouse.snapshot import CHANGES, swap_table

FULL_SHARE = 0.2  # beyond this share of the contracts touched, recompute everything
# contract_facts' unsorted tail (see _facts) kept under this share of the contracts: the grid's
# default page sorts the tail's rows behind its filters (top-N), reads the body in order
TAIL_SHARE = 0.1
BY_CONTRACT = ("contracts", "tags", "payments", "flags")  # what contract_facts reads per contract
PARTIES = ("organizations", "entities")  # what it reads per vendor and buyer
AFFECTED, OLD, NEW, CHANGED, GROUPS, GAINED, KEYS, BOTH, SAME = (
    "publish_affected", "publish_old_facts", "publish_new_facts", "publish_changed_facts",
    "publish_groups", "publish_gained", "publish_party_keys", "publish_both", "publish_same")


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
    if "flags" in changed:
        # the facts hold which flags a contract raised and which were decided, not their
        # values: a row whose value or evidence alone changed (split_purchase's window sum)
        # leaves them as they were
        flagged = [f"SELECT contract_id, flag, raised FROM {CHANGES}.flags_{side}"
                   for side in ("old", "new")]
        ids.append(f"SELECT contract_id FROM ({flagged[0]} EXCEPT {flagged[1]})"
                   f" UNION SELECT contract_id FROM ({flagged[1]} EXCEPT {flagged[0]})")
    if orgs:
        union = " UNION ".join(orgs)
        ids.append(f"SELECT contract_id FROM contracts"
                   f" WHERE vendor_id IN ({union}) OR buyer_id IN ({union})")
    con.execute(f"CREATE TEMP TABLE {AFFECTED} AS {' UNION '.join(ids)}")
    touched, total = con.execute(
        f"SELECT (SELECT count(*) FROM {AFFECTED}), (SELECT count(*) FROM contracts)").fetchone()
    if touched > FULL_SHARE * max(total, 1):
        return None
    among = f"contract_id IN (SELECT contract_id FROM {AFFECTED})"
    con.execute(f"CREATE TEMP TABLE {OLD} AS"
                f" SELECT * FROM contract_facts{facts.among_rows('contract_facts', among)}")
    con.execute(f"CREATE TEMP TABLE {NEW} AS {facts.facts_sql(among)}")
    con.execute(f"CREATE TEMP TABLE {CHANGED} AS SELECT * FROM {OLD} UNION ALL"
                f" SELECT * FROM {NEW}")
    con.execute(f"CREATE TEMP TABLE {BOTH} AS SELECT contract_id FROM {OLD}"
                f" SEMI JOIN {NEW} USING (contract_id)")
    _facts(con, among, total)
    for name in facts.CLUSTERED:
        con.execute(f"DELETE FROM facts_by_{name} WHERE {among}")
        con.execute(f"INSERT INTO facts_by_{name} {facts.clustered_sql(name, NEW)}"
                    f" ORDER BY {facts.cluster_order(name)}")
    for name, cube in facts.GROUPED.items():
        _regroup(con, name, cube)
    _parties(con, changed)
    searched = _search(con)
    return set(facts.DERIVED) - set(search.TABLES) | (set(REMADE) if searched else set())


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
        rows = f"(SELECT r.* FROM {cube.rows(cube.table)} r SEMI JOIN {GROUPS} g ON {among})"
        if cube.rows is facts.as_is:  # the groups' rows by row id, found from their columns alone
            rows = (f"(SELECT * FROM {cube.table} WHERE rowid IN (SELECT r.rowid FROM"
                    f" {cube.table} r SEMI JOIN {GROUPS} g ON {among}))")
        con.execute(f"INSERT INTO {name} SELECT {cube.select} FROM {rows} GROUP BY {cube.group}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {GAINED} AS SELECT {cube.select} FROM"
                f" (SELECT r.* FROM {cube.rows(_rows_of(cube.table, NEW))} r"
                f" ANTI JOIN {SAME} u ON {kept} ANTI JOIN {GROUPS} g ON {among})"
                f" GROUP BY {cube.group}")
    _merge(con, name, group, keyed)


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
    """`parties` again for the changed contracts' vendors and buyers (as before and after)
    and for the changed organizations and entities."""
    keys = [f"SELECT {role}_key FROM {CHANGED}" for role in ("vendor", "buyer")]
    keys += _change("organizations", "org_id", changed)
    keys += _change("organizations", "entity_id", changed)
    keys += _change("entities", "entity_id", changed)
    con.execute(f"CREATE TEMP TABLE {KEYS} AS SELECT * FROM ({' UNION '.join(keys)}) k(key)"
                " WHERE key IS NOT NULL")
    con.execute(f"DELETE FROM parties WHERE key IN (SELECT key FROM {KEYS})")
    con.execute(f"INSERT INTO parties {facts.parties_sql('contract_facts', KEYS)}")


# what _search updates; search_kinds and search_prefixes (a few rows per kind and prefix) the
# publisher makes again from them
REMADE = ("search_index", "search_words", "search_terms", "search_postings", "search_counts")


def _between(con, table: str, kept: str, new: str, number: str, order: str, gap: int) -> bool:
    """Number the rows of `new` into TEMP `table`: each between the numbers of its neighbours
    among `kept` (the same columns, `number` set, numbered in `order` already) in `order`, the
    new rows sharing a pair of neighbours spread evenly between them (after the last kept row,
    `gap` apart). False, with `table` made all the same, when two neighbours are too close
    for the rows between them.

    The neighbour before: the running max of `number` in `order` over the new rows and only
    the kept rows near them (_near: two sorts of a few rows instead of one of every row's
    keys); the one after: the next kept number (an ASOF join on integers: a window over the
    following rows cost 6x the sort)."""
    _near(con, kept, new, number, order)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS
        WITH placed AS (
            SELECT * EXCLUDE (below, publish_i), coalesce(below, 0) AS below FROM (
                SELECT *, max({number}) OVER (ORDER BY {order} ROWS UNBOUNDED PRECEDING) AS below
                FROM (SELECT k.* FROM ({kept}) k SEMI JOIN publish_near USING ({number})
                      UNION ALL BY NAME SELECT * FROM publish_new_rows))
            WHERE {number} IS NULL),
        bounded AS (
            SELECT p.* EXCLUDE ({number}), k.above,
                   row_number() OVER (PARTITION BY p.below ORDER BY {order}) AS i,
                   count(*) OVER (PARTITION BY p.below) AS k
            FROM placed p ASOF LEFT JOIN (SELECT n AS above FROM publish_kept_numbers) k
              ON p.below < k.above),
        spread AS (SELECT *, coalesce(above, below + (k + 1) * {gap}) AS bound FROM bounded)
        SELECT * EXCLUDE (below, above, bound, i, k),
               (below + (bound - below)::HUGEINT * i // (k + 1))::BIGINT AS {number},
               bound - below > k AS room
        FROM spread""")
    return con.execute(f"SELECT coalesce(bool_and(room), true) FROM {table}").fetchone()[0]


def _near(con, kept: str, new: str, number: str, order: str) -> None:
    """The kept rows (their `number`s, TEMP publish_near) that may be a new row's neighbour
    before, without sorting every kept row's keys: the kept rows are numbered in `order`, so
    with every `step`-th of them (by number) as a fence, a new row's neighbour before is in the
    run from the last fence before it in `order` to the next fence (one sort of the fences and
    the new rows); those runs are the near rows. `step` ~ sqrt(kept / new) makes both sorts a
    few times the new rows. (publish_kept_numbers: every kept number; publish_new_rows: `new`,
    each with a `publish_i`.)"""
    con.execute(f"CREATE OR REPLACE TEMP TABLE publish_kept_numbers AS"
                f" SELECT {number} AS n, row_number() OVER (ORDER BY {number}) - 1 AS pos"
                f" FROM ({kept})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE publish_new_rows AS"
                f" SELECT *, row_number() OVER () AS publish_i FROM ({new})")
    kept_rows, new_rows = con.execute(
        "SELECT (SELECT count(*) FROM publish_kept_numbers),"
        " (SELECT count(*) FROM publish_new_rows)").fetchone()
    step = max(1, math.isqrt(kept_rows // max(new_rows, 1)))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE publish_near AS
        SELECT n AS {number} FROM publish_kept_numbers
        WHERE pos // {step} IN (
            SELECT fence // {step} FROM (
                SELECT publish_i, max(pos) OVER (ORDER BY {order} ROWS UNBOUNDED PRECEDING)
                       AS fence
                FROM (SELECT k.*, f.pos FROM ({kept}) k
                      JOIN publish_kept_numbers f ON f.n = k.{number} AND f.pos % {step} = 0
                      UNION ALL BY NAME SELECT * FROM publish_new_rows))
            WHERE publish_i IS NOT NULL AND fence IS NOT NULL)""")


def _search(con) -> bool:
    """The search tables updated for the changed contracts and parties, every other
    document's and term's number kept (search.py numbers them DOC_GAP and TERM_GAP apart):

    - search_index: the changed documents' rows deleted, their new rows made (their words are
      what costs) and numbered between their neighbours' in search.RANK (_between), appended;
    - search_words by difference (_words); search_terms: the tokens no word has any more
      deleted, the new ones numbered between their neighbours in token order;
    - search_postings: the changed documents' deleted, their new ones appended (sorted
      among themselves; a query reads the appended row groups too);
    - search_counts by difference: the deleted postings taken away, the new ones added.

    False, having changed none of them, where numbers have no room left between two
    neighbours: the publisher then makes the search tables whole."""
    gone = (f"CASE WHEN kind = 'contract' THEN key IN (SELECT contract_id FROM {AFFECTED})"
            f" ELSE key IN (SELECT key FROM {KEYS}) END")
    con.execute(f"CREATE TEMP TABLE publish_gone_docs AS SELECT doc, kind, words"
                f" FROM search_index WHERE {gone}")
    con.execute(f"CREATE TEMP TABLE publish_made AS"
                f" {search.index_rows_sql(parties=KEYS, contracts=AFFECTED)}")
    if not _between(con, "publish_numbered", """
            SELECT doc, kind, key, label, contracts, amount_usd, NULL::VARCHAR AS words
            FROM search_index ANTI JOIN publish_gone_docs USING (doc)""",
            "SELECT NULL::BIGINT AS doc, * FROM publish_made", "doc", search.RANK,
            search.DOC_GAP):
        return False
    _word_uses(con)
    if not _between(con, "publish_new_terms", """
            SELECT token, term FROM search_terms
            WHERE token NOT IN (SELECT token FROM publish_dead_tokens)""",
            "SELECT token, NULL::BIGINT AS term FROM publish_new_tokens", "term", "token",
            search.TERM_GAP):
        return False
    _words(con)
    con.execute("DELETE FROM search_terms WHERE token IN (SELECT token FROM publish_dead_tokens)")
    con.execute("INSERT INTO search_terms SELECT token, term FROM publish_new_terms ORDER BY term")
    # postings: the changed documents' (with their kind) out, their new rows' in
    con.execute("""CREATE TEMP TABLE publish_gone_postings AS
        SELECT p.term, g.kind FROM search_postings p JOIN publish_gone_docs g USING (doc)""")
    con.execute("DELETE FROM search_postings WHERE doc IN (SELECT doc FROM publish_gone_docs)")
    con.execute("""CREATE TEMP TABLE publish_new_postings AS
        SELECT DISTINCT t.term, x.doc, x.kind
        FROM (SELECT doc, kind, word
              FROM (SELECT doc, kind, unnest(string_split(words, ' ')) AS word
                    FROM publish_numbered) WHERE word <> '') x
        JOIN search_words w USING (word) JOIN search_terms t USING (token)""")
    con.execute("INSERT INTO search_postings SELECT term, doc FROM publish_new_postings"
                " ORDER BY term, doc")
    con.execute("DELETE FROM search_index WHERE doc IN (SELECT doc FROM publish_gone_docs)")
    con.execute("INSERT INTO search_index SELECT doc, kind, key, label, contracts, amount_usd,"
                " words FROM publish_numbered ORDER BY doc")
    _counts(con)
    return True


def _word_uses(con) -> None:
    """What the changed documents do to search_words, before anything is changed: each word's
    uses taken away (the documents' old rows, publish_gone_docs) and added (their new rows,
    publish_numbered); the new words folded (publish_new_words), the tokens no word will
    have any more (publish_dead_tokens) and the tokens search_terms lacks (publish_new_tokens)."""
    split = "SELECT unnest(string_split(words, ' ')) AS word, {} AS uses FROM {}"
    con.execute(f"""CREATE TEMP TABLE publish_word_uses AS
        SELECT d.*, w.word IS NOT NULL AS known, w.token, w.uses + d.uses AS remaining
        FROM (SELECT word, sum(uses)::BIGINT AS uses
              FROM ({split.format(-1, "publish_gone_docs")}
                    UNION ALL {split.format(1, "publish_numbered")})
              WHERE word <> '' GROUP BY word HAVING sum(uses) <> 0) d
        LEFT JOIN search_words w USING (word)""")
    con.execute(f"""CREATE TEMP TABLE publish_new_words AS
        SELECT word, {search.token_sql('word')} AS token, uses
        FROM publish_word_uses WHERE NOT known""")
    con.execute("""CREATE TEMP TABLE publish_dead_tokens AS
        SELECT DISTINCT token FROM publish_word_uses WHERE known AND remaining = 0 AND token <> ''
          AND token NOT IN (SELECT token FROM publish_new_words)
          AND token NOT IN (SELECT token FROM search_words WHERE word NOT IN
                            (SELECT word FROM publish_word_uses WHERE known AND remaining = 0))""")
    con.execute("""CREATE TEMP TABLE publish_new_tokens AS
        SELECT DISTINCT token FROM publish_new_words WHERE token <> ''
          AND token NOT IN (SELECT token FROM search_terms)""")


def _words(con) -> None:
    """search_words by difference (publish_word_uses): a known word's uses changed, dropped
    when none is left, a new word added with its token (only the changed documents' words
    are read and folded)."""
    con.execute("""UPDATE search_words SET uses = d.remaining
        FROM publish_word_uses d WHERE d.known AND search_words.word = d.word""")
    con.execute("""DELETE FROM search_words WHERE uses = 0 AND word IN
        (SELECT word FROM publish_word_uses WHERE known AND remaining = 0)""")
    con.execute("INSERT INTO search_words SELECT word, token, uses FROM publish_new_words")


def _counts(con) -> None:
    """search_counts by difference: per term and kind, the deleted postings taken away and
    the new ones added; the dead tokens' rows deleted, the new tokens' added."""
    per_kind = ", ".join(f"sum(n) FILTER (kind = '{k}')::INTEGER AS {k}" for k in search.KINDS)
    kinds = ", ".join(search.KINDS)
    con.execute(f"""CREATE TEMP TABLE publish_count_change AS
        SELECT term, {per_kind}
        FROM (SELECT term, kind, -1 AS n FROM publish_gone_postings
              UNION ALL SELECT term, kind, 1 FROM publish_new_postings)
        GROUP BY term""")
    added = ", ".join(f"{k} = search_counts.{k} + coalesce(d.{k}, 0)" for k in search.KINDS)
    con.execute(f"""UPDATE search_counts SET {added} FROM publish_count_change d
        WHERE search_counts.term = d.term""")
    con.execute("DELETE FROM search_counts WHERE token IN (SELECT token FROM publish_dead_tokens)")
    counts = ", ".join(f"coalesce(d.{k}, 0)::INTEGER" for k in search.KINDS)
    con.execute(f"""INSERT INTO search_counts ({', '.join(['token', 'term', kinds])})
        SELECT n.token, n.term, {counts} FROM publish_new_terms n
        LEFT JOIN publish_count_change d USING (term) ORDER BY n.term""")
