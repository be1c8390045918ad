"""How a US federal award was competed, as FPDS reports it: one `procurement_facts` row.

The extent competed code (A full and open competition, C not competed, NDO a non-competitive
delivery order…; mapped to one scale in analysis/flags/procedure_types.csv) and the number of
offers received. USAspending publishes no solicitation dates or estimate: those stay unknown.
"""

from __future__ import annotations

from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import LoadContext, Rejected


def emit(ctx: LoadContext, contract_id: str, award) -> None:
    offers = _count(award.offers, "number_of_offers_received")
    if award.extent_code is None and offers is None:
        return
    words = "; ".join(p for p in (award.extent_competed, award.solicitation_procedures,
                                  f"set-aside {award.set_aside}" if award.set_aside
                                  and award.set_aside.upper() != "NONE" else None) if p)
    ctx.emit("procurement_facts", subject_id=contract_id, procurement_id=contract_id,
             stage="award", published_on=None,
             procedure_scheme="fpds_extent_competed" if award.extent_code else None,
             procedure_code=award.extent_code, procedure_text=v.clean(words, 1000) or None,
             bids_received=offers, document_id=ctx.document.document_id)


def _count(raw: str | None, field: str) -> int | None:
    """Offers as published ('4', '4.0'); anything else is refused, naming the field."""
    if raw is None or raw.strip() == "":
        return None
    try:
        number = float(raw)
    except ValueError:
        raise Rejected(f"not a number of offers: {raw!r}", field) from None
    if number < 0 or number != int(number):
        raise Rejected(f"not a number of offers: {raw!r}", field)
    return int(number)
