"""`survtrack status`, `export`, `snapshot` and `docs`: the warehouse's floor."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from survtrack import scrapers
from survtrack.warehouse import schema

from .common import DbOption, console, open_warehouse, require_warehouse, state

BY_SOURCE = ["documents", "contracts", "contract_versions", "items", "payments",
             "contract_events", "notices", "rejects"]


def status(db: DbOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts per source and table, the last runs (with the process that ran each; a run
    whose process ended without finishing shows as interrupted), the latest rejects, and the
    warnings (suspicious values that loaded: negative amounts, dates outside 1990-2035, bad
    encodings)."""
    path = require_warehouse(db)
    with open_warehouse(db, read_only=True) as wh:
        found = wh.status()
    if as_json:
        typer.echo(json.dumps({"db": str(path), "tables": found["tables"],
                               "sources": found["sources"],
                               "runs": [[x if x is None or isinstance(x, int) else str(x)
                                         for x in r] for r in found["runs"]],
                               "rejects": [list(r) for r in found["rejects"]],
                               "warnings": [dict(zip(("source", "rule", "values", "contracts",
                                                      "reason"), r)) for r in found["warnings"]]},
                              ensure_ascii=False))
        return
    out = Console()
    out.print(f"[bold]warehouse[/bold] {path}")
    t = Table("table", "rows", title="tables")
    for name, n in found["tables"].items():
        t.add_row(name, f"{n:,}")
    out.print(t)
    t = Table("source", *BY_SOURCE, title="by source")
    for source, counts in sorted(found["sources"].items()):
        t.add_row(source, *(f"{counts.get(c, 0):,}" for c in BY_SOURCE))
    out.print(t)
    t = Table("run", "command", "source", "status", "loaded", "skipped", "rejected", "started",
              "process", title="last runs (interrupted: its process ended without finishing;"
              " run it again, or scrape --resume)")
    for r in found["runs"]:
        status_text = f"[red]{r[3]}[/red]" if r[3] in ("interrupted", "failed") else str(r[3])
        process = f"pid {r[9]} on {r[10]}: {r[11]}" if r[9] is not None else ""
        t.add_row(*(str(x) for x in r[:3]), status_text, *(str(x) for x in r[4:8]),
                  escape(process))
    out.print(t)
    if found["rejects"]:
        t = Table("source", "origin", "field", "reason", title="latest rejects")
        for r in found["rejects"]:
            t.add_row(*(str(x or "") for x in r))
        out.print(t)
    if found["warnings"]:
        t = Table("source", "rule", "values", "contracts", "why", title="warnings: loaded, but"
                  " suspicious (SELECT * FROM warnings)")
        for r in found["warnings"]:
            t.add_row(*(str(x if x is not None else "") for x in r))
        out.print(t)


class Format(str, Enum):
    csv = "csv"
    json = "json"
    parquet = "parquet"


def export(
    table: Annotated[str, typer.Argument(help="table: " + ", ".join(schema.TABLES))],
    fmt: Annotated[Format, typer.Option("--format", help="csv | json | parquet")] = Format.csv,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                  help="file to write (default: stdout)")] = None,
    db: DbOption = None,
) -> None:
    """Export TABLE as CSV, JSON (an array of row objects, ISO dates) or Parquet.

    In CSV a text cell beginning with = + - @, a tab or a carriage return gets a leading
    apostrophe, so no spreadsheet runs it as a formula.
    """
    from survtrack.warehouse.export import export_table

    if table not in schema.TABLES:
        raise typer.BadParameter(f"unknown table {table!r}; tables: {', '.join(schema.TABLES)}")
    if fmt is Format.parquet and output is None:
        raise typer.BadParameter("Parquet is binary: give --output FILE")
    with open_warehouse(db, read_only=True) as wh:
        export_table(wh, table, fmt.value, output)
    if output:
        console.print(f"wrote {output}")


def snapshot(db: DbOption = None) -> None:
    """Publish a read-only snapshot of the warehouse for the dashboard (run after a build)."""
    from survtrack.analysis.facts import publish_snapshot

    typer.echo(str(publish_snapshot(require_warehouse(db), lock_wait=state.lock_wait)))


def docs(folder: Annotated[Path, typer.Argument()] = Path("docs")) -> None:
    """Regenerate docs/sources.md and docs/tables.md from the code's own metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sources.md").write_text(scrapers.markdown(), encoding="utf-8")
    (folder / "tables.md").write_text(schema.markdown(), encoding="utf-8")
    console.print(f"wrote {folder / 'sources.md'} and {folder / 'tables.md'}")
