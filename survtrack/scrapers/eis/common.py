"""Pieces shared by the 44-FZ and 223-FZ parsers: identifiers, URLs, organizations, lookups."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from survtrack import datafiles
from survtrack.scrapers import values as v
from survtrack.scrapers.xmlsafe import (
    descendants,
    first_children,
    first_descendant,
)
from survtrack.warehouse.protocol import LoadContext

HERE = Path(__file__).parent
SOURCE = "eis"
CARD_44 = "https://zakupki.gov.ru/epz/contract/contractCard/common-info.html?reestrNumber={}"
CARD_223 = "https://zakupki.gov.ru/epz/contractfz223/search/results.html?searchString={}"
NOTICE_44 = "https://zakupki.gov.ru/epz/order/notice/common-info.html?regNumber={}"
NOTICE_223 = "https://zakupki.gov.ru/epz/order/notice/notice223/common-info.html?regNumber={}"


@cache
def stages() -> dict[str, str]:
    return {row["code"]: row["status"]
            for row in datafiles.rows(HERE / "contract_stages.csv", ("code", "status"))}


def find(el, *names: str):
    """First descendant (document order) whose local name is one of `names`."""
    if el is None:
        return None
    return next(descendants(el, *names), None)


def find_text(el, *names: str) -> str | None:
    node = find(el, *names)
    return v.clean(node.text) if node is not None and node.text else None


def small_find_text(el, names: tuple[str, ...]) -> str | None:
    """`find_text` for a small subtree (a code list, an OKEI): a plain walk stopping at the
    first match, cheaper there than a tag matcher."""
    node = first_descendant(el, names)
    if node is None:
        return None
    found = node.text
    return v.clean(found) if found else None


def org(ctx: LoadContext, *, name: str | None, inn: str | None, kpp: str | None = None,
        short_name: str | None = None, country: str = "RU", published=None) -> str | None:
    """Emit an organization and return its org_id (RU-INN where an INN is published).

    `published`: when the naming document was published; the newest names an organization.
    """
    inn = (inn or "").strip() or None
    name = v.clean(name)
    if inn:
        if not inn.isdigit() or len(inn) not in (10, 12):
            ctx.reject_part(f"INN {inn!r} is not 10 or 12 digits; kept as published", "INN")
        org_id, scheme = f"RU-INN:{inn}", "RU-INN"
    elif name:
        org_id, scheme = f"name:{SOURCE}:{v.name_key(name)}", None
    else:
        return None
    ctx.emit("organizations", org_id=org_id, name=name or short_name, short_name=v.clean(short_name),
             scheme=scheme, identifier=inn, kpp=(kpp or "").strip() or None, country=country,
             published_on=published, document_id=ctx.document.document_id)
    return org_id


CODE_LISTS = (("KTRU", "KTRU"), ("OKPD2", "OKPD2"), ("okpd2", "OKPD2"), ("OKPD", "OKPD"),
              ("okpd", "OKPD"), ("OKDP", "OKDP"), ("okdp", "OKDP"))
CODE_ELEMENTS = tuple(element for element, _ in CODE_LISTS)
_CODE = ("code",)
CODE_SPECS = tuple(f"{element}//code" for element in CODE_ELEMENTS)  # xmlsafe.fields specs


def item_code(product, fields: dict | None = None) -> tuple[str | None, str | None]:
    """(scheme, code) of a product line: KTRU is the most specific, then OKPD2, OKPD, OKDP.

    Old documents put 7-digit OKDP codes into the OKPD2 element; the code's shape decides.
    `fields`: the product's first_children, when the caller has them.
    """
    if fields is None:
        fields = first_children(product)
    for element, scheme in CODE_LISTS:
        node = fields.get(element)
        if node is None:
            continue
        code = small_find_text(node, _CODE)
        if code:
            if scheme in ("OKPD2", "OKPD") and code.isdigit() and len(code) == 7:
                scheme = "OKDP"
            return scheme, code
    return None, None


def item_code_of(codes) -> tuple[str | None, str | None]:
    """`item_code` from the product's code of each of CODE_ELEMENTS (`CODE_SPECS` read by
    xmlsafe.fields: None where the list is absent or its code empty)."""
    for (_, scheme), code in zip(CODE_LISTS, codes):
        if code:
            if scheme in ("OKPD2", "OKPD") and code.isdigit() and len(code) == 7:
                scheme = "OKDP"
            return scheme, code
    return None, None
