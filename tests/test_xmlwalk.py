"""The C walk of lxml trees (survtrack/scrapers/_xmlwalk.pyx, built by `make env`) reads what
the Python walk (xmlsafe.py's `py_fields`, `py_rows`, `py_child_elements`) reads: the same
primitives on made-up trees, and the EIS parser's whole output on every real EIS document
parsed both ways. Without the built module the parser uses the Python walk, and says so."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED
from lxml import etree
from test_eis_outputs import outputs

from survtrack.scrapers import xmlsafe

ROOT = Path(__file__).resolve().parents[1]
BUILT = xmlsafe._xmlwalk
needs_built = pytest.mark.skipif(BUILT is None, reason="the C walk is not built (make env)")

TREE = """<?xml version="1.0" encoding="UTF-8"?>
<r xmlns="urn:a" xmlns:b="urn:b">
  <a>  x \t y\n </a><b:a>second</b:a><b:n>в пространстве b</b:n>
  <c><d><e>deep</e><code>first code</code></d><code>k</code><?code not an element?></c>
  <f><![CDATA[ cdata ]]> and text <g>child</g> tail</f>
  <empty/><blank>   </blank><nbsp>\u00a0a\u2003\u2003b\u3000</nbsp><dash>a \u2014 b\u00ab\u00bb</dash>
  <item><name>one</name><price>1.00</price></item>
  <other><name>not a member</name></other>
  <b:item><name> two  </name><okei><x><nationalCode>ШТ</nationalCode></x></okei></b:item>
</r>"""

SPECS = (
    "a",
    "n",
    "c//e",
    "c//code|e",
    "c//code",
    "c/d/e",
    "c/code",
    "c/d/code",
    "//code",
    "//e|code",
    "//nationalCode|name",
    "empty?",
    "empty",
    "blank",
    "blank?",
    "f",
    "nbsp",
    "dash",
    "missing",
    "missing?",
    "c/missing?",
    "c/d?",
    "c//missing",
    "item/name",
    "item/okei//nationalCode",
    "f/g",
)


def _walks():
    yield "python", xmlsafe.py_fields, xmlsafe.py_rows, xmlsafe.py_child_elements
    if BUILT is not None:
        yield "c", BUILT.fields, BUILT.rows, BUILT.child_elements


def test_the_python_walk_reads_what_the_specs_say():
    root = etree.fromstring(TREE.encode())
    got = dict(zip(SPECS, xmlsafe.py_fields(root, SPECS)))
    assert got == {
        "a": "x y",
        "n": "в пространстве b",
        "c//e": "deep",
        "c//code|e": "deep",
        "c//code": "first code",
        "c/d/e": "deep",
        "c/code": "k",
        "c/d/code": "first code",
        "//code": "first code",
        "//e|code": "deep",
        "//nationalCode|name": "one",
        "empty?": True,
        "empty": None,
        "blank": None,
        "blank?": True,
        "f": "cdata and text",
        "nbsp": "a b",
        "dash": "a \u2014 b\u00ab\u00bb",
        "missing": None,
        "missing?": False,
        "c/missing?": False,
        "c/d?": True,
        "c//missing": None,
        "item/name": "one",
        "item/okei//nationalCode": None,
        "f/g": "child",
    }
    assert xmlsafe.py_rows(root, ("item",), ("name", "okei//nationalCode", "price?")) == [
        ("one", None, True),
        ("two", "ШТ", False),
    ]
    assert xmlsafe.py_fields(None, ("a", "a?")) == (None, False)
    assert xmlsafe.py_rows(None, ("item",), ("name",)) == []
    assert xmlsafe.py_child_elements(None, ("a",)) == (None,)
    found = xmlsafe.py_elements(root, ("c//e", "//nationalCode|name", "missing", "c/d"))
    assert [e is not None and (xmlsafe.local(e.tag), e.text) for e in found] == [
        ("e", "deep"), ("name", "one"), False, ("d", None)
    ]
    assert xmlsafe.py_elements(None, ("a",)) == (None,)


@needs_built
def test_the_c_walk_reads_what_the_python_walk_reads():
    root = etree.fromstring(TREE.encode())
    assert BUILT.fields(root, SPECS) == xmlsafe.py_fields(root, SPECS)
    for members, specs in (
        (("item",), ("name", "okei//nationalCode", "price?")),
        (("item", "other"), ("name", "//nationalCode|name", "x?")),
        (("nothing",), ("name",)),
    ):
        assert BUILT.rows(root, members, specs) == xmlsafe.py_rows(root, members, specs)
    names = ("c", "missing", "a", "item", "n")
    c_found, py_found = BUILT.child_elements(root, names), xmlsafe.py_child_elements(root, names)
    assert [e is not None and (e.tag, e.sourceline) for e in c_found] == [
        e is not None and (e.tag, e.sourceline) for e in py_found
    ]
    assert c_found[0].getparent() is root  # a real lxml element of the same tree
    reach = tuple(spec for spec in SPECS if not spec.endswith("?"))
    c_found, py_found = BUILT.elements(root, reach), xmlsafe.py_elements(root, reach)
    assert [e is not None and root.getroottree().getpath(e) for e in c_found] == [
        e is not None and root.getroottree().getpath(e) for e in py_found
    ]
    assert [xmlsafe.value(e) for e in c_found] == list(BUILT.fields(root, reach))
    assert BUILT.elements(None, ("a", "//b")) == (None, None)
    assert BUILT.fields(None, ("a", "a?")) == (None, False)
    assert BUILT.rows(None, ("item",), ("name",)) == []
    assert BUILT.child_elements(None, ("a",)) == (None,)


@needs_built
def test_the_c_walk_collapses_whitespace_as_python_does():
    """Every whitespace character `str.split()` knows (ASCII and Unicode), and characters
    sharing their UTF-8 lead bytes that are not whitespace, in random runs."""
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace() and (c >= 0x20 or c in (9, 10))]
    pool = spaces + list("ab щ—«»\u200b\u2116\u2030\u205e\u1681\xa1\u3001") + ["  ", "\n \n"]
    rng = random.Random(13)
    for _ in range(5000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
        root = etree.Element("r")
        etree.SubElement(root, "a").text = text
        assert (
            BUILT.fields(root, ("a",))
            == xmlsafe.py_fields(root, ("a",))
            == (" ".join(text.split()) or None,)
        ), repr(text)


@pytest.mark.parametrize("walk", ["python", "c"])
def test_specs_that_name_no_path_are_refused(walk):
    found = {
        name: (fields, rows, child_elements) for name, fields, rows, child_elements in _walks()
    }
    if walk not in found:
        pytest.skip("the C walk is not built (make env)")
    fields, rows, child_elements = found[walk]
    root = etree.fromstring(b"<r><a/></r>")
    for bad in ("a//", "//", "a//x|", "a//|x", "/a", "a/"):
        with pytest.raises(ValueError):
            fields(root, (bad,))
    for bad in ("a/b", "//a", "a?"):
        with pytest.raises(ValueError):
            rows(root, (bad,), ("a",))
        with pytest.raises(ValueError):
            child_elements(root, (bad,))
    elements = xmlsafe.py_elements if walk == "python" else BUILT.elements
    for bad in ("a?", "a//", "//x?"):
        with pytest.raises(ValueError):
            elements(root, (bad,))


def _documents() -> dict[str, Path]:
    return {
        f"{label}/{p.name}": p
        for label, folder in (("eis", SHARED / "eis"), ("outside/eis", SHARED / "outside" / "eis"))
        for p in sorted(folder.glob("*.xml"))
    }


def _outputs_both_ways() -> dict[str, list]:
    return {
        name: [outputs(path, streaming=False), outputs(path, streaming=True)]
        for name, path in _documents().items()
    }


def _python_walk_outputs() -> dict[str, list]:
    """The parser's outputs with the Python walk (SURVTRACK_XMLWALK=python), in a process of
    its own."""
    env = {**os.environ, "SURVTRACK_XMLWALK": "python", "SURVTRACK_SHARED_DATA": str(SHARED)}
    done = subprocess.run(
        [sys.executable, __file__, "--outputs"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@needs_built
def test_the_parser_gives_the_same_rows_with_either_walk():
    """Every EIS document of ../shared/data/eis and ../shared/data/outside/eis, read whole and
    streamed: each table's rows, what is said of the document, its rejections."""
    assert xmlsafe.fields is BUILT.fields  # this process parses with the C walk
    compiled = _outputs_both_ways()
    assert len(compiled) >= 20
    python = _python_walk_outputs()
    assert compiled.keys() == python.keys()
    differ = [name for name in compiled if compiled[name] != python[name]]
    assert not differ, f"the two walks disagree on {differ}"


