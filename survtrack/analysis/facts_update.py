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
- each cube: the groups its old or new rows fall in, deleted and summed again from their
  contracts alone, so each group's sums are those of a full publish (DECIMAL sums exact);
- `parties`: those of the contracts' vendors and buyers and of the changed organizations.

- the search tables: the changed contracts' and parties' index rows made again, every row
  numbered again (search.py numbers every party and contract by rank, so one new contract
  moves most numbers), the kept documents' postings renumbered, the changed ones' made from
  their words; the words' uses by difference (the changed rows' words taken away and added),
  the terms and the per-term counts and prefixes over all of them.
When more than FULL_SHARE of the contracts are touched, `refresh` declines (None) and the
publisher recomputes every derived table.
"""

from __future__ import annotations

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
AFFECTED, OLD, NEW, CHANGED, GROUPS, KEYS = (
    "publish_affected", "publish_old_facts", "publish_new_facts", "publish_changed_facts",
    "publish_groups", "publish_party_keys")


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
    ids = [q for t in BY_CONTRACT for q in _change(t, "contract_id", changed)]
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
    con.execute(f"CREATE TEMP TABLE {OLD} AS SELECT * FROM contract_facts WHERE {among}")
    con.execute(f"CREATE TEMP TABLE {NEW} AS {facts.facts_sql(among)}")
    con.execute(f"CREATE TEMP TABLE {CHANGED} AS SELECT * FROM {OLD} UNION ALL"
                f" SELECT * FROM {NEW}")
    _facts(con, among, total)
    for name, (key, _, _) in facts.CLUSTERED.items():
        con.execute(f"DELETE FROM facts_by_{name} WHERE {among}")
        con.execute(f"INSERT INTO facts_by_{name} {facts.clustered_sql(name, NEW)} ORDER BY {key}")
    # each cube's rows of the changed contracts, as the cube reads them
    changed_rows = {"contract_facts": CHANGED,
                    "facts_by_category": f"({facts.clustered_sql('category', CHANGED)})",
                    "spending_by_vendor": CHANGED, "spending_by_buyer": CHANGED}
    for name, cube in facts.GROUPED.items():
        _regroup(con, name, cube, changed_rows[cube.table])
    _parties(con, changed)
    _search(con)
    return set(facts.DERIVED) - set(search.TABLES) | set(REMADE)


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


def _regroup(con, name: str, cube: facts.Cube, changed_rows: str) -> None:
    """Sum cube `name` again over the groups the changed contracts fall in (old or new)."""
    group = [c.strip() for c in cube.group.split(",")]
    keyed = [c.strip() for c in (cube.keyed or cube.group).split(",")]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {GROUPS} AS"
                f" SELECT DISTINCT {cube.group} FROM {cube.rows(changed_rows)}")
    same = " AND ".join(f"t.{k} IS NOT DISTINCT FROM g.{c}" for k, c in zip(keyed, group))
    con.execute(f"DELETE FROM {name} t USING {GROUPS} g WHERE {same}")
    among = " AND ".join(f"r.{c} IS NOT DISTINCT FROM g.{c}" for c in group)
    con.execute(f"""INSERT INTO {name}
        SELECT {cube.select}
        FROM (SELECT r.* FROM {cube.rows(cube.table)} r SEMI JOIN {GROUPS} g ON {among})
        GROUP BY {cube.group}""")


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


REMADE = ("search_index", "search_words", "search_terms", "search_postings")


def _words(con, gone: str) -> None:
    """search_words by difference: each word's uses in the changed documents' old rows (`gone`
    in search_index) taken away, in their new rows (publish_made) added; a word left with no
    use dropped, a new one folded and added (only the changed documents' words are read)."""
    split = "SELECT unnest(string_split(words, ' ')) AS word, {} AS uses FROM {}"
    con.execute(f"""CREATE TEMP TABLE publish_word_uses AS
        SELECT d.*, w.word IS NOT NULL AS known
        FROM (SELECT word, sum(uses)::BIGINT AS uses
              FROM ({split.format(-1, f"search_index WHERE {gone}")}
                    UNION ALL {split.format(1, "publish_made")})
              WHERE word <> '' GROUP BY word HAVING sum(uses) <> 0) d
        LEFT JOIN search_words w USING (word)""")
    con.execute("""UPDATE search_words SET uses = search_words.uses + d.uses
        FROM publish_word_uses d WHERE d.known AND search_words.word = d.word""")
    con.execute("""DELETE FROM search_words WHERE uses = 0 AND word IN
        (SELECT word FROM publish_word_uses WHERE known AND uses < 0)""")
    con.execute(f"""INSERT INTO search_words
        SELECT word, {search.token_sql('word')}, uses FROM publish_word_uses WHERE NOT known""")


def _search(con) -> None:
    """search_index: the changed contracts' and parties' rows made again (their words are
    what costs), the others' kept, all numbered again (a new contract moves the numbers of
    those after it) and stored in number order. search_words by difference (_words),
    search_terms whole (one pass over the distinct words). search_postings: the kept documents' postings renumbered (old to new
    document and term numbers, integers joined), the changed documents' made from their words."""
    gone = (f"CASE WHEN kind = 'contract' THEN key IN (SELECT contract_id FROM {AFFECTED})"
            f" ELSE key IN (SELECT key FROM {KEYS}) END")
    con.execute(f"CREATE TEMP TABLE publish_old_docs AS SELECT doc, kind, key FROM search_index"
                f" WHERE NOT ({gone})")
    con.execute("CREATE TEMP TABLE publish_old_terms AS SELECT token, term FROM search_terms")
    kept = f"""SELECT kind, key, label, contracts, amount_usd, words FROM search_index
               WHERE NOT ({gone})"""
    con.execute(f"CREATE TEMP TABLE publish_made AS"
                f" {search.index_rows_sql(parties=KEYS, contracts=AFFECTED)}")
    _words(con, gone)
    con.execute(f"CREATE TABLE publish_search AS"
                f" {search.numbered_sql(f'{kept} UNION ALL SELECT * FROM publish_made')}")
    swap_table(con, "publish_search", "search_index")
    con.execute(f"CREATE OR REPLACE TABLE search_terms AS {search.TABLES['search_terms']}")
    con.execute("""CREATE TEMP TABLE publish_doc_map AS
        SELECT o.doc AS old, n.doc AS new FROM publish_old_docs o JOIN search_index n
        USING (kind, key)""")
    con.execute("""CREATE TEMP TABLE publish_term_map AS
        SELECT o.term AS old, n.term AS new FROM publish_old_terms o JOIN search_terms n
        USING (token)""")
    con.execute(f"""CREATE TABLE publish_postings AS
        SELECT * FROM (
            SELECT t.new AS term, d.new AS doc FROM search_postings p
            JOIN publish_doc_map d ON d.old = p.doc JOIN publish_term_map t ON t.old = p.term
            UNION ALL
            SELECT DISTINCT t.term, x.doc
            FROM (SELECT doc, word FROM (SELECT doc, unnest(string_split(words, ' ')) AS word
                                         FROM search_index WHERE {gone}) WHERE word <> '') x
            JOIN (SELECT w.word, t.term FROM search_words w JOIN search_terms t USING (token)) t
              USING (word))
        ORDER BY term, doc""")
    swap_table(con, "publish_postings", "search_postings")
