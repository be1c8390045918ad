"""Search over vendors, buyers and contracts in any script: «НтехЛаб», «ntechlab» and «Н-Тех»
find NtechLab, «видеонаблюд» finds video-surveillance contracts, an INN or a registry number
finds its organization or contract.

The build's snapshot carries `search_index`: one row per vendor, buyer and contract with its
`words`, every name, spelling, subject and identifier it is known by, folded to one spelling
skeleton by the same rules entity resolution uses (analysis/data/transliteration.csv: Cyrillic
to Latin, then the fold rows; accents and case dropped, doubled letters merged). The folding
is SQL generated from that data file, so the index and the query are folded by the very same
expression. A vendor's or buyer's words also hold each of its names run together ("N-Tech.Lab
Ltd" -> "ntehlabltd"). A query matches a row when each of its words, punctuation inside it
removed («Н-Тех» -> "nteh"), begins a word of the row.
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


def index_sql() -> str:
    """The snapshot's `search_index` (built after contract_facts and parties)."""
    contract_words = fold_sql("concat_ws(' ', c.title, c.native_id, c.notice_id, f.vendor_name,"
                              " f.buyer_name)")
    names = "string_split(concat_ws(' | ', p.name, p.names), ' | ')"
    party_words = (fold_sql("concat_ws(' ', p.name, p.names, o.ids)") + " || ' ' || "
                   f"array_to_string(list_transform({names}, lambda n: replace({fold_sql('n')}, "
                   "' ', '')), ' ')")
    return f"""
        SELECT p.role AS kind, p.key, p.name AS label, p.contracts, NULL::DOUBLE AS amount_usd,
               {party_words} AS words
        FROM parties p
        LEFT JOIN (SELECT coalesce(entity_id, org_id) AS key,
                          string_agg(concat_ws(' ', CASE WHEN org_id NOT LIKE 'name:%'
                                           THEN org_id END, identifier, kpp), ' ') AS ids
                   FROM organizations GROUP BY 1) o ON o.key = p.key
        UNION ALL
        SELECT 'contract', c.contract_id, coalesce(c.title, c.native_id, c.contract_id), 1,
               c.amount_usd, {contract_words}
        FROM contracts c JOIN contract_facts f USING (contract_id)"""


def fold(con, text: str) -> str:
    """`text` folded as the index is (the same SQL), without the leading space."""
    return con.execute(f"SELECT {fold_sql('?')}", [text[:MAX_QUERY]]).fetchone()[0].strip()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def available(con) -> bool:
    """Whether the snapshot carries the index (a snapshot published before it did not)."""
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'search_index'"
                       ).fetchone()[0] > 0


def search(con, text: str | None, limit: int = 20) -> dict[str, dict]:
    """kind -> {"count": rows matched, "rows": the first `limit` (key, label, contracts,
    amount_usd)}: parties by their number of contracts, contracts by their value."""
    words = [w for w in (fold(con, chunk).replace(" ", "")
                         for chunk in (text or "")[:MAX_QUERY].split()[:MAX_WORDS]) if w]
    if not words:
        return {kind: {"count": 0, "rows": pd.DataFrame(columns=["key", "label", "contracts",
                                                                 "amount_usd"])}
                for kind in KINDS}
    where = " AND ".join(["words LIKE ? ESCAPE '\\'"] * len(words))
    params = [f"% {_like(w)}%" for w in words]
    found = con.execute(
        f"""SELECT kind, key, label, contracts, amount_usd,
                   count(*) OVER (PARTITION BY kind) AS matched,
                   row_number() OVER (PARTITION BY kind ORDER BY contracts DESC,
                                      amount_usd DESC NULLS LAST, label, key) AS rank
            FROM search_index WHERE {where}
            QUALIFY rank <= ? ORDER BY kind, rank""", [*params, limit]).df()
    out = {}
    for kind in KINDS:
        rows = found[found["kind"] == kind]
        out[kind] = {"count": int(rows["matched"].iloc[0]) if len(rows) else 0,
                     "rows": rows[["key", "label", "contracts", "amount_usd"]]}
    return out
