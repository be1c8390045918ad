"""What a build step read for each contract, as one hash: the steps competition, threads and
flags recompute only the contracts whose inputs changed since the last build.

Each step gives the SQL of its inputs' hash per contract (`contract_id`, `inputs`): hashes of
the rows it reads (every column, so a row restated from another document or compiled again
from older ones counts as changed) folded per contract with bit_xor, and a version string of
its own code and data files, so a changed rule recomputes every contract. `build_inputs`
keeps the hash of the last build; the contracts whose hash differs (or that are new) are the
step's work, in a temporary table the step's SQL is narrowed to. A removed contract's rows
go: the contracts with a recorded hash and none now (`<step>_gone`, found by the same join
that compares the hashes), so a build does not scan the step's table and `build_inputs` for
them; and the work's old rows are those of its contracts that had a hash (`<step>_had`), so a
work of new contracts deletes nothing. `full=True` recomputes every contract. Reading the hashes is one pass over the inputs
without writing; the step then computes and rewrites only the changed contracts, so a build
after adding 1 % of contracts rewrites about 1 % (docs/scale.md).

Which contracts to hash comes from the record of changed keys the warehouse's writers keep
(warehouse/changes.py): a step that gives its `Reads` (the tables it reads and how their
recorded keys lead to contracts) hashes only the contracts recorded since it last ran, plus
what its joins need (a procurement's contracts, a group's members), and compares those with
their recorded hashes; the comparison still decides what changed, the record only narrows
what is hashed. Without a cursor (a first build, a warehouse built before the record),
with another code version, with `full`, or when the record names most contracts, every
contract is hashed as before. A step that keeps no hash (`candidates`: the group flags' step)
takes the record's candidates as its work and decides itself which of them changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from survtrack.warehouse import changes
from survtrack.warehouse.schema import TABLES


def version(*parts: str | Path) -> str:
    """A short hash of texts and files' bytes: a step's code and data as they are now."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.read_bytes() if isinstance(part, Path) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Reads:
    """What of the record of changes (warehouse/changes.py) may change a step's inputs: the
    tables whose recorded keys it reads, and `expand`, SQL selecting the ids of the contracts
    those keys may change from the temporary table `<step>_keys` (table_name, key)."""

    tables: tuple[str, ...]
    expand: str
    # called with the warehouse once `<step>_keys` is made, before `expand` reads it: the
    # step's own tables for `expand` (and for itself after `stale`)
    prepare: Callable[[object], None] | None = None


