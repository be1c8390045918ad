"""Parsing a document apart from any warehouse: what an ingest worker process runs.

Kept apart from store.py so that a worker imports neither DuckDB nor pyarrow (a second of
start-up each, paid by every worker process of every ingest).
"""

from __future__ import annotations

from . import faults
from .protocol import Document, Parser, Rejected, RowBuffer


def parse_alone(doc: Document, parse: Parser) -> RowBuffer | Rejected:
    """Parse one document into its rows without touching the warehouse (so it may run in a
    worker process); a document the parser refuses, or crashes on, comes back `Rejected`
    (with `.document` and `.kind`), never raised. A storage fault that must stop the run
    (faults.csv `stops_load`: disk full, read-only) is raised."""
    ctx = RowBuffer(doc, url=doc.url)
    try:
        parse(ctx)
    except Rejected as exc:
        outcome = exc
    except Exception as exc:  # noqa: BLE001 - a parser bug costs only its document
        kind = faults.classify(exc)
        if kind is not None and kind.stops_load:
            raise
        outcome = Rejected(reason(exc))
    else:
        return ctx
    finally:
        doc.data = None  # parsed: the bytes in memory are not needed any more
    outcome.document, outcome.kind = doc, ctx.kind
    outcome.__traceback__ = None  # travels between processes: keep it small and picklable
    outcome.__cause__ = outcome.__context__ = None
    return outcome


def reason(exc: Exception) -> str:
    """Why a document was rejected, from the error that rejected it."""
    kind = faults.classify(exc)
    if kind is not None:  # out of memory: the document (too big?) is rejected alone
        return f"{kind.says} while loading it: {faults.detail(exc)}"
    return f"{type(exc).__name__}: {exc}"
