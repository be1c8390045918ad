"""Callback answers cached per (snapshot, callback, inputs): a repeated view is not queried again.

Every cached callback is a function of its inputs alone (state lives in the URL) and of the
snapshot it reads, which never changes once published. So the answer to the same callback with
the same inputs on the same snapshot is the same bytes, and those bytes are what is kept: a hit
costs a dictionary lookup, not a query, a figure or a JSON encoding (unpickling a cached Dash
component tree would cost more than rendering it on the demo). A new snapshot gives new keys,
and the first request that sees it drops the old snapshot's answers.

The key is taken before the callback runs. The `current` pointer only moves forward, so an
answer stored under a snapshot's key was computed on that snapshot or a newer one, and a newer
one's key is never given an older answer.

One cache per process (flask-caching's SimpleCache; gunicorn workers each keep their own),
bounded by entries: SURVTRACK_DASHBOARD_CACHE (default 256; 0 turns it off).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading

from dash import Dash
from flask import Response, g, request
from flask_caching import Cache

from survtrack.warehouse.snapshot import current_snapshot

DEFAULT_ENTRIES = 256
HEADER = "X-Survtrack-Cache"  # hit or miss, on every cached callback's answer
# The callbacks whose answers are kept (Dash's output ids): the page (with its title), the grid's
# rows, and the vendor and buyer searches. Callbacks that only rewrite the URL are cheap and not
# kept. An id here that the app does not register is refused when the cache is installed.
CACHED_OUTPUTS = frozenset({
    "..navbar.children...page.children...page-meta.data..",
    "contracts-grid.getRowsResponse",
    "f-vendor.options",
    "f-buyer.options",
})


def entries_from_env() -> int:
    value = os.environ.get("SURVTRACK_DASHBOARD_CACHE")
    return int(value) if value else DEFAULT_ENTRIES


class CallbackCache:
    """Keeps the answers of CACHED_OUTPUTS' callbacks of `app`, per snapshot of `db_path`."""

    def __init__(self, app: Dash, db_path: os.PathLike, entries: int):
        unknown = CACHED_OUTPUTS - set(app.callback_map)
        if unknown:  # a callback's outputs changed: its answers would silently go uncached
            raise ValueError(f"no callback of the app has the outputs {sorted(unknown)}")
        self.db_path = db_path
        self.endpoint = app.config.routes_pathname_prefix + "_dash-update-component"
        self.store = Cache(app.server, config={
            "CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": entries,
            "CACHE_DEFAULT_TIMEOUT": 0})  # 0: an answer stays true while its snapshot lives
        self._snapshot = None
        self._lock = threading.Lock()
        app.server.before_request(self._lookup)
        app.server.after_request(self._keep)

    def key(self) -> str | None:
        """The cache key of this request, or None if its answer is not kept."""
        if request.method != "POST" or request.path != self.endpoint:
            return None
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or body.get("output") not in CACHED_OUTPUTS:
            return None
        snapshot = current_snapshot(self.db_path)
        if snapshot is None:
            return None
        with self._lock:
            if snapshot != self._snapshot:  # a new snapshot: the old one's answers are dead
                self.store.clear()
                self._snapshot = snapshot
        asked = json.dumps([body.get("output"), body.get("inputs"), body.get("state"),
                            body.get("changedPropIds")], sort_keys=True, default=str)
        return f"{snapshot.name}:{hashlib.sha256(asked.encode()).hexdigest()}"

    def _lookup(self):
        key = g.survtrack_cache_key = self.key()
        if key is None:
            return None
        body = self.store.get(key)
        if body is None:
            return None
        g.survtrack_cache_key = None  # answered from the cache: nothing to keep afterwards
        return Response(body, mimetype="application/json", headers={HEADER: "hit"})

    def _keep(self, response: Response) -> Response:
        key = g.pop("survtrack_cache_key", None)
        if key is not None and response.status_code == 200 and not response.is_streamed:
            self.store.set(key, response.get_data())
            response.headers[HEADER] = "miss"
        return response


def install(app: Dash, db_path: os.PathLike, entries: int | None = None) -> CallbackCache | None:
    """Cache `app`'s callback answers (None when `entries` is 0: caching is off)."""
    entries = entries_from_env() if entries is None else entries
    return CallbackCache(app, db_path, entries) if entries > 0 else None
