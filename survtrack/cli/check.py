"""`survtrack check`: the warehouse, its archive and the published snapshot, verified."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from survtrack import config

from .common import DbOption, db_path, require_warehouse, say, state


def check(
    hashes: Annotated[bool, typer.Option(
        help="hash every archived file (--no-hashes: check their presence and sizes only)")]
    = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    db: DbOption = None,
) -> None:
    """Verify the warehouse (it opens, its schema, every table reads, invariants such as
    every contract's document in documents), the archive (every document's file there, its
    SHA-256 right) and the published snapshot (it opens, the current pointer is valid, its
    counts match the warehouse's). Each problem is one line naming the file; exit code 1 if
    there is any."""
    from survtrack.analysis.facts import DERIVED
    from survtrack.warehouse.check import check as run_check

    path = require_warehouse(db)
    report = run_check(path, config.archive_path(path), hashes=hashes,
                       lock_wait=state.lock_wait, derived=DERIVED,
                       on_problem=None if as_json else lambda p: say(str(p), "red"))
    if as_json:
        typer.echo(json.dumps({"db": str(db_path(db)), "ok": not report.problems,
                               "problems": [{"file": str(p.file), "problem": p.what}
                                            for p in report.problems],
                               "checked": report.checked, "notes": report.notes},
                              ensure_ascii=False))
    else:
        for note in report.notes:
            say(note, "yellow")
        checked = ", ".join(f"{n:,} {what}" for what, n in report.checked.items()) or "nothing"
        verdict = f"{len(report.problems)} problem(s)" if report.problems else "all good"
        say(f"check {path}: {verdict}; checked {checked}",
            "red" if report.problems else "green")
    if report.problems:
        raise typer.Exit(1)
