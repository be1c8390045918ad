"""JSON that cannot exhaust memory or crash the process, whatever its bytes (as xmlsafe for XML).

Two hazards of streaming JSON readers, measured on ijson 3.6 (yajl2_c backend):
- nesting: `ijson.parse`/`items` build a prefix string per event, so memory grows with the
  square of the depth (20,000 levels took 970 MB; 100,000 levels 16 GB);
- long integers: an integer of more than 4,300 digits makes the C backend crash the process
  (Python's int conversion limit raises inside a callback that does not check for it).

`Guard` wraps the byte stream a parser reads and scans every chunk before the parser sees it,
with numpy over the structural bytes only (quotes and brackets, string-aware): nesting depth,
length of a number token, length of a string, and size of the current *part* (a value at
`part_depth`, e.g. one release of a package). A violation raises `LimitExceeded` naming the
byte offset; the bytes before the offending part are handed to the parser first, so every
part before it is read. `Guard.resume()` then skips the offending part by scanning alone (no
parser, constant memory) and returns a stream that continues the document after it, so a bad
release costs only itself. `check(data)` applies the same limits to bytes in memory (one JSON
Lines line, an HTTP body); `loads(data)` checks, then parses with the standard library
(amounts as Decimal), and any faster parser can be put behind `check` the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import BinaryIO

import numpy as np
import orjson

CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    """Bounds on one JSON document; each is far beyond what real publishers produce."""

    max_depth: int = 64                 # OCDS releases nest ~8 deep, records ~12
    max_number_chars: int = 100         # a number token: digits, sign, point, exponent
    max_string_bytes: int = 16 * 1024**2
    max_part_bytes: int = 64 * 1024**2  # one release or record (~10x this in memory, at worst)


DEFAULT = Limits()


class LimitExceeded(ValueError):
    """The document breaks a bound; `part_start` is set when the offending part can be skipped."""

    def __init__(self, reason: str, offset: int, part_start: int | None = None):
        super().__init__(f"{reason} (at byte {offset})")
        self.reason, self.offset, self.part_start = reason, offset, part_start


# byte -> 1 quote, 2 opening bracket, 3 closing bracket, 0 anything else
_KIND = np.zeros(256, np.int8)
_KIND[ord('"')] = 1
_KIND[[ord("["), ord("{")]] = 2
_KIND[[ord("]"), ord("}")]] = 3
_STEP = np.array([0, 0, 1, -1], np.int64)


class Guard:
    """A binary stream (read-only) that enforces `limits` on what passes through it.

    `part_depth` is the depth at which parts sit (0: each top-level value; 1: the items of a
    top-level array; 2: the releases of a package); None while it is not known yet, when any
    violation is fatal. Depth counts open containers: inside the top-level object it is 1.
    """

    def __init__(self, raw: BinaryIO, limits: Limits = DEFAULT, part_depth: int | None = None,
                 offset: int = 0):
        self.raw, self.limits, self.part_depth = raw, limits, part_depth
        self.offset = offset       # file offset of the next byte read from `raw`
        self.depth = 0
        self.in_string = False
        self.escaped = False       # the last chunk ended with an unpaired backslash
        self.string_start = 0
        self.number_tail = b""     # a number token cut by the chunk boundary
        self.part_open = 0         # file offset where the part open now began
        self.blank = True          # nothing but whitespace read so far
        self._pending: LimitExceeded | None = None
        self._rest = b""           # bytes of the tripping chunk after the delivered ones

    # -- the stream interface a parser sees -------------------------------------------------
    def read(self, size: int = -1) -> bytes:
        if self._pending is not None:
            raise self._pending
        if size == 0:  # parsers probe the stream's type with read(0)
            return b""
        chunk = self.raw.read(size if size and size > 0 else CHUNK)
        if not chunk:
            return chunk
        self.blank = self.blank and not chunk.strip()
        start = self.offset
        self.offset += len(chunk)
        try:
            self._scan(chunk, start, enforce=True)
        except LimitExceeded as exc:
            self._trip_exc, self._chunk, self._chunk_start = exc, chunk, start
            # hand over what comes before the offending part (or byte) first, so the parser
            # yields every part before it; raise at the next read
            cut = exc.part_start if exc.part_start is not None else exc.offset
            if cut <= start:
                raise
            self._pending = exc
            return chunk[:cut - start]
        return chunk

    # -- skipping the offending part --------------------------------------------------------
    def resume(self, opening: bytes = b"") -> Guard:
        """After a LimitExceeded inside a part: scan (without parsing) to the end of that part
        and return a new Guard reading `opening` + what follows the part. Parsers restart on
        it; `opening` rebuilds the path to the parts (e.g. b'{"releases":[null')."""
        exc = self._trip_exc
        depth = self.part_depth
        assert depth is not None and exc.part_start is not None
        # rescan the tripping chunk from the part's start, then further chunks, limits off
        self.depth, self.in_string, self.escaped, self.number_tail = self._state_at_trip
        chunk, start = self._chunk, self._chunk_start
        if exc.part_start >= start:  # start at the part itself: depth part_depth, no string
            self.depth, self.in_string, self.escaped = depth, False, False
            chunk, start = chunk[exc.part_start - start:], exc.part_start
        while True:
            end = self._scan(chunk, start, enforce=False, stop_at=depth)
            if end is not None:
                rest, offset = chunk[end + 1 - start:], end + 1
                break
            start += len(chunk)
            chunk = self.raw.read(CHUNK)
            if not chunk:  # the document ends inside the part: the parser will say so
                rest, offset = b"", start
                break
        return Guard(_Chain(opening + rest, self.raw), self.limits, depth,
                     offset=offset - len(opening))

    # -- the scan ---------------------------------------------------------------------------
    def _scan(self, chunk: bytes, start: int, enforce: bool,
              stop_at: int | None = None) -> int | None:
        """Advance the state over `chunk` (file offset `start`). With `enforce`, raise
        LimitExceeded on the first violation. With `stop_at`, return the offset of the first
        closing bracket that brings the depth back to `stop_at` (and stop there)."""
        self._state_at_trip = (self.depth, self.in_string, self.escaped, self.number_tail)
        text = chunk
        if self.escaped:  # the first byte is escaped by the previous chunk's backslash
            text = b"_" + text[1:]
        # escape sequences only matter for quotes; same-length replacement keeps offsets
        text = text.replace(b"\\\\", b"__").replace(b'\\"', b"__")
        escaped = text.endswith(b"\\")
        kinds = _KIND[np.frombuffer(text, np.uint8)]
        pos = np.flatnonzero(kinds)
        kind = kinds[pos]
        quote = kind == 1
        inside = ((np.cumsum(quote, dtype=np.int64) + self.in_string) & 1).astype(bool)
        step = np.where(inside | quote, 0, _STEP[kind])
        depths = self.depth + np.cumsum(step, dtype=np.int64)
        opens = (kind == 2) & (step != 0)
        start_open = self.part_open
        if stop_at is not None:
            hit = np.flatnonzero((kind == 3) & (step != 0) & (depths == stop_at))
            if hit.size:
                self.depth, self.in_string, self.escaped = stop_at, False, False
                return start + int(pos[hit[0]])
        if enforce:
            scan = _Scan(self, start, len(chunk), pos + start, depths, opens)
            lim = self.limits
            if depths.size and int(depths.max()) > lim.max_depth:
                i = int(np.argmax(depths > lim.max_depth))
                scan.fail(f"nested deeper than {lim.max_depth} levels", int(pos[i]) + start)
            scan.strings(pos[quote] + start, inside[quote])
            scan.numbers(text, inside)
        if self.part_depth is not None:  # where the part open at the end began
            at = np.flatnonzero(opens & (depths == self.part_depth + 1))
            if at.size:
                self.part_open = start + int(pos[at[-1]])
        opened = np.flatnonzero(quote & inside)
        if opened.size:
            self.string_start = start + int(pos[opened[-1]])
        tail = len(text) - len(text.rstrip(_NUMBER))
        if depths.size:
            self.depth = int(depths[-1])
            self.in_string = bool(inside[-1])
        self.number_tail = text[len(text) - tail:] if tail and not self.in_string else b""
        self.escaped = escaped
        if enforce and self.part_depth is not None:
            scan.parts(kind, step, start_open)
        return None


@dataclass
class _Scan:
    """One chunk's structural arrays, for locating a violation and the part it lies in."""

    guard: Guard
    start: int
    size: int
    pos: np.ndarray      # file offsets of quotes and brackets
    depths: np.ndarray   # depth after each of them
    opens: np.ndarray    # which of them open a container

    def fail(self, reason: str, offset: int):
        g, p = self.guard, self.guard.part_depth
        part = None
        i = int(np.searchsorted(self.pos, offset, side="right")) - 1
        depth = int(self.depths[i]) if i >= 0 else g.depth
        if p is not None and depth > p:
            began = np.flatnonzero(self.opens[:i + 1] & (self.depths[:i + 1] == p + 1))
            part = int(self.pos[began[-1]]) if began.size else g.part_open
        raise LimitExceeded(reason, offset, part)

    def parts(self, kind: np.ndarray, step: np.ndarray, carried: int) -> None:
        """Every part closed in this chunk, and the one still open, within max_part_bytes."""
        g, p, cap = self.guard, self.guard.part_depth, self.guard.limits.max_part_bytes
        starts = self.pos[self.opens & (self.depths == p + 1)]
        ends = self.pos[(kind == 3) & (step != 0) & (self.depths == p)]
        before = int(self.depths[0] - step[0]) if self.depths.size else g.depth
        if before > p:  # the chunk began inside a part
            starts = np.concatenate(([carried], starts))
        if starts.size > ends.size:  # one still open at the end of the chunk
            ends = np.concatenate((ends, [self.start + self.size]))
        if starts.size:
            sizes = ends - starts
            if int(sizes.max()) > cap:
                j = int(np.argmax(sizes > cap))
                raise LimitExceeded(f"a value larger than {cap} bytes",
                                    int(starts[j]) + cap, int(starts[j]))

    def strings(self, quotes: np.ndarray, opening: np.ndarray) -> None:
        cap = self.guard.limits.max_string_bytes
        starts = quotes[opening]
        ends = quotes[~opening]
        if self.guard.in_string:  # the first quote closes the string carried over
            starts = np.concatenate(([self.guard.string_start], starts))
        n = min(starts.size, ends.size)
        if n:
            lengths = ends[:n] - starts[:n]
            if int(lengths.max()) > cap:
                self.fail(f"a string longer than {cap} bytes",
                          max(int(starts[int(np.argmax(lengths > cap))]), self.start))
        if starts.size > n and self.start + self.size - int(starts[-1]) > cap:
            self.fail(f"a string longer than {cap} bytes", max(int(starts[-1]), self.start))

    def numbers(self, text: bytes, inside: np.ndarray) -> None:
        """Number tokens (runs of -+.eE0-9 outside strings) within max_number_chars, and
        exponents within 6 digits; found with bytes.find over a translated copy (fast)."""
        cap = self.guard.limits.max_number_chars
        tail = self.guard.number_tail
        runs = (tail + text).translate(_NUMBER_CHARS)
        for at in _finds(runs, b"1" * (cap + 1)):
            at = self.start + at - len(tail)
            if at < self.start or not self._in_string(at, inside):
                self.fail(f"a number longer than {cap} characters", max(at, self.start))
        marks = text.translate(_EXPONENT_CHARS)
        for pattern in (b"1e1111111", b"1e+1111111"):  # a mantissa digit, e, 7 digits
            for at in _finds(marks, pattern):
                if not self._in_string(self.start + at, inside):
                    self.fail("a number with an exponent of more than 6 digits", self.start + at)

    def _in_string(self, offset: int, inside: np.ndarray) -> bool:
        i = int(np.searchsorted(self.pos, offset, side="right")) - 1
        return bool(inside[i]) if i >= 0 else self.guard.in_string


