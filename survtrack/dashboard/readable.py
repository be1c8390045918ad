"""An archived document shown readably, as a page of its own (`/document/<sha256>/view`, which
the document page frames): XML and JSON as collapsible, highlighted trees, CSV as a table (or,
when wide, row by row), a ZIP as its members, anything else as decoded text.

The page is HTML written here with every piece of the publisher's text escaped, and it is
served with `Content-Security-Policy: sandbox`, so nothing in a document can run. It is plain
HTML rather than Dash components because a browser lays out thousands of `<details>` at once,
while a Dash layout of that many components stalls the page for a minute.

XML is parsed with no DTD, no entities and no network (as the scrapers parse it); encodings
come from the XML declaration, so Windows-1251 reads as Cyrillic. Other text is UTF-8 where it
decodes as such, else the encoding charset-normalizer detects (ISO-8859-1 OCDS files).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from decimal import Decimal
from functools import cache
from html import escape as _escape
from pathlib import Path

from lxml import etree

MAX_PARSE_BYTES = 16 * 1024 * 1024  # bigger documents are shown as the start of their text
MAX_NODES = 20_000  # elements, keys or table cells laid out; the raw document has the rest
MAX_TEXT_CHARS = 2_000_000
OPEN_DEPTH = 3  # tree levels shown open; deeper ones start collapsed
WIDE = 12  # CSV columns beyond which rows are shown one by one, as fields
XML_PARSER = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                  huge_tree=False, remove_blank_text=True, remove_comments=True, remove_pis=True)


def escape(text: str) -> str:
    """Text for an element's content (never for an attribute: this page writes none)."""
    return _escape(text, quote=False)


class Budget:
    """How many more nodes may be laid out; `cut` says whether some were left out."""

    def __init__(self, nodes: int = MAX_NODES):
        self.left, self.cut = nodes, False

    def take(self, nodes: int = 1) -> bool:
        if self.left < nodes:
            self.cut = True
            return False
        self.left -= nodes
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


@cache
def _style() -> str:
    return Path(__file__).with_name("readable.css").read_text(encoding="utf-8")


def readable_page(data: bytes, media_type: str | None, focus: str | None = None,
                  title: str = "") -> str:
    """The document's content as an HTML page, with a note of what was left out.

    `focus` is a contract's native id: a CSV document then shows only that contract's row.
    """
    kind = kind_of(data, media_type)
    notes: list[str] = []
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
    elif kind == "json":
        body = _json(data, budget)
        if body is None:
            notes.append("Not JSON that parses: shown as text.")
    elif kind == "csv":
        body = _csv(data, budget, focus)
    elif kind == "zip":
        body = _zip(data, budget)
    if body is None:
        kind = "text"
        text, encoding = decode(data)
        if len(text) > MAX_TEXT_CHARS:
            notes.append(f"The first {MAX_TEXT_CHARS:,} of {len(text):,} characters.")
        body = f'<pre class="doc-text">{escape(text[:MAX_TEXT_CHARS])}</pre>'
        notes.append(f"Read as {encoding}.")
    if budget.cut:
        notes.append(f"The first {MAX_NODES:,} elements (or table cells) are laid out; the raw"
                     " document has the rest.")
    note = f'<p class="notes">{escape(" ".join(notes))}</p>' if notes else ""
    return ("<!doctype html><html><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_style()}</style></head>"
            f'<body class="doc-{kind}">{note}{body}</body></html>')


# -- XML --------------------------------------------------------------------------------------

def _xml(data: bytes, budget: Budget) -> str | None:
    if b"<!DOCTYPE" in data[:4096].upper():
        return None  # never parsed with a DTD: shown as text
    try:
        root = etree.fromstring(data, etree.XMLParser(**XML_PARSER))
    except etree.XMLSyntaxError:
        return None
    out: list[str] = []
    _element(root, 0, budget, out, declare=True)
    return "".join(out)


def _name(el) -> str:
    qname = etree.QName(el)
    return f"{el.prefix}:{qname.localname}" if el.prefix else qname.localname


def _attrs(el, declare: bool) -> str:
    pairs = [(f"xmlns:{p}" if p else "xmlns", uri) for p, uri in el.nsmap.items()] \
        if declare else []
    for key, value in el.attrib.items():
        q = etree.QName(key)
        prefix = next((p for p, uri in el.nsmap.items() if uri == q.namespace and p), None)
        pairs.append((f"{prefix}:{q.localname}" if prefix else q.localname, value))
    return "".join(f' <span class="a">{escape(k)}</span>=<span class="v">"{escape(v)}"</span>'
                   for k, v in pairs)


