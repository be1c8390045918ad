"""Search over vendors, buyers and contracts in any script: «НтехЛаб», «ntechlab» and «Н-Тех»
find NtechLab, «видеонаблюд» finds video-surveillance contracts, an INN or a registry number
finds its organization or contract.

The build's snapshot carries a normalised token table in DuckDB:

- `search_index`: one row per vendor, buyer and contract (`doc`, numbered so that within a
  kind the busiest party, the largest contract, comes first; numbered DOC_GAP apart, so that
  a publish that changes a few rows numbers their new rows between their neighbours' and
  keeps every other number: search_update.py) with its `words`: every name,
  spelling, subject and identifier it is known by, lower-cased and cut into words at anything
  that is not a letter or a digit. A vendor's or buyer's words also hold each of its names
  run together ("N-Tech.Lab Ltd" -> "ntechlabltd").
- `search_words`: every distinct word once (with its number of `uses`), with its `token`: the
  word folded to one spelling
  skeleton by the rules entity resolution uses (analysis/data/transliteration.csv: Cyrillic
  to Latin, then the fold rows; accents dropped, doubled letters merged). The folding is SQL
  generated from that data file, so words and queries are folded by the very same
  expression; it runs once per distinct word, not once per row (numbers need none).
- `search_terms`: every distinct token, numbered (`term`, TERM_GAP apart, likewise) in sorted
  order, so the tokens beginning with a prefix are one range of term numbers;
- `search_postings`: (term, doc) once per pair, sorted by term, so a prefix reads one
  contiguous run of rows (DuckDB skips the row groups outside it by their min/max), but for
  the rows a row-by-row publish appended (read by every query until the next full publish);
  a full publish makes it in pieces of terms (`Postings`), within the memory of a piece;
- `search_kinds`: where each kind's run of document numbers starts and ends, and how many
  documents it holds.

A query matches a row when each of its words, punctuation inside it removed («Н-Тех» ->
"нтех" -> "nteh"), begins a token of the row: per query word a range of terms, its documents,
and the intersection of those, rarest word first. No scan of every row (a LIKE scan of every
row's words takes seconds at 10 M contracts; bench/bench_search.py).
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from dataclasses import dataclass
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


def index_rows_sql(parties: str = "", contracts: str = "") -> str:
    """search_index's rows before numbering (kind, key, label, contracts, amount_usd, words):
    every party and contract, or with `parties` / `contracts` (SQL relations of one column)
    the parties of those keys and the contracts of those ids alone."""
    contract_words = words_sql("concat_ws(' ', c.title, c.native_id, c.notice_id,"
                               " f.vendor_name, f.buyer_name)")
    names = "string_split(concat_ws(' | ', p.name, p.names), ' | ')"
    party_words = (words_sql("concat_ws(' ', p.name, p.names, o.ids)") + " || ' ' || "
                   f"array_to_string(list_transform({names}, lambda n: {words_sql('n', True)}),"
                   " ' ')")
    party_keys = f" WHERE p.key IN (SELECT * FROM {parties})" if parties else ""
    org_keys = f" WHERE coalesce(entity_id, org_id) IN (SELECT * FROM {parties})" \
        if parties else ""
    # those contracts' rows by row id, found from their ids alone (a join on the ids read
    # every column of every contract and fact)
    rows = {t: f"(SELECT * FROM {t} WHERE rowid IN (SELECT rowid FROM {t}"
               f" WHERE contract_id IN (SELECT * FROM {contracts})))" if contracts else t
            for t in ("contracts", "contract_facts")}
    return f"""
        SELECT p.role AS kind, p.key, p.name AS label, p.contracts,
               NULL::DOUBLE AS amount_usd, {party_words} AS words
        FROM parties p
        LEFT JOIN (SELECT coalesce(entity_id, org_id) AS key,
                          string_agg(concat_ws(' ', CASE WHEN org_id NOT LIKE 'name:%'
                                           THEN org_id END, identifier, kpp), ' '
                                     ORDER BY org_id) AS ids
                   FROM organizations{org_keys} GROUP BY 1) o ON o.key = p.key{party_keys}
        UNION ALL
        SELECT 'contract', c.contract_id, coalesce(c.title, c.native_id, c.contract_id), 1,
               c.amount_usd, {contract_words}
        FROM {rows['contracts']} c JOIN {rows['contract_facts']} f USING (contract_id)"""


# Documents and terms are numbered this far apart, so that a publish that adds a few can number
# them between their neighbours (search_update._between) instead of renumbering every one; a
# document gap with no room left has the documents around it renumbered (search_update.SPREAD),
# a term gap has the search tables published whole.
DOC_GAP = 1024
TERM_GAP = 1024
_KIND_LIST = "[" + ", ".join(f"'{k}'" for k in KINDS) + "]"
# the order documents are numbered in: by kind, then the busiest party, the largest contract
RANK = (f"list_position({_KIND_LIST}, kind), contracts DESC, amount_usd DESC NULLS LAST,"
        " label, key")


@dataclass(frozen=True)
class Numbered:
    """search_index: every document (`rows`: index_rows_sql) numbered `gap` apart by RANK and
    stored in that order, made in three statements: at 12 M contracts one statement (a window
    numbering every document, each carried with its words, then a sort) ran out of a 4 GB
    memory limit. The rows are stored first (a join that streams), numbered by a window over
    their rank's columns alone, and read back joined to their numbers in number order: the
    same rows in the same order as the one statement."""
    rows: str
    gap: int

    def make(self, con, name: str) -> None:
        stored, numbers = f"{name}_rows", f"{name}_numbers"
        con.execute(f"CREATE OR REPLACE TABLE {stored} AS {self.rows}")
        try:
            con.execute(f"CREATE OR REPLACE TABLE {numbers} AS SELECT rowid AS stored_row,"
                        f" (row_number() OVER (ORDER BY {RANK}) * {self.gap})::BIGINT AS doc"
                        f" FROM {stored}")
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT n.doc, r.kind, r.key,"
                        f" r.label, r.contracts, r.amount_usd, r.words FROM {stored} r"
                        f" JOIN {numbers} n ON n.stored_row = r.rowid ORDER BY n.doc")
        finally:
            con.execute(f"DROP TABLE IF EXISTS {numbers}")
            con.execute(f"DROP TABLE IF EXISTS {stored}")


def index_sql() -> Numbered:
    """The snapshot's `search_index` (built after contract_facts and parties)."""
    return Numbered(index_rows_sql(), DOC_GAP)


