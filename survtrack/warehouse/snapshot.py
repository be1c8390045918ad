"""Read-only snapshots of the warehouse, for readers that must not block the writer.

DuckDB lets one process write a file and nobody else open it meanwhile. The dashboard therefore
never opens the warehouse itself: a finished build (or `survtrack snapshot`) copies the
warehouse into `<db>.snapshot/<timestamp>.duckdb` and then swaps the `current` symlink in one
`rename`, so a reader sees either the old complete copy or the new complete copy, never a
half-written one. Readers notice the swap (`SnapshotReader`) and re-open.

Each snapshot also carries `contract_facts`, one denormalised row per contract (vendor and buyer
resolved to their entity, surveillance flag), so the dashboard's group-bys read one table.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from survtrack import config

from . import faults
from .faults import StorageFault
from .schema import CANCELLED_SQL

KEEP = 3  # snapshots kept on disk: the current one and two a slow reader may still hold

# One row per contract with everything the spending views filter and group by. The vendor
# is its resolved entity where entity resolution has run, else the organization as published.
# `cancelled`: a cancelled, annulled or never awarded contract is listed, never summed.
# `paid`: the sum of the contract's published payments in its own currency (NULL where
# there are none, or where one is in another currency); `paid_usd` each payment converted at
# its own date's rate (NULL unless every one is converted).
# `flags`: the red flags raised for the contract; `flags_known`: those decided for it, raised
# or clear (a flag in neither is unknown for it: rates are over the knowable; docs/flags.md).
FACTS_SQL = f"""
SELECT c.contract_id, c.source, c.country, c.year, c.signed_on, c.dated_on, c.date_basis,
       c.title, c.amount, c.currency, c.amount_usd, c.status, c.url, c.document_id,
       c.vendor_id, c.buyer_id,
       coalesce({CANCELLED_SQL.format(status="c.status")}, false) AS cancelled,
       coalesce(p.payments, 0) AS payments,
       CASE WHEN p.currencies = [c.currency] THEN p.paid END AS paid,
       CASE WHEN p.converted = p.payments THEN p.paid_usd END AS paid_usd,
       coalesce(vo.entity_id, c.vendor_id, '(unpublished)') AS vendor_key,
       coalesce(ve.name, vo.name, c.vendor_id, '(vendor not published)') AS vendor_name,
       coalesce(bo.entity_id, c.buyer_id, '(unpublished)') AS buyer_key,
       coalesce(be.name, bo.name, c.buyer_id, '(buyer not published)') AS buyer_name,
       t.categories,
       t.categories IS NOT NULL AS tagged,
       coalesce(fl.flags, []::VARCHAR[]) AS flags,
       coalesce(fl.flags_known, []::VARCHAR[]) AS flags_known
FROM contracts c
LEFT JOIN organizations vo ON vo.org_id = c.vendor_id
LEFT JOIN entities ve ON ve.entity_id = vo.entity_id
LEFT JOIN organizations bo ON bo.org_id = c.buyer_id
LEFT JOIN entities be ON be.entity_id = bo.entity_id
LEFT JOIN (SELECT contract_id, list(DISTINCT category ORDER BY category) AS categories
           FROM tags GROUP BY contract_id) t ON t.contract_id = c.contract_id
LEFT JOIN (SELECT contract_id, count(*) AS payments, sum(amount) AS paid,
                  list(DISTINCT currency ORDER BY currency) AS currencies,
                  sum(amount_usd) AS paid_usd, count(amount_usd) AS converted
           FROM payments GROUP BY contract_id) p ON p.contract_id = c.contract_id
LEFT JOIN (SELECT contract_id, list(flag ORDER BY flag) FILTER (WHERE raised) AS flags,
                  list(flag ORDER BY flag) AS flags_known
           FROM flags GROUP BY contract_id) fl ON fl.contract_id = c.contract_id
