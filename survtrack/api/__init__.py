"""A read-only JSON API over the published snapshot, served by the dashboard's own server under
`/api/` (docs/api.md; the OpenAPI description at `/api/openapi.json`).

Filters are the dashboard's URL parameters (`country`, `source`, `category`, `buyer`, `vendor`,
`from`, `to`, `currency`, `measure`, `scope`, `undated`, `not_vendor`), so a dashboard link's
query string asks the API for the same contracts. Parameters of the API itself start with `_`:
`_size`, `_next` (keyset cursor), `_shape=objects|arrays`. Responses are JSON (ISO dates, money
as decimal strings) or CSV (`.csv`); errors are JSON with their status; every response carries
an ETag and Last-Modified from the snapshot, and CORS for GET.
"""

from __future__ import annotations

from .views import mount

__all__ = ["mount"]