def stale(wh, step: str, inputs_sql: str | Callable[[str | None], str], code: str,
          full: bool = False, reads: Reads | None = None) -> int:
    """Fill the temporary table `<step>_work` (contract_id, inputs) with the contracts whose
    inputs' hash differs from the one recorded (all when `full`), `<step>_had` (contract_id)
    with those of them that had a hash recorded, and `<step>_gone` (contract_id) with those
    recorded that are no longer among `inputs_sql`'s; return the number of the work.
    `inputs_sql` selects (contract_id, inputs) and may read the parameter
    `$code`.

    With `reads`, only the contracts the record of changes (warehouse/changes.py) names since
    the step last ran are hashed (`reads.expand`), by `inputs_sql(only)`: the contracts of
    the temporary table `only` (`inputs_sql(None)`: every contract). Every contract is hashed
    when the step has no cursor, another code version, `full`, or when the record names most
    contracts. `replace` then moves the step's cursor past what it read."""
    only = None
    if reads:
        consuming(wh, step, code, reads)
        only = None if full else narrowed(wh, step, code, reads)
    sql = inputs_sql(only) if callable(inputs_sql) else inputs_sql
    recorded = "build_inputs WHERE step = $step" + (
        f" AND contract_id IN (SELECT contract_id FROM {only})" if only else "")
    # two statements, each with the whole memory limit: hashing every contract's inputs, then
    # comparing with the last build's (in one, at 10 M contracts, a 4 GB limit ran out)
    wh.execute(f"CREATE OR REPLACE TEMP TABLE {step}_hashes AS {sql}", {"code": code})
    # one full join finds the changed, the new and the removed contracts; a removed one
    # (a recorded hash, no contract) is kept with NULL inputs, then moved to `_gone`
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE {step}_compared AS
        SELECT coalesce(n.contract_id, b.contract_id) AS contract_id, n.inputs,
               b.contract_id IS NOT NULL AS had
        FROM {step}_hashes n
        FULL JOIN (SELECT contract_id, inputs FROM {recorded}) b
          ON b.contract_id = n.contract_id
        WHERE $full OR b.inputs IS DISTINCT FROM n.inputs""",
               {"step": step, "full": full})
    wh.execute(f"DROP TABLE {step}_hashes")
    wh.execute(f"CREATE OR REPLACE TEMP TABLE {step}_work AS SELECT contract_id, inputs"
               f" FROM {step}_compared WHERE inputs IS NOT NULL")
    wh.execute(f"CREATE OR REPLACE TEMP TABLE {step}_had AS SELECT contract_id"
               f" FROM {step}_compared WHERE inputs IS NOT NULL AND had")
    wh.execute(f"CREATE OR REPLACE TEMP TABLE {step}_gone AS SELECT contract_id"
               f" FROM {step}_compared WHERE inputs IS NULL")
    wh.execute(f"DROP TABLE {step}_compared")
    return wh.scalar(f"SELECT count(*) FROM {step}_work")


# Hashing a few contracts costs semi-joins that hashing all of them does not: past this share
# of the contracts, the record's candidates are hashed as every contract is.
NARROW_SHARE = 0.5


def candidates(wh, step: str, code: str, reads: Reads, every: str, full: bool = False) -> bool:
    """For a step that keeps no hash (it decides itself which of its candidates changed):
    `<step>_work` (contract_id), the contracts the record of changes names since the step
    last ran (`reads.expand`, which selects contracts there are), or `every` (SQL of every
    contract) without a usable cursor, with another code version, `full`, or when the record
    names most contracts. Returns whether the record narrowed it. `replace` (the step in its
    `partial`) then moves the step's cursor past what it read."""
    consuming(wh, step, code, reads)
    only = None if full else narrowed(wh, step, code, reads)
    wh.execute(f"CREATE OR REPLACE TEMP TABLE {step}_work AS"
               f" SELECT contract_id FROM {only or f'({every})'}")
    return only is not None


def consuming(wh, step: str, code: str, reads: Reads) -> None:
    """`<step>_consumed`: the code version and tables the step reads the record with, for
    `replace` to move its cursor past (a build with `full` too)."""
    wh.execute(f"CREATE OR REPLACE TEMP TABLE {step}_consumed AS"
               " SELECT ?::VARCHAR AS code, ?::VARCHAR[] AS tables", [code, list(reads.tables)])


def narrowed(wh, step: str, code: str, reads: Reads) -> str | None:
    """The temporary table `<step>_candidates` (contract_id): the contracts whose inputs may
    have changed since the step last ran, by the record of changes; None (hash every
    contract) without a usable cursor or when they are most contracts."""
    since = changes.cursor(wh, step, code, reads.tables)
    if since is None:
        return None
    wh.execute(f"CREATE OR REPLACE TEMP TABLE {step}_keys AS"
               f" {changes.since(step, reads.tables)}", [since])
    if reads.prepare:
        reads.prepare(wh)
    wh.execute(f"CREATE OR REPLACE TEMP TABLE {step}_candidates AS"
               f" SELECT DISTINCT contract_id FROM ({reads.expand}) t(contract_id)"
               " WHERE contract_id IS NOT NULL")
    wh.execute(f"DROP TABLE {step}_keys")
    n = wh.scalar(f"SELECT count(*) FROM {step}_candidates")
    if n > NARROW_SHARE * max(1, wh.scalar("SELECT count(*) FROM contracts")):
        wh.execute(f"DROP TABLE {step}_candidates")
        return None
    return f"{step}_candidates"


def rows(table: str, condition: str | None) -> str:
    """`table`, or (a condition given) only its rows matching it, found by their rowids: the
    condition's columns scanned, then the rows joined on an integer. At 1 M contracts, a
    narrowed hash read this way cost about half the CPU of filtering the whole rows with a
    semi-join on their text key (docs/scale.md)."""
    if condition is None:
        return table
    return f"(SELECT * FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {condition}))"