def _finds(data: bytes, pattern: bytes):
    at = data.find(pattern)
    while at >= 0:
        yield at
        at = data.find(pattern, at + len(pattern))


_NUMBER = b"-+.eE0123456789"
_NUMBER_CHARS = bytes(ord("1") if i in _NUMBER else ord("0") for i in range(256))
_EXPONENT_CHARS = bytes(ord("1") if chr(i) in "0123456789." else ord("e") if i in b"eE"
                        else ord("+") if i in b"+-" else ord("0") for i in range(256))


@dataclass
class _Chain:
    """`head` bytes, then the rest of `raw`."""

    head: bytes
    raw: BinaryIO

    def read(self, size: int = -1) -> bytes:
        if self.head:
            size = len(self.head) if size is None or size < 0 else size
            out, self.head = self.head[:size], self.head[size:]
            return out
        return self.raw.read(size)


# -- bytes in memory -----------------------------------------------------------------------
def check(data: bytes, limits: Limits = DEFAULT) -> None:
    """Raise LimitExceeded if `data` (one JSON text) breaks a bound."""
    if len(data) > limits.max_part_bytes:
        raise LimitExceeded(f"a value larger than {limits.max_part_bytes} bytes", 0)
    Guard(None, limits)._scan(data, 0, enforce=True)  # type: ignore[arg-type]


