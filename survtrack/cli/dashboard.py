"""`survtrack dashboard` and `survtrack demo`: the dashboard's floor (the demo builds the
whole house, offline, then serves it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .common import DbOption, console, db_path, open_warehouse, require_warehouse, state

WorkersOption = Annotated[int | None, typer.Option(
    help="gunicorn worker processes (default: one per core, at most 4)", min=1)]
DevServerOption = Annotated[bool, typer.Option(
    "--dev-server", help="serve with Flask's development server (one process) instead")]


def dashboard(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8050,
    workers: WorkersOption = None,
    dev_server: DevServerOption = False,
    db: DbOption = None,
) -> None:
    """Serve the dashboard and its JSON API (/api/, docs/api.md), read-only, from the
    warehouse's current snapshot.

    The dashboard never opens the warehouse itself, so a scrape or build can write it
    meanwhile; `survtrack snapshot` publishes what the dashboard shows next. Served by
    gunicorn (--workers processes of 8 threads), which share their answers on disk per
    snapshot; --dev-server serves with Flask's development server instead.
    """
    from survtrack.analysis.facts import publish_snapshot
    from survtrack.dashboard.serve import serve
    from survtrack.warehouse.snapshot import current_snapshot

    path = db_path(db)
    if current_snapshot(path) is None:
        publish_snapshot(require_warehouse(db), lock_wait=state.lock_wait)
    console.print(f"dashboard on http://{host}:{port}/ reading {current_snapshot(path)}")
    serve(path, host, port, workers, dev_server)


def demo(
    serve: Annotated[bool, typer.Option(help="serve the dashboard once built")] = True,
    inbox: Annotated[Path | None, typer.Option(
        help="folder of documents to load, one subfolder per source (default: inbox/ beside"
             " the warehouse; env SURVTRACK_INBOX)")] = None,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on")] = 8050,
    workers: WorkersOption = None,
    dev_server: DevServerOption = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="print what was loaded and built as one JSON object")] = False,
    db: DbOption = None,
) -> None:
    """Build a warehouse offline from the curated source and the inbox, then serve it."""
    from survtrack.analysis.facts import publish_snapshot
    from survtrack.demo import build_demo, inbox_path, totals

    path = db_path(db)
    with open_warehouse(db) as wh:
        result = build_demo(wh, inbox or inbox_path(path), say=console.print)
        built = totals(wh)
    snapshot_file = publish_snapshot(path, lock_wait=state.lock_wait)
    if as_json:
        typer.echo(json.dumps({"db": str(path), "snapshot": str(snapshot_file), **built,
                               **result}, ensure_ascii=False, default=str))
    else:
        for line in summary_lines(path, built, result, f"http://{host}:{port}/", serve):
            typer.echo(line)
    if serve:
        from survtrack.dashboard.serve import serve as serve_dashboard

        console.print(f"dashboard on http://{host}:{port}/ (Ctrl-C to stop)")
        serve_dashboard(path, host, port, workers, dev_server)


def summary_lines(path: Path, built: dict, result: dict, url: str, serve: bool) -> list[str]:
    """What the demo built, for a person: totals, contracts per source, what to do next."""
    loaded = result["loaded"]
    rejected = sum(c.get("rejected", 0) for c in loaded.values())
    documents = sum(c.get("loaded", 0) for c in loaded.values())
    lines = [f"{built['contracts']:,} contracts ({built['tagged']:,} tagged as surveillance)"
             f" from {documents:,} document{'s' if documents != 1 else ''}"
             + (f"; {rejected:,} rejected (survtrack status says why)" if rejected else "")]
    per_source = built.get("by_source") or {}
    if per_source:
        lines.append("contracts by source: " + ", ".join(
            f"{source} {n:,}" for source, n in sorted(per_source.items()) if n))
    lines.append(f"warehouse: {path}")
    lines.append(f"dashboard: {url}" if serve else
                 f"dashboard: survtrack --db {path} dashboard   (then open {url})")
    return lines
