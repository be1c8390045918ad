"""Running survtrack on hostile input in a child process with hard bounds.

Each case is written by a generator (nothing large is committed) beside a good document; the
`survtrack` command runs in a subprocess limited in address space (RLIMIT_AS) and CPU time
(RLIMIT_CPU) and killed after a wall-clock timeout, so "ends by itself within a time and a
memory bound" is what the operating system enforces, not what the test hopes.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

SURVTRACK = Path(sys.executable).with_name("survtrack")
MEMORY_BOUND = 2 * 1024**3   # address space: DuckDB and numpy need ~1.2 GB of it at rest
CPU_BOUND = 120              # seconds of CPU
WALL_BOUND = 180             # seconds
PAUSE = Path(__file__).with_name("pause")  # holds the sitecustomize that pauses a child
PR_CAPBSET_DROP = 24


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


def _bounded(also: Callable[[], None] | None = None) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BOUND, MEMORY_BOUND))
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_BOUND, CPU_BOUND))
        if also:
            also()

    return limit


def _env(env: dict | None, pause: bool) -> dict:
    out = {**os.environ, "COLUMNS": "200", **(env or {})}
    if pause:  # the child stops itself once it has recorded its run (pause/sitecustomize.py)
        out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PAUSE), out.get("PYTHONPATH")]))
        out["SURVTRACK_TEST_PAUSE"] = "after_start_run"
    return out


def survtrack(db: Path, *args: str, env: dict | None = None, cwd: Path | None = None,
              timeout: float = WALL_BOUND, limits: Callable[[], None] | None = None,
              global_args: tuple[str, ...] = ()) -> Outcome:
    """`survtrack --db DB ARGS…` under the bounds (and `limits`, run in the child before it
    starts); a timeout fails the test (the process is killed first)."""
    proc = subprocess.run([str(SURVTRACK), "--db", str(db), *global_args, *args],
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_bounded(limits), cwd=cwd, env=_env(env, False))
    return Outcome(proc.returncode, proc.stdout, proc.stderr, db)


def start(db: Path, *args: str, pause: bool = False, env: dict | None = None,
          global_args: tuple[str, ...] = ()) -> subprocess.Popen:
    """`survtrack --db DB ARGS…` started under the bounds, not waited for (stderr piped, as
    text). `pause`: the child stops itself (SIGSTOP) right after recording its run, holding
    the warehouse's lock; `stopped()` waits for that."""
    return subprocess.Popen([str(SURVTRACK), "--db", str(db), *global_args, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_bounded(), env=_env(env, pause))


def stopped(proc: subprocess.Popen) -> None:
    """Wait until `proc` (started with pause=True) has stopped itself; fail if it ended."""
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), f"the child ended instead of pausing: {proc.stderr.read()}"


def finish(proc: subprocess.Popen, timeout: float = WALL_BOUND) -> tuple[int, str, str]:
    """Let a stopped child go on and wait for its end: (exit code, stdout, stderr)."""
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL, as the kernel's OOM killer or a power cut would end it: nothing runs after."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=WALL_BOUND)


def without_dac_override() -> None:
    """In the child: if root, give up the capabilities that let root write read-only files
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so file modes apply as they do to any user."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def modes_apply(folder: Path) -> bool:
    """Whether a child run with `without_dac_override` is refused a read-only file here (a
    container may deny root the capability change): tests of read-only files need it."""
    probe = folder / ".read-only-probe"
    probe.write_text("")
    os.chmod(probe, 0o444)
    try:
        done = subprocess.run(["/bin/sh", "-c", f"echo x >> '{probe}'"], capture_output=True,
                              preexec_fn=without_dac_override)
    except subprocess.SubprocessError:
        return False
    finally:
        probe.unlink()
    return done.returncode != 0


def file_size_limit(size: int) -> Callable[[], None]:
    """In the child: writing a file past `size` bytes fails with EFBIG (Python ignores
    SIGXFSZ), a real write failure standing for a full disk without mounting one."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def one_line(stderr: str, marker: str = "survtrack: ") -> str:
    """The single line of stderr holding `marker` (the CLI's failure line)."""
    lines = [line for line in stderr.splitlines() if marker in line]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]
