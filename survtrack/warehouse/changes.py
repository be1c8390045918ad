"""The record of changed keys: every writer of a table the build reads or the snapshot
publishes from the record (KEYS) notes the keys it wrote or deleted in `changes`, in the same
transaction as the write, so a build step can hash only the contracts recorded since it last
ran instead of every contract (analysis/inputs.py), and a publish compare only their rows.

A row is (seq, table_name, key): `seq` from the sequence `change_seq` (grows forever, one
value per row), the table written, and the row's key as the build joins on it (KEYS: a
contract id, or a procurement facts' subject, a notice, a complaint's procurement, an
organization, an entity). A writer
records what it may have changed: an upsert that kept the stored row still records its key,
the step's hash comparison is what says a contract changed. A consumer (a build step:
classify, money, competition, threads, flags) keeps in `change_cursors` the last `seq` it has consumed, the
code version it hashed with and the tables it reads; a row is pruned once every consumer
reading its table has consumed it. A consumer without a cursor, with another code version,
or reading a table it did not read then, hashes every contract, as before the record.

The snapshot publisher reads it too (snapshot.py): its cursor is the seq the current snapshot
was copied through, kept in the snapshot (it opens the warehouse read-only), and `prune` keeps
every row after it. Every published table whose recorded key is one of its key columns
(PUBLISHED) is updated from the record's keys instead of hashed whole; a pruned row past that
seq (`PRUNED`'s cursor) makes the publisher hash, as before the record.
"""

from __future__ import annotations

from .schema import TABLES

# The tables whose writes are recorded, and the column their key is read from: what the
# build's steps join a contract's inputs on (analysis/inputs.py, each step's `expand`).
KEYS: dict[str, str] = {
    "contracts": "contract_id",
    "contract_versions": "contract_id",
    "items": "contract_id",
    "payments": "contract_id",
    "contract_events": "contract_id",
    "tags": "contract_id",
    "competition": "contract_id",
    "procurement_facts": "subject_id",
    "notices": "notice_id",
    "context_events": "procurement_id",
    # not read by the build, recorded for the snapshot publisher
    "threads": "contract_id",
    "flags": "contract_id",
    "classified": "contract_id",
    # buyer_concentration's group numbers, recorded by buyer (a group's key is its buyer,
    # category and year): the publisher compares a recorded buyer's groups only
    "concentration_groups": "buyer_id",
    "concentration_vendors": "buyer_id",
    "organizations": "org_id",
    "entities": "entity_id",
    # a row per document and per OCDS release: fingerprinted whole, they cost a publish ~0.2
    # CPU s per million rows (docs/scale.md)
    "documents": "document_id",
    "ocds_releases": "ocid",
}
# The pseudo-consumer whose seq is the highest seq pruned so far (its `tables` empty).
PRUNED = "(pruned)"


def _recorded_table(table: str) -> None:
    """A write to a table the record does not know is a mistake in the code: said at once."""
    if table not in KEYS:
        raise KeyError(f"writes to {table!r} are not recorded; recorded: {', '.join(KEYS)}")


def record(wh, table: str, keys_sql: str, params: dict | list | None = None) -> None:
    """Record the keys `keys_sql` selects (one column; NULLs skipped) as written to `table`,
    inside the caller's transaction. `params` are `keys_sql`'s."""
    _recorded_table(table)
    wh.execute(
        f"INSERT INTO changes (seq, table_name, key) SELECT nextval('change_seq'),"
        f" '{table}', k FROM (SELECT DISTINCT k FROM ({keys_sql}) t(k)"
        " WHERE k IS NOT NULL)",
        params,
    )


def record_rows(wh, table: str, rows_sql: str, params: dict | list | None = None) -> None:
    """Record the keys of the rows `rows_sql` selects (a relation with `table`'s key column)."""
    record(wh, table, f"SELECT {KEYS[table]} FROM {rows_sql}", params)


def record_many(wh, rows: list[tuple[str, str]]) -> None:
    """`record_rows` of several tables in one statement: [(table, rows_sql), …]. A statement
    costs the writer milliseconds whatever its rows (one per table was ~40 ms CPU of a batch
    of 3,000 EIS documents, docs/scale.md)."""
    for table, _ in rows:
        _recorded_table(table)
    if rows:
        wh.execute(
            "INSERT INTO changes (seq, table_name, key) SELECT nextval('change_seq'), t, k FROM ("
            + " UNION ALL ".join(f"SELECT DISTINCT '{table}' AS t, {KEYS[table]} AS k FROM"
                                 f" {rows_sql} WHERE {KEYS[table]} IS NOT NULL"
                                 for table, rows_sql in rows) + ")")


def record_keys(wh, table: str, keys) -> None:
    """Record keys given as Python strings."""
    keys = sorted({k for k in keys if k is not None})
    if keys:
        record(wh, table, "SELECT unnest(?::VARCHAR[])", [keys])


