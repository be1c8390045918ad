"""Search in any script (analysis/search.py) over a small hand-written warehouse; the browser
journey J13 searches the demo with every document."""

from __future__ import annotations

import duckdb
import pytest

from survtrack.analysis import search


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
    con.execute(f"CREATE TABLE search_index AS {search.index_sql()}")
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
