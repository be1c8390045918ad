"""Input files an ingest has finished, so that a later one need not read them again.

A repeated ingest over a folder that keeps its old files used to read and hash every file
to learn its documents were loaded (13 % of a first run's CPU with nothing new, docs/scale.md).
The warehouse now remembers each input file (a plain file or a ZIP archive, one file however
many documents it holds) whose every document loaded, with its size and modification time
(`input_files`); a later run skips a file whose size and time are unchanged without opening it,
and counts its documents skipped. A file is recorded only once every document it yielded has
committed, and only if each loaded (or had loaded before): a rejected document, an unreadable
member or a problem reading it leaves the file unrecorded, so the next run reads it again and
retries what failed. `recheck` (`--recheck`, and `--force`) reads every file again.

The check sits where the files are found (files.iter_inputs), before any reading, so the
single process, the local pool and Dask skip alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

OK = ("loaded", "not_contract_bearing", "skipped")
# Finished files are written this many at a time (and at the end of the run): a killed run
# loses at most these records, which costs the next run only a read of those files.
RECORD_EVERY = 2048


@dataclass
class Unchanged:
    """A file skipped unread: its size and time are those of a run that loaded all of it."""

    origin: str
    documents: int


@dataclass
class _Open:
    size: int
    mtime_ns: int
    pending: int = 0  # its documents (or problems) yielded, not yet reported
    documents: int = 0
    failed: bool = False
    closed: bool = False  # every item of it yielded


class InputFiles:
    """The ledger of one ingest: which files to skip, and which to record once finished."""

    def __init__(self, wh, source: str, run_id: str, recheck: bool = False):
        self.wh, self.source, self.run_id = wh, source, run_id
        self.recheck = recheck
        self.known = {} if recheck else wh.input_files(source)
        self.recorded: set[str] = set()  # files recorded by this run (a path given twice)
        self.open: dict[str, _Open] = {}
        self.of_origin: dict[str, list[str]] = {}  # an item's origin -> its file (a list:
        # the same path given twice)
        self.done: dict[str, tuple] = {}
        self.failed: list[str] = []  # files recorded before, read again and failing now

    @staticmethod
    def key(path) -> str:
        """The file's key in the record (asked once per file: ~3 us, docs/scale.md)."""
        return os.path.abspath(path)

    def unchanged(self, path, key: str) -> Unchanged | None:
        """The file (`key` its `key`) as skipped when it is unchanged since a run recorded it;
        else None, and the file is opened: its items follow (`item`), then `close`."""
        try:
            info = os.stat(path)
        except OSError:
            return None  # the reader reports why
        known = self.known.get(key)
        if known is not None and known[:2] == (info.st_size, info.st_mtime_ns):
            return Unchanged(str(path), known[2])
        if key not in self.open:
            self.open[key] = _Open(info.st_size, info.st_mtime_ns)
        return None

    def item(self, key: str, origin: str) -> None:
        """`origin` (a document, a member or a problem) came from the open file `key`."""
        if key in self.open:
            self.open[key].pending += 1
            self.of_origin.setdefault(origin, []).append(key)

    def close(self, key: str) -> None:
        if key in self.open:
            self.open[key].closed = True
            self._settle(key)

    def result(self, origin: str, status: str | None) -> None:
        """What became of an item (a LoadResult's status; None: a problem), after it
        committed."""
        keys = self.of_origin.get(origin)
        if not keys:
            return
        key = keys.pop(0)
        if not keys:
            del self.of_origin[origin]
        entry = self.open[key]
        entry.pending -= 1
        if status in OK:
            entry.documents += 1
        else:
            entry.failed = True
        self._settle(key)

    def _settle(self, key: str) -> None:
        entry = self.open[key]
        if not entry.closed or entry.pending:
            return
        del self.open[key]
        if entry.failed:
            if key in self.known:
                self.failed.append(key)
        else:
            self.done[key] = (self.source, key, entry.size, entry.mtime_ns, entry.documents,
                              self.run_id)
            if len(self.done) >= RECORD_EVERY:
                self.record()

    def record(self) -> None:
        """Write the files finished so far (their documents have committed), and forget those
        that failed this time."""
        # a file no run recorded is inserted plainly (an upsert cost 80 against 50 ms CPU per
        # 12,000 files); with `recheck` the records were not read: each is an upsert
        new = [] if self.recheck else [key for key in self.done
                                       if key not in self.known and key not in self.recorded]
        self.wh.record_input_files(self.source, [self.done.pop(key) for key in new],
                                   self.failed, insert=True)
        self.wh.record_input_files(self.source, list(self.done.values()))
        self.recorded.update(new)
        self.done.clear()
        self.failed.clear()