def latest(wh) -> int:
    """The highest seq recorded so far (0: none; the sequence never goes back, so a pruned
    record gives new rows greater seqs than any cursor)."""
    return wh.scalar("SELECT coalesce(max(seq), 0) FROM changes") or wh.scalar(
        "SELECT coalesce(max(seq), 0) FROM change_cursors"
    )


# The tables the publisher updates from the record: their recorded key is a key column (never
# NULL), so the rows of the recorded keys are all the rows a write touched. context_events'
# procurement may be NULL: it is hashed whole.
PUBLISHED = tuple(t for t, k in KEYS.items() if k in TABLES[t].key)


# Writes recorded under one table that change another's rows of the same keys too: the store
# sets a contract's status from its events, and drops the items of a contract whose new
# version a batch wrote (tests/test_snapshot_incremental.py finds a key missed).
ALSO: dict[str, tuple[str, ...]] = {"contracts": ("contract_events",), "items": ("contracts",)}


def read_with(table: str) -> tuple[str, ...]:
    """The tables whose recorded keys name `table`'s changed rows (the publisher's read)."""
    return (table, *ALSO.get(table, ()))


def cursor(wh, consumer: str, code: str, tables: tuple[str, ...]) -> int | None:
    """The seq `consumer` has consumed up to, or None when it must read everything: no cursor
    yet, another code version, or it now reads a table it did not (whose rows it had not
    kept from pruning)."""
    row = wh.query("SELECT seq, code, tables FROM change_cursors WHERE consumer = ?", [consumer])
    if not row or row[0][1] != code or not set(tables) <= set(row[0][2] or ()):
        return None
    return row[0][0]


def since(consumer: str, tables: tuple[str, ...]) -> str:
    """SQL: the distinct (table_name, key) of `tables` recorded after the seq `?`."""
    names = ", ".join(f"'{t}'" for t in tables)
    return f"SELECT DISTINCT table_name, key FROM changes WHERE seq > ? AND table_name IN ({names})"


def advance(wh, consumer: str, code: str, tables: tuple[str, ...]) -> None:
    """`consumer`, which reads `tables`, has consumed every row recorded so far (inside the
    transaction writing what it computed from them, so a killed build consumes nothing), its
    own writes' rows too: the build is the warehouse's one writer while it runs. Then
    prune."""
    wh.execute("DELETE FROM change_cursors WHERE consumer = ?", [consumer])
    wh.execute(
        "INSERT INTO change_cursors (consumer, seq, code, tables) VALUES (?, ?, ?, ?)",
        [consumer, latest(wh), code, sorted(tables)],
    )
    prune(wh)


def prune(wh) -> None:
    """Drop the rows of each table that every consumer reading it has consumed (a consumer
    without a cursor hashes everything and keeps nothing from pruning) and that the current
    snapshot was copied through (one without a seq is published anew: it keeps nothing).
    The highest seq dropped is kept as PRUNED's cursor: a publisher behind it hashes."""
    from .snapshot import published_seq  # snapshot.py reads the record: imported late

    top = wh.scalar("SELECT max(seq) FROM changes")
    if top is None:
        return
    read = published_seq(wh.path)
    done = f"seq <= {consumed_through(wh, top)}" + (
        f" AND seq <= {int(read)}" if read is not None else "")
    dropped = wh.scalar(f"SELECT max(seq) FROM changes WHERE {done}")
    if dropped is None:
        return
    wh.execute(f"DELETE FROM changes WHERE {done}")
    wh.execute("DELETE FROM change_cursors WHERE consumer = ? AND seq < ?", [PRUNED, dropped])
    if not wh.scalar("SELECT count(*) FROM change_cursors WHERE consumer = ?", [PRUNED]):
        wh.execute("INSERT INTO change_cursors (consumer, seq, code, tables)"
                   " VALUES (?, ?, '', [])", [PRUNED, dropped])


def consumed_through(wh, top: int) -> str:
    """SQL of a row's table's seq consumed by every consumer reading the table: the least of
    their cursors, or `top` (the highest recorded) for a table no consumer reads. Made from
    `change_cursors` (a row per consumer) as a CASE: a subquery per row of `changes` cost
    ~3x the scan (docs/scale.md)."""
    least: dict[str, int] = {}
    for seq, tables in wh.query("SELECT seq, tables FROM change_cursors WHERE seq IS NOT NULL"):
        for table in tables or ():
            least[table] = min(least.get(table, seq), seq)
    whens = " ".join(f"WHEN '{table.replace(chr(39), chr(39) * 2)}' THEN {int(seq)}"
                     for table, seq in sorted(least.items()))
    return f"(CASE table_name {whens} ELSE {int(top)} END)" if whens else str(int(top))
