"""jsonsafe.Guard: the bounds hold at any read size, and parts are never misread.

Random documents whose strings hold quotes, backslashes and brackets are read through the
OCDS reader with reads of 1 to 1000 bytes (the Guard's chunk boundaries fall anywhere, in
escapes and in strings); one release per document breaks the depth bound. Every good release
must come back equal to what the standard library reads, the bad one as a reject."""

from __future__ import annotations

import json
import random
import re

import pytest

from survtrack.scrapers import jsonsafe
from survtrack.scrapers.jsonsafe import LimitExceeded, Limits
from survtrack.scrapers.ocds import reader
from survtrack.scrapers.ocds.reader import Broken, Reader

ALPHABET = ["a", "\\", '"', "[", "]", "{", "}", "é", " ", "1", "e", "\n"]


def text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))


def value(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth > 5 or r < 0.3:
        return rng.choice([text(rng), 1, -3, True, None])
    if r < 0.6:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {text(rng): value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


@pytest.mark.parametrize("seed", range(4))
def test_parts_read_exactly_at_any_chunk_boundary(seed, tmp_path, monkeypatch):
    rng = random.Random(seed)
    for _ in range(60):
        monkeypatch.setattr(reader, "READ_SIZE", rng.choice([1, 2, 3, 7, 64, 1000]))
        releases = [{"ocid": f"o{i}", "x": value(rng), text(rng): text(rng)}
                    for i in range(rng.randint(1, 6))]
        bad = rng.randrange(len(releases))
        texts = [json.dumps(r, ensure_ascii=rng.random() < 0.5) for r in releases]
        texts[bad] = '{"ocid":"bad","y":"[[\\\\","x":' + "[" * 70 + "]" * 70 + "}"
        path = tmp_path / "p.json"
        path.write_text('{"uri":"u","releases":[' + ",".join(texts) + "]}", encoding="utf-8")
        got = list(Reader(path, limits=Limits(max_depth=40)))
        assert [isinstance(p, Broken) for p in got] == [i == bad for i in range(len(releases))]
        for i, part in enumerate(got):
            if i != bad:
                assert part.obj == releases[i]
        assert "nested deeper than 40 levels" in got[bad].reason


def test_check_and_loads():
    assert jsonsafe.loads(b'{"a": [1.5, "x]"]}') == {"a": [jsonsafe.Decimal("1.5"), "x]"]}
    for data, reason in [(b"[" * 65 + b"]" * 65, "nested deeper than 64"),
                         (b"[" + b"1" * 101 + b"]", "a number longer than 100"),
                         (b'["' + b"1" * 101 + b'"]', None),  # digits in a string are text
                         (b"[1e1234567]", "exponent")]:
        if reason is None:
            jsonsafe.check(data)
        else:
            with pytest.raises(LimitExceeded, match=reason):
                jsonsafe.check(data)


def test_loads_fast_reads_as_loads_does(shared):
    """orjson (`loads_fast`) gives what `loads` gives, numbers aside, and those write out the
    same (the OCDS spool's `_number`); numbers a double may not hold as written, lines near
    a bound and malformed ones take the exact path and fail with its reason."""
    from survtrack.scrapers.ocds.compiling import _number

    def written(value) -> str:
        return json.dumps(value, default=_number, ensure_ascii=False, separators=(",", ":"))

    texts = [p.read_bytes() for p in sorted((shared / "ocds").glob("*.json"))] + [
        b'{"a":[1,2,{"b":"x[y\\"]"}],"c":-0.5,"d":100.10}', b'{"a":1e5}', b'{"a":NaN}',
        b'{"a":12345678.123456789}', b'[' * 64 + b']' * 64, b'[' * 65 + b']' * 65,
        b'{"a":1,}', b'{"a":[}', b'{"s":"\\ud800"}', b"[" + b"1" * 101 + b"]"]
    compared = 0
    for text in texts:
        try:
            exact = jsonsafe.loads(text)
        except ValueError as exc:
            with pytest.raises(type(exc), match=re.escape(str(exc))):
                jsonsafe.loads_fast(text)
            continue
        assert written(jsonsafe.loads_fast(text)) == written(exact)
        compared += 1
    assert compared >= 12
    assert jsonsafe.loads_fast(b'{"a":1.25}') == {"a": 1.25}  # orjson's float
    for inexact in (b'{"a":12345678.123456789}', b'{"a":1e5}', b'{"a":0.1234567890123456}'):
        assert isinstance(jsonsafe.loads_fast(inexact)["a"], jsonsafe.Decimal)
