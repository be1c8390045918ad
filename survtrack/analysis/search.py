"""Search over vendors, buyers and contracts in any script: «НтехЛаб», «ntechlab» and «Н-Тех»
find NtechLab, «видеонаблюд» finds video-surveillance contracts, an INN or a registry number
finds its organization or contract.

The build's snapshot carries a normalised token table in DuckDB:

- `search_index`: one row per vendor, buyer and contract (`doc`, numbered so that within a
  kind the busiest party, the largest contract, comes first) with its `words`: every name,
  spelling, subject and identifier it is known by, lower-cased and cut into words at anything
  that is not a letter or a digit. A vendor's or buyer's words also hold each of its names
  run together ("N-Tech.Lab Ltd" -> "ntechlabltd").
- `search_words`: every distinct word once, with its `token`: the word folded to one spelling
  skeleton by the rules entity resolution uses (analysis/data/transliteration.csv: Cyrillic
  to Latin, then the fold rows; accents dropped, doubled letters merged). The folding is SQL
  generated from that data file, so words and queries are folded by the very same
  expression; it runs once per distinct word, not once per row (numbers need none).
- `search_terms`: every distinct token, numbered (`term`) in sorted order, so the tokens
  beginning with a prefix are one range of term numbers;
- `search_postings`: (term, doc) once per pair, sorted by term, so a prefix reads one
  contiguous run of rows (DuckDB skips the row groups outside it by their min/max);
- `search_kinds`: where each kind's run of document numbers starts and ends.

A query matches a row when each of its words, punctuation inside it removed («Н-Тех» ->
"нтех" -> "nteh"), begins a token of the row: per query word a range of terms, its documents,
and the intersection of those, rarest word first. No scan of every row (a LIKE scan of every
row's words takes seconds at 10 M contracts; bench/bench_search.py).
"""

from __future__ import annotations

import string
from functools import cache

import pandas as pd

from .datafiles import table

KINDS = ("vendor", "buyer", "contract")
MAX_QUERY = 200
MAX_WORDS = 8


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@cache
def _rules() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rows = table("transliteration")
    letters = [(r["from"], r["to"] or "") for r in rows if not r["from"].startswith("fold:")]
    folds = [(r["from"][5:], r["to"] or "") for r in rows if r["from"].startswith("fold:")]
    # longest first, as entity resolution's one-pass alternation prefers them
    return letters, sorted(folds, key=lambda f: len(f[0]), reverse=True)


def fold_sql(expr: str) -> str:
    """SQL folding the text `expr` to space-separated word skeletons (' ntehlab 7710878000')."""
    letters, folds = _rules()
    sql = f"regexp_replace(lower({expr}), '[^\\p{{L}}\\p{{N}}]+', ' ', 'g')"
    for cyrillic, latin in letters:  # before strip_accents, which would make й an и
        sql = f"replace({sql}, {_quote(cyrillic)}, {_quote(latin)})"
    sql = f"strip_accents({sql})"
    for spelling, folded in folds:
        if spelling != folded:
            sql = f"replace({sql}, {_quote(spelling)}, {_quote(folded)})"
    for letter in string.ascii_lowercase:  # doubled letters merged (RE2 has no backrefs)
        sql = f"regexp_replace({sql}, '{letter}{letter}+', '{letter}', 'g')"
    return f"(' ' || trim({sql}))"


WORD_BREAK = "'[^\\p{L}\\p{N}]+'"  # what separates words: anything not a letter or digit


def words_sql(expr: str, joined: bool = False) -> str:
    """SQL: `expr` lower-cased, cut into space-separated words (`joined`: run together)."""
    return f"regexp_replace(lower({expr}), {WORD_BREAK}, '{'' if joined else ' '}', 'g')"


def token_sql(expr: str) -> str:
    """SQL: the folded token of one word `expr` (a number stays as it is)."""
    return (f"CASE WHEN regexp_full_match({expr}, '[0-9]+') THEN {expr}"
            f" ELSE trim({fold_sql(expr)}) END")


def index_sql() -> str:
    """The snapshot's `search_index` (built after contract_facts and parties)."""
    contract_words = words_sql("concat_ws(' ', c.title, c.native_id, c.notice_id,"
                               " f.vendor_name, f.buyer_name)")
    names = "string_split(concat_ws(' | ', p.name, p.names), ' | ')"
    party_words = (words_sql("concat_ws(' ', p.name, p.names, o.ids)") + " || ' ' || "
                   f"array_to_string(list_transform({names}, lambda n: {words_sql('n', True)}),"
                   " ' ')")
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    return f"""
        SELECT (row_number() OVER (ORDER BY list_position([{kinds}], kind), contracts DESC,
                                   amount_usd DESC NULLS LAST, label, key))::INTEGER AS doc,
               kind, key, label, contracts, amount_usd, words
        FROM (SELECT p.role AS kind, p.key, p.name AS label, p.contracts,
                     NULL::DOUBLE AS amount_usd, {party_words} AS words
              FROM parties p
              LEFT JOIN (SELECT coalesce(entity_id, org_id) AS key,
                                string_agg(concat_ws(' ', CASE WHEN org_id NOT LIKE 'name:%'
                                                 THEN org_id END, identifier, kpp), ' ') AS ids
                         FROM organizations GROUP BY 1) o ON o.key = p.key
              UNION ALL
              SELECT 'contract', c.contract_id, coalesce(c.title, c.native_id, c.contract_id), 1,
                     c.amount_usd, {contract_words}
              FROM contracts c JOIN contract_facts f USING (contract_id))
        ORDER BY doc"""


