"""`changes.prune` drops exactly the rows every consumer reading their table has consumed and
the current snapshot was copied through: checked against the rule written as one correlated
SQL predicate (what prune ran before it read the cursors into a CASE, docs/scale.md)."""

from __future__ import annotations

import pytest

from survtrack.warehouse import changes, snapshot
from survtrack.warehouse.store import Warehouse

# the rule, per row: its table's least cursor among the consumers reading it (every row of a
# table no consumer reads), and the snapshot's seq
RULE = """seq <= (SELECT coalesce(min(k.seq), (SELECT max(seq) FROM changes))
                  FROM change_cursors k WHERE list_contains(k.tables, c.table_name))"""

CURSORS = [  # consumer, seq, tables (one consumer's seq NULL, one reading a quoted name)
    ("classify", 40, ["contracts"]),
    ("money", 25, ["contracts"]),
    ("threads", 60, ["contracts", "notices", "payments"]),
    ("flags", 10, ["competition", "tags"]),
    ("broken", None, ["tags"]),
    ("odd", 35, ["it's"]),
    (changes.PRUNED, 5, []),
]
TABLES = ["contracts", "notices", "payments", "competition", "tags", "organizations",
          "gone_table", "it's"]


def fill(wh: Warehouse) -> None:
    wh.execute("DELETE FROM changes")
    wh.execute("DELETE FROM change_cursors")
    for consumer, seq, tables in CURSORS:
        wh.execute("INSERT INTO change_cursors (consumer, seq, code, tables)"
                   " VALUES (?, ?, 'v', ?)", [consumer, seq, tables])
    wh.execute("INSERT INTO changes (seq, table_name, key) SELECT i, ?[1 + i % ?], 'k' || i"
               " FROM range(6, 80) t(i)", [TABLES, len(TABLES)])


@pytest.mark.parametrize("published", [None, 30, 100])
def test_prune_drops_what_the_rule_drops(tmp_path, monkeypatch, published):
    monkeypatch.setattr(snapshot, "published_seq", lambda path: published)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        fill(wh)
        rule = RULE + (f" AND seq <= {published}" if published is not None else "")
        kept = set(wh.query(f"SELECT seq, table_name FROM changes c WHERE NOT ({rule})"))
        dropped = wh.scalar(f"SELECT max(seq) FROM changes c WHERE {rule}")
        changes.prune(wh)
        assert set(wh.query("SELECT seq, table_name FROM changes")) == kept
        # some of every kind went, and some stayed
        assert kept and dropped and len(kept) < 74
        assert wh.query("SELECT seq FROM change_cursors WHERE consumer = ?",
                        [changes.PRUNED]) == [(dropped,)]


def test_prune_with_no_cursor_drops_every_row_the_snapshot_has(tmp_path, monkeypatch):
    monkeypatch.setattr(snapshot, "published_seq", lambda path: 50)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        fill(wh)
        wh.execute("DELETE FROM change_cursors")
        changes.prune(wh)
        assert wh.scalar("SELECT min(seq) FROM changes") == 51
        wh.execute("DELETE FROM changes")
        changes.prune(wh)  # an empty record: nothing to do
        assert wh.query("SELECT seq FROM change_cursors") == [(50,)]
