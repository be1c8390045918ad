"""An archived document shown readably: XML and JSON as collapsible, highlighted trees, CSV as
a table, anything else as decoded text. Built from Dash components (never raw HTML), so the
publisher's markup is always shown as text, never run.

XML is parsed with no DTD, no entities and no network (as the scrapers parse it); encodings
come from the XML declaration, so Windows-1251 reads as Cyrillic. Other text is UTF-8 where
it decodes as such, else the encoding charset-normalizer detects (ISO-8859-1 OCDS files).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from decimal import Decimal

from dash import html
from lxml import etree

MAX_PARSE_BYTES = 16 * 1024 * 1024  # bigger documents are shown as the start of their text
MAX_NODES = 2500  # elements, keys or rows rendered; the raw document has the rest
MAX_TEXT_CHARS = 200_000
OPEN_DEPTH = 3  # tree levels shown open; deeper ones start collapsed
XML_PARSER = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                  huge_tree=False, remove_blank_text=True, remove_comments=True, remove_pis=True)


class Budget:
    """How many more nodes may be rendered; `cut` says whether some were left out."""

    def __init__(self, nodes: int = MAX_NODES):
        self.left, self.cut = nodes, False

    def take(self) -> bool:
        if self.left <= 0:
            self.cut = True
            return False
        self.left -= 1
        return True


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a non-XML text document."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None:
            return str(best), best.encoding
        return data.decode("iso-8859-1"), "iso-8859-1"


def kind_of(data: bytes, media_type: str | None) -> str:
    media = (media_type or "").split(";")[0].strip().lower()
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if data[:2] == b"PK" or media == "application/zip":
        return "zip"
    if media in ("text/html", "application/xhtml+xml") or head[:15].lower().startswith(
            (b"<!doctype html", b"<html")):
        return "html"
    if media.endswith("xml") or head.startswith(b"<?xml") or head.startswith(b"<"):
        return "xml"
    if media in ("application/json", "application/x-ndjson") or head[:1] in (b"{", b"["):
        return "json"
    if media == "text/csv":
        return "csv"
    return "text"


def readable(data: bytes, media_type: str | None, focus: str | None = None) -> html.Div:
    """The document's content as components, with a note of what was left out.

    `focus` is a contract's native id: a CSV document then shows only that contract's row.
    """
    kind = kind_of(data, media_type)
    notes: list = []
    if kind in ("xml", "json", "csv") and len(data) > MAX_PARSE_BYTES:
        notes.append(f"{len(data):,} bytes: too big to lay out here; the start of its text is"
                     " shown, the raw document has it all.")
        kind = "text"
    budget = Budget()
    body = None
    if kind == "xml":
        body = _xml(data, budget)
        if body is None:
            notes.append("Not well-formed XML: shown as text.")
            kind = "text"
    elif kind == "json":
        body = _json(data, budget)
        if body is None:
            notes.append("Not JSON that parses: shown as text.")
            kind = "text"
    elif kind == "csv":
        body = _csv(data, budget, focus)
    elif kind == "zip":
        body = _zip(data, budget)
    if body is None:
        text, encoding = decode(data)
        if len(text) > MAX_TEXT_CHARS:
            notes.append(f"The first {MAX_TEXT_CHARS:,} of {len(text):,} characters.")
        body = html.Pre(text[:MAX_TEXT_CHARS], className="doc-text")
        notes.append(f"Read as {encoding}.")
    if budget.cut:
        notes.append(f"The first {MAX_NODES:,} elements are laid out; the raw document has the"
                     " rest.")
    return html.Div([html.P(" ".join(notes), className="hint doc-notes") if notes else None,
                     html.Div(body, className=f"doc-content doc-{kind}")])


# -- XML --------------------------------------------------------------------------------------

def _xml(data: bytes, budget: Budget):
    if b"<!DOCTYPE" in data[:4096].upper():
        return None  # never parsed with a DTD: shown as text
    try:
        root = etree.fromstring(data, etree.XMLParser(**XML_PARSER))
    except etree.XMLSyntaxError:
        return None
    return _element(root, 0, budget, declare=True)


def _name(el) -> str:
    qname = etree.QName(el)
    return f"{el.prefix}:{qname.localname}" if el.prefix else qname.localname


def _attrs(el, declare: bool) -> list:
    out = []
    pairs = [(f"xmlns:{p}" if p else "xmlns", uri) for p, uri in el.nsmap.items()] \
        if declare else []
    for key, value in el.attrib.items():
        q = etree.QName(key)
        prefix = next((p for p, uri in el.nsmap.items() if uri == q.namespace and p), None)
        pairs.append((f"{prefix}:{q.localname}" if prefix else q.localname, value))
    for key, value in pairs:
        out += [" ", html.Span(key, className="x-attr"), "=",
                html.Span(f'"{value}"', className="x-value")]
    return out


def _element(el, depth: int, budget: Budget, declare: bool = False):
    if not budget.take():
        return None
    name = _name(el)
    opening = [html.Span(f"<{name}", className="x-tag"), *_attrs(el, declare)]
    children = [c for c in el if isinstance(c.tag, str)]
    text = (el.text or "").strip()
    if not children:
        if not text:
            return html.Div([*opening, html.Span("/>", className="x-tag")], className="x-leaf")
        return html.Div([*opening, html.Span(">", className="x-tag"),
                         html.Span(text, className="x-text"),
                         html.Span(f"</{name}>", className="x-tag")], className="x-leaf")
    inner = [html.Div(text, className="x-text")] if text else []
    for child in children:
        rendered = _element(child, depth + 1, budget)
        if rendered is None:
            inner.append(html.Div("…", className="hint"))
            break
        inner.append(rendered)
    summary = html.Summary([*opening, html.Span(">", className="x-tag"),
                            html.Span(f" {len(children)}", className="x-count")])
    return html.Details([summary, html.Div(inner, className="x-children"),
                         html.Span(f"</{name}>", className="x-tag")],
                        open=depth < OPEN_DEPTH, className="x-node")


# -- JSON -------------------------------------------------------------------------------------

def _json(data: bytes, budget: Budget):
    text, _ = decode(data)
    try:
        value = json.loads(text, parse_float=Decimal)
    except ValueError:
        try:  # JSON Lines: one value a line
            value = [json.loads(line, parse_float=Decimal) for line in text.splitlines()
                     if line.strip()]
        except ValueError:
            return None
    return _value(None, value, 0, budget)


def _scalar(value) -> html.Span:
    if isinstance(value, str):
        return html.Span(json.dumps(value, ensure_ascii=False), className="j-string")
    if value is None or isinstance(value, bool):
        return html.Span(json.dumps(value), className="j-literal")
    return html.Span(str(value), className="j-number")


def _value(key, value, depth: int, budget: Budget):
    if not budget.take():
        return None
    label = [html.Span(json.dumps(key, ensure_ascii=False) if isinstance(key, str) else str(key),
                       className="j-key"), ": "] if key is not None else []
    if not isinstance(value, (dict, list)):
        return html.Div([*label, _scalar(value)], className="j-leaf")
    pairs = value.items() if isinstance(value, dict) else enumerate(value)
    brackets = "{}" if isinstance(value, dict) else "[]"
    inner = []
    for k, v in pairs:
        rendered = _value(k, v, depth + 1, budget)
        if rendered is None:
            inner.append(html.Div("…", className="hint"))
            break
        inner.append(rendered)
    summary = html.Summary([*label, brackets[0],
                            html.Span(f" {len(value)} ", className="x-count"), brackets[1]])
    return html.Details([summary, html.Div(inner, className="x-children")],
                        open=depth < OPEN_DEPTH, className="j-node")


# -- CSV, ZIP ---------------------------------------------------------------------------------

def _csv(data: bytes, budget: Budget, focus: str | None):
    text, _ = decode(data)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    if focus is not None:  # one contract's row, as a list of fields
        for row in reader:
            if focus in (cell.strip() for cell in row):
                return html.Table([html.Tbody([html.Tr([html.Th(h), html.Td(v)])
                                               for h, v in zip(header, row)])],
                                  className="table table-sm doc-row", id="document-row")
        return html.P(f"No row of this document holds {focus!r}.", className="empty")
    body = []
    for row in reader:
        if not budget.take():
            break
        body.append(html.Tr([html.Td(cell) for cell in row]))
    return html.Div(html.Table([html.Thead(html.Tr([html.Th(h) for h in header])),
                                html.Tbody(body)], className="table table-sm"),
                    className="doc-wide")


def _zip(data: bytes, budget: Budget):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
    except zipfile.BadZipFile:
        return None
    rows = []
    for info in members:
        if not budget.take():
            break
        rows.append(html.Tr([html.Td(info.filename), html.Td(f"{info.file_size:,}",
                                                             className="num")]))
    return html.Table([html.Thead(html.Tr([html.Th("member"), html.Th("bytes")])),
                       html.Tbody(rows)], className="table table-sm")
