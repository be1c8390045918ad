"""Bring a snapshot's search tables (search.py) up to date with a few changed contracts and
parties (`update`), reading the rows of the change, not every document's or term's.

Every kept document and term keeps its number (search.py numbers them DOC_GAP and TERM_GAP
apart), but for the few documents renumbered around a place with no room left (SPREAD); a
changed document's row made again the same as it was (a contract whose flags alone
changed: its words and rank are the same) keeps its number and postings too. The stored rows
of the change are found by a scan of one column (their key, word, token or term), then read
by row id: no statement reads every row's other columns, sorts or numbers every document or
term, or makes a table again from all of them.
"""

from __future__ import annotations

import math

from survtrack.analysis import search

# what `update` brings up to date; search_kinds (a few rows) the publisher makes again
REMADE = ("search_index", "search_words", "search_terms", "search_postings", "search_counts",
          "search_prefixes")
ROW = "kind, key, label, contracts, amount_usd"  # a search_index row's columns but doc, words


def _by_rowid(table: str, where: str, columns: str = "*") -> str:
    """SQL: `table`'s rows matching `where` on one column, found by a scan of that column and
    read by row id (a filter with the columns beside it read every column of every row)."""
    return (f"(SELECT {columns} FROM {table} WHERE rowid IN"
            f" (SELECT rowid FROM {table} WHERE {where}))")


def update(con, affected: str, keys: str) -> bool:
    """The search tables updated for the contracts `affected` and the parties `keys` (TEMP
    tables of one column, `contract_id` and `key`), every other number kept:

    - search_index: the changed documents' rows made again; those the same as before left as
      they are, the others' old rows deleted (publish_gone_docs) and the new ones numbered
      between their neighbours' in search.RANK (_between) and appended;
    - search_words by difference (_word_uses, _words); search_terms: the tokens no word has
      any more deleted, the new ones numbered between their neighbours in token order;
    - search_postings: the gone documents' deleted, the new ones' appended (sorted among
      themselves; a query reads the appended row groups too);
    - search_counts and search_prefixes by difference (_counts, _prefixes).

    Where two neighbours have no room left for the documents between them, the kept ones
    around them are numbered again with them (_documents). False, having changed none of the
    tables, where that finds no room either, or two terms have none: the publisher then makes
    the search tables whole."""
    # a party's key and a contract's id may be the same text: the kind tells them apart
    gone = (f"CASE WHEN kind = 'contract' THEN key IN (SELECT contract_id FROM {affected})"
            f" ELSE key IN (SELECT key FROM {keys}) END")
    was = _by_rowid("search_index", f"key IN (SELECT contract_id FROM {affected}"
                                    f" UNION ALL SELECT key FROM {keys})")
    con.execute(f"CREATE TEMP TABLE publish_was AS SELECT *, hash({ROW}, words)"
                f" AS publish_h FROM {was} WHERE {gone}")
    con.execute(f"CREATE TEMP TABLE publish_made AS SELECT *, hash({ROW}, words)"
                f" AS publish_h FROM ({search.index_rows_sql(parties=keys, contracts=affected)})")
    same = "USING (kind, key, publish_h)"  # a row made again as it was keeps its number
    con.execute(f"CREATE TEMP TABLE publish_gone_docs AS SELECT doc, kind, words FROM publish_was"
                f" ANTI JOIN publish_made {same}")
    if not _documents(con, f"SELECT NULL::BIGINT AS doc, * EXCLUDE (publish_h) FROM publish_made"
                           f" ANTI JOIN publish_was {same}"):
        return False
    _word_uses(con)
    # the dead terms stay neighbours: a new term never takes a dead one's number, which
    # the postings' and counts' change (by number) would mix up with it
    if not _between(con, "publish_new_terms", "search_terms", "term", "token, term",
                    "SELECT NULL::BIGINT WHERE false",
                    "SELECT token, NULL::BIGINT AS term FROM publish_new_tokens", "token",
                    search.TERM_GAP):
        return False
    _words(con)
    con.execute("DELETE FROM search_terms WHERE term IN (SELECT term FROM publish_dead_terms)")
    con.execute("INSERT INTO search_terms SELECT token, term FROM publish_new_terms ORDER BY term")
    # postings: a gone document's are its words' terms (as the full publish makes them), so
    # they are found without reading the postings; the new documents' added
    postings = """SELECT DISTINCT t.term, x.doc, x.kind
        FROM (SELECT doc, kind, word
              FROM (SELECT doc, kind, unnest(string_split(words, ' ')) AS word FROM {})
              WHERE word <> '') x
        JOIN {} w USING (word) JOIN {} t USING (token)"""
    con.execute(f"""CREATE TEMP TABLE publish_gone_postings AS {postings.format(
        'publish_gone_docs', 'publish_words_before', 'publish_terms_before')}""")
    con.execute("DELETE FROM search_postings WHERE doc IN (SELECT doc FROM publish_gone_docs)")
    # the new documents' words and terms: those of the change as they were, and the new ones
    con.execute(f"""CREATE TEMP TABLE publish_new_postings AS {postings.format(
        'publish_numbered',
        '(SELECT word, token FROM publish_words_before UNION ALL'
        ' SELECT word, token FROM publish_new_words)',
        '(SELECT token, term FROM publish_terms_before UNION ALL'
        ' SELECT token, term FROM publish_new_terms)')}""")
    con.execute("INSERT INTO search_postings SELECT term, doc FROM publish_new_postings"
                " ORDER BY term, doc")
    con.execute("DELETE FROM search_index WHERE doc IN (SELECT doc FROM publish_gone_docs)")
    con.execute("INSERT INTO search_index SELECT doc, kind, key, label, contracts, amount_usd,"
                " words FROM publish_numbered ORDER BY doc")
    _counts(con)
    _prefixes(con)
    return True