# every (doc, word) of the index
_WORDS = """SELECT doc, word
            FROM (SELECT doc, unnest(string_split(words, ' ')) AS word FROM search_index)
            WHERE word <> ''"""
# (a filter on `token` here would have DuckDB fold every word of every row: 50x slower);
# `uses`: the word's occurrences in the index, so that a publish changing a few rows adds and
# takes away theirs and drops the words no row has any more (search_update._words)
WORDS_SQL = f"""
    SELECT word, {token_sql('word')} AS token, uses
    FROM (SELECT word, count(*) AS uses FROM ({_WORDS}) GROUP BY word)"""


def terms_sql() -> str:
    """The snapshot's `search_terms`: every token numbered TERM_GAP apart in token order."""
    return f"""
    SELECT token, (row_number() OVER (ORDER BY token) * {TERM_GAP})::BIGINT AS term
    FROM (SELECT DISTINCT token FROM search_words WHERE token <> '') ORDER BY token"""


TERMS_SQL = terms_sql()
# every (term, doc) of the index, once per word use: the postings before they are deduplicated
PAIRS_SQL = f"""
    SELECT t.term, x.doc FROM ({_WORDS}) x
    JOIN (SELECT w.word, t.term FROM search_words w JOIN search_terms t USING (token)) t
      USING (word)"""
# one range of terms' postings (`{where}`: which terms), deduplicated and sorted
PIECE_SQL = "SELECT DISTINCT term, doc FROM {pairs} WHERE {where} ORDER BY term, doc"
PIECE = 10_000_000  # pairs a piece of the postings holds, about (~3 CPU s each at 10 M)


