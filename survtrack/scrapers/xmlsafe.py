"""Safe, streaming XML for every source.

No DTD is ever loaded, no entity is resolved and nothing is fetched from the network, so
XXE and "billion laughs" documents cannot read files or explode memory: a document that
declares a DOCTYPE is refused outright (seen in the first 64 KB, or by lxml before the root
element when a long comment pushed it further) (procurement exports never carry one, as defusedxml
does with forbid_dtd). Encodings come from the XML declaration (Windows-1251 and UTF-8 both
occur in EIS); a document without a declaration that is not valid UTF-8 is read as
Windows-1251, the other encoding Russian publishers use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import BinaryIO

from lxml import etree

from survtrack.warehouse.protocol import Rejected

_DECL = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']", re.DOTALL)
_DECLARATIONS = (b"DOCTYPE", b"ENTITY")
_HEAD = 64 * 1024


def local(tag) -> str:
    """Tag name without namespace."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _prepare(stream: BinaryIO) -> tuple[BinaryIO, str | None]:
    head = stream.read(_HEAD)
    return _Prefixed(head, stream), _check_head(head)


def _check_head(head: bytes) -> str | None:
    """Refuse an empty document or one declaring a DTD; the encoding to force, if any."""
    if not head or head.isspace():  # `not head.strip()`, without copying the head
        raise Rejected("empty document", "document")
    probe = head.lstrip(b"\xef\xbb\xbf")
    if _declares_dtd(probe):
        raise Rejected("document declares a DTD or entities (refused: possible XXE or entity"
                       " expansion attack)", "DOCTYPE")
    encoding = None
    if not _DECL.match(probe) and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # a multi-byte character may be cut at the probe's end: only complain before it
            if exc.start < len(head) - 4:
                encoding = "windows-1251"
    return encoding


def _declares_dtd(probe: bytes) -> bool:
    """`<!DOCTYPE` or `<!ENTITY` anywhere in the probe, in any case. Only the few `!` are
    looked at (`<` is everywhere in XML, `!` rare), one C scan instead of a regular expression."""
    at = probe.find(b"!")
    while at >= 0:
        if at and probe[at - 1] == 0x3C and probe[at + 1:at + 8].upper().startswith(_DECLARATIONS):
            return True
        at = probe.find(b"!", at + 1)
    return False