# every (doc, word) of the index
_WORDS = """SELECT doc, word
            FROM (SELECT doc, unnest(string_split(words, ' ')) AS word FROM search_index)
            WHERE word <> ''"""
# (a filter on `token` here would have DuckDB fold every word of every row: 50x slower)
WORDS_SQL = f"""
    SELECT word, {token_sql('word')} AS token FROM (SELECT DISTINCT word FROM ({_WORDS}))"""
TERMS_SQL = """
    SELECT token, (row_number() OVER (ORDER BY token) - 1)::INTEGER AS term
    FROM (SELECT DISTINCT token FROM search_words WHERE token <> '') ORDER BY token"""
POSTINGS_SQL = f"""
    SELECT DISTINCT t.term, x.doc FROM ({_WORDS}) x
    JOIN (SELECT w.word, t.term FROM search_words w JOIN search_terms t USING (token)) t
      USING (word)
    ORDER BY t.term, x.doc"""
KINDS_SQL = "SELECT kind, min(doc) AS first, max(doc) AS last FROM search_index GROUP BY kind"
# the snapshot's search tables, in the order they are made (facts.DERIVED appends them)
TABLES = {"search_index": index_sql(), "search_words": WORDS_SQL, "search_terms": TERMS_SQL,
          "search_postings": POSTINGS_SQL, "search_kinds": KINDS_SQL}


def query_words(con, text: str | None) -> list[str]:
    """The words of a query, each with its punctuation removed and folded as the index's
    words are («Н-Тех» -> 'nteh'): one statement for all of them (the folding SQL is long to
    parse)."""
    chunks = (text or "")[:MAX_QUERY].split()[:MAX_WORDS]
    if not chunks:
        return []
    return con.execute("SELECT list_transform(?::VARCHAR[], lambda w:"
                       f" {token_sql(words_sql('w', joined=True))})", [chunks]).fetchone()[0]


def available(con) -> bool:
    """Whether the snapshot carries the index (a snapshot published before it did not)."""
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE list_contains(?, table_name)",
                       [list(TABLES)]).fetchone()[0] == len(TABLES)


def _after(prefix: str) -> str:
    """The first string after every string beginning with `prefix` (a range's end)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _terms(con, prefix: str) -> tuple[int, int, int] | None:
    """(first term, last term, postings) of the tokens beginning with `prefix`."""
    lo, hi = con.execute("SELECT min(term), max(term) FROM search_terms"
                         " WHERE token >= ? AND token < ?", [prefix, _after(prefix)]).fetchone()
    if lo is None:
        return None
    n = con.execute("SELECT count(*) FROM search_postings WHERE term BETWEEN ? AND ?",
                    [lo, hi]).fetchone()[0]
    return lo, hi, n


def _docs(ranges: list[tuple[int, int, int]]) -> tuple[str, list]:
    """SQL of the documents holding a word of every range: the rarest word's documents, then
    those of each commoner word among them (the small set is the one hashed)."""
    sql, params = "", []
    for lo, hi, _ in sorted(ranges, key=lambda r: r[2]):
        cond = "term = ?" if lo == hi else "term BETWEEN ? AND ?"
        distinct = "" if lo == hi else "DISTINCT "  # postings hold (term, doc) once
        among = f" AND doc IN ({sql})" if sql else ""
        sql = f"SELECT {distinct}doc FROM search_postings WHERE {cond}{among}"
        params = ([lo] if lo == hi else [lo, hi]) + params
    return sql, params


def _empty() -> dict[str, dict]:
    return {kind: {"count": 0, "rows": pd.DataFrame(columns=["key", "label", "contracts",
                                                             "amount_usd"])}
            for kind in KINDS}


def search(con, text: str | None, limit: int = 20) -> dict[str, dict]:
    """kind -> {"count": rows matched, "rows": the first `limit` (key, label, contracts,
    amount_usd)}: parties by their number of contracts, contracts by their value."""
    words = [w for w in query_words(con, text) if w]
    ranges = [_terms(con, w) for w in dict.fromkeys(words)]
    if not words or None in ranges:
        return _empty()
    docs, params = _docs(ranges)
    # a kind's documents are one run of numbers: count them and take the first `limit`
    counted = con.execute(
        f"""SELECT k.kind, count(*) AS matched, min(m.doc, ?) AS top
            FROM ({docs}) m JOIN search_kinds k ON m.doc BETWEEN k.first AND k.last
            GROUP BY k.kind""", [limit, *params]).fetchall()
    top = sorted(d for _, _, first in counted for d in first)
    rows = con.execute(
        """SELECT doc, kind, key, label, contracts, amount_usd FROM search_index
           WHERE doc IN (SELECT unnest(?::INTEGER[])) ORDER BY doc""", [top]).df()
    out = _empty()
    for kind, matched, _ in counted:
        out[kind] = {"count": int(matched), "rows": rows[rows["kind"] == kind][
            ["key", "label", "contracts", "amount_usd"]].reset_index(drop=True)}
    return out
