"""Which process a run or a lock belongs to, and whether that process is still there.

A run records the pid, host and command line of the process that started it. A later command
asks `gone()` whether that process ended without recording an end (killed, crashed, machine
stopped): the run is then `interrupted`. A pid is reused by the system once its process has
ended, so a live process with that pid counts only if it was already running when the run
began. When the warehouse's lock is held, `lock_holders()` reads who holds it from
/proc/locks (Linux), so the user is told "the warehouse is being written by pid N (survtrack
ingest …)" rather than DuckDB's own words.

psutil is imported by the two functions that ask it: importing it cost each ingest worker
process (which imports this module through faults.py and never asks) ~0.1 s CPU at start.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HOST = socket.gethostname()
# A process started this long after a run began cannot be the run's own (the system's clock
# of process starts is coarse): its pid was reused.
START_SLACK = 2.0
# Options whose value is a secret (EIS tokens, API keys): recorded and shown as ***
SECRET_OPTION = re.compile(r"^--?[\w-]*(token|key|secret|passw(or)?d)[\w-]*$", re.IGNORECASE)
URL_USERINFO = re.compile(r"(://)[^/@\s]+@")
SHOWN = 120  # characters of another process's command line shown in a message


def redact(args: list[str]) -> list[str]:
    """The arguments with secret option values and credentials in URLs replaced by ***."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        name, eq, _value = arg.partition("=")
        if SECRET_OPTION.match(name):
            if eq:
                out.append(f"{name}=***")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(URL_USERINFO.sub(r"\1***@", arg))
    return out


def _program(args: list[str]) -> list[str]:
    """A command line as a user would type it: the interpreter and paths left out
    (`/venv/bin/python /venv/bin/survtrack ingest …` is `survtrack ingest …`)."""
    if len(args) > 1 and Path(args[0]).name.startswith("python"):
        if args[1] == "-m" and len(args) > 2:
            args = args[2:]
        elif not args[1].startswith("-"):
            args = args[1:]
    if not args:
        return []
    path = Path(args[0])
    name = path.parent.name if path.name == "__main__.py" else path.name
    return [name, *args[1:]]


def command_line(argv: list[str] | None = None) -> str:
    """This process's command line, as recorded in `runs` (secrets replaced by ***)."""
    return shlex.join(redact(_program(list(sys.argv if argv is None else argv))))


@dataclass(frozen=True)
class Holder:
    pid: int
    writing: bool | None  # None: not known (no /proc/locks)
    command: str | None   # its command line, shortened; None if it cannot be read

    def describe(self) -> str:
        doing = {True: "written", False: "read", None: "used"}[self.writing]
        what = f" ({self.command})" if self.command else ""
        return f"is being {doing} by pid {self.pid}{what}"


def command_of(pid: int) -> str | None:
    """The command line of a live process, shortened and with secrets hidden."""
    import psutil  # here, not at the top: the module docstring says why

    try:
        text = shlex.join(redact(_program(psutil.Process(pid).cmdline())))
    except (psutil.Error, OSError):
        return None
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"


def lock_holders(path: Path, reported_pid: int | None = None) -> list[Holder]:
    """Processes holding a lock on `path`, writers first (Linux /proc/locks); elsewhere the
    pid DuckDB reported, if any."""
    holders: dict[int, bool] = {}
    try:
        st = os.stat(path)
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 6 or fields[1] == "->":  # a waiter, not a holder
                    continue
                kind, pid, where = fields[3], fields[4], fields[5]
                major, minor, inode = where.split(":")
                if (int(inode) == st.st_ino and int(major, 16) == os.major(st.st_dev)
                        and int(minor, 16) == os.minor(st.st_dev) and pid.isdigit()
                        and int(pid) != os.getpid()):
                    holders[int(pid)] = holders.get(int(pid), False) or kind == "WRITE"
    except (OSError, ValueError):
        pass
    if not holders and reported_pid:
        return [Holder(reported_pid, None, command_of(reported_pid))]
    return [Holder(pid, writing, command_of(pid))
            for pid, writing in sorted(holders.items(), key=lambda h: not h[1])]


def gone(pid: int | None, host: str | None, started_at: datetime | None) -> bool:
    """Whether the process that started a run (pid on host, at started_at, naive UTC) has
    ended. Called by a process holding the warehouse's lock: no other process can then be
    writing it, so a run without a pid (recorded before runs kept one) or from another host
    is over too; on this host the pid is checked, so a run of this very process, or of a
    live process the lock did not stop (a file system without working locks), stays."""
    if pid is None or host != HOST:
        return True
    if pid == os.getpid():
        return False
    import psutil  # here, not at the top: the module docstring says why

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        created = proc.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except psutil.AccessDenied:  # another user's live process
        return False
    if started_at is None:
        return False
    return created > started_at.replace(tzinfo=UTC).timestamp() + START_SLACK