def fill(template: str, tables: dict[str, str]) -> str:
    """`template` with each `{@marker}` replaced by its table's name in `tables`: a step's
    SQL reading the warehouse's tables, or the temporary tables its `gather` made of a
    narrowed build's rows."""
    for marker, name in tables.items():
        template = template.replace("{@" + marker + "}", name)
    return template


class Gathering:
    """The tables a step's hash and computing read: the warehouse's (`read`) until the record
    of changes narrows the build, then the temporary tables (`gathered`) that `gather(wh,
    only)` made of the candidates' rows. `hashed` is the step's SQL of hashes for `stale`."""

    def __init__(self, wh, gather, inputs_sql, read: dict[str, str],
                 gathered: dict[str, str]):
        self.wh, self.gather, self.inputs_sql = wh, gather, inputs_sql
        self.tables, self.gathered = read, gathered

    def hashed(self, only: str | None) -> str:
        if only is not None:
            self.gather(self.wh, only)
            self.tables = self.gathered
        return self.inputs_sql(None, self.tables)


def among(only: str | None, column: str = "contract_id") -> str | None:
    """SQL: `column` is one of the contracts of the temporary table `only` (None: no
    condition)."""
    return None if only is None else f"{column} IN (SELECT contract_id FROM {only})"


def keys(step: str, *tables: str) -> str:
    """SQL: the keys recorded since the step last ran as written to any of `tables` (in
    `expand`)."""
    names = ", ".join(f"'{t}'" for t in tables)
    return f"SELECT key FROM {step}_keys WHERE table_name IN ({names})"


# Contracts computed per pass: a step's joins and group-bys over 10 M contracts at once
# spilled 9 GB to disk within a 4 GB limit and ran several times longer than ten passes.
SLICE = 1_000_000


