"""The build's writes: derived tables (tags, entities, dollar amounts) written in transactions
the warehouse owns, in bulk from Arrow tables or DataFrames. Analysis steps call these and never
BEGIN, COMMIT or ALTER themselves. A mixin of `Warehouse` (store.py), on its connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import duckdb
import pyarrow as pa

from . import faults
from .schema import TABLES, arrow_schema


@contextmanager
def relations_on(con, **relations) -> Iterator[None]:
    """Arrow tables or DataFrames readable by name in SQL on `con` (a warehouse's or a
    snapshot's DuckDB connection, even a read-only one) for the block's length."""
    for name, data in relations.items():
        con.register(name, data)
    try:
        yield
    except BaseException:
        # an aborted transaction refuses even an unregister ("please ROLLBACK"): the error
        # that aborted it stays the one raised (registering the name again replaces it)
        with suppress(duckdb.Error):
            for name in relations:
                con.unregister(name)
        raise
    for name in relations:
        con.unregister(name)


class DerivedTables:
    @contextmanager
    def transaction(self) -> Iterator[DerivedTables]:
        """One transaction around the block: committed when it ends, rolled back if it raises.

        The error raised is always the first one: a COMMIT that fails (disk full) has often
        ended the transaction already, and the ROLLBACK after it would only say "no
        transaction is active"; a statement that fails (out of memory) leaves the transaction
        aborted, and is rolled back before anything else is tried ("please ROLLBACK")."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException as exc:
            faults.rollback(self.con, exc)
            raise
        try:
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            faults.rollback(self.con, exc)
            raise

    def execute(self, sql: str, params: list | tuple | None = None) -> None:
        self.con.execute(sql, params or [])

    @contextmanager
    def using(self, **relations) -> Iterator[None]:
        """Arrow tables or DataFrames readable by name in SQL for the block's length."""
        with relations_on(self.con, **relations):
            yield

    def write(self, table: str, data, mode: str = "insert") -> None:
        """Bulk-write `data` (an Arrow table or a DataFrame, columns named as the table's)
        into `table` in one statement: `insert`; `upsert` (a row replaces the stored one of
        its key); `replace` (the table's rows become `data`'s). On a table without a key
        index (schema `indexed=False`) an upsert is a delete and an insert: call it inside
        `transaction()`."""
        spec = TABLES[table]
        given = data.column_names if isinstance(data, pa.Table) else list(data.columns)
        cols = [c for c in spec.column_names if c in given]
        if not isinstance(data, pa.Table):  # a DataFrame: typed as the table is, lists too
            data = pa.Table.from_pandas(data[cols], preserve_index=False, schema=pa.schema(
                [arrow_schema(table).field(c) for c in cols]))
        if mode not in ("insert", "upsert", "replace"):
            raise ValueError(f"unknown write mode {mode!r}")
        updates = [c for c in cols if c not in spec.key]
        conflict = (f" ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in updates)
                    if mode == "upsert" and updates and spec.indexed else "")
        if mode == "replace":
            self.con.execute(f"DELETE FROM {table}")
        with self.using(bulk_rows=data):
            if mode == "upsert" and not spec.indexed:  # no key index: drop the rows replaced
                same = " AND ".join(f"b.{k} = t.{k}" for k in spec.key)
                self.con.execute(f"DELETE FROM {table} t WHERE EXISTS"
                                 f" (SELECT 1 FROM bulk_rows b WHERE {same})")
            self.con.execute(f"INSERT INTO {table} ({', '.join(cols)})"
                             f" SELECT {', '.join(cols)} FROM bulk_rows" + conflict)

    def update_from(self, table: str, data, key: tuple[str, ...], columns: tuple[str, ...]
                    ) -> None:
        """Set `columns` of the rows of `table` matching `data` on `key`, where they differ."""
        on = " AND ".join(f"{table}.{k} = d.{k}" for k in key)
        differ = " OR ".join(f"{table}.{c} IS DISTINCT FROM d.{c}" for c in columns)
        with self.using(update_rows=data):
            self.con.execute(f"UPDATE {table} SET "
                             + ", ".join(f"{c} = d.{c}" for c in columns)
                             + f" FROM update_rows d WHERE {on} AND ({differ})")
