"""`survtrack dashboard` and `survtrack demo`: the dashboard's floor (the demo builds the
whole house, offline, then serves it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .common import DbOption, console, db_path, open_warehouse, require_warehouse, state


def dashboard(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8050,
    workers: Annotated[int, typer.Option(help="processes; more than 1 runs gunicorn")] = 1,
    db: DbOption = None,
) -> None:
    """Serve the dashboard and its JSON API (/api/, docs/api.md), read-only, from the
    warehouse's current snapshot.

    The dashboard never opens the warehouse itself, so a scrape or build can write it
    meanwhile; `survtrack snapshot` publishes what the dashboard shows next.
    """
    from survtrack.analysis.facts import publish_snapshot
    from survtrack.warehouse.snapshot import current_snapshot

    path = db_path(db)
    if current_snapshot(path) is None:
        publish_snapshot(require_warehouse(db), lock_wait=state.lock_wait)
    console.print(f"dashboard on http://{host}:{port}/ reading {current_snapshot(path)}")
    if workers > 1:
        from survtrack.dashboard.serve import run_gunicorn

        run_gunicorn(path, host, port, workers)
    else:
        from survtrack.dashboard.app import create_app

        create_app(path).run(host=host, port=port, debug=False, threaded=True)


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
    from survtrack.analysis.facts import publish_snapshot
    from survtrack.demo import build_demo, inbox_path, totals

    path = db_path(db)
    with open_warehouse(db) as wh:
        result = build_demo(wh, inbox or inbox_path(path), say=console.print)
        built = totals(wh)
    snapshot_file = publish_snapshot(path, lock_wait=state.lock_wait)
    console.print(f"warehouse {path}: {built['contracts']} contracts, {built['tagged']} tagged;"
                  f" snapshot {snapshot_file}")
    typer.echo(json.dumps({"db": str(path), **built, **result}, ensure_ascii=False,
                          default=str))
    if serve:
        from survtrack.dashboard.app import create_app

        console.print(f"dashboard on http://{host}:{port}/ (Ctrl-C to stop)")
        create_app(path).run(host=host, port=port, debug=False, threaded=True)
