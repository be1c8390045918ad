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
    table: Annotated[str, typer.Argument(
        help="a table (" + ", ".join(schema.TABLES) + "), or `ocds` (a release package of"
             " the selected contracts, docs/exports.md) or `ftm` (FollowTheMoney entities)")],
    fmt: Annotated[Format, typer.Option("--format", help="csv | json | parquet (tables)")
                   ] = Format.csv,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                  help="file to write (default: stdout)")] = None,
    country: Annotated[str | None, typer.Option(help="ocds/ftm: buyer country (ISO alpha-2)")
                       ] = None,
    source: Annotated[str | None, typer.Option(help="ocds/ftm: source name")] = None,
    category: Annotated[str | None, typer.Option(help="ocds/ftm: surveillance category")] = None,
    buyer: Annotated[str | None, typer.Option(help="ocds/ftm: buyer key (entity or org id)")
                     ] = None,
    vendor: Annotated[str | None, typer.Option(help="ocds/ftm: vendor key (entity or org id)")
                      ] = None,
    year_from: Annotated[int | None, typer.Option("--from", help="ocds/ftm: first year")] = None,
    year_to: Annotated[int | None, typer.Option("--to", help="ocds/ftm: last year")] = None,
    surveillance: Annotated[bool, typer.Option(
        "--surveillance/--all", help="ocds/ftm: only contracts with a surveillance tag"
                                     " (the dashboard's default) or every contract")] = False,
    lines: Annotated[bool, typer.Option("--lines", help="ocds: one release per line instead"
                                                        " of a release package")] = False,
    schema_dir: Annotated[Path | None, typer.Option(
        "--schema", help="ocds: validate what was written against the OCDS schema files in"
                         " this folder (release-package-schema.json, release-schema.json)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Export TABLE as CSV, JSON (an array of row objects, ISO dates) or Parquet; or the
    selected contracts as an OCDS release package (`export ocds`) or as FollowTheMoney
    entities (`export ftm`), with the dashboard's filters as options."""
    from survtrack.warehouse.export import export_table

    if table in ("ocds", "ftm"):
        from .exports import export_contracts

        query = {"country": country, "source": source, "category": category, "buyer": buyer,
                 "vendor": vendor, "from": year_from, "to": year_to,
                 "scope": None if surveillance else "all"}
        export_contracts(table, {k: str(v) for k, v in query.items() if v is not None},
                         output, lines=lines, schema_dir=schema_dir, db=db)
        return
    if table not in schema.TABLES:
        raise typer.BadParameter(f"unknown table {table!r}; tables: {', '.join(schema.TABLES)}"
                                 ", or ocds, ftm")
    if fmt is Format.parquet and output is None:
        raise typer.BadParameter("Parquet is binary: give --output FILE")
    with open_warehouse(db, read_only=True) as wh:
        export_table(wh, table, fmt.value, output)
    if output:
        console.print(f"wrote {output}")


def snapshot(db: DbOption = None) -> None:
    """Publish a read-only snapshot of the warehouse for the dashboard (run after a build)."""
    from survtrack.warehouse.snapshot import publish_snapshot

    typer.echo(str(publish_snapshot(require_warehouse(db), lock_wait=state.lock_wait)))


def docs(folder: Annotated[Path, typer.Argument()] = Path("docs")) -> None:
    """Regenerate docs/sources.md and docs/tables.md from the code's own metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sources.md").write_text(scrapers.markdown(), encoding="utf-8")
    (folder / "tables.md").write_text(schema.markdown(), encoding="utf-8")
    console.print(f"wrote {folder / 'sources.md'} and {folder / 'tables.md'}")
