"""`survtrack status`, `export`, `snapshot` and `docs`: the warehouse's floor."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from survtrack import scrapers
from survtrack.warehouse import schema

from .common import DbOption, console, open_warehouse, require_warehouse, state

BY_SOURCE = ["documents", "contracts", "contract_versions", "items", "payments",
             "contract_events", "notices", "rejects"]
SHORT = {"documents": "docs", "contract_versions": "versions", "contract_events": "events"}
SHORT_NOTE = "docs = documents, versions = contract_versions, events = contract_events"


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
    _print_status(Console(), path, found)


def _compact(**options) -> Table:
    """A borderless table that fits 80 columns: one space between columns."""
    return Table(box=None, padding=(0, 0, 0, 1), pad_edge=False, show_edge=False,
                 title_justify="left", title_style="bold", **options)


def _print_status(out: Console, path: Path, found: dict) -> None:
    """`status` for a reader at 80 columns: nothing truncated, long texts wrapped under
    their row instead of squeezed into a column."""
    out.print(f"[bold]warehouse[/bold] {path}")
    t = _compact(title="rows per table")
    for _ in range(3):
        t.add_column("table")
        t.add_column("rows", justify="right")
    cells = [(name, f"{n:,}") for name, n in found["tables"].items()]
    third = -(-len(cells) // 3)
    for i in range(third):
        row = []
        for part in (cells[i], *(cells[i + k * third] if i + k * third < len(cells) else ("", "")
                                 for k in (1, 2))):
            row += part
        t.add_row(*row)
    out.print(t, "")
    t = _compact(title="by source")
    t.add_column("source", no_wrap=True)
    for column in BY_SOURCE:
        t.add_column(SHORT.get(column, column), justify="right", no_wrap=True)
    for source, counts in sorted(found["sources"].items()):
        t.add_row(source, *(f"{counts.get(c, 0):,}" for c in BY_SOURCE))
    out.print(t, f"[dim]{SHORT_NOTE}[/dim]", "")
    t = _compact(title="last runs")
    for column in ("started (UTC)", "command", "source", "status"):
        t.add_column(column, no_wrap=True)
    for column in ("loaded", "skipped", "rejected"):
        t.add_column(column, justify="right", no_wrap=True)
    processes = []
    for r in found["runs"]:
        started = r[7].strftime("%Y-%m-%d %H:%M") if hasattr(r[7], "strftime") else str(r[7])
        status_text = f"[red]{r[3]}[/red]" if r[3] in ("interrupted", "failed") else str(r[3])
        t.add_row(started, r[1], r[2], status_text, *(f"{n or 0:,}" for n in r[4:7]))
        if r[9] is not None and r[3] != "finished":
            processes.append(f"{r[0]}: pid {r[9]} on {r[10]}: {r[11]}")
    out.print(t)
    if any(r[3] == "interrupted" for r in found["runs"]):
        out.print("[dim]interrupted: its process ended without finishing; run it again, or"
                  " scrape --resume[/dim]")
    for line in processes:
        out.print(Padding(Text(line), (0, 0, 0, 2), expand=False))
    out.print("")
    if found["rejects"]:
        out.print("[bold]latest rejects[/bold] (survtrack export rejects)")
        for source, origin, field, reason in found["rejects"]:
            out.print(f"[bold]{source}[/bold] {Path(origin or '').name or '-'}", overflow="fold")
            if field:
                out.print(Padding(Text(f"field: {field}", style="dim"), (0, 0, 0, 2), expand=False))
            out.print(Padding(Text(reason or ""), (0, 0, 0, 2), expand=False))
        out.print("")
    if found["warnings"]:
        out.print("[bold]warnings[/bold]: loaded, but suspicious (SELECT * FROM warnings)")
        for source, rule, values, contracts, reason in found["warnings"]:
            out.print(f"[bold]{source}[/bold] {rule}: {values:,} values in {contracts:,}"
                      " contracts", overflow="fold")
            if reason:
                out.print(Padding(Text(reason), (0, 0, 0, 2), expand=False))


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
    entities (`export ftm`), with the dashboard's filters as options.

    In CSV a text cell beginning with = + - @, a tab or a carriage return gets a leading
    apostrophe, so no spreadsheet runs it as a formula.
    """
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
        rows = None
        if table == "flags":  # buyer_concentration's value and evidence composed
            from survtrack.analysis.flags import stored_sql

            rows = stored_sql(wh.con)
        export_table(wh, table, fmt.value, output, rows)
    if output:
        console.print(f"wrote {output}")


def snapshot(db: DbOption = None) -> None:
    """Publish a read-only snapshot of the warehouse for the dashboard (run after a build).
    A running dashboard computes its landing views for it at once. SURVTRACK_BUILD_MEMORY
    (e.g. 4GB) bounds DuckDB's memory while publishing."""
    from survtrack.analysis.facts import publish_snapshot

    typer.echo(str(publish_snapshot(require_warehouse(db), lock_wait=state.lock_wait)))


def docs(folder: Annotated[Path, typer.Argument()] = Path("docs")) -> None:
    """Regenerate docs/sources.md, docs/tables.md and the red flags' pages (docs/flags.md,
    docs/flags/) from the code's own metadata and data files."""
    from survtrack.analysis.flags import docs as flag_docs

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sources.md").write_text(scrapers.markdown(), encoding="utf-8")
    (folder / "tables.md").write_text(schema.markdown(), encoding="utf-8")
    flag_docs.write(folder)
    console.print(f"wrote {folder / 'sources.md'}, {folder / 'tables.md'}, {folder / 'flags.md'}"
                  f" and {folder / 'flags'}/")
