"""Search in any script (analysis/search.py): over a small hand-written warehouse, and over
real documents (the curated leads, EIS and USAspending records) built and published as
`survtrack build` does, where the token tables must find exactly what a scan of every row,
folded row by row, finds. The browser journey J13 searches the demo with every document."""

from __future__ import annotations

import duckdb
import pytest

from survtrack.analysis import search
from survtrack.warehouse.snapshot import make_table


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    con.execute("""
        CREATE TABLE organizations AS SELECT * FROM (VALUES
            ('RU-INN:7703380158', 'ent:RU-INN:7703380158', '7703380158', '770301001'),
            ('name:curated:ntechlab', 'ent:RU-INN:7703380158', NULL, NULL),
            ('CO-NIT:899999061', 'ent:CO-NIT:899999061', '899999061', NULL))
            t(org_id, entity_id, identifier, kpp);
        CREATE TABLE parties AS SELECT * FROM (VALUES
            ('vendor', 'ent:RU-INN:7703380158', 'NtechLab', 2,
             'ООО «НТЕХЛАБ» | N-Tech.Lab Ltd | NtechLab'),
            ('buyer', 'ent:CO-NIT:899999061', 'BOGOTÁ D.C. - SECRETARÍA DE HACIENDA', 1,
             'BOGOTÁ D.C. - SECRETARÍA DE HACIENDA')) t(role, key, name, contracts, names);
        CREATE TABLE contracts AS SELECT * FROM (VALUES
            ('eis:0373200041520000001', 'Поставка системы видеонаблюдения', '0373200041520000001',
             '0373200041519000123', 1000.0),
            ('ocds:co-1', 'Cámaras de seguridad', 'co-1', NULL, NULL))
            t(contract_id, title, native_id, notice_id, amount_usd);
        CREATE TABLE contract_facts AS SELECT * FROM (VALUES
            ('eis:0373200041520000001', 'NtechLab', 'ГКУ «Информационный город»'),
            ('ocds:co-1', NULL, 'BOGOTÁ D.C. - SECRETARÍA DE HACIENDA'))
            t(contract_id, vendor_name, buyer_name);
    """)
    for name, how in search.TABLES.items():
        make_table(con, name, how)
    return con


def labels(con, text: str, kind: str) -> list[str]:
    return list(search.search(con, text)[kind]["rows"]["label"])


@pytest.mark.parametrize("text", ["НтехЛаб", "ntechlab", "Н-Тех", "NTECH", "нтехлаб ооо",
                                  "7703380158", "770301001"])
def test_a_vendor_is_found_by_any_spelling_script_or_number(con, text):
    assert labels(con, text, "vendor") == ["NtechLab"]


def test_word_beginnings_accents_and_numbers_find_contracts_and_buyers(con):
    assert labels(con, "видеонаблюд", "contract") == ["Поставка системы видеонаблюдения"]
    assert labels(con, "0373200041520000001", "contract") == ["Поставка системы видеонаблюдения"]
    assert labels(con, "0373200041519000123", "contract") == ["Поставка системы видеонаблюдения"]
    assert labels(con, "camaras", "contract") == ["Cámaras de seguridad"]
    assert labels(con, "bogota hacienda", "buyer") == ["BOGOTÁ D.C. - SECRETARÍA DE HACIENDA"]
    assert labels(con, "информационн", "contract") == ["Поставка системы видеонаблюдения"]


def test_every_word_must_match_and_keys_are_not_searchable(con):
    assert labels(con, "ntechlab bogota", "vendor") == []
    assert labels(con, "curated", "vendor") == []  # a made-up org key is no spelling
    found = search.search(con, "  ")
    assert all(group["count"] == 0 for group in found.values())
    found = search.search(con, "видео")
    assert found["contract"]["count"] == 1 and found["vendor"]["count"] == 0


# -- real documents -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real(tmp_path_factory, shared):
    """A snapshot built from the curated leads and the recorded EIS and USAspending documents,
    published as `survtrack build` publishes it (with the search tables)."""
    from survtrack import scrapers
    from survtrack.analysis.build import run_build
    from survtrack.analysis.facts import publish_snapshot
    from survtrack.scrapers.curated import CSV
    from survtrack.scrapers.ingest import ingest
    from survtrack.warehouse.store import Warehouse

    db = tmp_path_factory.mktemp("search") / "survtrack.duckdb"
    with Warehouse(db) as wh:
        ingest(wh, scrapers.get("curated"), [CSV])
        ingest(wh, scrapers.get("eis"), sorted((shared / "eis").glob("*.xml")))
        ingest(wh, scrapers.get("usaspending"), [
            shared / "usaspending" / "awards__award_id__response0.json",
            shared / "outside" / "usaspending" / "awards__award_id__d654b573__r2.json"])
        run_build(wh, ["classify", "entities"])
    snap = duckdb.connect(str(publish_snapshot(db)), read_only=True)
    yield snap
    snap.close()


