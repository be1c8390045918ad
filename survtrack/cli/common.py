"""What every command shares: the console, the `--db` option, the warehouse guard."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from survtrack import config
from survtrack.warehouse.store import Warehouse

console = Console(stderr=True)

DbOption = Annotated[Path | None, typer.Option(
    "--db", help="DuckDB warehouse file (env SURVTRACK_DB; default ./data/survtrack.duckdb)")]


LockWaitOption = Annotated[float | None, typer.Option(
    "--lock-wait", help="seconds to wait while another process holds the warehouse (env"
    f" SURVTRACK_LOCK_WAIT; default {config.DEFAULT_LOCK_WAIT:g})", min=0)]


class State:
    db: Path | None = None  # `survtrack --db FILE COMMAND`: the warehouse for every command
    lock_wait: float | None = None  # `survtrack --lock-wait SECONDS COMMAND`
    opened: Path | None = None  # the warehouse a command opened (named by a failure)


state = State()


def db_path(db: Path | None) -> Path:
    return config.db_path(db or state.db)


def open_warehouse(db: Path | None = None, read_only: bool = False) -> Warehouse:
    """The warehouse, waiting (and saying so) while another process holds it; runs whose
    process is gone are marked `interrupted` by a writer, and named."""
    path = state.opened = db_path(db)
    wh = Warehouse(path, read_only=read_only, archive=config.archive_path(path),
                   lock_wait=state.lock_wait, say=lambda line: say(line, "yellow"))
    for run_id in wh.interrupted:
        say(f"run {run_id} ended without finishing (its process is gone): marked"
            " interrupted", "yellow")
    return wh


def say(line: str, colour: str | None = None) -> None:
    """One line on stderr, never wrapped (a message a script can grep)."""
    console.print(f"[{colour}]{escape(line)}[/{colour}]" if colour else escape(line),
                  soft_wrap=True, highlight=False)


def require_warehouse(db: Path | None) -> Path:
    """The warehouse file of a command that only reads one: it must exist (and is the one a
    failure names)."""
    path = state.opened = db_path(db)
    if not path.exists():
        raise typer.BadParameter(f"no warehouse at {path}; run `survtrack ingest` first")
    return path


def outcomes(counts: Counter) -> dict:
    return {k: counts.get(k, 0)
            for k in ("loaded", "not_contract_bearing", "skipped", "rejected", "ignored")}
