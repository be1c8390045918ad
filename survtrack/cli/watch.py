"""`survtrack watch add|list|remove|report`: follow vendors, buyers, categories, countries or
title text; `ingest`, `scrape` and `build` record the new matches (docs/watchlists.md)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from survtrack.analysis import watch

from .common import DbOption, console, open_warehouse, require_warehouse

watch_app = typer.Typer(help="Watchlists: hear of new contracts of a vendor, buyer, category,"
                             " country or title text after each ingest, scrape and build.",
                        no_args_is_help=True)


def record_matches(wh) -> None:
    """After a load or build: record each watchlist's new matches and say how many."""
    for name, n in watch.record(wh).items():
        if n:
            console.print(f"watch {name}: {n} new contract{'s' if n != 1 else ''}"
                          f" (`survtrack watch report {name}`)")


@watch_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="a name: letters, digits, - and _")],
    vendor: Annotated[str | None, typer.Option(help="vendor key (entity_id) or org_id,"
                                                    " e.g. RU-INN:7703418427")] = None,
    buyer: Annotated[str | None, typer.Option(help="buyer key (entity_id) or org_id")] = None,
    category: Annotated[str | None, typer.Option(help="surveillance category")] = None,
    country: Annotated[str | None, typer.Option(help="buyer country (ISO alpha-2)")] = None,
    query: Annotated[str | None, typer.Option(help="text in the title or description")] = None,
    db: DbOption = None,
) -> None:
    """Add a watchlist; what already matches is its baseline, only later contracts are news."""
    require_warehouse(db)
    with open_warehouse(db) as wh:
        try:
            n = watch.add(wh, name, vendor=vendor, buyer=buyer, category=category,
                          country=country, query=query)
        except watch.WatchError as exc:
            raise typer.BadParameter(str(exc)) from None
    console.print(f"watchlist {name} added; {n} contracts match already (its baseline)")


@watch_app.command("list")
def list_(db: DbOption = None, as_json: Annotated[bool, typer.Option("--json")] = False
          ) -> None:
    """Every watchlist with its conditions, its matches and how many are new."""
    require_warehouse(db)
    with open_warehouse(db, read_only=True) as wh:
        found = watch.watchlists(wh.con)
    if as_json:
        typer.echo(json.dumps(found, default=str, ensure_ascii=False))
        return
    t = Table("name", *watch.FIELDS, "matches", "new", "baseline", title="watchlists")
    for w in found:
        t.add_row(w["name"], *(w[f] or "" for f in watch.FIELDS), str(w["matches"]),
                  str(w["new"]), str(w["baseline"]))
    Console().print(t)


@watch_app.command("remove")
def remove(name: str, db: DbOption = None) -> None:
    """Remove a watchlist and its matches."""
    require_warehouse(db)
    with open_warehouse(db) as wh:
        try:
            watch.remove(wh, name)
        except watch.WatchError as exc:
            raise typer.BadParameter(str(exc)) from None
    console.print(f"watchlist {name} removed")


@watch_app.command("report")
def report(
    name: Annotated[str | None, typer.Argument(help="one watchlist (default: all)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    db: DbOption = None,
) -> None:
    """Print the new matches since the last report, and mark them reported (each once)."""
    require_warehouse(db)
    with open_warehouse(db) as wh:
        try:
            found = watch.report(wh, name)
        except watch.WatchError as exc:
            raise typer.BadParameter(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(found, default=str, ensure_ascii=False))
        return
    if not found:
        console.print("no new matches")
        return
    t = Table("watchlist", "contract", "signed", "amount", "vendor", "buyer", "title",
              title="new matches")
    for m in found:
        amount = f"{m['amount']:,} {m['currency'] or ''}" if m["amount"] is not None else ""
        t.add_row(m["watchlist"], m["contract_id"], str(m["signed_on"] or m["year"] or ""),
                  amount, m["vendor_name"] or "", m["buyer_name"] or "", (m["title"] or "")[:80])
    Console().print(t)