# search_postings as one statement made it before it was made in pieces (search.Postings)
ONE_STATEMENT = f"""
    SELECT DISTINCT t.term, x.doc FROM ({search._WORDS}) x
    JOIN (SELECT w.word, t.term FROM search_words w JOIN search_terms t USING (token)) t
      USING (word)
    ORDER BY t.term, x.doc"""


def test_postings_made_in_pieces_equal_one_statement_row_for_row(real):
    """Cut into a dozen ranges of terms (as 10 M contracts are cut into ~10), the postings
    hold the rows of the one statement in its order, as the publisher stored them."""
    con = duckdb.connect()
    for name in ("search_index", "search_words", "search_terms"):
        rows = real.sql(f"SELECT * FROM {name}").to_arrow_table()  # noqa: F841 (read by name)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM rows")
    pairs = con.execute(f"SELECT count(*) FROM ({search.PAIRS_SQL})").fetchone()[0]
    pieced = search.Postings(rows=pairs // 12)
    con.execute(f"CREATE TABLE search_postings_pairs AS {search.PAIRS_SQL}")
    assert len(pieced.ranges(con, "search_postings_pairs")) >= 10
    pieced.make(con, "search_postings")
    stored = con.execute("SELECT term, doc FROM search_postings").fetchall()
    assert stored == con.execute(ONE_STATEMENT).fetchall()
    assert stored == real.execute("SELECT term, doc FROM search_postings").fetchall()
    assert len(stored) > 1000 and stored == sorted(set(stored))
    assert con.execute("SELECT count(*) FROM duckdb_tables()"
                       " WHERE table_name = 'search_postings_pairs'").fetchone()[0] == 0


def scanned(con, text: str) -> dict[str, list[str]]:
    """What a scan of every row finds, its words folded row by row: each query word begins
    some folded word of the row (no token tables involved); keys in rank order."""
    words = [w for w in search.query_words(con, text) if w]
    if not words:
        return {kind: [] for kind in search.KINDS}
    where = " AND ".join(["folded LIKE ?"] * len(words))
    found = con.execute(f"SELECT kind, key FROM (SELECT doc, kind, key,"
                        f" {search.fold_sql('words')} AS folded FROM search_index)"
                        f" WHERE {where} ORDER BY doc", [f"% {w}%" for w in words]).fetchall()
    return {kind: [key for k, key in found if k == kind] for kind in search.KINDS}


def test_real_documents_find_ntechlab_moscow_and_registry_numbers(real):
    ntechlab = real.execute("SELECT DISTINCT vendor_key FROM contract_facts"
                            " WHERE vendor_name = 'NtechLab'").fetchall()
    assert len(ntechlab) == 1
    for text in ("НтехЛаб", "ntechlab", "Н-Тех"):
        assert list(search.search(real, text)["vendor"]["rows"]["key"]) == [ntechlab[0][0]]
    moscow = search.search(real, "Москв")
    assert moscow["buyer"]["count"] > 0 and moscow["contract"]["count"] > 0
    # an EIS contract by its registry number, and by the beginning of a Russian word of its
    # subject typed in capitals
    contract_id, native_id, title = real.execute(
        """SELECT contract_id, native_id, title FROM contracts
           WHERE source = 'eis' AND regexp_matches(title, '[А-Яа-я]{8}')
           ORDER BY contract_id LIMIT 1""").fetchone()
    assert contract_id in list(search.search(real, native_id)["contract"]["rows"]["key"])
    word = next(w for w in title.split() if len(w) >= 8 and w.isalpha())
    found = search.search(real, word[:6].upper(), limit=1000)["contract"]
    assert contract_id in list(found["rows"]["key"])


@pytest.mark.parametrize("text", ["НтехЛаб", "ntechlab", "Н-Тех", "Москв", "video surv",
                                  "huawei", "ice", "поставк", "закупк товар", "ООО", "2019",
                                  "facial recognition moscow", "a", "zzzz", "Департамент"])
def test_the_token_tables_find_what_a_scan_of_every_row_finds(real, text):
    """Counts and rows equal a plain scan of `words` (the previous implementation), and the
    rows come busiest party, largest contract first."""
    found = search.search(real, text, limit=10_000)
    expected = scanned(real, text)
    for kind in search.KINDS:
        assert not found[kind]["capped"]
        assert found[kind]["count"] == len(expected[kind]), (text, kind)
        assert list(found[kind]["rows"]["key"]) == expected[kind], (text, kind)
    ranked = search.search(real, text, limit=3)["contract"]["rows"]
    amounts = [a for a in ranked["amount_usd"] if a == a]  # NaN: no dollar amount, last
    assert amounts == sorted(amounts, reverse=True)


# limits so small that every way of counting runs on these few hundred rows: counts from
# search_counts alone, capped counts, intersections in windows of 2 documents, at most 3,
# stopped by the postings budget
TIGHT = search.Limits(cap=4, exact_rows=0, windows=3, min_window=2, budget=40)


@pytest.mark.parametrize("text", ["НтехЛаб", "Москв", "video surv", "huawei", "ice", "поставк",
                                  "закупк товар", "ООО", "2019", "facial recognition moscow",
                                  "a", "zzzz", "Департамент", "contract", "о", "1"])
def test_capped_counts_are_lower_bounds_and_the_rows_the_first(real, text):
    """Counting may stop early, saying so ("capped"): the count is then at most the true one,
    and the rows shown are still the first that match, in rank order; an uncapped count is
    the true one."""
    expected = scanned(real, text)
    found = search.search(real, text, limit=3, limits=TIGHT)
    for kind in search.KINDS:
        count, keys = found[kind]["count"], list(found[kind]["rows"]["key"])
        if found[kind]["capped"]:
            assert len(keys) <= count <= len(expected[kind]), (text, kind)
        else:
            assert count == len(expected[kind]), (text, kind)
            assert len(keys) == min(3, count), (text, kind)
        assert keys == expected[kind][:len(keys)], (text, kind)


def test_capped_counts_happen_on_real_documents(real):
    """The tight limits above do cap some counts (else that test would prove nothing)."""
    found = [search.search(real, text, limit=3, limits=TIGHT)
             for text in ("a", "ООО", "поставк", "закупк товар")]
    assert any(group["capped"] for f in found for group in f.values())


def test_queries_are_folded_in_python_as_sql_folds_them(real):
    """Query words are folded in Python (fast) for Latin, Greek and Cyrillic text: every
    character of those scripts, alone and between others, and every word of the real
    documents' index, folds exactly as the SQL that folded the index."""
    chars = [chr(i) for i in [*range(0x20, 0x250), *range(0x370, 0x530), *range(0x1E00, 0x1F00)]]
    samples = chars + [f"{c}a{c.upper()}" for c in chars] + [
        "НтехЛаб", "Н-Тех", "ΟΔΟΣ", "Straße", "İstanbul", "x²", "Łódź", "0123", "12ab"]
    samples += [w for (w,) in real.execute("SELECT word FROM search_words").fetchall()]
    assert all(search.PYTHON_FOLDS.fullmatch(c) for c in chars)
    sql = real.execute("SELECT list_transform(?::VARCHAR[], lambda w:"
                       f" {search.token_sql(search.words_sql('w', joined=True))})",
                       [samples]).fetchone()[0]
    mismatched = [(s, folded) for s, folded in zip(samples, sql)
                  if search.PYTHON_FOLDS.fullmatch(s) and search._fold_in_python(s) != folded]
    assert mismatched == []
    # other scripts are folded by the SQL itself
    assert search.query_words(real, "漢字 НтехЛаб") == ["漢字", "ntehlab"]


def test_a_capped_count_reads_as_a_lower_bound_on_the_page(real):
    """The results page shows a capped count as "n+" and says counting stopped there."""
    from survtrack.dashboard.pages.search import _group

    found = search.search(real, "ООО", 3, limits=TIGHT)
    kind = next(k for k in search.KINDS if found[k]["capped"])
    for lang, stopped in (("en", "counting stopped at"), ("ru", "подсчёт остановлен на")):
        section = _group(kind, found[kind], lang)
        heading, hint = section.children[0].children, section.children[2].children
        assert heading.endswith(f"({found[kind]['count']}+)"), heading
        assert stopped in hint, hint
