"""What every source declares, in its folder's `source.py`: `SOURCE = Source(...)`.

The declaration is metadata (which generates docs/sources.md), the base URL and rate limit
the fetcher uses, its `survtrack scrape` options and presets, and two functions: `parse(ctx)`
reads one archived document and emits rows (never touching the network, so any archived
document can be parsed again after a parser fix); `fetch(ctx)` walks the publisher and
yields archived documents and checkpoints (scrapers/scrape.py runs it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from survtrack.warehouse.protocol import Parser


@dataclass(frozen=True)
class Option:
    """One of a source's own `survtrack scrape SOURCE` options (`--name-with-dashes`); its
    value reaches the fetcher as `ctx.params[name]`."""

    name: str
    help: str
    type: type = str
    envvar: str | None = None
    secret: bool = False  # passed to the fetcher, never recorded in `runs`

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


# The options most sources take, shared so that their help reads the same everywhere.
QUERY = Option("query", "words to search for")
SINCE = Option("since", "first date, YYYY-MM-DD")
UNTIL = Option("until", "last date, YYYY-MM-DD")


def preset_option(help: str) -> Option:
    return Option("preset", help)


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    publisher: str
    country: str
    licence: str
    base_url: str  # where the fetcher starts (`--base-url` overrides it for mirrors and tests)
    docs_url: str
    coverage: str
    caveats: tuple[str, ...]
    formats: tuple[str, ...]
    parse: Parser | None  # None: fetched documents are archived, awaiting a parser
    rate_limit: float = 1.0  # requests per second, for the polite session
    extensions: tuple[str, ...] = field(default=(".xml",))
    # documents stand alone (the parser never reads the warehouse), so small ones may be
    # loaded many to a transaction; OCDS, which compiles across documents, says False
    batch_documents: bool = True
    # documents that read what earlier ones wrote (OCDS): small ones are still loaded many to
    # a transaction, parsed one after another inside it (Warehouse.load_chained)
    chain_documents: bool = False
    # -- the online path (`survtrack scrape`); a source without `fetch` is ingested only
    fetch: Callable[[Any], Any] | None = None  # scrape.Fetcher
    options: tuple[Option, ...] = ()
    presets: tuple[str, ...] = ()  # names `--preset` accepts
    # where the run's parameters decide the host or the pace (an OCDS publisher preset)
    base_url_for: Callable[[dict], str] | None = None
    rate_for: Callable[[dict], float | None] | None = None
    # what `survtrack ingest SOURCE` loads when given no path (a list kept in the project)
    default_inputs: tuple[Path, ...] = ()

    def markdown(self) -> str:
        lines = [f"## `{self.name}`: {self.title}", "",
                 f"- Publisher: {self.publisher}",
                 f"- Country: {self.country}",
                 f"- Licence: {self.licence}",
                 f"- Base URL: <{self.base_url}>" if "://" in self.base_url
                 else f"- Base URL: {self.base_url}",
                 f"- Documentation: <{self.docs_url}>",
                 f"- Rate limit: {self.rate_limit:g} requests/second",
                 f"- Formats: {', '.join(self.formats)}",
                 f"- Files: {', '.join(self.extensions)}"]
        if self.fetch is not None:
            lines.append(f"- `survtrack scrape {self.name}`"
                         + (" options:" if self.options else ": no options of its own"))
            lines += [f"  - `{o.flag}`: {o.help}" for o in self.options]
        else:
            lines.append(f"- Not scraped: `survtrack ingest {self.name}` loads local files")
        if self.presets:
            lines.append(f"- Presets (`--preset`): {', '.join(self.presets)}")
        lines += ["", self.coverage, "", "Caveats:", ""]
        lines += [f"- {c}" for c in self.caveats]
        return "\n".join(lines) + "\n"
