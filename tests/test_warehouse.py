"""The warehouse owns its transactions and bulk writes of derived tables."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest


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
