"""The warehouse owns its transactions and bulk writes of derived tables."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from survtrack.warehouse import store
from survtrack.warehouse.store import Warehouse


def test_transaction_rolls_back_everything_on_error(warehouse):
    entities = pd.DataFrame({"entity_id": ["e1"], "name": ["A"], "aliases": [["a", "b"]],
                             "identifiers": [[]], "reason": ["registry"]})
    warehouse.write("entities", entities)
    with pytest.raises(RuntimeError), warehouse.transaction():
        warehouse.write("entities", entities.assign(entity_id="e2"))
        raise RuntimeError("a step failed half-way")
    assert warehouse.query("SELECT entity_id, aliases FROM entities") == [("e1", ["a", "b"])]


def test_write_modes_insert_upsert_replace(warehouse):
    state = pa.table({"contract_id": ["c1", "c2"], "document_id": ["d1", "d1"],
                      "taxonomy": ["v1", "v1"], "tags": [0, 1]})
    warehouse.write("classified", state)
    warehouse.write("classified", pa.table({"contract_id": ["c2"], "document_id": ["d2"],
                                            "taxonomy": ["v2"], "tags": [3]}), mode="upsert")
    assert warehouse.query("SELECT contract_id, document_id, taxonomy, tags FROM classified"
                           " ORDER BY 1") == [("c1", "d1", "v1", 0), ("c2", "d2", "v2", 3)]
    warehouse.write("classified", state.slice(0, 1), mode="replace")
    assert warehouse.query("SELECT contract_id FROM classified") == [("c1",)]
    with pytest.raises(ValueError, match="unknown write mode"):
        warehouse.write("classified", state, mode="merge")


def test_update_from_sets_only_matching_rows(warehouse):
    warehouse.execute("INSERT INTO organizations (org_id, name) VALUES ('o1', 'A'), ('o2', 'B')")
    warehouse.update_from("organizations", pd.DataFrame({"org_id": ["o2"], "entity_id": ["e9"]}),
                          key=("org_id",), columns=("entity_id",))
    assert warehouse.query("SELECT org_id, entity_id FROM organizations ORDER BY 1") == [
        ("o1", None), ("o2", "e9")]


def test_using_names_data_for_the_block_only(warehouse):
    rates = pd.DataFrame({"currency": ["RUB"], "units_per_usd": [90.0]})
    with warehouse.using(some_rates=rates):
        assert warehouse.scalar("SELECT units_per_usd FROM some_rates") == 90.0
    with pytest.raises(Exception, match="some_rates"):
        warehouse.scalar("SELECT * FROM some_rates")


def test_only_the_warehouse_opens_transactions_or_changes_schema():
    """Issue 12: analysis, scrapers, dashboard and CLI call Warehouse.transaction()/write();
    no BEGIN/COMMIT/ROLLBACK/ALTER or connection.register outside survtrack/warehouse/, and no
    parser imports the DuckDB store or duckdb itself."""
    import re
    from pathlib import Path

    import survtrack
    root = Path(survtrack.__file__).parent
    sql = re.compile(r"\b(BEGIN|COMMIT|ROLLBACK)\b|ALTER TABLE|\.(un)?register\(")
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "warehouse":
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{rel}: {m.group(0)}" for m in sql.finditer(text)]
        # the ingest engines (not parsers): the writer's loop, the scrape runner and the
        # Dask workers' stage, which writes Parquet partitions with pyarrow
        parser = rel.parts[0] == "scrapers" and rel.name not in ("ingest.py", "scrape.py",
                                                                 "stage.py")
        if parser and re.search(
                r"^\s*(from|import) (survtrack\.warehouse\.store|duckdb|pyarrow)\b", text, re.M):
            offenders.append(f"{rel}: imports the store")
    assert offenders == []


def test_a_step_renames_its_temporary_tables_but_never_a_warehouse_table(tmp_path):
    """analysis/kept.py keeps competition's work tables for threads by renaming them through
    the warehouse (the rule above); a warehouse table cannot be renamed that way."""
    with Warehouse(tmp_path / "w.duckdb") as wh:
        wh.execute("CREATE TEMP TABLE work_rows AS SELECT 'c1' AS contract_id")
        wh.rename_temporary("work_rows", "kept_rows")
        assert wh.query("SELECT contract_id FROM kept_rows") == [("c1",)]
        with pytest.raises(ValueError, match="contracts is not a temporary table"):
            wh.rename_temporary("contracts", "kept_contracts")
        assert wh.count("contracts") == 0


def test_a_warehouse_of_the_keyed_build_tables_is_brought_to_todays_layout(tmp_path):
    """Before 2026-12-02 the build tables carried a PRIMARY KEY (rewriting them cost most of a
    big build) and build_inputs a column per step: opening such a warehouse copies their rows
    into today's unindexed tables, build_inputs a row per step, nothing lost."""
    path = tmp_path / "old.duckdb"
    with Warehouse(path):
        pass
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE build_inputs; DROP TABLE flags")
    con.execute("CREATE TABLE build_inputs (contract_id VARCHAR PRIMARY KEY,"
                " competition UBIGINT, threads UBIGINT, flags UBIGINT)")
    con.execute("INSERT INTO build_inputs VALUES ('a', 1, 2, NULL), ('b', 3, NULL, 4)")
    con.execute("CREATE TABLE flags (contract_id VARCHAR, flag VARCHAR, raised BOOLEAN,"
                " value DOUBLE, threshold DOUBLE, regime VARCHAR, evidence VARCHAR,"
                " document_id VARCHAR, PRIMARY KEY (contract_id, flag))")
    con.execute("CREATE INDEX flags_flag ON flags (flag)")
    con.execute("INSERT INTO flags VALUES ('a', 'single_bid', true, 1, 1, 'eu', 'one bid', 'd')")
    con.close()
    with Warehouse(path) as wh:
        keyed = {t for (t,) in wh.query("SELECT table_name FROM duckdb_constraints()"
                                         " WHERE constraint_type = 'PRIMARY KEY'")}
        assert not keyed & {"build_inputs", "flags", "competition", "threads", "classified"}
        assert "contracts" in keyed
        assert wh.query("SELECT * FROM build_inputs ORDER BY ALL") == [
            ("a", "competition", 1), ("a", "threads", 2), ("b", "competition", 3),
            ("b", "flags", 4)]
        assert wh.query("SELECT contract_id, flag, evidence FROM flags") == [
            ("a", "single_bid", "one bid")]
        assert wh.query("SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'flags'") \
            == [(0,)]
    with Warehouse(path) as wh:  # opened again: nothing to do, nothing changes
        assert wh.count("build_inputs") == 4


@pytest.mark.parametrize("scan", [True, False], ids=["scanned", "by the index"])
def test_keys_looked_up_by_a_list_are_found_exactly(warehouse, load, shared, monkeypatch,
                                                    scan):
    """`loaded_ids` asks by literal lists (the primary-key index answers them), or, while few
    documents are stored for the ids asked, by one list bound as a parameter (a scan): keys
    with quotes or a NUL, and lists longer than the index serves, find exactly the loaded
    documents either way."""
    monkeypatch.setattr(store, "SCAN_ROWS_PER_ID", 10**9 if scan else 0)
    load("eis", shared / "eis")
    loaded = {d for (d,) in warehouse.query(
        "SELECT document_id FROM documents WHERE status NOT IN ('rejected', 'archived')")}
    assert loaded
    odd = ["it's", "'; DROP TABLE documents; --", "nul\0byte", "", "\\"]
    assert warehouse.loaded_ids(sorted(loaded) + odd) == loaded
    assert warehouse.loaded_ids([*sorted(loaded), *(f"{i:064x}" for i in range(3000))]) == loaded
    assert warehouse.loaded_ids(["it's"]) == set()
    assert warehouse.count("documents") >= len(loaded)