# A crowded place (two neighbours with no room left for the rows between them) is renumbered:
# the kept documents numbered within this many times (rows placed there + 1) × DOC_GAP of
# it, wider each time it is still crowded, are numbered again with the new ones between the
# kept documents beyond them. Where new documents keep coming at one place (later ids of a
# title and amount many contracts share sort after the earlier ones, before the next
# title), each publish halved the room there: ~10 publishes from DOC_GAP 1024 to none.
SPREAD = (4, 32, 256)


def _documents(con, new: str) -> bool:
    """Number the new documents (`new`: search_index rows with a NULL doc) into TEMP
    publish_numbered between their kept neighbours (_between). Where two neighbours have no
    room for the documents between them, the kept documents around them (SPREAD) are
    renumbered with them: each added to publish_gone_docs and numbered again like a new one
    (publish_moved), so its postings move with it and the words' uses and counts stay (taken
    away and added back). False where no SPREAD makes room."""
    gone = "SELECT doc FROM publish_gone_docs"
    place = ("publish_numbered", "search_index", "doc", f"doc, {ROW}")
    if _between(con, *place, gone, new, search.RANK, search.DOC_GAP):
        return True
    con.execute("CREATE TEMP TABLE publish_moved AS SELECT * FROM search_index WHERE false")
    moved = f"{new} UNION ALL SELECT NULL::BIGINT AS doc, {ROW}, words FROM publish_moved"
    for spread in SPREAD:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE publish_crowded AS
            SELECT DISTINCT publish_below - {spread} * (publish_k + 1) * {search.DOC_GAP} AS lo,
                   publish_bound + {spread} * (publish_k + 1) * {search.DOC_GAP} AS hi
            FROM publish_numbered WHERE NOT room""")
        # found by a scan of the doc column alone, read by row id
        con.execute(f"""CREATE OR REPLACE TEMP TABLE publish_more AS
            SELECT * FROM search_index WHERE rowid IN (
                SELECT s.rowid FROM search_index s JOIN publish_crowded c
                  ON s.doc BETWEEN c.lo AND c.hi) AND doc NOT IN ({gone})""")
        con.execute("INSERT INTO publish_moved SELECT * FROM publish_more")
        con.execute("INSERT INTO publish_gone_docs SELECT doc, kind, words FROM publish_more")
        if _between(con, *place, gone, moved, search.RANK, search.DOC_GAP):
            return True
    return False


def _between(con, table: str, source: str, number: str, columns: str, gone: str, new: str,
             order: str, gap: int) -> bool:
    """Number the rows of `new` into TEMP `table`: each between the numbers of its neighbours
    among the kept rows (`source`'s `columns`, but the `number`s in `gone`), which are numbered
    in `order` already, in `order`; the new rows sharing a pair of neighbours spread evenly
    between them (after the last kept row, `gap` apart). False, with `table` made all the
    same, when two neighbours are too close for the rows between them.

    The neighbour before: the running max of `number` in `order` over the new rows and only
    the kept rows near them (_near); the one after: the next near number (an ASOF join)."""
    _near(con, source, number, columns, gone, new, order, gap)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS
        WITH placed AS (
            SELECT * EXCLUDE (below, publish_i), coalesce(below, 0) AS below FROM (
                SELECT *, max({number}) OVER (ORDER BY {order} ROWS UNBOUNDED PRECEDING) AS below
                FROM (SELECT * FROM publish_near UNION ALL BY NAME SELECT * FROM publish_new_rows))
            WHERE {number} IS NULL),
        bounded AS (
            SELECT p.* EXCLUDE ({number}), k.above,
                   row_number() OVER (PARTITION BY p.below ORDER BY {order}) AS i,
                   count(*) OVER (PARTITION BY p.below) AS k
            FROM placed p ASOF LEFT JOIN (SELECT {number} AS above FROM publish_near) k
              ON p.below < k.above),
        spread AS (SELECT *, coalesce(above, below + (k + 1) * {gap}) AS bound FROM bounded)
        SELECT * EXCLUDE (below, above, bound, i, k),
               (below + (bound - below)::HUGEINT * i // (k + 1))::BIGINT AS {number},
               bound - below > k AS room, below AS publish_below, bound AS publish_bound,
               k AS publish_k
        FROM spread""")
    return con.execute(f"SELECT coalesce(bool_and(room), true) FROM {table}").fetchone()[0]


