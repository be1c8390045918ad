"""The `survtrack` command: one entry point wiring scrapers, warehouse and analysis."""

from __future__ import annotations

import json
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from survtrack import config, scrapers
from survtrack.warehouse import schema
from survtrack.warehouse.store import LoadResult, Warehouse

app = typer.Typer(help="survtrack: track public spending on surveillance technology.",
                  no_args_is_help=True, rich_markup_mode="rich")
console = Console(stderr=True)

DbOption = Annotated[Optional[Path], typer.Option(
    "--db", help="DuckDB warehouse file [env SURVTRACK_DB; default ./data/survtrack.duckdb]")]


class State:
    db: Path | None = None


state = State()


@app.callback()
def main(db: DbOption = None) -> None:
    state.db = db


def _db(db: Path | None) -> Path:
    return config.db_path(db or state.db)


def open_warehouse(db: Path | None = None, read_only: bool = False) -> Warehouse:
    path = _db(db)
    return Warehouse(path, read_only=read_only, archive=config.archive_path(path))


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="source name: " + ", ".join(scrapers.MODULES))],
    paths: Annotated[list[Path], typer.Argument(help="files, folders and ZIP archives")],
    force: Annotated[bool, typer.Option(help="parse again documents already loaded")] = False,
    db: DbOption = None,
) -> None:
    """Load local documents of SOURCE (files, folders, ZIP archives) into the warehouse."""
    from survtrack.scrapers.ingest import ingest as run_ingest

    try:
        src = scrapers.get(source)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    problems: list[tuple[str, str]] = []

    with open_warehouse(db) as wh, Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(f"ingest {source}", total=None, last="")

        def on_result(origin: str, result) -> None:
            status = result.status if isinstance(result, LoadResult) else "rejected"
            if status == "rejected":
                problems.append((origin, result.reason))
            progress.update(task, advance=1, last=f"{status}: {Path(origin).name[:50]}")

        counts = run_ingest(wh, src, paths, force=force, on_result=on_result)
        progress.update(task, total=sum(counts.values()))
    for origin, reason in problems:
        console.print(f"[red]rejected[/red] {origin}: {reason}")
    typer.echo(json.dumps({"source": source, **_outcomes(counts)}))


def _outcomes(counts: Counter) -> dict:
    return {k: counts.get(k, 0) for k in ("loaded", "not_contract_bearing", "skipped", "rejected")}


@app.command()
def status(db: DbOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts per source and table, the last runs, and the latest rejects."""
    path = _db(db)
    if not path.exists():
        raise typer.BadParameter(f"no warehouse at {path}; run `survtrack ingest` first")
    with open_warehouse(db, read_only=True) as wh:
        tables = {t: wh.count(t) for t in schema.TABLES}
        by_source = wh.counts_by_source()
        runs = wh.query("SELECT run_id, command, source, status, loaded, skipped, rejected,"
                        " started_at, finished_at FROM runs ORDER BY started_at DESC LIMIT 10")
        rejects = wh.query("SELECT source, origin, field, reason FROM rejects"
                           " ORDER BY rejected_at DESC LIMIT 20")
    if as_json:
        typer.echo(json.dumps({"db": str(path), "tables": tables, "sources": by_source,
                               "runs": [list(map(str, r)) for r in runs],
                               "rejects": [list(r) for r in rejects]}, ensure_ascii=False))
        return
    out = Console()
    out.print(f"[bold]warehouse[/bold] {path}")
    t = Table("table", "rows", title="tables")
    for name, n in tables.items():
        t.add_row(name, f"{n:,}")
    out.print(t)
    cols = ["documents", "contracts", "contract_versions", "items", "payments",
            "contract_events", "notices", "rejects"]
    t = Table("source", *cols, title="by source")
    for source, counts in sorted(by_source.items()):
        t.add_row(source, *(f"{counts.get(c, 0):,}" for c in cols))
    out.print(t)
    t = Table("run", "command", "source", "status", "loaded", "skipped", "rejected", "started",
              title="last runs")
    for r in runs:
        t.add_row(*(str(x) for x in r[:8]))
    out.print(t)
    if rejects:
        t = Table("source", "origin", "field", "reason", title="latest rejects")
        for r in rejects:
            t.add_row(*(str(x or "") for x in r))
        out.print(t)


class Format(str, Enum):
    csv = "csv"
    json = "json"
    parquet = "parquet"


@app.command()
def export(
    table: Annotated[str, typer.Argument(help="table: " + ", ".join(schema.TABLES))],
    fmt: Annotated[Format, typer.Option("--format", help="csv | json | parquet")] = Format.csv,
    output: Annotated[Optional[Path], typer.Option("--output", "-o",
                                                  help="file to write [default: stdout]")] = None,
    db: DbOption = None,
) -> None:
    """Export TABLE as CSV, JSON (an array of row objects, ISO dates) or Parquet."""
    from survtrack.warehouse.export import export_table

    if table not in schema.TABLES:
        raise typer.BadParameter(f"unknown table {table!r}; tables: {', '.join(schema.TABLES)}")
    if fmt is Format.parquet and output is None:
        raise typer.BadParameter("Parquet is binary: give --output FILE")
    with open_warehouse(db, read_only=True) as wh:
        export_table(wh, table, fmt.value, output)
    if output:
        console.print(f"wrote {output}")


@app.command()
def docs(folder: Annotated[Path, typer.Argument()] = Path("docs")) -> None:
    """Regenerate docs/sources.md and docs/tables.md from the code's own metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = ["# Sources", "", "Generated from each source's `SOURCE` metadata by"
               " `survtrack docs`.", ""]
    sources += [s.markdown() for s in scrapers.all_sources()]
    (folder / "sources.md").write_text("\n".join(sources), encoding="utf-8")
    (folder / "tables.md").write_text(schema.markdown(), encoding="utf-8")
    console.print(f"wrote {folder / 'sources.md'} and {folder / 'tables.md'}")


# --- dashboard ---
@app.command()
def snapshot(db: DbOption = None) -> None:
    """Publish a read-only snapshot of the warehouse for the dashboard (run after a build)."""
    from survtrack.warehouse.snapshot import publish_snapshot

    path = _db(db)
    if not path.exists():
        raise typer.BadParameter(f"no warehouse at {path}; run `survtrack ingest` first")
    typer.echo(str(publish_snapshot(path)))


@app.command()
def dashboard(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8050,
    workers: Annotated[int, typer.Option(help="processes; more than 1 runs gunicorn")] = 1,
    db: DbOption = None,
) -> None:
    """Serve the dashboard, read-only, from the warehouse's current snapshot.

    The dashboard never opens the warehouse itself, so a scrape or build can write it
    meanwhile; `survtrack snapshot` publishes what the dashboard shows next.
    """
    from survtrack.warehouse.snapshot import current_snapshot, publish_snapshot

    path = _db(db)
    if current_snapshot(path) is None:
        if not path.exists():
            raise typer.BadParameter(f"no warehouse at {path}; run `survtrack ingest` first")
        publish_snapshot(path)
    console.print(f"dashboard on http://{host}:{port}/ reading {current_snapshot(path)}")
    if workers > 1:
        from survtrack.dashboard.serve import run_gunicorn

        run_gunicorn(path, host, port, workers)
    else:
        from survtrack.dashboard.app import create_app

        create_app(path).run(host=host, port=port, debug=False, threaded=True)


if __name__ == "__main__":
    app()
