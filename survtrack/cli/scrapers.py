"""`survtrack ingest` and `survtrack scrape`: the scrapers' floor, one command per source's
declaration (its name, default inputs, scrape options)."""

from __future__ import annotations

import inspect
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from survtrack import scrapers
from survtrack.warehouse.store import LoadResult

from .common import DbOption, console, db_path, open_warehouse, outcomes
from .watch import record_matches


def ingest(
    source: Annotated[str, typer.Argument(help="source name: " + ", ".join(scrapers.names()))],
    paths: Annotated[list[Path] | None, typer.Argument(
        help="files, folders and ZIP archives (curated: defaults to the project's CSV)")] = None,
    force: Annotated[bool, typer.Option(help="parse again documents already loaded")] = False,
    recheck: Annotated[bool, typer.Option(
        "--recheck", help="read again every input file, also those unchanged (same size and"
        " modification time) since an ingest loaded all their documents, which are otherwise"
        " skipped unread")] = False,
    follow_links: Annotated[bool, typer.Option(
        "--follow-links", help="read links inside a folder that lead outside it (by default"
        " they are named and not read; a path given explicitly is always read)")] = False,
    workers: Annotated[int | None, typer.Option(
        min=1, help="processes parsing in parallel (default: the machine's cores; 1: one"
        " process). Small inputs load in one process")] = None,
    engine: Annotated[str, typer.Option(
        help="local: this machine's processes; dask: the workers of a Dask cluster, which"
        " write Parquet partitions into ARCHIVE/.staging (shared storage; docs/scale.md)"
        )] = "local",
    scheduler: Annotated[str | None, typer.Option(
        help="with --engine dask: the scheduler's address, e.g. tcp://HOST:8786 (default: a"
        " local cluster of --workers processes)")] = None,
    output: Annotated[Path | None, typer.Option(
        help="leave the tidy tables, rejects and documents as a Parquet dataset in this folder"
        " (one TABLE.parquet each, for DuckDB to query) instead of loading the warehouse;"
        " the archive stays where --db puts it (docs/scale.md)")] = None,
    db: DbOption = None,
) -> None:
    """Load local documents of SOURCE (files, folders, ZIP archives) into the warehouse.

    Only regular files are read. Inside a folder, a link leading outside that folder is named
    and not read unless --follow-links. Documents are parsed by --workers processes (or a Dask
    cluster's workers, which stage their rows as Parquet partitions) and written by this one,
    in batches; OCDS documents load one after another, a big one's processes compiled by the
    workers. The result is the same either way. A file whose documents all loaded is
    remembered with its size and modification time, and a later run skips it unread while
    both stay the same (--recheck reads it again). With --output DIR the tables are left as
    Parquet files in DIR instead (docs/scale.md).
    """
    from survtrack.scrapers.files import Ignored
    from survtrack.scrapers.ingest import ingest as run_ingest

    try:
        src = scrapers.get(source)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    if engine not in ("local", "dask"):
        raise typer.BadParameter(f"--engine: local or dask, not {engine!r}")
    if not paths:  # a source kept in the project (curated) names its own inputs
        paths = list(src.default_inputs)
        if not paths:
            raise typer.BadParameter(f"give the files to load for source {source!r}")
    problems: list[tuple[str, str]] = []

    def on_result(origin: str, result) -> None:
        status = (result.status if isinstance(result, LoadResult) else
                  "ignored" if isinstance(result, Ignored) else "rejected")
        if status in ("rejected", "ignored"):
            problems.append((status, origin, result.reason))
        progress.update(task, advance=1, last=f"{status}: {Path(origin).name[:50]}")

    options = dict(force=force, recheck=recheck, follow_links=follow_links, on_result=on_result,
                   workers=workers, engine=engine, scheduler=scheduler)
    if output is not None:
        from survtrack import config
        from survtrack.scrapers.ingest import ingest_to_parquet

        with _progress(source) as (progress, task):
            counts = ingest_to_parquet(src, paths, output,
                                       config.archive_path(db_path(db)), **options)
            progress.update(task, total=sum(counts.values()))
        _report(source, counts, problems)
        return
    with open_warehouse(db) as wh, _progress(source) as (progress, task):
        counts = run_ingest(wh, src, paths, **options)
        progress.update(task, total=sum(counts.values()))
        record_matches(wh)
    _report(source, counts, problems)


@contextmanager
def _progress(source: str):
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=console,
        transient=False,
    ) as progress:
        yield progress, progress.add_task(f"ingest {source}", total=None, last="")


def _report(source: str, counts, problems: list) -> None:
    for status, origin, reason in problems:
        colour = "red" if status == "rejected" else "yellow"
        console.print(f"[{colour}]{status}[/{colour}] {origin}: {reason}")
    typer.echo(json.dumps({"source": source, **outcomes(counts)}))


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
                         short_help="Fetch SOURCE from the web politely, archive and load it.",
                         help="Fetch SOURCE from the web politely, archive every document and"
                              " load it. Each run is recorded with its checkpoint; --resume"
                              " continues a killed or stopped run, and running a finished"
                              " scrape again adds nothing.")
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
    deadline: Annotated[float | None, typer.Option(
        help="seconds a whole response may take, headers and body (default 300)")] = None,
    step_deadline: Annotated[float | None, typer.Option(
        "--step-deadline", help="seconds one run step (a page and its documents) may take"
        " (default 3600)")] = None,
    max_body: Annotated[int | None, typer.Option(
        "--max-body", help="bytes a page may have (default 256 MB); bulk files: 20 GB")] = None,
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
    if deadline is not None:
        policy.response_deadline = deadline
    if step_deadline is not None:
        policy.step_deadline = step_deadline
    if max_body is not None:
        policy.max_body_bytes = max_body
    path = db_path(db)
    problems: list[tuple[str, str]] = []
    with open_warehouse(db) as wh, Progress(
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,.0f} documents, {task.fields[contracts]:,} contracts"),
        TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=console,
    ) as progress:
        client = PoliteClient(cache_path=path.parent / "http_cache.sqlite", policy=policy)
        task = progress.add_task(f"scrape {name}", total=None, last="", contracts=0)
        contracts = 0

        def on_result(origin: str, result: LoadResult) -> None:
            nonlocal contracts
            if result.status == "rejected":
                problems.append((origin, result.reason))
            contracts += (result.counts or {}).get("contracts", 0)
            progress.update(task, advance=1, contracts=contracts,
                            last=f"{result.status}: {origin[-50:]}")

        try:
            outcome = run_scrape(wh, name, params, client, resume=resume,
                                 max_pages=max_pages, rate=rate, secrets=secrets or None,
                                 on_result=on_result)
        except FetchError as exc:
            progress.stop()
            console.print(f"[red]scrape {name} failed:[/red] {escape(exc.one_line())}; what"
                          f" was fetched is kept: run `survtrack scrape {name} --resume` with"
                          " the same options when the source answers again", soft_wrap=True)
            raise typer.Exit(1) from None
        except (LayoutChanged, ValueError) as exc:
            console.print(f"[red]scrape {name} failed:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
        finally:
            client.close()
        record_matches(wh)
    for origin, reason in problems:
        console.print(f"[red]rejected[/red] {origin}: {reason}")
    if not outcome.parser:
        console.print(f"[yellow]{name} has no parser yet: documents are archived"
                      " (status 'archived') and will be parsed by the next scrape[/yellow]")
    typer.echo(json.dumps({"source": name, "run_id": outcome.run_id,
                           "status": outcome.status, "resumed": outcome.resumed_from is not None,
                           **outcomes(outcome.counts),
                           "archived": outcome.counts.get("archived", 0)}))
