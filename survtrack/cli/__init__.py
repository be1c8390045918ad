"""The `survtrack` command: a thin layer wiring the floors, one module per floor.

- scrapers.py: `ingest`, `scrape SOURCE` (options built from each source's declaration)
- warehouse.py: `status`, `export`, `snapshot`, `docs`
- analysis.py: `build`, `classify`, `claims`, `flags`
- dashboard.py: `dashboard`, `demo`

Commands parse options, call their floor and print; SQL and reports live in the floors.
"""

from __future__ import annotations

import typer

from . import analysis, dashboard, scrapers, warehouse
from .common import DbOption, state

app = typer.Typer(help="survtrack: track public spending on surveillance technology.",
                  no_args_is_help=True, rich_markup_mode="rich")


@app.callback()
def main(db: DbOption = None) -> None:
    state.db = db


for command in (scrapers.ingest, warehouse.status, warehouse.export, warehouse.docs,
                analysis.claims, analysis.build):
    app.command()(command)
app.add_typer(scrapers.scrape_app, name="scrape")
for command in (analysis.classify, analysis.flags, dashboard.demo, warehouse.snapshot, dashboard.dashboard):
    app.command()(command)
