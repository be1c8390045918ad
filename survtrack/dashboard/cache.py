"""Callback answers cached per (snapshot, callback, inputs): a repeated view is not queried again.

Every cached callback is a function of its inputs alone (state lives in the URL) and of the
snapshot it reads, which never changes once published. So the answer to the same callback with
the same inputs on the same snapshot is the same bytes, and those bytes are what is kept: a hit
costs reading one small file, not a query, a figure or a JSON encoding (unpickling a cached Dash
component tree would cost more than rendering it on the demo).

The answers live on disk beside the snapshots, one folder per snapshot
(`<db>.snapshot/dashboard-cache/<snapshot>/`, flask-caching's FileSystemCache: one file per
answer, written to a temporary file and renamed), so every gunicorn worker, and every dashboard
process serving the same warehouse, shares them: a view is computed once per snapshot, not once
per worker. A new snapshot gives a new folder, and the first request that sees it removes the
folders of older snapshots. Where that folder cannot be written, each process keeps its own
answers in memory (SimpleCache) instead.

The key is taken before the callback runs. The `current` pointer only moves forward, so an
answer stored under a snapshot's key was computed on that snapshot or a newer one, and a newer
one's key is never given an older answer.

Bounded by entries per snapshot: SURVTRACK_DASHBOARD_CACHE (default 1024; 0 turns it off).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path

from dash import Dash
from flask import Response, g, request
from flask_caching.backends import FileSystemCache, SimpleCache

from survtrack.warehouse.snapshot import current_snapshot, snapshot_dir

log = logging.getLogger(__name__)

DEFAULT_ENTRIES = 1024  # the warmed landing views (warm.py) are 100-200 of them
HEADER = "X-Survtrack-Cache"  # hit or miss, on every cached callback's answer
# on the background warm-up's requests (warm.py): it never makes a visitor wait for it
WARMING = "X-Survtrack-Warming"
FOLDER = "dashboard-cache"  # in <db>.snapshot/, one subfolder per snapshot
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


def cache_folder(db_path: os.PathLike) -> Path:
    """Where the answers of every snapshot of `db_path` are kept, one subfolder each."""
    return snapshot_dir(db_path) / FOLDER


class CallbackCache:
    """Keeps the answers of CACHED_OUTPUTS' callbacks of `app`, per snapshot of `db_path`."""

    def __init__(self, app: Dash, db_path: os.PathLike, entries: int):
        unknown = CACHED_OUTPUTS - set(app.callback_map)
        if unknown:  # a callback's outputs changed: its answers would silently go uncached
            raise ValueError(f"no callback of the app has the outputs {sorted(unknown)}")
        self.db_path = db_path
        self.entries = entries
        self.endpoint = app.config.routes_pathname_prefix + "_dash-update-component"
        self.store: FileSystemCache | SimpleCache | None = None
        self._snapshot = None
        self._lock = threading.Lock()
        app.server.before_request(self._lookup)
        app.server.after_request(self._keep)
        app.server.teardown_request(self._release)  # also after an error

    def _open(self, snapshot: Path) -> FileSystemCache | SimpleCache:
        """The store of `snapshot`'s answers; older snapshots' folders are removed."""
        root = cache_folder(self.db_path)
        try:
            store = FileSystemCache(str(root / snapshot.stem), threshold=self.entries,
                                    default_timeout=0)  # 0: true while the snapshot lives
            store.survtrack_locks = root / f"{snapshot.stem}.locks"
        except OSError as exc:
            log.warning("dashboard cache: %s cannot be written (%s); answers are kept in"
                        " this process only", root, exc)
            return SimpleCache(threshold=self.entries, default_timeout=0)
        for old in root.iterdir():
            if old.is_dir() and old.name < snapshot.stem:  # snapshot names are timestamps
                shutil.rmtree(old, ignore_errors=True)
        return store

    def key(self) -> tuple[str, FileSystemCache | SimpleCache] | None:
        """This request's cache key and the store of its snapshot, or None if its answer is
        not kept."""
        if request.method != "POST" or request.path != self.endpoint:
            return None
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or body.get("output") not in CACHED_OUTPUTS:
            return None
        snapshot = current_snapshot(self.db_path)
        if snapshot is None:
            return None
        with self._lock:
            if snapshot != self._snapshot:  # a new snapshot: a new store
                self.store = self._open(snapshot)
                self._snapshot = snapshot
            store = self.store
        asked = json.dumps([body.get("output"), body.get("inputs"), body.get("state"),
                            body.get("changedPropIds")], sort_keys=True, default=str)
        return f"{snapshot.name}:{hashlib.sha256(asked.encode()).hexdigest()}", store

    def _lookup(self):
        found = g.survtrack_cache = self.key()
        if found is None:
            return None
        key, store = found
        body = store.get(key)
        if body is None and isinstance(store, FileSystemCache):
            if request.headers.get(WARMING):
                # the warm-up runs at a lower priority: a visitor waiting on its lock would
                # wait behind every busy process on the machine. So it skips a view someone
                # computes now and computes the others without their lock (a visitor who asks
                # meanwhile computes it too, at a visitor's priority).
                if self._busy(store.survtrack_locks, key):
                    g.survtrack_cache = None
                    return Response(status=204)
                return None
            # one computes, the others wait for its answer: the first visitors of a view,
            # whichever worker they reach, do not all render it at once
            g.survtrack_cache_lock = self._computing(store.survtrack_locks, key)
            body = store.get(key)
        if body is None:
            return None
        g.survtrack_cache = None  # answered from the cache: nothing to keep afterwards
        return Response(body, mimetype="application/json", headers={HEADER: "hit"})

    @staticmethod
    def _computing(folder: Path, key: str):
        """An exclusive lock on `key` (a file in `folder`, beside the snapshot's answers),
        held until the request ends; it waits while another thread or process computes the
        same answer."""
        folder.mkdir(exist_ok=True)
        lock = open(folder / key.rsplit(":", 1)[1], "a")  # noqa: SIM115 (closed at teardown)
        fcntl.flock(lock, fcntl.LOCK_EX)
        return lock

    @staticmethod
    def _busy(folder: Path, key: str) -> bool:
        """Whether some request computes `key` now (holds its lock)."""
        folder.mkdir(exist_ok=True)
        with open(folder / key.rsplit(":", 1)[1], "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
        return False  # closing the file released the lock

    def _keep(self, response: Response) -> Response:
        found = g.pop("survtrack_cache", None)
        if found is not None and response.status_code == 200 and not response.is_streamed:
            key, store = found
            store.set(key, response.get_data())
            response.headers[HEADER] = "miss"
        return response

    @staticmethod
    def _release(_exc=None) -> None:
        lock = g.pop("survtrack_cache_lock", None)
        if lock is not None:
            lock.close()  # closing the file releases the lock


def install(app: Dash, db_path: os.PathLike, entries: int | None = None) -> CallbackCache | None:
    """Cache `app`'s callback answers (None when `entries` is 0: caching is off)."""
    entries = entries_from_env() if entries is None else entries
    return CallbackCache(app, db_path, entries) if entries > 0 else None
