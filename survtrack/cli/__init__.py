"""The `survtrack` command: a thin layer wiring the floors, one module per floor.

- scrapers.py: `ingest`, `scrape SOURCE` (options built from each source's declaration)
- warehouse.py: `status`, `export`, `snapshot`, `docs`
- check.py: `check` (the warehouse, the archive and the published snapshot)
- analysis.py: `build`, `classify`, `claims`, `flags`
- dashboard.py: `dashboard`, `demo`
- watch.py: `watch add|list|remove|report` (and the new matches recorded after loads)
- exports.py: `export ocds|ftm` (called by `export`)

Commands parse options, call their floor and print; SQL and reports live in the floors.
"""

from __future__ import annotations

import duckdb
import typer
from typer.core import TyperGroup

from survtrack.warehouse.faults import StorageFault, WarehouseBusy

from . import analysis, check, dashboard, scrapers, warehouse
from .common import DbOption, LockWaitOption, db_path, say, state
from .watch import watch_app

EX_IOERR, EX_TEMPFAIL = 74, 75  # sysexits.h: storage failed; busy, try again later


class Commands(TyperGroup):
    """Every command: a failure of the storage (disk full, read-only, damaged file, out of
    memory, a warehouse held by another process) ends it with one line saying what and where,
    not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WarehouseBusy as exc:
            fail(exc.line(), EX_TEMPFAIL)
        except StorageFault as exc:
            fail(exc.line(), EX_IOERR)
        except (duckdb.Error, OSError, MemoryError) as exc:
            path = getattr(exc, "filename", None) or state.opened or db_path(None)
            fault = StorageFault.of(exc, path)
            if fault is None:
                raise
            fail(fault.line(), EX_IOERR)


def fail(line: str, code: int):
    say(f"survtrack: {line}", "red")
    raise typer.Exit(code)


app = typer.Typer(help="survtrack: track public spending on surveillance technology.",
                  no_args_is_help=True, rich_markup_mode="rich", cls=Commands)


@app.callback()
def main(db: DbOption = None, lock_wait: LockWaitOption = None) -> None:
    state.db = db
    state.lock_wait = lock_wait


for command in (scrapers.ingest, warehouse.status, warehouse.export, warehouse.docs,
                analysis.claims, analysis.build):
    app.command()(command)
app.add_typer(scrapers.scrape_app, name="scrape")
app.add_typer(watch_app, name="watch")
for command in (analysis.classify, analysis.flags, dashboard.demo, warehouse.snapshot,
                dashboard.dashboard, check.check):
    app.command()(command)