def _near(con, source: str, number: str, columns: str, gone: str, new: str, order: str,
          gap: int) -> None:
    """The kept rows that may be a new row's neighbour (TEMP publish_near; publish_new_rows:
    `new`, each with a `publish_i`), without reading, sorting or numbering every kept row.

    The kept rows are numbered in `order`, so any kept rows serve as fences: a new row's
    neighbour before lies between the last fence before it in `order` and the next fence,
    and so does the one after. The fences are the kept rows whose number is a multiple of
    `step` × `gap` (after a full publish every `step`-th row; found by a scan of the number
    column alone, their `order` columns read by row id); the near rows are those numbered in
    the same stretches of `step` × `gap` numbers from each new row's fence before to its fence
    after. `step` ~ sqrt(kept / new) makes the fences and the near rows each a few times the
    new rows (fences gone since leave longer stretches, never a wrong neighbour)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE publish_new_rows AS"
                f" SELECT *, row_number() OVER () AS publish_i FROM ({new})")
    kept_rows, new_rows, last = con.execute(
        f"SELECT (SELECT count(*) FROM {source}) - (SELECT count(*) FROM ({gone})),"
        f" (SELECT count(*) FROM publish_new_rows), (SELECT max({number}) FROM {source})"
    ).fetchone()
    stretch = max(1, math.isqrt(max(kept_rows, 0) // max(new_rows, 1))) * gap
    kept = f"{number} NOT IN ({gone})"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE publish_fences AS
        SELECT * FROM {_by_rowid(source, f'{number} % {stretch} = 0', columns)} WHERE {kept}""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE publish_stretches AS
        WITH before AS (
            SELECT DISTINCT coalesce(fence, -1) AS fence FROM (
                SELECT publish_i, max({number}) OVER (ORDER BY {order} ROWS UNBOUNDED PRECEDING)
                       AS fence
                FROM (SELECT * FROM publish_fences UNION ALL BY NAME
                      SELECT * FROM publish_new_rows))
            WHERE publish_i IS NOT NULL)
        SELECT DISTINCT unnest(range(greatest(b.fence, 0) // {stretch},
                                     coalesce(f.after, {last or 0}) // {stretch} + 1)) AS s
        FROM before b ASOF LEFT JOIN (SELECT {number} AS after FROM publish_fences) f
          ON b.fence < f.after""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE publish_near AS
        SELECT * FROM {_by_rowid(source, f'{number} // {stretch} IN'
                                         ' (SELECT s FROM publish_stretches)', columns)}
        WHERE {kept}""")


