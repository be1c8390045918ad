"""The price of jsonsafe's bounds: the OCDS reader (Guard + ijson) against bare ijson.items.

Writes a release package of N copies of a real ProZorro release (../shared/data) to a temp
file, then reads it with both, best of 3. Prints MB/s and the ratio.
    python bench/bench_jsonsafe.py [N=4000]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import ijson
from baseline import best, ratio

from survtrack.scrapers.ocds.reader import Reader

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ocds"


def main(n: int = 4000) -> None:
    release = json.loads((SHARED / "ua-prozorro_release_UA-2016-12-29-000657-c.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "package.json"
        with open(path, "w", encoding="utf-8") as out:
            out.write('{"uri":"bench","releases":[')
            for i in range(n):
                out.write(("," if i else "") + json.dumps({**release, "id": f"r{i}"},
                                                            ensure_ascii=False))
            out.write("]}")
        mb = path.stat().st_size / 1e6

        def bare():
            with open(path, "rb") as fh:
                assert sum(1 for _ in ijson.items(fh, "releases.item")) == n

        def guarded():
            assert sum(1 for _ in Reader(path)) == n

        base, ours = best(bare), best(guarded)
    print(f"{n} releases, {mb:.0f} MB: bare ijson.items {mb / base:.1f} MB/s,"
          f" guarded reader {mb / ours:.1f} MB/s")
    ratio("OCDS reader (jsonsafe)", ours, "bare ijson.items", base)


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
