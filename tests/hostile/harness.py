"""Running survtrack on hostile input in a child process with hard bounds.

Each case is written by a generator (nothing large is committed) beside a good document; the
`survtrack` command runs in a subprocess limited in address space (RLIMIT_AS) and CPU time
(RLIMIT_CPU) and killed after a wall-clock timeout, so "ends by itself within a time and a
memory bound" is what the operating system enforces, not what the test hopes.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

SURVTRACK = Path(sys.executable).with_name("survtrack")
MEMORY_BOUND = 2 * 1024**3   # address space: DuckDB and numpy need ~1.2 GB of it at rest
CPU_BOUND = 120              # seconds of CPU
WALL_BOUND = 180             # seconds


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    db: Path

    def query(self, sql: str, params=None) -> list[tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def rejects(self) -> dict[str, list[str]]:
        """Reasons by the file name of the rejected document (or member)."""
        out: dict[str, list[str]] = {}
        for origin, reason in self.query("SELECT origin, reason FROM rejects"):
            out.setdefault(Path(origin.split("!")[-1]).name, []).append(reason)
        return out

    def summary(self) -> dict:
        return json.loads(self.stdout.strip().splitlines()[-1])


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BOUND, MEMORY_BOUND))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_BOUND, CPU_BOUND))


def survtrack(db: Path, *args: str, env: dict | None = None, cwd: Path | None = None,
              timeout: float = WALL_BOUND) -> Outcome:
    """`survtrack --db DB ARGS…` under the bounds; a timeout fails the test (the process is
    killed first)."""
    proc = subprocess.run([str(SURVTRACK), "--db", str(db), *args], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=_bounded, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})
    return Outcome(proc.returncode, proc.stdout, proc.stderr, db)