def _element(el, depth: int, budget: Budget, out: list[str], declare: bool = False) -> bool:
    if not budget.take():
        out.append('<div class="more">…</div>')
        return False
    name = escape(_name(el))
    opening = f'<span class="t">&lt;{name}</span>{_attrs(el, declare)}'
    children = [c for c in el if isinstance(c.tag, str)]
    text = (el.text or "").strip()
    if not children:
        if not text:
            out.append(f'<div class="leaf">{opening}<span class="t">/&gt;</span></div>')
        else:
            out.append(f'<div class="leaf">{opening}<span class="t">&gt;</span>'
                       f'<span class="x">{escape(text)}</span>'
                       f'<span class="t">&lt;/{name}&gt;</span></div>')
        return True
    out.append(f'<details{" open" if depth < OPEN_DEPTH else ""}><summary>{opening}'
               f'<span class="t">&gt;</span> <span class="n">{len(children)}</span></summary>'
               '<div class="kids">')
    if text:
        out.append(f'<div class="x">{escape(text)}</div>')
    for child in children:
        if not _element(child, depth + 1, budget, out):
            break
    out.append(f'</div><span class="t">&lt;/{name}&gt;</span></details>')
    return not budget.cut


# -- JSON -------------------------------------------------------------------------------------

def _json(data: bytes, budget: Budget) -> str | None:
    text, _ = decode(data)
    try:
        value = json.loads(text, parse_float=Decimal)
    except ValueError:
        try:  # JSON Lines: one value a line
            value = [json.loads(line, parse_float=Decimal) for line in text.splitlines()
                     if line.strip()]
        except ValueError:
            return None
    out: list[str] = []
    _value(None, value, 0, budget, out)
    return "".join(out)


def _scalar(value) -> str:
    if isinstance(value, str):
        return f'<span class="s">{escape(json.dumps(value, ensure_ascii=False))}</span>'
    if value is None or isinstance(value, bool):
        return f'<span class="l">{json.dumps(value)}</span>'
    return f'<span class="d">{escape(str(value))}</span>'


def _value(key, value, depth: int, budget: Budget, out: list[str]) -> bool:
    if not budget.take():
        out.append('<div class="more">…</div>')
        return False
    label = "" if key is None else (
        f'<span class="k">{escape(json.dumps(key, ensure_ascii=False) if isinstance(key, str) else str(key))}'
        "</span>: ")
    if not isinstance(value, (dict, list)):
        out.append(f'<div class="leaf">{label}{_scalar(value)}</div>')
        return True
    pairs = value.items() if isinstance(value, dict) else enumerate(value)
    brackets = "{}" if isinstance(value, dict) else "[]"
    out.append(f'<details{" open" if depth < OPEN_DEPTH else ""}><summary>{label}{brackets[0]}'
               f' <span class="n">{len(value)}</span> {brackets[1]}</summary><div class="kids">')
    for k, v in pairs:
        if not _value(k, v, depth + 1, budget, out):
            break
    out.append("</div></details>")
    return not budget.cut


# -- CSV, ZIP ---------------------------------------------------------------------------------

def _csv(data: bytes, budget: Budget, focus: str | None) -> str:
    text, _ = decode(data)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    if focus is not None:  # one contract's row, as a list of fields
        for row in reader:
            if focus in (cell.strip() for cell in row):
                return _fields(header, row, ' id="row"')
        return f'<p class="empty">No row of this document holds {escape(repr(focus))}.</p>'
    out = []
    if len(header) > WIDE:  # a bulk CSV has hundreds of columns: a table would be unreadable
        for n, row in enumerate(reader, start=1):
            if not budget.take(max(1, len(row))):
                break
            out.append(f'<details{" open" if n == 1 else ""}><summary>row {n}</summary>'
                       f"{_fields(header, row)}</details>")
        return "".join(out)
    for row in reader:
        if not budget.take(max(1, len(row))):
            break
        out.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(out)}</tbody></table>"


def _fields(header: list[str], row: list[str], attrs: str = "") -> str:
    """One row as a two-column table of its non-empty fields."""
    cells = "".join(f"<tr><th>{escape(h)}</th><td>{escape(v)}</td></tr>"
                    for h, v in zip(header, row) if v.strip())
    return f'<table class="fields"{attrs}><tbody>{cells}</tbody></table>'


def _zip(data: bytes, budget: Budget) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
    except zipfile.BadZipFile:
        return None
    rows = []
    for info in members:
        if not budget.take():
            break
        rows.append(f'<tr><td>{escape(info.filename)}</td><td class="num">{info.file_size:,}'
                    "</td></tr>")
    return ("<table><thead><tr><th>member</th><th>bytes</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
