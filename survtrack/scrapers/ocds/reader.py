"""OCDS files of every shape, read as a stream of releases and records.

Shapes: release package, record package, a bare release, a bare record, line-delimited JSON
(one of those per line), concatenated JSON and a top-level array of them. Files from
STREAM_FROM bytes up are read with `ijson.items` over `releases.item` / `records.item`, so a
multi-GB package never sits in memory; smaller files are read whole, value by value.
A file that is not valid UTF-8 is read as ISO-8859-1 (Mexico City's CDMX publishes so).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ijson

STREAM_FROM = 8 * 1024**2
JSONL_LINE_LIMIT = 16 * 1024**2
BOM = codecs.BOM_UTF8
RECORD_KEYS = ("compiledRelease", "versionedRelease")


@dataclass
class Part:
    """One release or record found in the file, and where."""

    kind: str  # release | record
    obj: dict
    where: str


@dataclass
class Broken:
    """A part that could not be read; `fatal` when reading cannot go on past it."""

    reason: str
    where: str
    fatal: bool = False


@dataclass
class Reader:
    path: Path
    shape: str | None = None  # release_package, record_package, release, record, jsonl, ...
    encoding: str = "utf-8"
    meta: dict = field(default_factory=dict)  # package metadata: uri, publishedDate, publisher

    def __iter__(self) -> Iterator[Part | Broken]:
        self.encoding = "utf-8" if _is_utf8(self.path) else "iso-8859-1"
        with open(self.path, "rb") as raw:
            skip = len(BOM) if raw.read(len(BOM)) == BOM else 0
            self._rewind = lambda: raw.seek(skip)
            self._rewind()
            fh = raw if self.encoding == "utf-8" else _Latin1AsUtf8(raw)
            jsonl = _is_jsonl(fh)
            self._rewind()
            if jsonl:
                self.shape = "jsonl"
                yield from self._lines(fh)
            elif self.path.stat().st_size >= STREAM_FROM:
                yield from self._stream(fh)
            else:
                yield from self._values(fh)

    # -- small files and concatenated JSON: value by value -------------------------------------
    def _values(self, fh) -> Iterator[Part | Broken]:
        n = 0
        try:
            for value in ijson.items(fh, "", multiple_values=True):
                n += 1
                yield from self._classify(value, f"value {n}" if n > 1 else "", top=n == 1)
        except ijson.JSONError as exc:
            yield Broken(f"malformed JSON: {_short(exc)}", f"value {n + 1}", fatal=True)
        if n > 1:
            self.shape = "concatenated"

    # -- line-delimited JSON: a bad line costs only itself -------------------------------------
    def _lines(self, fh) -> Iterator[Part | Broken]:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line, parse_float=_decimal)
            except ValueError as exc:
                yield Broken(f"malformed JSON: {exc}", f"line {n}")
                continue
            yield from self._classify(value, f"line {n}", top=False)

    # -- big packages: ijson.items over the releases or records array --------------------------
    def _stream(self, fh) -> Iterator[Part | Broken]:
        try:
            array = self._peek(fh)
        except ijson.JSONError as exc:
            yield Broken(f"malformed JSON: {_short(exc)}", "package header", fatal=True)
            return
        self._rewind()
        if array is None:  # not a package: read value by value (a huge bare record, say)
            yield from self._values(fh)
            return
        prefix = f"{array}.item" if array != "item" else "item"
        kind = "record" if array == "records" else "release"
        self.shape = {"records": "record_package", "releases": "release_package"}.get(array,
                                                                                      "array")
        n = 0
        try:
            for obj in ijson.items(fh, prefix, multiple_values=True):
                n += 1
                where = f"{array}[{n}]"
                if array == "item":
                    yield from self._classify(obj, where, top=False)
                elif isinstance(obj, dict):
                    yield Part(kind, obj, where)
                else:
                    yield Broken(f"{kind} is a {type(obj).__name__}, not an object", where)
        except ijson.JSONError as exc:
            yield Broken(f"malformed JSON: {_short(exc)}", f"{array}[{n + 1}]", fatal=True)

    def _peek(self, fh) -> str | None:
        """Read the package's header up to its releases/records array; return the array name."""
        events = ijson.parse(fh)
        for prefix, event, value in events:
            if prefix == "" and event == "start_array":
                return "item"
            if prefix == "" and event == "map_key":
                if value in RECORD_KEYS or value == "ocid":
                    return None
                _, event2, value2 = next(events)
                if value in ("releases", "records") and event2 == "start_array":
                    return value
                self.meta[value] = _build(event2, value2, events)
            elif prefix == "" and event == "end_map":
                return None
        return None

    # -- what a top-level value is ------------------------------------------------------------
    def _classify(self, value, where: str, top: bool) -> Iterator[Part | Broken]:
        if isinstance(value, list):
            if top:
                self.shape = "array"
            for i, item in enumerate(value, start=1):
                yield from self._classify(item, f"{where or 'item'}[{i}]", top=False)
            return
        if not isinstance(value, dict):
            yield Broken(f"a JSON {type(value).__name__}, not an OCDS object", where or "$")
            return
        records, releases = value.get("records"), value.get("releases")
        is_record = any(k in value for k in RECORD_KEYS) or (
            isinstance(releases, list) and "ocid" in value)
        if isinstance(records, list) or (isinstance(releases, list) and not is_record):
            array, kind = ("records", "record") if isinstance(records, list) else ("releases",
                                                                                   "release")
            if top or self.shape in (None, "jsonl", "concatenated"):
                self.meta = {k: v for k, v in value.items() if k != array}
            if top:
                self.shape = f"{kind}_package"
            for i, item in enumerate(value[array], start=1):
                if isinstance(item, dict):
                    yield Part(kind, item, _at(where, f"{array}[{i}]"))
                else:
                    yield Broken(f"{kind} is a {type(item).__name__}, not an object",
                                 _at(where, f"{array}[{i}]"))
        elif is_record:
            if top:
                self.shape = "record"
            yield Part("record", value, where or "record")
        elif "ocid" in value:
            if top:
                self.shape = "release"
            yield Part("release", value, where or "release")
        else:
            keys = ", ".join(sorted(value)[:8])
            yield Broken(f"not an OCDS release, record or package: no ocid (keys: {keys})",
                         where or "$")


def _at(where: str, path: str) -> str:
    return f"{where}: {path}" if where else path


def _build(event, value, events):
    """Finish building the JSON value whose first event was (event, value)."""
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    if event not in ("start_map", "start_array"):
        return builder.value
    depth = 1
    for _, ev, val in events:
        builder.event(ev, val)
        if ev in ("start_map", "start_array"):
            depth += 1
        elif ev in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return builder.value
    return builder.value


def _is_jsonl(fh) -> bool:
    """Line-delimited JSON: a whole object on the first line, and another object after it."""
    line = fh.readline(JSONL_LINE_LIMIT)
    if not line.strip().startswith(b"{") or not line.endswith(b"\n"):
        return False
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and fh.read(64).strip().startswith(b"{")


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        try:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


class _Latin1AsUtf8:
    """A binary file read as ISO-8859-1 and handed on as UTF-8 bytes."""

    def __init__(self, raw):
        self.raw = raw

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size).decode("iso-8859-1").encode("utf-8")

    def readline(self, limit: int = -1) -> bytes:
        return self.raw.readline(limit).decode("iso-8859-1").encode("utf-8")

    def __iter__(self):
        for line in self.raw:
            yield line.decode("iso-8859-1").encode("utf-8")


def _decimal(text: str):
    from decimal import Decimal

    return Decimal(text)


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]
