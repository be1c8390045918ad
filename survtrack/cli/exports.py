"""`survtrack export ocds|ftm`: the selected contracts in standard interchange formats."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import typer

from .common import console, open_warehouse, require_warehouse


def export_contracts(kind: str, query: dict, output: Path | None, *, lines: bool = False,
                     schema_dir: Path | None = None, db: Path | None = None) -> None:
    from survtrack.dashboard.urls import from_query
    from survtrack.exports import ftm, ocds

    require_warehouse(db)
    f = from_query(query)  # the dashboard's filters, as its URLs carry them
    target = output or Path(tempfile.mkstemp(suffix=".json")[1])
    with open_warehouse(db, read_only=True) as wh:
        if kind == "ocds":
            n = ocds.write(wh.con, f, target, lines=lines)
        else:
            n = ftm.write(wh.con, f, target)
    what = "releases" if kind == "ocds" else "entities"
    if schema_dir is not None:
        if kind != "ocds":
            raise typer.BadParameter("--schema validates OCDS exports only")
        problems = ocds.file_errors(target, schema_dir, lines=lines)
        for problem in problems[:50]:
            console.print(f"[red]invalid[/red] {problem}")
        if problems:
            raise typer.Exit(1)
        console.print(f"{n} {what} valid against {schema_dir}")
    if output is None:
        sys.stdout.write(target.read_text(encoding="utf-8"))
        target.unlink()
    else:
        console.print(f"wrote {n} {what} to {output}")


__all__ = ["export_contracts"]
