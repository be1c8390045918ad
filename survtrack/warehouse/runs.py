"""Runs and rejects: each ingest, scrape or build is a row in `runs` with its parameters and
checkpoint; each document (or part) that could not be loaded a row in `rejects`; `status`
sums them up. A mixin of `Warehouse` (store.py), on its connection."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from . import processes
from .schema import TABLES


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class RunsAndRejects:
    # -- runs ------------------------------------------------------------------------------
    def start_run(self, source: str, command: str, parameters: dict | None = None,
                  run_id: str | None = None) -> str:
        """Record a run (or resume one: `run_id` of an unfinished run) as this process's."""
        run_id = run_id or f"{command}-{source}-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.con.execute(
            "INSERT INTO runs (run_id, source, command, parameters, started_at, status, loaded,"
            " skipped, rejected, pid, host, command_line)"
            " VALUES (?, ?, ?, ?, ?, 'running', 0, 0, 0, ?, ?, ?)"
            " ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL,"
            " pid = excluded.pid, host = excluded.host, command_line = excluded.command_line",
            [run_id, source, command, json.dumps(parameters or {}, default=str), utcnow(),
             os.getpid(), processes.HOST, processes.command_line()])
        return run_id

    def mark_interrupted(self) -> list[str]:
        """Mark `interrupted` the runs still `running` whose process is gone; return them.

        Called by the process holding the write lock, so no other process can be running
        one (processes.gone says how a live process on this host is told apart)."""
        gone = [run_id for run_id, pid, host, started in self.query(
            "SELECT run_id, pid, host, started_at FROM runs WHERE status = 'running'")
            if processes.gone(pid, host, started)]
        if gone:
            self.con.execute("UPDATE runs SET status = 'interrupted' WHERE run_id IN"
                             " (SELECT unnest(?::VARCHAR[]))", [gone])
        return gone

    def checkpoint(self, run_id: str, checkpoint: dict) -> None:
        self.con.execute("UPDATE runs SET checkpoint = ? WHERE run_id = ?",
                         [json.dumps(checkpoint, default=str), run_id])

    def finish_run(self, run_id: str, counts: dict[str, int], status: str = "finished") -> None:
        """Record a run's end. Recording a failure is best effort: what failed may be the
        warehouse itself, and the error that ended the run must be the one raised (the run
        then stays `running` until the next command marks it `interrupted`)."""
        try:
            self.con.execute(
                "UPDATE runs SET finished_at = ?, status = ?, loaded = loaded + ?,"
                " skipped = skipped + ?, rejected = rejected + ? WHERE run_id = ?",
                [utcnow(), status, counts.get("loaded", 0)
                 + counts.get("not_contract_bearing", 0) + counts.get("archived", 0),
                 counts.get("skipped", 0), counts.get("rejected", 0), run_id])
        except duckdb.Error:
            if status != "failed":
                raise

    # -- rejects ---------------------------------------------------------------------------
    def reject(self, source: str, origin: str, reason: str, field: str | None = None,
               document_id: str | None = None, run_id: str | None = None) -> None:
        key = hashlib.sha256(f"{origin}|{document_id}|{field}|{reason}".encode()).hexdigest()[:32]
        self.con.execute(
            "INSERT INTO rejects VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (reject_id) DO UPDATE"
            " SET run_id = excluded.run_id, rejected_at = excluded.rejected_at",
            [key, run_id, source, origin, document_id, field, reason[:2000], utcnow()])

    # -- input files -----------------------------------------------------------------------
    def input_files(self, source: str) -> dict[str, tuple[int, int, int]]:
        """The input files of `source` a finished ingest recorded: path -> (size, mtime_ns,
        documents)."""
        return {path: (size, mtime, documents) for path, size, mtime, documents in self.query(
            "SELECT path, size, mtime_ns, documents FROM input_files WHERE source = ?",
            [source])}

    def record_input_files(self, source: str, rows: list[tuple], forget: list[str] = (),
                           insert: bool = False) -> None:
        """Record input files whose documents have committed: (source, path, size, mtime_ns,
        documents, run_id) each, in one statement; `forget`: paths no longer recorded.
        `insert`: none of `rows` is recorded yet (a plain insert instead of an upsert)."""
        if forget:
            self.con.execute("DELETE FROM input_files WHERE source = ? AND path IN"
                             " (SELECT unnest(?::VARCHAR[]))", [source, list(forget)])
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        now = utcnow()
        self.write("input_files", pa.table({
            "source": pa.array(columns[0], pa.string()), "path": pa.array(columns[1], pa.string()),
            "size": pa.array(columns[2], pa.int64()), "mtime_ns": pa.array(columns[3], pa.int64()),
            "documents": pa.array(columns[4], pa.int32()),
            "run_id": pa.array(columns[5], pa.string()),
            "recorded_at": pa.array([now] * len(rows), pa.timestamp("us"))}),
            "insert" if insert else "upsert")

    # -- status ----------------------------------------------------------------------------
    def counts_by_source(self) -> dict[str, dict[str, int]]:
        """Rows per source for each table (joined through the document they came from)."""
        out: dict[str, dict[str, int]] = defaultdict(dict)
        sql = {t: f"SELECT source, count(*) FROM {t} GROUP BY 1"
               for t in ("documents", "contracts", "rejects")}
        sql |= {t: f"SELECT d.source, count(*) FROM {t} JOIN documents d USING (document_id)"
                   " GROUP BY 1" for t in ("contract_versions", "payments", "contract_events",
                                           "notices")}
        sql["items"] = ("SELECT c.source, count(*) FROM items JOIN contracts c USING (contract_id)"
                        " GROUP BY 1")
        for table, query in sql.items():
            for source, n in self.query(query):
                out[source][table] = n
        return dict(out)

    def status(self, runs: int = 10, rejects: int = 20) -> dict:
        """Rows per table and per source, the last runs and the latest rejects."""
        return {
            "tables": {t: self.count(t) for t in TABLES},
            "sources": self.counts_by_source(),
            "runs": self.runs(runs),
            "rejects": self.query("SELECT source, origin, field, reason FROM rejects"
                                  " ORDER BY rejected_at DESC LIMIT ?", [rejects]),
            "warnings": self.query("SELECT source, rule, count(*), count(DISTINCT contract_id),"
                                   " any_value(reason) FROM warnings GROUP BY ALL"
                                   " ORDER BY 1, 2"),
        }

    RUN_COLUMNS = ("run_id", "command", "source", "status", "loaded", "skipped", "rejected",
                   "started_at", "finished_at", "pid", "host", "command_line")

    def runs(self, limit: int = 10) -> list[tuple]:
        """The last runs (RUN_COLUMNS), newest first. A run still `running` whose process is
        gone shows as `interrupted` even to a reader, who may not write the mark itself."""
        have = self.columns("runs")
        cols = ", ".join(c if c in have else f"NULL AS {c}" for c in self.RUN_COLUMNS)
        out = []
        for row in self.query(f"SELECT {cols} FROM runs ORDER BY started_at DESC LIMIT ?",
                              [limit]):
            run = list(row)
            if run[3] == "running" and processes.gone(run[9], run[10], run[7]):
                run[3] = "interrupted"
            out.append(tuple(run))
        return out