@dataclass(frozen=True)
class Postings:
    """search_postings, made in pieces: at 10 M contracts one DISTINCT … ORDER BY over every
    pair (~100 M) ran out of a 4 GB memory limit. The pairs (`PAIRS_SQL`) are stored first
    (unsorted: a join that streams), then cut into ranges of terms of about `rows` pairs each
    (at approximate quantiles of `term`), and each range deduplicated and sorted alone and
    appended in term order: the same rows in the same order as the one statement, with the
    memory of a piece. The stored pairs are dropped afterwards."""
    pairs: str = PAIRS_SQL
    piece: str = PIECE_SQL
    rows: int = PIECE

    def make(self, con, name: str) -> None:
        scratch = f"{name}_pairs"
        con.execute(f"CREATE OR REPLACE TABLE {scratch} AS {self.pairs}")
        try:
            for i, where in enumerate(self.ranges(con, scratch)):
                piece = self.piece.format(pairs=scratch, where=where)
                con.execute(f"CREATE OR REPLACE TABLE {name} AS {piece}" if i == 0 else
                            f"INSERT INTO {name} {piece}")
        finally:
            con.execute(f"DROP TABLE IF EXISTS {scratch}")

    def ranges(self, con, scratch: str) -> list[str]:
        """WHERE conditions on `term` cutting the pairs into about `rows` each, in term order
        (a range may hold more: one term's pairs are never cut)."""
        pairs = con.execute(f"SELECT count(*) FROM {scratch}").fetchone()[0]
        pieces = math.ceil(pairs / self.rows)
        if pieces <= 1:
            return ["true"]
        at = ", ".join(str(i / pieces) for i in range(1, pieces))  # a constant list: no parameter
        cuts = con.execute(f"SELECT approx_quantile(term, [{at}]) FROM {scratch}").fetchone()[0]
        cuts = sorted(set(cuts))
        return ([f"term <= {cuts[0]}"]
                + [f"term > {lo} AND term <= {hi}" for lo, hi in zip(cuts, cuts[1:])]
                + [f"term > {cuts[-1]}"])


KINDS_SQL = """SELECT kind, min(doc) AS first, max(doc) AS last, count(*) AS docs
               FROM search_index GROUP BY kind"""
_PER_KIND = ", ".join(f"count(*) FILTER (p.doc BETWEEN k.{kind}_first AND k.{kind}_last)"
                      f"::INTEGER AS {kind}" for kind in KINDS)
_KIND_RUNS = ", ".join(f"max(first) FILTER (kind = '{kind}') AS {kind}_first,"
                       f" max(last) FILTER (kind = '{kind}') AS {kind}_last" for kind in KINDS)
COUNTS_SQL = f"""
    SELECT t.token, c.*
    FROM (SELECT p.term, {_PER_KIND}
          FROM search_postings p, (SELECT {_KIND_RUNS} FROM search_kinds) k GROUP BY p.term) c
    JOIN search_terms t USING (term) ORDER BY c.term"""
SHORT = 3  # prefixes up to this long are looked up in search_prefixes, not summed over terms
_STATS = ", ".join(f"sum({k})::BIGINT AS {k}, max({k}) AS {k}_most" for k in KINDS)


def prefixes_sql(counts: str = "search_counts") -> str:
    """search_prefixes' rows over the rows of search_counts `counts` (a table or subquery)."""
    return f"""
    SELECT prefix, min(term) AS lo, max(term) AS hi, {_STATS}
    FROM (SELECT left(token, n) AS prefix, * FROM {counts}, range(1, {SHORT + 1}) r(n)
          WHERE length(token) >= n)
    GROUP BY prefix ORDER BY prefix"""


PREFIXES_SQL = prefixes_sql()
# the snapshot's search tables, in the order they are made (facts.DERIVED appends them)
TABLES = {"search_index": index_sql(), "search_words": WORDS_SQL, "search_terms": TERMS_SQL,
          "search_postings": Postings(), "search_kinds": KINDS_SQL,
          "search_counts": COUNTS_SQL, "search_prefixes": PREFIXES_SQL}


def _fold_in_python(word: str) -> str:
    """token_sql(words_sql(word, joined=True)) in Python, step for step (microseconds, where
    DuckDB takes ~15 ms to compile the folding's regular expressions for each query); used only
    for the scripts tests/test_search.py checks it on, character by character, against SQL."""
    letters, folds = _rules()
    word = "".join(c for c in "".join(c.lower() for c in word)  # one letter at a time, as SQL
                   if unicodedata.category(c)[0] in "LN")
    if word.isascii() and word.isdigit():
        return word
    for cyrillic, latin in letters:
        word = word.replace(cyrillic, latin)
    word = unicodedata.normalize("NFC", "".join(
        c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c)[0] != "M"))
    for spelling, folded in folds:
        word = word.replace(spelling, folded)
    return re.sub(r"([a-z])\1+", r"\1", word).strip(" ")


# the scripts whose folding in Python is checked against SQL: Basic Latin to Latin Extended-B,
# Greek and Cyrillic, Latin Extended Additional
PYTHON_FOLDS = re.compile("[\u0000-\u024f\u0370-\u052f\u1e00-\u1eff]*")


