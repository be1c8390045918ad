"""The `context` source's declaration: court cases, complaints, sanctions and laws as data."""

from __future__ import annotations

from survtrack.scrapers.base import Source

from . import EVENTS, SOURCE_NAME, parse

SOURCE = Source(
    name=SOURCE_NAME,
    title="Court cases, complaints, sanctions and laws around surveillance buying (curated)",
    publisher="survtrack contributors, from the cited court, news and official pages",
    country="(several)",
    licence="Facts with citations; each event links to the page that was read",
    base_url="(none: survtrack/scrapers/context/events.toml is kept in the project)",
    docs_url="docs/context.md",
    coverage=("Challenges and rules around surveillance buying: lawsuits and rulings (Moscow's"
              " facial recognition cases from Popova's claim to Glukhin v. Russia at the ECHR),"
              " complaints to procurement control bodies, sanctions and laws, each with date,"
              " jurisdiction, forum, outcome, parties linked to buyers and vendors, and the"
              " citation that was read to check it."),
    caveats=(
        ("Dates carry their basis: 'report' means the page's date, the event being on it or"
         " shortly before; 'month' means only the month is known."),
        ("A party is linked to buyers and vendors by name patterns (as claims are): a pattern"
         " that is too wide links an event to an organization it does not concern."),
        ("EIS complaints and control-body decisions load into the same tables from the eis"
         " source; the events here are curated from reporting and court pages."),
    ),
    formats=("TOML (UTF-8): [[event]] tables with [[event.party]] lists",),
    parse=parse,
    rate_limit=1.0,
    extensions=(".toml",),
    default_inputs=(EVENTS,),
)
