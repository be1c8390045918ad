"""The EIS parser's output, document by document, stays what it was when it was recorded.

Every EIS document of ../shared/data/eis, ../shared/data/outside/eis and tests/fixtures/eis
is parsed on its own (read whole, and streamed as a big file would be); everything the parser
says of it — each table's rows in the order emitted, the document's kind, detail, URL and
contract-bearing flag, its partial rejections, or the rejection of the whole — is reduced to
one SHA-256 per table and compared with tests/data/eis_parser_outputs.json. The field-by-field
tests (test_eis.py) say the values are right; this one says a faster parser changed nothing.

After a deliberate change of the parser's output, record it again and review the diff:
    .venv/bin/python tests/test_eis_outputs.py --record
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import SHARED  # noqa: E402

from survtrack.scrapers import eis  # noqa: E402
from survtrack.warehouse.protocol import Document, Rejected, RowBuffer  # noqa: E402

RECORDED = ROOT / "tests" / "data" / "eis_parser_outputs.json"
FOLDERS = {"eis": SHARED / "eis", "outside/eis": SHARED / "outside" / "eis",
           "fixtures/eis": ROOT / "tests" / "fixtures" / "eis",
           "fixtures/eis_lookups": ROOT / "tests" / "fixtures" / "eis_lookups"}


def documents() -> dict[str, Path]:
    return {f"{label}/{p.relative_to(folder).as_posix()}": p
            for label, folder in FOLDERS.items() for p in sorted(folder.rglob("*.xml"))}


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, default=str, ensure_ascii=False,
                                     sort_keys=True).encode()).hexdigest()


def outputs(path: Path, streaming: bool) -> dict[str, str]:
    """{table: digest of its rows, "document": digest of what is said of the document}."""
    ctx = RowBuffer(Document("doc", "eis", path.name, path, path.stat().st_size))
    try:
        eis._parse_streaming(ctx) if streaming else eis.parse(ctx)
    except Rejected as exc:
        return {"rejected": _digest([exc.reason, exc.field])}
    out = {table: _digest(rows) for table, rows in sorted(ctx.rows.items()) if rows}
    out["document"] = _digest([ctx.kind, ctx.detail, ctx.contract_bearing, ctx.url,
                               [[r.reason, r.field] for r in ctx.part_rejects]])
    return out


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
def test_every_eis_document_parses_as_recorded(streaming):
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    docs = documents()
    assert docs.keys() == recorded.keys(), (
        "documents added or gone since the outputs were recorded: record them again"
        " (see this module's docstring)")
    changed = {name: sorted(k for k in outputs(path, streaming).items() ^ recorded[name].items())
               for name, path in docs.items()
               if outputs(path, streaming) != recorded[name]}
    assert not changed, f"parser output changed: {changed}"


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    result = {name: outputs(path, streaming=False) for name, path in documents().items()}
    RECORDED.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {len(result)} documents in {RECORDED}")