def _word_uses(con) -> None:
    """What the changed documents do to search_words, before anything is changed: each word's
    uses taken away (the gone documents' rows) and added (their new rows); those words' rows
    and their and the new words' tokens' terms as they were (publish_words_before,
    publish_terms_before: the gone and new postings' terms), the new words folded
    (publish_new_words), the tokens no word will have any more (publish_dead_terms) and the
    tokens search_terms lacks (publish_new_tokens)."""
    split = "SELECT unnest(string_split(words, ' ')) AS word, {} AS uses FROM {}"
    con.execute(f"""CREATE TEMP TABLE publish_words_before AS
        {_by_rowid('search_words', f'''word IN (
            SELECT word FROM ({split.format(-1, "publish_gone_docs")}
                              UNION ALL {split.format(1, "publish_numbered")}))''')}""")
    con.execute(f"""CREATE TEMP TABLE publish_word_uses AS
        SELECT d.*, w.word IS NOT NULL AS known, w.token, w.uses + d.uses AS remaining
        FROM (SELECT word, sum(uses)::BIGINT AS uses
              FROM ({split.format(-1, "publish_gone_docs")}
                    UNION ALL {split.format(1, "publish_numbered")})
              WHERE word <> '' GROUP BY word HAVING sum(uses) <> 0) d
        LEFT JOIN publish_words_before w USING (word)""")
    con.execute(f"""CREATE TEMP TABLE publish_new_words AS
        SELECT word, {search.token_sql('word')} AS token, uses
        FROM publish_word_uses WHERE NOT known""")
    con.execute(f"""CREATE TEMP TABLE publish_terms_before AS
        {_by_rowid('search_terms', 'token IN (SELECT token FROM publish_words_before'
                                   ' UNION ALL SELECT token FROM publish_new_words)')}""")
    # a token dies when every word of it goes and no new word has it
    con.execute("""CREATE TEMP TABLE publish_dead_terms AS
        SELECT term, token FROM publish_terms_before WHERE token IN (
            SELECT token FROM publish_word_uses WHERE known AND remaining = 0 AND token <> '')
          AND token NOT IN (SELECT token FROM publish_new_words)""")
    others = _by_rowid("search_words", "token IN (SELECT token FROM publish_dead_terms)",
                       "word, token")
    con.execute(f"""DELETE FROM publish_dead_terms WHERE token IN (
        SELECT token FROM {others} WHERE word NOT IN
            (SELECT word FROM publish_word_uses WHERE known AND remaining = 0))""")
    con.execute(f"""CREATE TEMP TABLE publish_new_tokens AS
        SELECT DISTINCT token FROM publish_new_words WHERE token <> '' AND token NOT IN
            {_by_rowid('search_terms', 'token IN (SELECT token FROM publish_new_words)',
                       'token')}""")


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
    the new ones added; the dead tokens' rows deleted, the new tokens' added. The changed
    terms' rows as they were kept for _prefixes (publish_counts_before)."""
    per_kind = ", ".join(f"sum(n) FILTER (kind = '{k}')::INTEGER AS {k}" for k in search.KINDS)
    kinds = ", ".join(search.KINDS)
    con.execute(f"""CREATE TEMP TABLE publish_count_change AS
        SELECT term, {per_kind}
        FROM (SELECT term, kind, -1 AS n FROM publish_gone_postings
              UNION ALL SELECT term, kind, 1 FROM publish_new_postings)
        GROUP BY term HAVING {' OR '.join(f'{k} <> 0' for k in search.KINDS)}""")
    con.execute(f"""CREATE TEMP TABLE publish_counts_before AS
        {_by_rowid('search_counts', 'term IN (SELECT term FROM publish_count_change)')}""")
    added = ", ".join(f"{k} = search_counts.{k} + coalesce(d.{k}, 0)" for k in search.KINDS)
    con.execute(f"""UPDATE search_counts SET {added} FROM publish_count_change d
        WHERE search_counts.term = d.term""")
    con.execute("DELETE FROM search_counts WHERE term IN (SELECT term FROM publish_dead_terms)")
    counts = ", ".join(f"coalesce(d.{k}, 0)::INTEGER" for k in search.KINDS)
    con.execute(f"""INSERT INTO search_counts ({', '.join(['token', 'term', kinds])})
        SELECT n.token, n.term, {counts} FROM publish_new_terms n
        LEFT JOIN publish_count_change d USING (term) ORDER BY n.term""")