class _Prefixed:
    """The probed head followed by the rest of the stream, without reading it all."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self.head, self.stream = head, stream

    def read(self, n: int = -1) -> bytes:
        if not self.head:
            return self.stream.read(n)
        if n is None or n < 0:
            out, self.head = self.head + self.stream.read(), b""
            return out
        out, self.head = self.head[:n], self.head[n:]
        return out


def iterparse(stream: BinaryIO, tags: set[str] | None = None, *, blank_text: bool = True
              ) -> Iterator[tuple[str, etree._Element]]:
    """Yield (event, element) for 'start' and 'end', with secure settings.

    Callers clear elements they are done with (``el.clear()``) so that memory stays flat.
    `blank_text=False`: see `parse_bytes`.
    """
    data, encoding = _prepare(stream)
    try:
        events = etree.iterparse(
            data, events=("start", "end"), resolve_entities=False, no_network=True,
            load_dtd=False, huge_tree=False, remove_comments=True, encoding=encoding,
            recover=False, remove_blank_text=not blank_text, collect_ids=blank_text,
        )
        for n, (event, el) in enumerate(events):
            if n == 0:  # a DOCTYPE precedes the root: one the probe missed (after a long
                _refuse_doctype(el.getroottree())  # comment) is known by now
            yield event, el
    except etree.XMLSyntaxError as exc:
        raise Rejected(f"malformed XML: {exc}", "document") from exc


def parse_tree(stream: BinaryIO) -> etree._Element:
    """Whole-document parse for small documents, with the same protections."""
    data, encoding = _prepare(stream)
    try:
        tree = etree.parse(data, _parser(encoding))
    except etree.XMLSyntaxError as exc:
        raise Rejected(f"malformed XML: {exc}", "document") from exc
    _refuse_doctype(tree)
    return tree.getroot()


def parse_bytes(data: bytes, *, blank_text: bool = True) -> etree._Element:
    """`parse_tree` for a document already in memory: one C call (lxml's `fromstring`), the
    fastest way to read a small document whole.

    `blank_text=False` for a parser that reads only collapsed element text (EIS): the
    indentation between elements (a third of a pretty-printed document's nodes) is not kept,
    which makes the parse and every walk over children cheaper. An element's own text is
    kept whenever it has any besides spaces (libxml2's "ignorable whitespace" heuristic drops
    only whitespace-only text before a child element), so collapsed it reads the same."""
    encoding = _check_head(data if len(data) <= _HEAD else data[:_HEAD])  # no copy if small
    try:
        root = etree.fromstring(data, _parser(encoding, blank_text))
    except etree.XMLSyntaxError as exc:
        raise Rejected(f"malformed XML: {exc}", "document") from exc
    if _xmlwalk is None or _xmlwalk.declares_dtd(root):  # the C check answers most at once
        _refuse_doctype(root.getroottree())
    return root


@cache
def _parser(encoding: str | None, blank_text: bool = True) -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True, encoding=encoding,
                           remove_blank_text=not blank_text, collect_ids=blank_text)


def _refuse_doctype(tree) -> None:
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise Rejected("document declares a DTD or entities (refused: possible XXE or entity"
                       " expansion attack)", "DOCTYPE")


# The lookups below match local names in any namespace (or none) with lxml's `{*}name`
# filters, which run in C: a Python loop calling local() on every child cost most of the
# parsers' time.
def _any(name: str) -> str:
    return "{*}" + name


def text(el, *path: str) -> str | None:
    """Text of the first descendant following local names in `path` (namespace-blind)."""
    node = el
    for name in path:  # child(), inlined: the parsers call this ~20 times per document
        if node is None:
            return None
        node = next(node.iterchildren("{*}" + name), None)
    return value(node)


def value(node) -> str | None:
    """An element's text with runs of whitespace collapsed (None when there is none)."""
    if node is None:
        return None
    found = node.text
    if not found:
        return None
    # most values have nothing to collapse: the checks below are C scans that stop early
    # (str.isprintable() rejects every whitespace character but the ASCII space)
    if found.isprintable() and found[0] != " " and found[-1] != " " and "  " not in found:
        return found
    return " ".join(found.split()) or None


def child(el, *path: str):
    node = el
    for name in path:
        if node is None:
            return None
        node = next(node.iterchildren("{*}" + name), None)
    return node


@cache
def _any_of(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(map(_any, names))


def first_children(el) -> dict:
    """{local name: first child of that name}, in one pass over the children: what many
    `child(el, name)` calls on the same element would find, for the price of about one.
    (A plain walk over the children: lxml's tag matchers cost more to set up than a small
    element's children cost to read.)"""
    found: dict = {}
    if el is None:
        return found
    names = _LOCAL_NAMES  # local_name(), inlined: this loop visits most elements of a document
    for node in el:
        tag = node.tag
        name = names.get(tag)
        if name is None:
            name = local_name(tag)
        if name not in found:
            found[name] = node
    return found


def first_child(el, name: str):
    """`child(el, name)` for an element of a few children (an OKEI, a currency, a payment
    document): a plain walk that stops at the first match costs less than a tag matcher."""
    if el is None:
        return None
    names = _LOCAL_NAMES
    for node in el:
        tag = node.tag
        found = names.get(tag)
        if (found if found is not None else local_name(tag)) == name:
            return node
    return None


def first_descendant(el, names: tuple[str, ...]):
    """The first descendant (document order, `el` excluded) whose local name is in `names`,
    by a plain walk that stops there: for a small subtree (a code list, an OKEI), where
    setting up an lxml iterator costs more than the walk."""
    if el is None:
        return None
    local_names = _LOCAL_NAMES
    for node in el:
        tag = node.tag
        name = local_names.get(tag)
        if (name if name is not None else local_name(tag)) in names:
            return node
        if len(node):  # its descendants come before its next sibling
            found = first_descendant(node, names)
            if found is not None:
                return found
    return None


_LOCAL_NAMES: dict[str, str] = {}


def local_name(tag) -> str:
    """`local` for a node's tag, remembered: a corpus uses a few hundred tags. A processing
    instruction's tag (a function) has the name ""."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rpartition("}")[2] if isinstance(tag, str) else ""
        if len(_LOCAL_NAMES) < 100_000:  # a hostile corpus of made-up tags stays bounded
            _LOCAL_NAMES[tag] = name
    return name


def children(el, name: str) -> list:
    if el is None:
        return []
    return list(el.iterchildren(_any(name)))


def children_of(el, *names: str) -> list:
    """Children whose local name is one of `names`, in document order."""
    return list(el.iterchildren(*map(_any, names)))


def descendants(el, *names: str):
    """Descendants (document order, `el` itself excluded) whose local name is one of `names`."""
    return el.iterdescendants(*_any_of(names))


# What a handler reads under an element, in one call: `fields(el, specs)`, `rows(el, members,
# specs)`, `elements(el, specs)` (the elements the specs reach, for fields read under them),
# `child_elements(el, names)`. A spec names a path of local names (any namespace):
#     "a"        the first child <a>: its text (collapsed, as `value` reads it)
#     "a/b"      the first child <b> of the first child <a>
#     "a//x|y"   under the first child <a>, the first descendant (document order) <x> or <y>
#     "//x|y"    the first descendant <x> or <y> of the element itself
#     "a?"       whether the path's element exists (True/False)
# The functions below are the Python walk; `_xmlwalk` (survtrack/scrapers/_xmlwalk.pyx, built
# by `make env`) does the same in C over libxml2's nodes, making no Python object per element
# it passes, and is used when it is built (tests/test_eis_outputs.py checks both agree).
@cache
def _py_plan(specs: tuple[str, ...]) -> tuple:
    """(each spec as (plain child text?, first step, (step, steps before it) of the others,
    descendant names, presence), whether any has a step, every descendant name asked of the
    element itself)."""
    plan = []
    for spec in specs:
        text = spec[:-1] if spec.endswith("?") else spec
        path, slashes, below = text.partition("//")
        steps = tuple(s for s in path.split("/") if s) if path else ()
        desc = tuple(below.split("|")) if below else ()
        if (path and len(steps) != path.count("/") + 1) or (slashes and not below) or "" in desc:
            raise ValueError(f"bad spec {spec!r}")
        presence = spec.endswith("?")
        plan.append((len(steps) == 1 and not desc and not presence, steps[0] if steps else None,
                     tuple((step, steps[:i]) for i, step in enumerate(steps) if i), desc,
                     presence))
    groups = tuple(dict.fromkeys(desc for _, first, _, desc, _ in plan if first is None and desc))
    below_el = (tuple(dict.fromkeys(name for group in groups for name in group)), groups)
    return tuple(plan), any(first is not None for _, first, _, _, _ in plan), below_el


def _py_names(names: tuple[str, ...]) -> tuple[str, ...]:
    for plain, *_ in _py_plan(names)[0]:
        if not plain:
            raise ValueError(f"not a plain name in {names!r}")
    return names


def _py_fields_of(el, plan: tuple, nodes: bool = False) -> tuple:
    """What `plan`'s specs read under `el`; with `nodes`, the elements they reach instead."""
    specs, stepped, below_el = plan
    out = []
    top = first_children(el) if stepped else None  # one walk over the children for all
    kids: dict = {(): top}  # steps -> first_children of the element there
    below = _first_below(el, *below_el) if below_el[1] and el is not None else None
    for plain, first, steps, desc, presence in specs:
        if plain:
            out.append(top.get(first) if nodes else value(top.get(first)))
            continue
        node = top.get(first) if first is not None else el
        if node is None:
            out.append(False if presence else None)
            continue
        for step, path in steps:  # path: the steps before this one
            if node is None:
                break
            found = kids.get(path)
            if found is None:
                found = kids[path] = first_children(node)
            node = found.get(step)
        if desc:
            if first is not None:  # a small subtree (a code list, an OKEI): a plain walk
                node = first_descendant(node, desc)
            else:
                node = below.get(desc)
        out.append(node is not None if presence else node if nodes else value(node))
    return tuple(out)


def _first_below(el, names: tuple[str, ...], groups: tuple[tuple[str, ...], ...]) -> dict:
    """{group of names: the first descendant of `el` (document order) named one of them}, in
    one pass of lxml's tag matcher over `names` (the other elements are skipped in C), which
    stops once every group has its element."""
    found: dict = {}
    pending = len(groups)
    local_names = _LOCAL_NAMES
    for node in el.iterdescendants(*_any_of(names)):
        tag = node.tag
        name = local_names.get(tag)
        if name is None:
            name = local_name(tag)
        for group in groups:
            if name in group and group not in found:
                found[group] = node
                pending -= 1
        if not pending:
            break
    return found


def py_fields(el, specs: tuple[str, ...]) -> tuple:
    """What each spec reads under `el`, as a tuple (for `el` None: None, or False)."""
    return _py_fields_of(el, _py_plan(specs))


def py_rows(el, members: tuple[str, ...], specs: tuple[str, ...]) -> list[tuple]:
    """`fields(child, specs)` for each child of `el` named one of `members`, in order."""
    plan = _py_plan(specs)
    wanted = _py_names(members)
    if el is None:
        return []
    return [_py_fields_of(node, plan) for node in el.iterchildren(*_any_of(wanted))]


def py_elements(el, specs: tuple[str, ...]) -> tuple:
    """The element each spec (not a presence) reaches under `el`, or None."""
    plan = _py_plan(specs)
    for spec, (_, _, _, _, presence) in zip(specs, plan[0]):
        if presence:
            raise ValueError(f"a presence asks for no element: {spec!r}")
    if el is None:
        return (None,) * len(specs)
    return _py_fields_of(el, plan, nodes=True)


def py_child_elements(el, names: tuple[str, ...]) -> tuple:
    """The first child of `el` named each of `names` (an element), or None."""
    _py_names(names)
    found = first_children(el)
    return tuple(found.get(name) for name in names)


def _compiled():
    """survtrack/scrapers/_xmlwalk, unless SURVTRACK_XMLWALK=python or it is not built."""
    import os

    if os.environ.get("SURVTRACK_XMLWALK") == "python":
        return None
    import warnings

    try:
        from survtrack.scrapers import _xmlwalk
    except Exception as exc:  # not built (ImportError), or built against another lxml
        warnings.warn(f"survtrack: the C walk of XML trees is not built ({exc}): the EIS parser"
                      " walks trees in Python (same results, slower); `make env` builds it",
                      RuntimeWarning, stacklevel=2)
        return None
    missing = [name for name in _WALK if not hasattr(_xmlwalk, name)]
    if missing:  # built from an older _xmlwalk.pyx (a checkout moved on without `make env`)
        warnings.warn(f"survtrack: the C walk of XML trees was built from an older source (no"
                      f" {', '.join(missing)}): the EIS parser walks trees in Python (same"
                      " results, slower); `make env` builds it again", RuntimeWarning,
                      stacklevel=2)
        return None
    return _xmlwalk


_WALK = ("fields", "rows", "elements", "child_elements", "declares_dtd")


_xmlwalk = _compiled()
COMPILED = _xmlwalk is not None
fields = _xmlwalk.fields if COMPILED else py_fields
rows = _xmlwalk.rows if COMPILED else py_rows
elements = _xmlwalk.elements if COMPILED else py_elements
child_elements = _xmlwalk.child_elements if COMPILED else py_child_elements
