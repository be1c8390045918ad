"""Serving the dashboard with several gunicorn worker processes.

Each worker builds its own app after the fork (no preload), so no DuckDB connection is shared
between processes; each opens the current snapshot read-only.
"""

from __future__ import annotations

from pathlib import Path

from gunicorn.app.base import BaseApplication


class DashboardServer(BaseApplication):
    def __init__(self, db: Path, options: dict):
        self.db, self.options = db, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from survtrack.dashboard.app import create_app

        return create_app(self.db).server


def run_gunicorn(db: Path, host: str, port: int, workers: int, threads: int = 4) -> None:
    DashboardServer(Path(db), {"bind": f"{host}:{port}", "workers": workers,
                               "threads": threads, "preload_app": False,
                               "timeout": 120}).run()