"""


# Measures every spending view sums; on contract_facts they are per contract, in the cubes below
# per group, so the views run the same SQL on either. A cancelled contract counts among the
# contracts (`n`, it is listed) and in `n_cancelled`, never in a sum. Two measures of money:
# the contract value (`usd`, `amt`) and what was paid where payments are published
# (`pusd`, `pamt`; `n_paid` contracts with payments).
MEASURES = """1 AS n,
       CASE WHEN NOT cancelled THEN amount_usd END AS usd,
       CASE WHEN NOT cancelled THEN amount::DOUBLE END AS amt,
       (NOT cancelled AND amount IS NOT NULL AND amount_usd IS NULL)::INTEGER AS n_unconverted,
       (NOT cancelled AND amount IS NULL)::INTEGER AS n_no_amount,
       cancelled::INTEGER AS n_cancelled,
       CASE WHEN NOT cancelled THEN paid_usd END AS pusd,
       CASE WHEN NOT cancelled THEN paid::DOUBLE END AS pamt,
       (NOT cancelled AND payments > 0)::INTEGER AS n_paid,
       (NOT cancelled AND payments > 0 AND paid_usd IS NULL)::INTEGER AS n_paid_unconverted"""
SUMS = """count(*) AS n,
       sum(amount_usd) FILTER (WHERE NOT cancelled) AS usd,
       sum(amount) FILTER (WHERE NOT cancelled)::DOUBLE AS amt,
       count(*) FILTER (WHERE NOT cancelled AND amount IS NOT NULL AND amount_usd IS NULL)
           AS n_unconverted,
       count(*) FILTER (WHERE NOT cancelled AND amount IS NULL) AS n_no_amount,
       count(*) FILTER (WHERE cancelled) AS n_cancelled,
       sum(paid_usd) FILTER (WHERE NOT cancelled) AS pusd,
       sum(paid) FILTER (WHERE NOT cancelled)::DOUBLE AS pamt,
       count(*) FILTER (WHERE NOT cancelled AND payments > 0) AS n_paid,
       count(*) FILTER (WHERE NOT cancelled AND payments > 0 AND paid_usd IS NULL)
           AS n_paid_unconverted"""
DIMENSIONS = "year, country, source, currency, tagged"
# Pre-aggregated spending, so the front page never scans every contract. Each cube answers the
# filters on its dimensions; the views fall back to contract_facts for any other filter.
CUBES = {
    "spending_by_vendor": f"""
        SELECT vendor_key, any_value(vendor_name) AS vendor_name, {DIMENSIONS}, {SUMS}
        FROM contract_facts GROUP BY vendor_key, {DIMENSIONS}""",
    "spending_by_buyer": f"""
        SELECT buyer_key, any_value(buyer_name) AS buyer_name, {DIMENSIONS}, {SUMS}
        FROM contract_facts GROUP BY buyer_key, {DIMENSIONS}""",
    "spending_by_category": f"""
        SELECT category, {DIMENSIONS}, {SUMS}
        FROM (SELECT unnest(categories) AS category, * FROM contract_facts)
        GROUP BY category, {DIMENSIONS}""",
    # narrow copies clustered by vendor and by buyer: a one-vendor (or one-buyer) view then
    # reads only the row groups holding that party instead of every contract
    "facts_by_vendor": f"""
        SELECT vendor_key, vendor_name, buyer_key, buyer_name, categories, flags, flags_known,
               {DIMENSIONS}, {MEASURES}
        FROM contract_facts ORDER BY vendor_key""",
    "facts_by_buyer": f"""
        SELECT vendor_key, vendor_name, buyer_key, buyer_name, categories, flags, flags_known,
               {DIMENSIONS}, {MEASURES}
        FROM contract_facts ORDER BY buyer_key""",
}



def parties_sql(facts: str) -> str:
    """Every vendor and buyer once with its contract count and every name merged into it."""
    return f"""
        WITH p AS (SELECT 'vendor' AS role, vendor_key AS key, any_value(vendor_name) AS name,
                          count(*) AS contracts FROM {facts} GROUP BY vendor_key
                   UNION ALL
                   SELECT 'buyer', buyer_key, any_value(buyer_name), count(*) FROM {facts}
                   GROUP BY buyer_key)
        SELECT p.*, coalesce(string_agg(DISTINCT o.name, ' | '), '') AS names
        FROM p LEFT JOIN organizations o ON o.entity_id = p.key OR o.org_id = p.key
        GROUP BY ALL"""


# every vendor and buyer once, for the filter controls' search
CUBES["parties"] = parties_sql("contract_facts")


def snapshot_dir(db_path: str | os.PathLike) -> Path:
    db = Path(db_path)
    return db.with_name(db.name + ".snapshot")


def current_snapshot(db_path: str | os.PathLike) -> Path | None:
    """The snapshot the `current` pointer names, or None if none was published."""
    link = snapshot_dir(db_path) / "current"
    try:
        return link.parent / os.readlink(link)
    except FileNotFoundError:
        return None


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish_snapshot(db_path: str | os.PathLike,
                     con: duckdb.DuckDBPyConnection | None = None,
                     lock_wait: float | None = None) -> Path:
    """Copy the warehouse into a new snapshot and make it current; return its path.

    Pass `con` (the writer's own connection) to publish from inside a running build; without
    it the warehouse is opened read-only, waiting up to `lock_wait` seconds (config.lock_wait)
    while another process writes it (then faults.WarehouseBusy).
    """
    folder = snapshot_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = folder / f"{stamp}.duckdb"
    tmp = folder / f".{stamp}.partial.duckdb"
    if con is not None:  # the writer's connection: copy from inside its process
        source_db = con.execute("SELECT current_database()").fetchone()[0]
        # paths come from configuration, never from a web request; quoted all the same
        con.execute(f"ATTACH {_sql_string(str(tmp))} AS survtrack_snapshot")
        try:
            con.execute(f"COPY FROM DATABASE {_identifier(source_db)} TO survtrack_snapshot")
        finally:
            con.execute("DETACH survtrack_snapshot")
    else:
        copier = duckdb.connect(str(tmp))
        try:
            target = copier.execute("SELECT current_database()").fetchone()[0]
            faults.waiting(Path(db_path), lambda: copier.execute(
                f"ATTACH {_sql_string(str(db_path))} AS survtrack_source (READ_ONLY)"),
                config.lock_wait(lock_wait))
            copier.execute(f"COPY FROM DATABASE survtrack_source TO {_identifier(target)}")
            copier.execute("DETACH survtrack_source")
        finally:
            copier.close()
    snap = duckdb.connect(str(tmp))
    try:
        # newest first: the contracts grid pages in this order without sorting
        snap.execute(f"CREATE OR REPLACE TABLE contract_facts AS {FACTS_SQL}"
                     " ORDER BY year DESC NULLS LAST, signed_on DESC NULLS LAST, contract_id")
        for name, sql in CUBES.items():
            order = "" if name.startswith("facts_by_") else " ORDER BY 1"
            snap.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}{order}")
        snap.execute("CHECKPOINT")
    finally:
        snap.close()
    os.replace(tmp, final)
    pointer = folder / f".current-{stamp}"
    os.symlink(final.name, pointer)
    os.replace(pointer, folder / "current")  # the atomic swap
    _prune(folder, final)
    return final


def _prune(folder: Path, keep: Path) -> None:
    snaps = sorted(p for p in folder.glob("*.duckdb") if not p.name.startswith("."))
    for old in snaps[:-KEEP]:
        if old != keep:
            old.unlink(missing_ok=True)
            Path(str(old) + ".wal").unlink(missing_ok=True)


class SnapshotReader:
    """Read-only DuckDB cursors on the current snapshot, re-opened when the pointer moves.

    A DuckDB connection is not safe to share between threads, so each thread gets its own
    cursor of the shared read-only connection.
    """

    def __init__(self, db_path: str | os.PathLike, publish_if_missing: bool = True):
        self.db_path = Path(db_path)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._path: Path | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._generation = 0
        if publish_if_missing and current_snapshot(self.db_path) is None:
            publish_snapshot(self.db_path)
        if current_snapshot(self.db_path) is not None:
            self.cursor()  # a damaged snapshot is said at start, not as a server error later

    @property
    def path(self) -> Path | None:
        return self._path

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            self._con, self._path = None, None
            self._generation += 1

    def cursor(self) -> duckdb.DuckDBPyConnection:
        target = current_snapshot(self.db_path)
        if target is None:
            raise FileNotFoundError(f"no snapshot of {self.db_path} published yet:"
                                    " run `survtrack snapshot`")
        with self._lock:
            if target != self._path:
                try:
                    self._con = duckdb.connect(str(target), read_only=True)
                except duckdb.Error as exc:
                    fault = StorageFault.of(exc, target, "opening the published snapshot",
                                            hint="publish a new one: survtrack snapshot")
                    if fault is None:
                        raise
                    raise fault from exc
                self._path = target
                self._generation += 1
            con, generation = self._con, self._generation
        local = self._local
        if getattr(local, "generation", None) != generation:
            local.cursor = con.cursor()
            local.generation = generation
        return local.cursor
