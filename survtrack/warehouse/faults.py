"""When the warehouse's storage fails: one line saying what failed and where, never a
traceback, never an error hiding another.

DuckDB and the system name the cause of a failure in their words (No space left on device,
Permission denied, not a valid DuckDB database…); `faults.csv` maps those words, as data, to
a kind and what to tell the user. Two kinds of failure are kept apart:

- a storage fault (disk full, read-only, damaged file…) is not the document's fault: a load
  stops the run, what was committed stays, and the command prints `StorageFault` in one line;
- running out of memory while loading a document rejects that document only (bad input never
  stops a run), with the reason; anywhere else it is one line too.

A second process finds the warehouse locked: `connect()` waits for the lock up to a bound
(`--lock-wait`, SURVTRACK_LOCK_WAIT), then raises `WarehouseBusy` naming who holds it.
"""

from __future__ import annotations

import csv
import errno
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from . import processes

if TYPE_CHECKING:  # the archive raises StorageFault, and parsers may not need DuckDB
    import duckdb

FAULTS_FILE = Path(__file__).with_name("faults.csv")
LOCKED = re.compile(r"Could not set lock on file|Conflicting lock is held")
LOCK_PID = re.compile(r"\(PID (\d+)\)")
DETAIL = 240  # characters of the original error kept in the line
T = TypeVar("T")


@dataclass(frozen=True)
class Kind:
    kind: str
    pattern: re.Pattern
    errnos: frozenset[str]
    stops_load: bool
    says: str
    hint: str


@cache
def kinds() -> list[Kind]:
    with open(FAULTS_FILE, encoding="utf-8") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return [Kind(r["kind"], re.compile(r["pattern"], re.IGNORECASE),
                     frozenset(r["errnos"].split()), r["stops_load"] == "yes", r["says"],
                     r["hint"]) for r in rows]


def classify(exc: BaseException) -> Kind | None:
    """The kind of storage failure `exc` is, or None (a bug, or a document's own fault)."""
    words = f"{type(exc).__name__}: {exc}"
    code = errno.errorcode.get(getattr(exc, "errno", None) or 0)
    for kind in kinds():
        if (code and code in kind.errnos) or kind.pattern.search(words):
            return kind
    return None


def detail(exc: BaseException) -> str:
    """The original error's words on one line, shortened."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= DETAIL else text[:DETAIL - 1] + "…"


class StorageFault(Exception):
    """The warehouse's storage (or the archive's, or a snapshot's) failed; see the module."""

    def __init__(self, kind: Kind, path: Path | str, cause: BaseException,
                 doing: str | None = None, hint: str | None = None):
        self.kind, self.path, self.cause, self.doing = kind, Path(path), cause, doing
        self.hint = hint or kind.hint
        super().__init__(self.line())

    def __reduce__(self):  # raised in a worker process, re-raised in the ingest's
        return (type(self), (self.kind, self.path, self.cause, self.doing, self.hint))

    def line(self) -> str:
        doing = f" while {self.doing}" if self.doing else ""
        return (f"{self.path}: {self.kind.says}{doing} ({detail(self.cause)}); {self.hint}")

    @classmethod
    def of(cls, exc: BaseException, path: Path | str, doing: str | None = None,
           hint: str | None = None) -> StorageFault | None:
        """`exc` as a storage fault of `path`, or None if it is not one."""
        if isinstance(exc, StorageFault):
            return exc
        kind = classify(exc)
        return cls(kind, path, exc, doing, hint) if kind else None


class WarehouseBusy(Exception):
    """Another process held the warehouse's lock for longer than we wait."""

    def __init__(self, path: Path, holders: list[processes.Holder], waited: float):
        self.path, self.holders, self.waited = path, holders, waited
        super().__init__(self.line())

    def line(self) -> str:
        return (f"{self.path}: the warehouse {busy_words(self.holders)}; waited"
                f" {self.waited:g} s (--lock-wait, SURVTRACK_LOCK_WAIT), try again later")


def busy_words(holders: list[processes.Holder]) -> str:
    if not holders:
        return "is in use by another process"
    more = f" and {len(holders) - 1} more" if len(holders) > 1 else ""
    return holders[0].describe() + more


def connect(path: Path, read_only: bool, wait: float,
            say: Callable[[str], None] | None = None) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting up to `wait` seconds while another process holds its
    lock (DuckDB lets one process write a file, or several read it)."""
    import duckdb

    return waiting(path, lambda: duckdb.connect(str(path), read_only=read_only), wait, say)


def waiting(path: Path, attempt: Callable[[], T], wait: float,
            say: Callable[[str], None] | None = None) -> T:
    """`attempt()` (which opens or attaches `path`), again while the file is locked by
    another process, for up to `wait` seconds; then WarehouseBusy naming the holder."""
    import duckdb

    ends = time.monotonic() + wait
    pause = 0.05
    told = False
    while True:
        try:
            return attempt()
        except duckdb.Error as exc:
            if not LOCKED.search(str(exc)):
                raise
            pid = LOCK_PID.search(str(exc))
            left = ends - time.monotonic()
            if left <= 0 or (say and not told):
                holders = processes.lock_holders(path, int(pid.group(1)) if pid else None)
                if left <= 0:
                    raise WarehouseBusy(path, holders, wait) from None
                say(f"{path}: the warehouse {busy_words(holders)}; waiting up to {wait:g} s")
                told = True
            time.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)


def rollback(con: duckdb.DuckDBPyConnection, cause: BaseException) -> None:
    """Roll back after `cause`, which stays the error raised: a failed COMMIT may already
    have ended the transaction (DuckDB then says "no transaction is active"), a fatal error
    may have closed the database; either is noted on `cause`, never raised instead of it."""
    import duckdb

    try:
        con.execute("ROLLBACK")
    except duckdb.Error as exc:
        if "no transaction is active" not in str(exc):
            cause.add_note(f"(rolling back then failed too: {detail(exc)})")
