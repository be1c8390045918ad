"""What every source declares: metadata (which generates docs/sources.md) and a parser.

A source module exposes `SOURCE = Source(...)`; `SOURCE.parse(ctx)` reads one archived
document and emits rows. Parsing never touches the network, so any archived document can be
parsed again after a parser fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from survtrack.warehouse.protocol import Parser


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    publisher: str
    country: str
    licence: str
    base_url: str
    docs_url: str
    coverage: str
    caveats: tuple[str, ...]
    formats: tuple[str, ...]
    parse: Parser
    rate_limit: float = 1.0  # requests per second, for the polite session
    extensions: tuple[str, ...] = field(default=(".xml",))
    # documents stand alone (the parser never reads the warehouse), so small ones may be
    # loaded many to a transaction; OCDS, which compiles across documents, says False
    batch_documents: bool = True

    def markdown(self) -> str:
        lines = [f"## `{self.name}`: {self.title}", "",
                 f"- Publisher: {self.publisher}",
                 f"- Country: {self.country}",
                 f"- Licence: {self.licence}",
                 f"- Base URL: <{self.base_url}>",
                 f"- Documentation: <{self.docs_url}>",
                 f"- Rate limit: {self.rate_limit:g} requests/second",
                 f"- Formats: {', '.join(self.formats)}",
                 "", self.coverage, "", "Caveats:", ""]
        lines += [f"- {c}" for c in self.caveats]
        return "\n".join(lines) + "\n"
