"""Small documents packed into append-only segment files, found by SHA-256 in an index.

Creating a file costs this machine's kernel 60-1,400 µs (docs/scale.md), more than parsing
a small EIS document several times over; appending its bytes to a file already open costs
~60 µs. So an ingest packs small documents: each writing process appends to a segment of its
own (`segments/<unique>.seg`, never rewritten) and records where each document starts in
`segments/index.sqlite` (SQLite: one transaction per batch, safe for several processes).
A batch's documents are held in memory and written together: one look-up in the index and
one write for them all (`flush`), not one of each per document.

A batch of at least DIRECT_BYTES is written past the page cache (O_DIRECT, where the system and
the filesystem allow it): a page of the page cache the archive's bytes would newly take cost
the writing worker ~1.3 µs per KB here, most of the segment's write, and the bytes are not read
back during the ingest (docs/scale.md, "The workers' segment writes past the page cache").
Such a write starts at a multiple of DIRECT_BLOCK and is padded to one with zeros: bytes no
index row points to.

Kill-safe by order: the bytes are appended first, the index rows committed after (`commit`),
and the warehouse records a document only after that. A killed process leaves at most bytes
no index row points to (space, never a wrong document); the next run appends them again. The
index keeps the first copy of given bytes (INSERT OR IGNORE), so loading them twice adds no
row. Readers look a document up by SHA-256 and read exactly its bytes (`read`).
"""

from __future__ import annotations

import errno
import mmap
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

FOLDER = "segments"
INDEX = "index.sqlite"
SEGMENT_BYTES = 1 << 30  # a segment is closed past this size and a new one started
FLUSH_BYTES = 16 << 20  # documents held in memory before they are written (`flush`)
LOOKUP = 500  # SHA-256s asked of the index per query (SQLite's limit of parameters: 999)
DIRECT_BYTES = 256 << 10  # a batch this big is written with O_DIRECT (padding <= 1.6 %)
DIRECT_BLOCK = 4096  # O_DIRECT's alignment of offset, length and memory (a page: any device's)
O_DIRECT = getattr(os, "O_DIRECT", 0)  # 0: the system has none (macOS), always buffered
IOV_MAX = 1024  # buffers a writev may be given (POSIX's minimum is 16; Linux's 1,024)
# how long a connection waits for another process's lock on the index
BUSY_SECONDS = 120
SCHEMA = ("CREATE TABLE IF NOT EXISTS packed (sha256 TEXT PRIMARY KEY, segment TEXT NOT NULL,"
          " offset INTEGER NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID")
# SQLite's result codes as the system's errnos, so that faults.csv names them as any other
# storage failure (read-only, disk full, I/O error); SHMSIZE: its shared-memory file could not
# grow (a full disk, a file size limit). An extended code not listed falls back to its family.
ERRNOS = {"SQLITE_READONLY": errno.EROFS, "SQLITE_FULL": errno.ENOSPC,
          "SQLITE_IOERR": errno.EIO, "SQLITE_IOERR_SHMSIZE": errno.ENOSPC, "SQLITE_CANTOPEN": errno.EACCES,
          "SQLITE_PERM": errno.EACCES, "SQLITE_CORRUPT": errno.EIO, "SQLITE_NOTADB": errno.EIO}


