"""`survtrack build`: derive the analysis columns from the tidy tables, step by step.

Each step reads what ingest loaded and writes what the dashboard and notebooks read; each is
incremental and idempotent, so a build can be run after every ingest or scrape.

- classify: `tags` (surveillance categories with rule and evidence)
- entities: `organizations.entity_id` and `entities` (who really is the vendor)
- money: `fx_rates`, `contracts.amount_usd` and `amount_usd_constant`
- competition: `competition` (how each contract was won, from `procurement_facts`)
- threads: `threads` (each contract's procurement as one story)
- flags: `flags` (red flags decided from competition, tags and amounts; docs/flags.md)

money, competition, threads and flags recompute only the contracts whose inputs changed
(analysis/inputs.py), hashing only those the warehouse's record of changes names since they
last ran (warehouse/changes.py); classify compares only those contracts' documents, and
entities is skipped when nothing it reads or wrote changed. The build runs within a DuckDB memory limit (config.build_memory, 4 GB
unless SURVTRACK_BUILD_MEMORY or --memory-limit say otherwise), spilling the rest to a
temporary folder beside the warehouse (docs/scale.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from survtrack import config
from survtrack.warehouse.store import Warehouse


class BuildError(ValueError):
    """A build input the analyst must fix (an overrides file, say)."""


def _classify(wh: Warehouse, options: dict) -> dict:
    from survtrack.analysis.classify import classify_warehouse

    return classify_warehouse(wh, full=bool(options.get("full")))


def _entities(wh: Warehouse, options: dict) -> dict:
    from survtrack.analysis.entities import OverrideError, build_entities

    try:
        return build_entities(wh, options.get("overrides"), full=bool(options.get("full")))
    except OverrideError as exc:
        raise BuildError(f"overrides file: {exc}") from None


def _money(wh: Warehouse, options: dict) -> dict:
    from survtrack.analysis.money import convert_money, load_ecb

    if options.get("ecb_file"):
        load_ecb(wh, options["ecb_file"])
    return convert_money(wh, full=bool(options.get("full"))).summary()


def _competition(wh: Warehouse, options: dict) -> dict:
    from survtrack.analysis.competition import build_competition

    return build_competition(wh, full=bool(options.get("full")))


def _threads(wh: Warehouse, options: dict) -> dict:
    from survtrack.analysis.threads import build_threads

    return build_threads(wh, full=bool(options.get("full")))


def _flags(wh: Warehouse, options: dict) -> dict:
    from survtrack.analysis import flags

    return flags.compute(wh, full=bool(options.get("full")))


STEPS: dict[str, Callable[[Warehouse, dict], dict]] = {
    "classify": _classify,
    "entities": _entities,
    "money": _money,
    "competition": _competition,
    "threads": _threads,
    "flags": _flags,
}


def run_build(wh: Warehouse, steps: list[str] | None = None, *, overrides: Path | None = None,
              ecb_file: Path | None = None, full: bool = False,
              on_step: Callable[[str], None] | None = None,
              memory_limit: str | None = None) -> dict[str, dict]:
    """Run the steps in order, recorded as one run; return each step's summary."""
    steps = steps or list(STEPS)
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise BuildError(f"unknown build steps {unknown}; known: {list(STEPS)}")
    options = {"overrides": overrides, "ecb_file": ecb_file, "full": full}
    run_id = wh.start_run("build", "build", {"steps": steps, **options})
    summary: dict[str, dict] = {}
    status = "failed"
    try:
        with bounded(wh, memory_limit):
            for step in steps:
                if on_step:
                    on_step(step)
                summary[step] = STEPS[step](wh, options)
        status = "finished"
    finally:
        wh.finish_run(run_id, {}, status)
    return summary


@contextmanager
def bounded(wh: Warehouse, memory_limit: str | None = None) -> Iterator[None]:
    """DuckDB's memory limit and spill folder for the block (config.build_memory and
    config.temp_directory), and no insertion order kept for the big intermediate tables;
    the connection's settings are restored after."""
    settings = {"memory_limit": config.build_memory(memory_limit),
                "preserve_insertion_order": "false"}
    before = {name: wh.scalar(f"SELECT current_setting('{name}')") for name in settings}
    spill = str(config.temp_directory(wh.path))
    if wh.scalar("SELECT current_setting('temp_directory')") != spill:
        # kept after the build: DuckDB cannot move a folder it has spilled to
        settings["temp_directory"] = spill
    try:
        for name, value in settings.items():
            wh.execute(f"SET {name} = '{value}'")
    except Exception as exc:  # a malformed limit ("4 gigs") names the setting
        raise BuildError(f"{name} {value!r}: {exc}") from None
    try:
        yield
    finally:
        for name, value in before.items():
            wh.execute(f"SET {name} = '{value}'")


def notes(summary: dict[str, dict]) -> list[str]:
    """What a build's summary asks the analyst to look at (Rich markup): amounts left without
    dollars, ambiguous entities, override warnings."""
    out = [f"[yellow]no USD amount[/yellow] {row['contracts']} contracts in"
           f" {row['currency']} {row['year']}: {row['why']}"
           for row in summary.get("money", {}).get("missing", [])]
    out += [f"[yellow]ambiguous[/yellow] {note}"
            for note in summary.get("entities", {}).get("ambiguous_examples", [])]
    out += [f"[yellow]overrides[/yellow] {warning}"
            for warning in summary.get("entities", {}).get("warnings", [])]
    return out
