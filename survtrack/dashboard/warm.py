"""Views computed into the callback cache (cache.py) before anyone asks for them.

A cold view costs one render while its first visitors wait for it (one computes, the others
wait on its lock), and under load those waits set the slowest answers. So the views a visitor
lands on are computed as soon as a snapshot is there:

- at start, before gunicorn forks its workers (serve.py): the pages of the navbar in both
  languages and the grid's first rows (`FIRST`, a few seconds: the server is up soon);
- then, and whenever a new snapshot is published while serving (a build, `survtrack
  snapshot`), all of them (`bodies`): the worker process that takes the snapshot's warming
  lock first starts a child process at a lower priority (nice 10) that computes them into the
  shared cache, so serving threads never wait behind a warm-up for the CPU or the GIL; the
  other workers find the answers on disk (or wait on a view's lock).

What is warmed (`bodies`): every page of the navbar (overview, contracts, countries) in both
languages and both scopes (surveillance only, all contracts) with the grid's first two blocks
of rows; in both scopes, the front page one filter away (each country, source, category and
original currency its controls offer) and the profiles of the vendors and buyers it lists;
the pages of the ten largest contracts; the vendor and buyer choices before any typing.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from survtrack.analysis import spending
from survtrack.analysis.spending import Filters
from survtrack.warehouse.snapshot import current_snapshot

from . import cache
from .callback_bodies import UPDATE, grid_rows, party_search, render
from .urls import contract_href, href

log = logging.getLogger(__name__)

LANGUAGES = ("en", "ru")
PAGES = ("/", "/contracts", "/countries")
TOP_PARTIES = 10  # the front page's tables of vendors and buyers
POLL_SECONDS = 2.0  # how often a worker looks for a new snapshot while serving
WARM_TIMEOUT = 3600  # s: a warm-up still running after an hour is stopped


# computed before the workers start: each page of the navbar in English and Russian and the
# grid's first rows
FIRST = [render(page, search) for search in ("", "?lang=ru") for page in PAGES] + \
    [grid_rows("", 0)]


def _split(link: str) -> tuple[str, str]:
    path, _, query = link.partition("?")
    return path, f"?{query}" if query else ""


def bodies(con) -> list[dict]:
    """The callback bodies of the views a visitor lands on, for the snapshot `con` reads."""
    out = []
    # as a visitor's URL reads: no currency named (the page settles it), so the links match
    scopes = (Filters(currency_auto=True), Filters(currency_auto=True, surveillance_only=False))
    for lang in LANGUAGES:
        for scope in scopes:
            for page in PAGES:
                out.append(render(*_split(href(page, scope, lang))))
            _, search = _split(href("/contracts", scope, lang))
            out += [grid_rows(search, 0), grid_rows(search, 100)]
    offered = spending.choices(con)
    for scope in scopes:  # one filter away from the front page, as its controls set it
        one_away = [scope.with_(**{field: value}) for field in ("country", "source", "category")
                    for value in offered[field]]
        one_away += [scope.with_(currency=c) for c in offered["currency"] if c != "USD"]
        out += [render(*_split(href("/", f))) for f in one_away]
        for role, view in (("vendor", spending.by_vendor), ("buyer", spending.by_buyer)):
            for key in view(con, scope, limit=TOP_PARTIES)["key"]:  # the front page's links
                out.append(render(*_split(href(f"/{role}", scope, id=key))))
    # the largest contracts (the profiles' and the sorted grid's first links)
    for contract_id in spending.contracts(con, Filters(surveillance_only=False),
                                          limit=TOP_PARTIES,
                                          sort=[("amount_usd", "desc")])["contract_id"]:
        out.append(render(contract_href(contract_id), ""))
    out += [party_search(role, "") for role in ("vendor", "buyer")]
    return list({json.dumps(body, sort_keys=True): body for body in out}.values())


def warm(app, reader, first_only: bool = False, keep_going=lambda: True) -> int:
    """Compute every view of `bodies` (or of FIRST) on `app` (a Dash app whose callback cache
    is on) for the snapshot `reader` reads now, while `keep_going()`; the views asked."""
    client = app.server.test_client()
    asked = FIRST if first_only else bodies(reader.cursor())
    for n, body in enumerate(asked):
        if not keep_going():
            return n
        client.post(UPDATE, json=body, headers={cache.WARMING: "1"})
    return len(asked)


class Warmer:
    """In a serving process: warms each new snapshot of `db_path` once across every process
    serving it (an exclusive lock file per snapshot beside its cached answers)."""

    def __init__(self, db_path: os.PathLike):
        self.db_path = Path(db_path)
        self.seen: Path | None = None  # the current snapshot too: FIRST is all it has yet
        self._stop = threading.Event()
        thread = threading.Thread(target=self._watch, name="survtrack-warm", daemon=True)
        thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while True:
            try:
                snapshot = current_snapshot(self.db_path)
                if snapshot is not None and snapshot != self.seen:
                    self.seen = snapshot
                    self.warm_once(snapshot)
            except Exception:  # noqa: BLE001 (a failed warm-up must never stop serving)
                log.exception("dashboard: warming the new snapshot failed")
            if self._stop.wait(POLL_SECONDS):
                return

    def warm_once(self, snapshot: Path) -> int:
        """Warm `snapshot` unless another process does or did; the views computed here."""
        # beside the snapshot's lock files: removed with them when a newer snapshot comes
        folder = cache.cache_folder(self.db_path) / f"{snapshot.stem}.locks"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "warming", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # another process warms it
            if (folder / "warmed").exists():
                return 0
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "survtrack.dashboard.warm",
                                   str(self.db_path)], capture_output=True, text=True,
                                  timeout=WARM_TIMEOUT)
            if done.returncode != 0:
                log.error("dashboard: warming %s failed: %s", snapshot.name,
                          done.stderr[-2000:])
                return 0
            told = done.stdout.split()
            n = int(told[-1]) if told and told[-1].isdigit() else 0
            (folder / "warmed").touch()
            log.info("dashboard: warmed %d views of %s in %.1f s", n, snapshot.name,
                     time.monotonic() - started)
            return n


def main(db: str) -> None:
    """The warm-up child: every landing view of the current snapshot of `db`, at nice 10;
    prints the number of views asked."""
    from survtrack.dashboard.app import create_app
    from survtrack.warehouse.snapshot import SnapshotReader

    os.nice(10)
    server = os.getppid()  # stop with the server: an orphan is adopted by another parent
    reader = SnapshotReader(db)
    try:
        print(warm(create_app(db, reader=reader), reader,
                   keep_going=lambda: os.getppid() == server))
    finally:
        reader.close()


if __name__ == "__main__":
    main(sys.argv[1])
