"""Serving the dashboard: gunicorn by default, Flask's development server on request.

gunicorn runs `workers` processes of `threads` threads each (gthread). Each worker builds its
own app after the fork (no preload), so no DuckDB connection is shared between processes; each
opens the current snapshot read-only. The callback answers are shared by all of them, on disk
per snapshot (cache.py); before the workers start, the first views a visitor lands on are
computed once into that cache, so the first visitors do not all wait for the same render; then
one worker has a child process (nice 10) compute the rest of the landing views, and again for
each snapshot published while serving (warm.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from gunicorn.app.base import BaseApplication

THREADS = 8  # per worker: a page waiting on DuckDB or on another worker's render does not hold up the next request


def default_workers() -> int:
    """One worker per core, at most 4 (each holds its own snapshot connection)."""
    return max(1, min(len(os.sched_getaffinity(0)), 4))


class DashboardServer(BaseApplication):
    def __init__(self, db: Path, options: dict):
        self.db, self.options = db, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from survtrack.dashboard.app import create_app

        app = create_app(self.db)
        watch(self.db)
        return app.server


def watch(db: Path) -> None:
    """In a serving process: warm the current snapshot and each one published from now on
    (warm.py), unless caching is off."""
    from survtrack.dashboard import cache, warm

    if cache.entries_from_env() != 0:
        warm.Warmer(db)


def run_gunicorn(db: Path, host: str, port: int, workers: int, threads: int = THREADS) -> None:
    DashboardServer(Path(db), {"bind": f"{host}:{port}", "workers": workers,
                               "threads": threads, "worker_class": "gthread",
                               "preload_app": False, "timeout": 120,
                               # a reader's browser reuses its connection between clicks;
                               # gunicorn's default (2 s) closed it under the next request
                               "keepalive": 75,
                               # answers are read-only: on Ctrl-C or SIGTERM there is nothing to
                               # finish, so stop within seconds, not gunicorn's default 30 s
                               "graceful_timeout": 5,
                               # no gunicornc socket in ~/.gunicorn: several dashboards
                               # (tests, users) would share its one path
                               "control_socket_disable": True}).run()


def serve(db: Path, host: str, port: int, workers: int | None = None,
          dev_server: bool = False) -> None:
    """Serve the dashboard of `db` until interrupted."""
    from survtrack.dashboard.app import create_app
    from survtrack.warehouse.snapshot import SnapshotReader

    if dev_server:
        app = create_app(db)
        watch(Path(db))
        app.run(host=host, port=port, debug=False, threaded=True)
        return
    # open the snapshot once here, so a damaged one is said in one line before any worker
    # starts (a worker failing to boot would only print a traceback per worker)
    SnapshotReader(db).close()
    warm(Path(db))
    run_gunicorn(Path(db), host, port, workers or default_workers())


def warm(db: Path) -> None:
    """Compute the first views a visitor lands on (warm.FIRST) of the current snapshot into
    the shared callback cache (no-op when caching is off), closing every connection before
    gunicorn forks; a worker then computes the others in the background (warm.Warmer)."""
    from survtrack.dashboard import cache
    from survtrack.dashboard import warm as warming
    from survtrack.dashboard.app import create_app
    from survtrack.warehouse.snapshot import SnapshotReader

    if cache.entries_from_env() == 0:
        return
    reader = SnapshotReader(db)
    try:
        warming.warm(create_app(db, reader=reader), reader, first_only=True)
    finally:
        reader.close()
