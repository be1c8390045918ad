"""EU Tenders Electronic Daily (TED): eForms notices and legacy TED XML.

`parse` reads one notice per document: a `TED_EXPORT` root is legacy TED XML (legacy.py),
any other root an eForms UBL notice (eforms.py), recognised through document_kinds.csv.
A root neither knows is rejected with its name.
"""

from __future__ import annotations

from survtrack.scrapers.xmlsafe import local, parse_tree
from survtrack.warehouse.protocol import LoadContext

from . import eforms, legacy


def parse(ctx: LoadContext) -> None:
    with ctx.document.open() as fh:
        root = parse_tree(fh)
    if local(root.tag) == "TED_EXPORT":
        legacy.parse(ctx, root)
    else:
        eforms.parse(ctx, root)