class Segments:
    """The packed documents of one archive root. One instance writes from one process;
    reading is safe from any thread (a connection per thread)."""

    def __init__(self, root: Path):
        self.folder = root / FOLDER
        self.index = self.folder / INDEX
        self._fd: int | None = None
        self._direct_fd: int | None = None  # the segment opened again with O_DIRECT
        self._direct = bool(O_DIRECT)  # False once the filesystem refused it
        self._buffer: mmap.mmap | None = None  # page-aligned memory for O_DIRECT writes
        self._name = ""
        self._end = 0
        self._pending: dict[str, tuple[str, int, int]] = {}  # written, not in the index yet
        self._held: dict[str, bytes] = {}  # appended, not written yet
        self._held_bytes = 0
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()

    # -- writing ----------------------------------------------------------------------------
    def append(self, sha: str, data: bytes) -> None:
        """Pack `data` (whose SHA-256 is `sha`) unless packed already. It is held until
        `flush` (by `commit` at the latest, or once FLUSH_BYTES are held): one look-up in the
        index and one write for all held documents, where a look-up and a write each cost a
        document as much as its SHA-256 (docs/scale.md)."""
        if sha in self._pending or sha in self._held:
            return
        self._held[sha] = data
        self._held_bytes += len(data)
        if self._held_bytes >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Append the held documents not packed before to the segment, in one write; their
        index rows wait for `commit`."""
        if not self._held:
            return
        known = self._indexed(list(self._held))
        parts = [(sha, data) for sha, data in self._held.items() if sha not in known]
        if parts:
            if self._fd is None or self._end >= SEGMENT_BYTES:
                self._open_segment()
            datas = [data for _, data in parts]
            try:
                self._write(datas, sum(map(len, datas)))
            except BaseException:
                self._close_segment()  # its end is unknown now: the next write starts another
                raise
            for sha, data in parts:
                self._pending[sha] = (self._name, self._end, len(data))
                self._end += len(data)
        self._held.clear()
        self._held_bytes = 0

    def _write(self, datas: list[bytes], size: int) -> None:
        """Append `datas` (`size` bytes) at the segment's end, past the page cache when the
        batch is big enough and the filesystem takes it (advancing `_end` to a block's start
        first), else buffered."""
        if self._direct and size >= DIRECT_BYTES and self._open_direct():
            start = -self._end % DIRECT_BLOCK + self._end
            done = self._write_direct(datas, size, start)
            if done is not None:
                self._end = start
                if done < size:  # a file size limit reached: the rest as below, which says so
                    _write_all(self._fd, _after(datas, done), start + done)
                return
        _write_all(self._fd, datas, self._end)

    def _open_direct(self) -> bool:
        if self._direct_fd is None:
            try:
                self._direct_fd = os.open(self.folder / self._name, os.O_WRONLY | O_DIRECT)
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: this filesystem has no O_DIRECT
                    raise
                self._direct = False
        return self._direct

    def _write_direct(self, datas: list[bytes], size: int, start: int) -> int | None:
        """Write `datas` at `start` with O_DIRECT from an aligned copy padded with zeros; the
        bytes of `datas` written, or None if the kernel refused the direct write (then never
        tried again by this instance: buffered from now on)."""
        padded = -size % DIRECT_BLOCK + size
        if self._buffer is None or len(self._buffer) < padded:
            if self._buffer is not None:
                self._buffer.close()
            self._buffer = mmap.mmap(-1, padded)  # page-aligned, kept for the next batch
        buffer, place = self._buffer, 0
        for data in datas:
            buffer[place:place + len(data)] = data
            place += len(data)
        buffer[size:padded] = bytes(padded - size)
        with memoryview(buffer) as view:
            try:
                done = os.pwrite(self._direct_fd, view[:padded], start)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._direct = False
                self._close_direct()
                return None
        return min(done, size)

    def commit(self) -> None:
        """Record the appended documents in the index, in one transaction. Call before the
        warehouse records them: a document the warehouse names is then always readable."""
        self.flush()
        if not self._pending:
            return
        con = self._write_connection()
        try:
            con.execute("BEGIN IMMEDIATE")
            con.executemany("INSERT OR IGNORE INTO packed VALUES (?, ?, ?, ?)",
                            [(sha, *where) for sha, where in self._pending.items()])
            con.execute("COMMIT")
        except sqlite3.Error as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise as_os_error(exc) from exc
        self._pending.clear()

    def close(self) -> None:
        """Close the segment and the connections (what is not committed stays unreferenced)."""
        self._held.clear()
        self._held_bytes = 0
        self._close_segment()
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None
        for con in (self._writer, getattr(self._local, "con", None)):
            if con is not None:
                con.close()
        self._writer = self._local.con = None

    def _open_segment(self) -> None:
        self._close_segment()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._name = f"{uuid.uuid4().hex}.seg"
        self._fd = os.open(self.folder / self._name, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                           0o644)
        self._end = 0

    def _close_segment(self) -> None:
        self._close_direct()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _close_direct(self) -> None:
        if self._direct_fd is not None:
            os.close(self._direct_fd)
            self._direct_fd = None

    def _write_connection(self) -> sqlite3.Connection:
        if self._writer is None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                con = sqlite3.connect(self.index, timeout=BUSY_SECONDS, isolation_level=None)
                _set_up(con)
            except sqlite3.Error as exc:
                raise as_os_error(exc) from exc
            self._writer = con
        return self._writer

    def _indexed(self, shas: list[str]) -> set[str]:
        """Those of `shas` packed before, by one query per LOOKUP of them. Asked of a reading
        connection: the index is written only after the bytes (a full disk is then said by the
        segment's write, as for a file)."""
        found: set[str] = set()
        for start in range(0, len(shas), LOOKUP):
            some = shas[start:start + LOOKUP]
            found.update(sha for (sha,) in self._query(
                f"SELECT sha256 FROM packed WHERE sha256 IN ({', '.join('?' * len(some))})",
                some))
        return found

    def _lookup(self, sha: str) -> tuple[str, int, int] | None:
        rows = self._query("SELECT segment, offset, size FROM packed WHERE sha256 = ?", [sha])
        return rows[0] if rows else None

    def _query(self, sql: str, params: list) -> list[tuple]:
        """The index's rows for `sql` on a reading connection; none before the index exists."""
        con = self._read_connection()
        if con is None:
            return []
        try:
            return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # another process is creating the index
                return []
            raise as_os_error(exc) from exc
        except sqlite3.Error as exc:
            raise as_os_error(exc) from exc

    # -- reading ----------------------------------------------------------------------------
    def locate(self, sha: str) -> tuple[Path, int, int] | None:
        """(segment file, offset, size) of a packed document, or None."""
        if sha in self._held:  # packed here but not written yet
            self.flush()
        where = self._pending.get(sha) or self._lookup(sha)
        if where is None:
            return None
        name, offset, size = where
        return self.folder / name, offset, size

    def read(self, sha: str) -> bytes | None:
        """A packed document's bytes, exactly (OSError if its segment lost them), or None."""
        where = self.locate(sha)
        if where is None:
            return None
        segment, offset, size = where
        with open(segment, "rb") as fh:
            data = os.pread(fh.fileno(), size, offset)
        if len(data) != size:
            raise OSError(errno.EIO, f"{size} bytes recorded at {offset}, {len(data)} there"
                          " (the segment was truncated)", str(segment))
        return data

    def stored_size(self, sha: str) -> int | None:
        """How many of a packed document's bytes its segment holds (less than recorded if the
        segment was cut short), or None if it is not packed."""
        where = self.locate(sha)
        if where is None:
            return None
        segment, offset, size = where
        return max(0, min(size, segment.stat().st_size - offset))

    def _read_connection(self) -> sqlite3.Connection | None:
        con = getattr(self._local, "con", None)
        if con is None:
            if not self.index.exists():
                return None  # nothing packed yet (asked again next time)
            try:
                # not `mode=ro`: a reader of a WAL database may have to make its -shm file
                # (the last writer closing removes it); it only ever runs SELECTs
                con = self._local.con = sqlite3.connect(self.index, timeout=BUSY_SECONDS)
            except sqlite3.Error as exc:
                raise as_os_error(exc) from exc
        return con


def _write_all(fd: int, parts: list, offset: int) -> None:
    """Write `parts` one after the other from `offset`, in as few system calls as the kernel
    allows (a write may be partial: a file size limit reached mid-way)."""
    views = [memoryview(part) for part in parts if part]
    first = 0
    while first < len(views):
        done = os.pwritev(fd, views[first:first + IOV_MAX], offset)
        offset += done
        while done and done >= len(views[first]):
            done -= len(views[first])
            first += 1
        if done:
            views[first] = views[first][done:]


def _after(datas: list[bytes], skip: int) -> list:
    """The bytes of `datas` after their first `skip`, as views."""
    rest = []
    for data in datas:
        if skip >= len(data):
            skip -= len(data)
            continue
        rest.append(memoryview(data)[skip:])
        skip = 0
    return rest


def _set_up(con: sqlite3.Connection) -> None:
    """WAL mode and the table, tried again while another process holds the lock: workers
    opening a new index at the same moment get SQLITE_BUSY from the journal-mode switch at
    once, without SQLite's busy handler waiting (1 fresh index in 4 with six processes)."""
    deadline = time.monotonic() + BUSY_SECONDS
    pause = 0.005
    while True:
        try:
            con.execute("PRAGMA journal_mode = WAL")  # readers never wait for a writer
            con.execute("PRAGMA synchronous = NORMAL")
            con.execute(SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_BUSY" \
                    or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def as_os_error(exc: sqlite3.Error) -> OSError:
    """A SQLite failure of the index as the OSError the archive's callers handle."""
    name = getattr(exc, "sqlite_errorname", None) or "SQLITE_IOERR"
    code = ERRNOS.get(name) or ERRNOS.get("_".join(name.split("_")[:2]), errno.EIO)
    return OSError(code, f"{exc} ({name})")