def _prefixes(con) -> None:
    """search_prefixes by difference, for the prefixes of the terms whose counts changed, were
    added or died: each kind's sum moved by the terms' change, its most and the first and last
    term by the terms added or grown. Where that cannot tell (a term that held the most
    shrank, the first or last term died), the prefix is summed again from its terms' rows of
    search_counts (search.prefixes_sql), as is a prefix no stored row holds yet."""
    kinds = search.KINDS
    was = ", ".join(f"coalesce(b.{k}, 0) AS {k}_was" for k in kinds)
    now = ", ".join(f"coalesce(b.{k}, 0) + coalesce(c.{k}, 0) AS {k}_now" for k in kinds)
    con.execute(f"""CREATE TEMP TABLE publish_term_counts AS
        SELECT term, coalesce(b.token, n.token) AS token, {was}, {now}, b.term IS NULL AS added,
               term IN (SELECT term FROM publish_dead_terms) AS dead
        FROM (SELECT term FROM publish_count_change UNION SELECT term FROM publish_new_terms
              UNION SELECT term FROM publish_dead_terms)
        LEFT JOIN publish_count_change c USING (term) LEFT JOIN publish_counts_before b USING (term)
        LEFT JOIN publish_new_terms n USING (term)""")
    shrank = " OR ".join(f"(t.{k}_now < t.{k}_was AND t.{k}_was = s.{k}_most)" for k in kinds)
    moved = ", ".join(f"(any_value(s.{k}) + sum(t.{k}_now - t.{k}_was))::BIGINT AS {k},"
                      f" greatest(any_value(s.{k}_most), max(t.{k}_now) FILTER (NOT t.dead))"
                      f"::INTEGER AS {k}_most" for k in kinds)
    con.execute(f"""CREATE TEMP TABLE publish_prefix_change AS
        SELECT t.prefix, bool_or(s.prefix IS NULL OR {shrank}
                                 OR t.dead AND t.term IN (s.lo, s.hi)) AS again,
               least(any_value(s.lo), min(t.term) FILTER (t.added)) AS lo,
               greatest(any_value(s.hi), max(t.term) FILTER (t.added)) AS hi, {moved}
        FROM (SELECT left(token, n) AS prefix, * FROM publish_term_counts,
                     range(1, {search.SHORT + 1}) r(n) WHERE length(token) >= n) t
        LEFT JOIN (SELECT * FROM search_prefixes
                   WHERE prefix IN (SELECT left(token, n) FROM publish_term_counts,
                                    range(1, {search.SHORT + 1}) r(n))) s USING (prefix)
        GROUP BY t.prefix""")
    con.execute("DELETE FROM search_prefixes"
                " WHERE prefix IN (SELECT prefix FROM publish_prefix_change)")
    con.execute("INSERT INTO search_prefixes BY NAME SELECT * EXCLUDE (again)"
                " FROM publish_prefix_change WHERE NOT again")
    again = " OR ".join(f"left(token, {n}) IN (SELECT prefix FROM publish_prefix_change"
                        f" WHERE again AND length(prefix) = {n})"
                        for n in range(1, search.SHORT + 1))
    if con.execute("SELECT count(*) FROM publish_prefix_change WHERE again").fetchone()[0]:
        con.execute(f"""INSERT INTO search_prefixes
            SELECT * FROM ({search.prefixes_sql(_by_rowid('search_counts', again))})
            WHERE prefix IN (SELECT prefix FROM publish_prefix_change WHERE again)""")
