"""What a build step read for each contract, as one hash: the steps competition, threads and
flags recompute only the contracts whose inputs changed since the last build.

Each step gives the SQL of its inputs' hash per contract (`contract_id`, `inputs`): hashes of
the rows it reads (every column, so a row restated from another document or compiled again
from older ones counts as changed) folded per contract with bit_xor, and a version string of
its own code and data files, so a changed rule recomputes every contract. `build_inputs`
keeps the hash of the last build; the contracts whose hash differs (or that are new) are the
step's work, in a temporary table the step's SQL is narrowed to. A removed contract's rows
go. `full=True` recomputes every contract. Reading the hashes is one pass over the inputs
without writing; the step then computes and rewrites only the changed contracts, so a build
after adding 1 % of contracts rewrites about 1 % (docs/scale.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from survtrack.warehouse.schema import TABLES


def version(*parts: str | Path) -> str:
    """A short hash of texts and files' bytes: a step's code and data as they are now."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.read_bytes() if isinstance(part, Path) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def stale(wh, step: str, inputs_sql: str, code: str, full: bool = False) -> int:
    """Fill the temporary table `<step>_work` (contract_id, inputs) with the contracts whose
    inputs' hash differs from the one recorded (all when `full`); return their number.
    `inputs_sql` selects (contract_id, inputs) and may read the parameter `$code`."""
    wh.execute(f"""
        CREATE OR REPLACE TEMP TABLE {step}_work AS
        SELECT n.contract_id, n.inputs
        FROM ({inputs_sql}) n LEFT JOIN build_inputs b USING (contract_id)
        WHERE $full OR b.{step} IS DISTINCT FROM n.inputs""", {"code": code, "full": full})
    return wh.scalar(f"SELECT count(*) FROM {step}_work")


def replace(wh, step: str, table: str, new_rows: str) -> int:
    """One transaction: drop `table`'s rows of removed contracts and of the step's work,
    insert `new_rows` (a temporary table of the work's new rows), record the work's hashes.
    Returns the number of removed contracts' rows."""
    cols = ", ".join(TABLES[table].column_names)
    with wh.transaction():
        removed = wh.scalar(f"SELECT count(*) FROM {table} t WHERE NOT EXISTS"
                            " (SELECT 1 FROM contracts c WHERE c.contract_id = t.contract_id)")
        if removed:
            wh.execute(f"DELETE FROM {table} t WHERE NOT EXISTS"
                       " (SELECT 1 FROM contracts c WHERE c.contract_id = t.contract_id)")
        wh.execute(f"DELETE FROM {table} WHERE contract_id IN"
                   f" (SELECT contract_id FROM {step}_work)")
        wh.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {new_rows}")
        wh.execute("DELETE FROM build_inputs b WHERE NOT EXISTS"
                   " (SELECT 1 FROM contracts c WHERE c.contract_id = b.contract_id)")
        wh.execute(f"INSERT INTO build_inputs (contract_id, {step})"
                   f" SELECT contract_id, inputs FROM {step}_work"
                   f" ON CONFLICT (contract_id) DO UPDATE SET {step} = excluded.{step}")
    return removed


def done(wh, step: str, *temporary: str) -> None:
    for name in (f"{step}_work", *temporary):
        wh.execute(f"DROP TABLE IF EXISTS {name}")