def test_without_the_built_walk_the_parser_warns_once_and_parses():
    script = """
import sys, warnings
sys.modules["survtrack.scrapers._xmlwalk"] = None  # as if the build had failed
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from survtrack.scrapers import xmlsafe
    from survtrack.scrapers import eis
sys.path.insert(0, "tests")
from test_eis_outputs import outputs
from pathlib import Path
print(xmlsafe.COMPILED, xmlsafe.fields is xmlsafe.py_fields,
      sum("C walk of XML trees is not built" in str(w.message) for w in caught))
print(sorted(outputs(Path(sys.argv[1]), streaming=False)))
"""
    contract = SHARED / "eis" / "fz44_contract_v6.3_voronezh_2366200608816001262.xml"
    env = {k: v for k, v in os.environ.items() if k != "SURVTRACK_XMLWALK"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(contract)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**env, "SURVTRACK_SHARED_DATA": str(SHARED)},
    )
    flags, tables = done.stdout.splitlines()
    assert flags == "False True 1"
    assert "items" in tables and "contracts" in tables


if __name__ == "__main__" and sys.argv[1:] == ["--outputs"]:
    print(json.dumps(_outputs_both_ways()))


def test_a_walk_built_from_an_older_source_is_not_used():
    """A checkout that moved on without `make env` keeps an extension lacking newer calls:
    the parser warns and walks in Python instead of failing at import."""
    script = """
import sys, types, warnings
stale = types.ModuleType("survtrack.scrapers._xmlwalk")
stale.fields = stale.rows = stale.child_elements = stale.declares_dtd = print  # no elements
sys.modules["survtrack.scrapers._xmlwalk"] = stale
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from survtrack.scrapers import xmlsafe
    from survtrack.scrapers import eis
print(xmlsafe.COMPILED, xmlsafe.elements is xmlsafe.py_elements,
      sum("built from an older source (no elements)" in str(w.message) for w in caught))
"""
    env = {k: v for k, v in os.environ.items() if k != "SURVTRACK_XMLWALK"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, check=True, env=env)
    assert done.stdout.split() == ["False", "True", "1"]