def in_passes(wh, step: str, sql: str, into: str, slice_size: int = SLICE) -> int:
    """Create the temporary table `into` from `sql`, run over the step's work `slice_size`
    contracts at a time: `sql` reads the contracts of a pass from the temporary table
    `<step>_scope`. Only for steps whose rows of a contract depend on that contract's inputs
    alone, so that the passes give what one pass gives. Returns the number of passes."""
    changed = wh.scalar(f"SELECT count(*) FROM {step}_work")
    passes = max(1, -(-changed // slice_size))
    for n in range(passes):
        wh.execute(f"""CREATE OR REPLACE TEMP TABLE {step}_scope AS SELECT contract_id
                       FROM {step}_work WHERE $passes = 1 OR hash(contract_id) % $passes = $n""",
                   {"passes": passes, "n": n})
        wh.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS {sql}" if n == 0
                   else f"INSERT INTO {into} {sql}")
    return passes


def replace(wh, step: str, table: str, new_rows: str,
            partial: dict[str, str] | None = None,
            inside: Callable[[], None] | None = None, unchanged: str | None = None) -> int:
    """One transaction: drop `table`'s rows of removed contracts and of the step's work,
    insert `new_rows` (a temporary table of the work's new rows), record the work's hashes.
    `partial`: other steps that keep no hash (`candidates`: `<other>_work`), each with SQL
    on `table`'s columns naming the rows its work replaced. Returns the number of removed
    contracts' rows. Each of these steps that read the record of changes (`stale` with
    `reads`, `candidates`) has now consumed it (warehouse/changes.py); the contracts whose
    rows were replaced are recorded in it when a later step reads `table`. `inside`: more
    writes of the step, in the same transaction. `unchanged`: a temporary table of contracts
    of `partial`'s work whose rows the step found the same: neither rewritten nor recorded
    as changed.

    The removed contracts are `<step>_gone` (stale): every row of `table` has its contract's
    hash in `build_inputs`, written in the same transaction. So the work's old rows and hashes
    are those of `<step>_had` (its contracts with a hash recorded): a work of new contracts
    alone deletes nothing, and its deletes, each a scan of the table's key, are not run. A step
    with no hash recorded yet (a warehouse built before them) looks for rows of removed
    contracts in the whole table, and for the work's rows.

    The tables carry no key index (schema: `indexed=False`), so a delete and an insert are
    scans and appends; the work's contracts are unique, so the key stays unique."""
    cols = ", ".join(TABLES[table].column_names)
    partial = partial or {}
    gone = f"t.contract_id IN (SELECT contract_id FROM {step}_gone)"
    with wh.transaction():
        # the work's contracts whose rows and hashes are to go: those with a hash recorded,
        # or the whole work when the step has none yet
        hashed = any_rows(wh, f"build_inputs WHERE step = '{step}'")
        had = _had(wh, step) if hashed else f"{step}_work"
        if not hashed:
            gone = "NOT EXISTS (SELECT 1 FROM contracts c WHERE c.contract_id = t.contract_id)"
        elif not any_rows(wh, f"{step}_gone"):
            gone = ""
        removed = wh.scalar(f"SELECT count(*) FROM {table} t WHERE {gone}") if gone else 0
        if removed:
            if table in changes.KEYS:  # rows of contracts no longer there (the publisher)
                changes.record(wh, table, f"SELECT contract_id FROM {table} t WHERE {gone}")
            wh.execute(f"DELETE FROM {table} t WHERE {gone}")
        if any_rows(wh, had):
            wh.execute(f"DELETE FROM {table} WHERE contract_id IN"
                       f" (SELECT contract_id FROM {had})")
        kept = f" AND contract_id NOT IN (SELECT contract_id FROM {unchanged})" \
            if unchanged else ""
        for other, rows in partial.items():
            wh.execute(f"DELETE FROM {table} WHERE ({rows}){kept}")
            # hashes an earlier survtrack kept for it (`flags_group`), read no more
            if any_rows(wh, f"build_inputs WHERE step = '{other}'"):
                wh.execute("DELETE FROM build_inputs WHERE step = ?", [other])
        wh.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {new_rows}")
        if any_rows(wh, had, f"{step}_gone"):
            wh.execute(f"DELETE FROM build_inputs WHERE step = ? AND contract_id IN"
                       f" (SELECT contract_id FROM {had}"
                       f"  UNION ALL SELECT contract_id FROM {step}_gone)", [step])
        wh.execute(f"INSERT INTO build_inputs (contract_id, step, inputs)"
                   f" SELECT contract_id, ?, inputs FROM {step}_work", [step])
        if inside:
            inside()
        if table in changes.KEYS:  # a later step, or the snapshot publisher, reads it
            works = " UNION ALL ".join(f"SELECT contract_id FROM {s}_work"
                                       for s in (step, *partial))
            # a removed contract's rows went, whatever `unchanged` holds
            changes.record(wh, table, f"SELECT contract_id FROM ({works}) WHERE TRUE{kept}"
                                      f" UNION ALL SELECT contract_id FROM {step}_gone")
        for recorded in (step, *partial):
            consumed(wh, recorded)
    return removed


def _had(wh, step: str) -> str:
    """The temporary table of the step's work contracts that had a hash recorded: `<step>_had`
    (stale), or the whole work when there is none."""
    if temporary(wh, f"{step}_had"):
        return f"{step}_had"
    return f"{step}_work"


def temporary(wh, name: str) -> bool:
    """Whether this connection holds a temporary table `name` (made by an earlier part of the
    build, e.g. `stale`)."""
    return bool(wh.scalar("SELECT count(*) FROM duckdb_tables() WHERE temporary"
                          " AND table_name = ?", [name]))


def any_rows(wh, *relations: str) -> bool:
    """Whether any of `relations` (tables, or `table WHERE …`) has a row."""
    return any(wh.scalar(f"SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT 1)") for t in relations)


def consumed(wh, step: str) -> None:
    """Inside the transaction writing a step's results: the step has consumed the record of
    changes (its code version and tables as `stale` was given them)."""
    if temporary(wh, f"{step}_consumed"):
        code, tables = wh.query(f"SELECT code, tables FROM {step}_consumed")[0]
        changes.advance(wh, step, code, tuple(tables))


def done(wh, step: str, *temporary: str) -> None:
    for name in (f"{step}_work", f"{step}_had", f"{step}_gone", f"{step}_scope",
                 f"{step}_candidates",
                 f"{step}_consumed", *temporary):
        wh.execute(f"DROP TABLE IF EXISTS {name}")
