"""OCDS files of every shape, read as a stream of releases and records.

Shapes: release package, record package, a bare release, a bare record, line-delimited JSON
(one of those per line), concatenated JSON and a top-level array of them. Packages are read
with `ijson.items` over `releases.item` / `records.item` behind a `jsonsafe.Guard`, so a
multi-GB package never sits in memory and a release breaking a bound (nesting, number or
string length, size) is skipped with a reason while the others load; JSON Lines are read
line by line with bounded lines, by orjson where it reads them as the standard library would
(`jsonsafe.loads_fast`), else `jsonsafe.loads`. Bounds: `jsonsafe.Limits`.
A file that is not valid UTF-8 is read as ISO-8859-1 (Mexico City's CDMX publishes so).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import InvalidOperation
from pathlib import Path

import ijson

from survtrack.scrapers import jsonsafe
from survtrack.scrapers.jsonsafe import CHUNK, Guard, LimitExceeded, Limits

READ_SIZE = 64 * 1024  # bytes per read: the Guard scans each read before ijson parses it
HEADER_EVENTS = 100_000
JSONL_PROBE = 4 * 1024**2  # a package's metadata (publisher, extensions…) is held whole
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
    limits: Limits = jsonsafe.DEFAULT

    def __iter__(self) -> Iterator[Part | Broken]:
        self.encoding = "utf-8" if _is_utf8(self.path) else "iso-8859-1"
        with open(self.path, "rb") as raw:
            skip = len(BOM) if raw.read(len(BOM)) == BOM else 0

            def fresh():
                raw.seek(skip)
                return raw if self.encoding == "utf-8" else _Latin1AsUtf8(raw)

            if _is_jsonl(fresh(), self.limits):
                self.shape = "jsonl"
                yield from self._lines(fresh())
            else:
                yield from self._stream(fresh)

    # -- line-delimited JSON: a bad line costs only itself -------------------------------------
    def _lines(self, fh) -> Iterator[Part | Broken]:
        cap = self.limits.max_part_bytes
        n = 0
        while line := fh.readline(cap + 1):
            n += 1
            if len(line) > cap and not line.endswith(b"\n"):
                while (more := fh.readline(CHUNK)) and not more.endswith(b"\n"):
                    pass  # the rest of the over-long line, read and dropped
                yield Broken(f"a line longer than {cap} bytes", f"line {n}")
                continue
            if not line.strip():
                continue
            try:
                value = jsonsafe.loads_fast(line, self.limits)
                if _fraction_read_as_text(value):
                    value = jsonsafe.loads(line, self.limits)
            except ValueError as exc:
                yield Broken(f"malformed JSON: {_short(exc)}", f"line {n}")
                continue
            yield from self._classify(value, f"line {n}", top=False)

    # -- everything else: the parts of the document, one at a time -----------------------------
    def _stream(self, fresh) -> Iterator[Part | Broken]:
        """Parts are read with ijson behind a jsonsafe.Guard. A part breaking a bound is
        skipped and reading goes on after it, from a synthetic opening that rebuilds the path
        to the parts (`{"releases":[null`), so a bad release costs only itself."""
        guard = Guard(fresh(), self.limits)
        try:
            array = self._peek(guard)
        except (ijson.JSONError, LimitExceeded, InvalidOperation) as exc:
            yield Broken(_reason(exc), "package header", fatal=True)
            return
        if array is None:  # top-level values: a bare release or record, concatenated JSON
            depth, prefix, opening = 0, "", b""
        elif array == "item":
            depth, prefix, opening = 1, "item", b"[null"
            self.shape = "array"
        else:
            depth, prefix, opening = 2, f"{array}.item", b'{"%s":[null' % array.encode()
            self.shape = {"records": "record_package", "releases": "release_package"}[array]
        guard = Guard(fresh(), self.limits, part_depth=depth)
        n, placeholder = 0, False
        while True:
            try:
                for obj in ijson.items(guard, prefix, multiple_values=True,
                                      buf_size=READ_SIZE):
                    if placeholder:  # the null standing for the part skipped
                        placeholder = False
                        continue
                    n += 1
                    yield from self._part(obj, array, n)
                break
            except LimitExceeded as exc:
                n += 1
                yield Broken(_reason(exc), self._where(array, n), fatal=exc.part_start is None)
                if exc.part_start is None:
                    return
                guard, placeholder = guard.resume(opening), bool(opening)
            except (ijson.JSONError, InvalidOperation) as exc:
                if array is None and guard.blank:  # nothing followed the part skipped
                    break
                yield Broken(_reason(exc), self._where(array, n + 1), fatal=True)
                return
        if array is None and n > 1:
            self.shape = "concatenated"

    def _where(self, array: str | None, n: int) -> str:
        if array is None:
            return f"value {n}" if n > 1 else "$"
        return f"{array}[{n}]"

    def _part(self, obj, array: str | None, n: int) -> Iterator[Part | Broken]:
        if array is None:
            yield from self._classify(obj, f"value {n}" if n > 1 else "", top=n == 1)
        elif array == "item":
            yield from self._classify(obj, f"item[{n}]", top=False)
        elif isinstance(obj, dict):
            yield Part("record" if array == "records" else "release", obj, f"{array}[{n}]")
        else:
            yield Broken(f"{array[:-1]} is a {type(obj).__name__}, not an object",
                         f"{array}[{n}]")

    def _peek(self, fh) -> str | None:
        """Read the package's header up to its releases/records array; return the array name
        ("item" for a top-level array, None for anything else)."""
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


TEXT_KEYS = ("ocid", "id", "date", "url", "uri", "publishedDate")


def _fraction_read_as_text(value) -> bool:
    """Whether a field read as text before the release is spooled (its ocid, id, date…, or
    those of the releases and records it holds) is a number with a fraction: orjson gives a
    float, whose text may differ from the number as written ("1.50" -> "1.5"), so the line is
    read again the exact way. (Real publishers write them as strings.)"""
    objs = list(value) if isinstance(value, list) else [value]
    while objs:
        obj = objs.pop()
        if not isinstance(obj, dict):
            continue
        if any(type(obj.get(k)) is float for k in TEXT_KEYS):
            return True
        for key in ("releases", "records"):
            if isinstance(obj.get(key), list):
                objs.extend(obj[key])
        if isinstance(obj.get("compiledRelease"), dict):
            objs.append(obj["compiledRelease"])
    return False


def _at(where: str, path: str) -> str:
    return f"{where}: {path}" if where else path


def _build(event, value, events):
    """Finish building the JSON value whose first event was (event, value); a header value
    of more than HEADER_EVENTS events is refused (it would be held whole)."""
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    if event not in ("start_map", "start_array"):
        return builder.value
    depth = 1
    for n, (_, ev, val) in enumerate(events):
        if n > HEADER_EVENTS:
            raise LimitExceeded(f"a package header value of more than {HEADER_EVENTS} parts", 0)
        builder.event(ev, val)
        if ev in ("start_map", "start_array"):
            depth += 1
        elif ev in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return builder.value
    return builder.value


def _is_jsonl(fh, limits: Limits) -> bool:
    """Line-delimited JSON: a whole object on the first line, and another object after it.
    (A first line over JSONL_PROBE bytes reads as concatenated values: the same parts.)"""
    line = fh.readline(JSONL_PROBE)
    if not line.strip().startswith(b"{") or not line.endswith(b"\n"):
        return False
    try:
        value = jsonsafe.loads(line, limits)
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


def _reason(exc: Exception) -> str:
    if isinstance(exc, LimitExceeded):
        return f"refused: {exc}"
    if isinstance(exc, InvalidOperation):
        return "malformed JSON: a number out of range"
    return f"malformed JSON: {_short(exc)}"


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]