def loads(data: bytes | str, limits: Limits = DEFAULT):
    """Parse one JSON text within the limits; numbers with a point as Decimal.

    Raises ValueError (json.JSONDecodeError or LimitExceeded) for anything else."""
    raw = data.encode() if isinstance(data, str) else data
    check(raw, limits)
    try:
        return json.loads(raw, parse_float=Decimal)
    except RecursionError:  # cannot happen within max_depth, kept as a last line
        raise LimitExceeded("nested too deep to parse", 0) from None


# Bytes mapped so that a number's digits and point read "0" and an exponent's letter "e":
# 16 "0"s in a row, or "0e", is where a double may not hold a number as written (also met
# inside strings, which only costs the exact path). C-speed: translate, then two searches.
_NUMBER_SHAPE = bytes(ord("0") if c in b"0123456789." else ord("e") if c in b"eE"
                      else ord(" ") for c in range(256))
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')
_STRING = re.compile(rb'"[^"]*"')
_INNERMOST = re.compile(rb"\[\]|\{\}")


def loads_fast(data: bytes, limits: Limits = DEFAULT):
    """`loads` by orjson where it gives the same value, the numbers aside: those with a
    fraction come as float, not Decimal, and only where a double holds them exactly as
    written (at most 15 digits, no exponent), so that anything written from them again is
    what `loads` would give. Within the same bounds: the line's nesting is measured (strings
    removed, innermost brackets removed a level at a time) and a line as long as the longest
    string allowed goes the exact way. Anything else, and anything orjson refuses, is
    `loads`'s, which words the reason as ever. (orjson: ~20× the standard library.)"""
    raw = data.encode() if isinstance(data, str) else data
    if (len(raw) < limits.max_string_bytes and not _inexact(raw)
            and _nested_within(raw, limits.max_depth)):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return loads(raw, limits)


def _inexact(raw: bytes) -> bool:
    shape = raw.translate(_NUMBER_SHAPE)
    return b"0" * 16 in shape or b"0e" in shape


def _nested_within(raw: bytes, max_depth: int) -> bool:
    """Whether the brackets of `raw` (outside strings) balance within `max_depth` levels.
    Escaped backslashes, then escaped quotes, go first (JSON escapes pair left to right), so
    every quote left opens or closes a string."""
    bare = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    brackets = _STRING.sub(b"", bare)
    for _ in range(max_depth):
        if not brackets:
            return True
        brackets, removed = _INNERMOST.subn(b"", brackets)
        if not removed:  # unbalanced or crossed: the exact path says what is wrong
            return False
    return not brackets
