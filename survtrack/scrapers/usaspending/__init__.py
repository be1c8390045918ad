"""USAspending.gov (US federal awards): API v2 JSON and bulk award CSVs.

`parse` tells the format by the document's first byte (JSON object or CSV header), not by
its file name, since an archived document is just bytes. JSON: award detail, spending_by_award
search pages, recipient profiles (api.py). CSV: prime contract transactions and prime award
summaries (bulk.py). Mapping, amounts and identifiers: docs/usaspending.md.
"""

from __future__ import annotations

from survtrack.warehouse.protocol import LoadContext, Rejected

from .api import parse_json
from .bulk import parse_csv


def _first_byte(ctx: LoadContext) -> bytes:
    with ctx.document.open() as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1]


def parse(ctx: LoadContext) -> None:
    first = _first_byte(ctx)
    if not first:
        raise Rejected("empty document", "(document)")
    if first in (b"{", b"["):
        parse_json(ctx)
    elif ctx.document.origin.lower().endswith(".json"):
        parse_json(ctx)  # a .json file that does not start like JSON: say why it is malformed
    else:
        parse_csv(ctx)