def query_words(con, text: str | None) -> list[str]:
    """The words of a query, each with its punctuation removed and folded as the index's
    words are («Н-Тех» -> 'nteh'): in Python for Latin, Greek and Cyrillic text, otherwise by
    one statement for all of them."""
    chunks = (text or "")[:MAX_QUERY].split()[:MAX_WORDS]
    if not chunks:
        return []
    if all(PYTHON_FOLDS.fullmatch(chunk) for chunk in chunks):
        return [_fold_in_python(chunk) for chunk in chunks]
    return con.execute("SELECT list_transform(?::VARCHAR[], lambda w:"
                       f" {token_sql(words_sql('w', joined=True))})", [chunks]).fetchone()[0]


def available(con) -> bool:
    """Whether the snapshot carries the index (a snapshot published before it did not)."""
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE list_contains(?, table_name)",
                       [list(TABLES)]).fetchone()[0] == len(TABLES)


def _after(prefix: str) -> str:
    """The first string after every string beginning with `prefix` (a range's end)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True)
class Limits:
    """How much a search may read before it stops counting (see `_find`)."""
    cap: int = 10_000  # a count above it is shown as "10 000+" where counting further costs
    exact_rows: int = 300_000  # postings a kind's exact intersection may read at once
    windows: int = 4  # windows of document numbers read before counting stops
    budget: int = 4_000_000  # postings the windows may read once some documents are found
    min_window: int = 1024  # documents


LIMITS = Limits()
SPARE = 1.25  # a window holds this many times the documents expected to be needed


@dataclass
class Word:
    """A query word's run of terms and, per kind, its postings (`total`, an upper bound of the
    documents holding the word) and those of its commonest term (`most`, a lower bound; when
    it equals the kind's size, every document holds that term)."""
    lo: int
    hi: int
    total: dict[str, int]
    most: dict[str, int]


def _word(con, prefix: str) -> Word | None:
    """The terms beginning with `prefix` and their documents per kind: summed over the run of
    terms in `search_counts`, or for a short prefix (whose run may be millions of terms) one
    row of `search_prefixes`. No posting is read."""
    stats = ", ".join(f"sum({k}), max({k})" for k in KINDS)
    if len(prefix) <= SHORT:
        row = con.execute(f"SELECT lo, hi, {', '.join(f'{k}, {k}_most' for k in KINDS)}"
                          " FROM search_prefixes WHERE prefix = ?", [prefix]).fetchone()
    else:
        row = con.execute(f"SELECT min(term), max(term), {stats} FROM search_counts"
                          " WHERE token >= ? AND token < ?", [prefix, _after(prefix)]).fetchone()
    if row is None or row[0] is None:
        return None
    counts = [int(n) for n in row[2:]]
    return Word(row[0], row[1], dict(zip(KINDS, counts[0::2])), dict(zip(KINDS, counts[1::2])))


def _matches(words: list[Word], kind: str, first: int, last: int) -> str:
    """SQL of the documents in [first, last] holding every word, each once: the rarest word's
    documents, then those of each commoner word among them (the small set is the one hashed;
    postings sorted by term then doc, so a single term's run is cut to the window by its
    row groups' min/max). Deduplicated only when the last word is a run of several terms."""
    sql = ""
    for word in sorted(words, key=lambda w: w.total[kind]):
        among = f" AND doc IN ({sql})" if sql else ""
        sql = (f"SELECT doc FROM search_postings WHERE term BETWEEN {word.lo} AND {word.hi}"
               f" AND doc BETWEEN {first} AND {last}{among}")
    return sql if word.lo == word.hi else f"SELECT DISTINCT doc FROM ({sql})"


@dataclass
class Found:
    """A kind's documents: `count` of them (at least `count` when `capped`), the first
    `limit` by number (the busiest party, the largest contract first)."""
    count: int
    capped: bool
    docs: list[int]


def _find(con, words: list[Word], kind: str, first: int, last: int, size: int, limit: int,
          limits: Limits) -> Found:
    """The documents of one kind (`size` of them, numbered first..last, DOC_GAP apart or
    closer: windows are sized in documents and cut in numbers) holding every word.

    A word one of whose terms every document of the kind holds is left out (it excludes
    nothing). The count comes from `search_counts` alone when a single word of one term is
    left, or when the word's commonest term alone holds more than `limits.cap` documents
    (shown as "10 000+"). Otherwise the postings are intersected: all at once when the words
    have at most `limits.exact_rows` postings in the kind, else in windows of document
    numbers from the kind's first, each sized to find `cap` + 1 documents at the share found
    so far, at most `limits.windows` of them, and once some are found no further window that
    would take the postings read (a run of several terms is read whole in every window) past
    `limits.budget`: counting stops there and the count found is shown as a lower bound ("n+",
    never a wrong number; never "0+": until one is found the windows grow to the kind's end).
    The documents returned are always the kind's first holding every word."""
    numbers = last - first + 1
    per_doc = numbers / size  # numbers per document
    if any(w.total[kind] == 0 for w in words):
        return Found(0, False, [])
    words = [w for w in words if w.most[kind] < size]
    if not words:  # every document of the kind: its first by number
        top = con.execute("SELECT doc FROM search_index WHERE doc BETWEEN ? AND ?"
                          " ORDER BY doc LIMIT ?", [first, last, limit]).fetchall()
        return Found(size, False, [doc for (doc,) in top])
    known = None
    if len(words) == 1 and words[0].total[kind] == words[0].most[kind]:
        known = Found(words[0].total[kind], False, [])
    elif len(words) == 1 and words[0].most[kind] > limits.cap:
        known = Found(limits.cap, True, [])
    want = limit if known else limits.cap + 1  # documents to find before stopping
    if sum(w.total[kind] for w in words) <= limits.exact_rows:
        span = numbers
    else:  # expected share of the kind holding every word: as if the words were independent
        share = (max(words[0].most[kind], 1) / size if known else
                 math.prod(min(1.0, w.total[kind] / size) for w in words))
        span = math.ceil(per_doc * max(limits.min_window, SPARE * want / share))

    def cost(span: int) -> float:  # postings a window of `span` numbers reads
        return sum(w.total[kind] * (1 if w.lo < w.hi else span / numbers) for w in words)

    found, docs, start, read = 0, [], first, 0.0
    for window in range(limits.windows):
        end = last if known and window == limits.windows - 1 else min(last, start + span - 1)
        read += cost(end - start + 1)
        sql = _matches(words, kind, start, end)
        n, top = con.execute(f"SELECT count(*), min(doc, ?) FROM ({sql})", [limit]).fetchone()
        found += n
        docs += (top or [])[:limit - len(docs)]
        if end == last or found >= want:
            break
        start = end + 1  # the next window: to the end while none is found
        span = (max(span, math.ceil(SPARE * (want - found) * (end - first + 1) / found))
                if found else last - start + 1)
        if found and not known and read + cost(min(span, last - start + 1)) > limits.budget:
            end = None  # some found, the next window too dear: `found` is a lower bound
            break
    else:
        end = None
    if known:
        return Found(known.count, known.capped, docs)
    if end == last:
        return Found(found, False, docs)
    return Found(min(found, limits.cap), True, docs)


COLUMNS = ["key", "label", "contracts", "amount_usd"]  # of each result row


def _rows(con, docs: list[int]) -> list[tuple]:
    """(doc, kind, *COLUMNS) of `docs`, by a literal list of their numbers (integers), which
    DuckDB looks up in the snapshot's index on `doc` (facts.INDEXES; a list bound as a
    parameter would scan the column)."""
    if not docs:
        return []
    numbers = ", ".join(str(int(d)) for d in docs)
    return con.execute(f"SELECT doc, kind, {', '.join(COLUMNS)} FROM search_index"
                       f" WHERE doc IN ({numbers}) ORDER BY doc").fetchall()


def _group(count: int = 0, capped: bool = False, rows: list[tuple] = ()) -> dict:
    rows = pd.DataFrame(list(rows), columns=COLUMNS).astype({"amount_usd": float})  # None: NaN
    return {"count": count, "capped": capped, "rows": rows}


def search(con, text: str | None, limit: int = 20, limits: Limits = LIMITS) -> dict[str, dict]:
    """kind -> {"count": rows matched (at least that many when "capped"), "capped", "rows":
    the first `limit` (key, label, contracts, amount_usd)}: parties by their number of
    contracts, contracts by their value."""
    words = [w for w in query_words(con, text) if w]
    stats = [_word(con, w) for w in dict.fromkeys(words)]
    if not words or None in stats:
        return {kind: _group() for kind in KINDS}
    runs = {kind: (first, last, docs[0] if docs else last - first + 1)  # docs: since DOC_GAP
            for kind, first, last, *docs
            in con.execute("SELECT * FROM search_kinds").fetchall()}
    found = {kind: _find(con, stats, kind, *runs[kind], limit, limits)
             for kind in KINDS if kind in runs}
    rows = _rows(con, sorted(d for f in found.values() for d in f.docs))
    return {kind: _group(found[kind].count, found[kind].capped,
                         [row[2:] for row in rows if row[1] == kind]) if kind in found
            else _group() for kind in KINDS}
