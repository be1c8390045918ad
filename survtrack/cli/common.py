"""What every command shares: the console, the `--db` option, the warehouse guard."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from survtrack import config
from survtrack.warehouse.store import Warehouse

console = Console(stderr=True)

DbOption = Annotated[Path | None, typer.Option(
    "--db", help="DuckDB warehouse file (env SURVTRACK_DB; default ./data/survtrack.duckdb)")]


class State:
    db: Path | None = None  # `survtrack --db FILE COMMAND`: the warehouse for every command


state = State()


def db_path(db: Path | None) -> Path:
    return config.db_path(db or state.db)


def open_warehouse(db: Path | None = None, read_only: bool = False) -> Warehouse:
    path = db_path(db)
    return Warehouse(path, read_only=read_only, archive=config.archive_path(path))


def require_warehouse(db: Path | None) -> Path:
    """The warehouse file of a command that only reads one: it must exist."""
    path = db_path(db)
    if not path.exists():
        raise typer.BadParameter(f"no warehouse at {path}; run `survtrack ingest` first")
    return path


def outcomes(counts: Counter) -> dict:
    return {k: counts.get(k, 0)
            for k in ("loaded", "not_contract_bearing", "skipped", "rejected", "ignored")}
