"""Local inputs: files, folders and ZIP archives, turned into archived documents.

ZIP archives (as EIS publishes them, a zip inside a zip) are read by one reader, member by
member and level by level, with the same caps everywhere: a member may not exceed
MAX_MEMBER_BYTES uncompressed nor a compression ratio of MAX_RATIO, whether it is a document
or an inner archive, and everything taken out of one archive, at every level, counts towards
MAX_ARCHIVE_BYTES. The caps are checked on the declared sizes first and again while the bytes
stream (declared sizes may lie). An inner archive is spooled to a temporary file beside the
archive (ZIP needs to seek), never held in memory, and removed after.

Folders: only regular files are read (a FIFO would block for ever, a device never ends). A
symlink inside a given folder is followed when it stays inside that folder; one that leads
outside it (a link to /etc/passwd) is not read and is named in the report, unless the caller
asks to follow links (`survtrack ingest --follow-links`; the demo's inbox, whose links the
user placed there). A path given explicitly is always followed.
"""

from __future__ import annotations

import mimetypes
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

from survtrack.warehouse.archive import CHUNK, Archive
from survtrack.warehouse.protocol import Document

MAX_MEMBER_BYTES = 2 * 1024**3
# A file up to this size is read whole, archived from memory and handed to the parser in
# memory (most documents are a few KB: streaming them in 1 MB chunks cost more than parsing).
# The bytes are dropped once parsed; an ingest holds at most a batch of them.
SMALL_FILE = 256 << 10
MAX_ARCHIVE_BYTES = 20 * 1024**3
MAX_RATIO = 200
MAX_NESTING = 2


@dataclass
class Problem:
    """An input that could not even be archived (unreadable file, zip bomb member…)."""

    origin: str
    reason: str
    field: str | None = None


@dataclass
class Ignored:
    """A file in a given folder that is no document of the source (a README, a CSV beside
    XML files), or that is not read (a link outside the folder, a FIFO): not loaded, but named
    in the ingest's report, never dropped silently."""

    origin: str
    reason: str


def iter_inputs(paths: list[Path], archive: Archive, source: str, extensions: tuple[str, ...],
                follow_links: bool = False, defer_files: bool = False, pack: bool = False,
                inputs=None) -> Iterator:
    """Every document under `paths`, archived (a Document, Problem, Ignored or Path).
    `defer_files`: a plain file (not a ZIP archive) comes as its checked Path, for a worker
    process to archive (`archive_file`). `pack`: small files and ZIP members go into a
    segment of the archive (`archive_file`, `read_zip`); the caller commits the archive
    before the warehouse names them. `inputs` (scrapers/inputs.InputFiles): a file it knows
    unchanged comes as its `Unchanged`, unread; the items of the others are told to it."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for child, refused in _walk(path, follow_links):
                if refused:
                    yield Ignored(str(child), refused)
                elif _wanted(child, extensions):
                    yield from _read_file(child, archive, source, extensions, defer_files,
                                          pack, inputs)
                else:
                    yield Ignored(str(child), f"not a {source} document"
                                  f" ({', '.join(extensions)} or .zip)")
        elif path.exists():
            kind = _special(path)
            if kind:
                yield Problem(str(path), f"not a regular file ({kind}): not read")
            else:
                yield from _read_file(path, archive, source, extensions, defer_files, pack,
                                      inputs)
        else:
            yield Problem(str(path), "no such file or folder")


def _walk(folder: Path, follow_links: bool) -> Iterator[tuple[Path, str | None]]:
    """Files under `folder` in name order, each with the reason it is not read (or None)."""
    root = folder.resolve()
    seen = {root}

    def walk(here: Path) -> Iterator[tuple[Path, str | None]]:
        try:
            with os.scandir(here) as listing:
                found = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            yield here, f"cannot list: {exc.strerror}"
            return
        for found_entry in found:
            entry = here / found_entry.name
            # a plain file as the listing says (no system call): most entries of a big input
            if found_entry.is_file(follow_symlinks=False):
                yield entry, None
                continue
            target = entry.resolve() if found_entry.is_symlink() else None
            if target is not None and not target.is_relative_to(root) and not follow_links:
                yield entry, (f"a link to {target}, outside {folder}: not followed (give it"
                              " explicitly, or --follow-links)")
                continue
            if entry.is_dir():
                real = entry.resolve()
                if real not in seen:  # a link back up the tree is walked once
                    seen.add(real)
                    yield from walk(entry)
                continue
            kind = _special(entry)
            if kind:
                yield entry, f"not a regular file ({kind}): not read"
            else:
                yield entry, None

    yield from walk(folder)


def _special(path: Path) -> str | None:
    """What a path is when it is not a regular file: a FIFO, a socket, a device, a dangling link."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return "a dangling link" if path.is_symlink() else "unreadable"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device")


def _wanted(path: Path, extensions: tuple[str, ...]) -> bool:
    name = path.name.lower()
    return name.endswith(".zip") or any(name.endswith(e) for e in extensions)


def _read_file(path: Path, archive: Archive, source: str, extensions, defer: bool, pack: bool,
               inputs) -> Iterator:
    """One input file's items; skipped unread when `inputs` knows it unchanged."""
    if inputs is None:
        yield from _from_file(path, archive, source, extensions, defer, pack)
        return
    key = inputs.key(path)
    unchanged = inputs.unchanged(path, key)
    if unchanged is not None:
        yield unchanged
        return
    for item in _from_file(path, archive, source, extensions, defer, pack):
        inputs.item(key, str(item) if isinstance(item, Path) else item.origin)
        yield item
    inputs.close(key)  # after its last item: a run stopped midway records nothing of it


def _from_file(path: Path, archive: Archive, source: str, extensions,
               defer: bool = False, pack: bool = False) -> Iterator:
    if path.suffix.lower() == ".zip":
        yield from read_zip(path, str(path), archive, source, extensions, pack=pack)
    elif defer:
        yield path
    else:
        yield archive_file(path, archive, source, pack)


def archive_file(path: Path | str, archive: Archive, source: str, pack: bool = False
                 ) -> Document | Problem:
    """One plain file into the archive (safe in any process: the archive writes atomically).

    `pack`: a small file is appended to this process's segment of the archive instead of
    becoming a file of its own (archive.put_packed); the caller calls `archive.commit()`
    before the warehouse records it. For parsers reading `Document.open`/`read` (not a
    path: OCDS's reader opens the path). `path`: a Path or its string (a pool's worker is
    sent strings)."""
    try:
        # O_NONBLOCK: a file swapped for a FIFO after the check still cannot block the run
        fd: int | None = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ValueError("not a regular file")
            # a small file is read with plain os.read calls: a Python file object around the
            # descriptor cost as much as the read itself (~15 us a document)
            data = _read_at_most(partial(os.read, fd), info.st_size + 1) if info.st_size <= SMALL_FILE else None
            if data is not None and len(data) <= info.st_size:  # read whole: kept for the parser
                sha, size = archive.put_packed(data) if pack else archive.put_bytes(data)
            else:  # a big file (or one growing as it is read): streamed, never held whole
                data = None
                os.lseek(fd, 0, os.SEEK_SET)
                with os.fdopen(fd, "rb") as fh:
                    fd = None  # closed with fh
                    sha, size = archive.put_stream(fh, MAX_MEMBER_BYTES)
        finally:
            if fd is not None:
                os.close(fd)
    except (OSError, ValueError) as exc:
        return Problem(str(path), f"cannot read: {exc}")
    path = os.fspath(path)  # a worker is sent a string: no Path is made (Document.at)
    return Document.at(sha, source, path, archive.path_string(sha), size,
                       _media_type(os.path.basename(path)), data=data)


class CapExceeded(ValueError):
    """A member that streams more bytes than a cap allows (its declared size lied)."""


class _Capped:
    """A member's stream that refuses to give more than `limit` bytes, and charges every byte
    to the archive's budget."""

    def __init__(self, raw, limit: int, budget: _Budget, why: str):
        self.raw, self.limit, self.budget, self.why = raw, limit, budget, why
        self.count = 0
        self._back = b""

    def unread(self, data: bytes) -> None:
        """Give `data` (already counted) again to the next read."""
        self._back = data + self._back

    def read(self, size: int = -1) -> bytes:
        if self._back:
            data, self._back = self._back, b""
            return data
        data = self.raw.read(size if size and size > 0 else CHUNK)
        self.count += len(data)
        if self.count > self.limit:
            raise CapExceeded(f"refused while extracting: more than {self.limit} bytes"
                              f" ({self.why})")
        self.budget.spend(len(data))
        return data


@dataclass
class _Budget:
    """Bytes taken out of one archive, at every level."""

    spent: int = 0

    def spend(self, n: int) -> None:
        self.spent += n
        if self.spent > MAX_ARCHIVE_BYTES:
            raise CapExceeded(f"refused: the archive unpacks to more than {MAX_ARCHIVE_BYTES}"
                              " bytes in all")


def read_zip(path_or_file, origin: str, archive: Archive, source: str, extensions,
             depth: int = 0, budget: _Budget | None = None, pack: bool = False
             ) -> Iterator[Document | Problem]:
    """Archive every wanted member of a ZIP archive, inner archives included, under the caps.

    `pack`: a small member (EIS publishes one zip of thousands of small XML documents per
    region and day) is appended to the archive's segment and kept in memory for the parser,
    instead of becoming a file of its own (archive.put_packed; the caller commits)."""
    budget = budget or _Budget()
    try:
        zf = zipfile.ZipFile(path_or_file)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        yield Problem(origin, f"not a readable ZIP archive: {exc}")
        return
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            member = f"{origin}!{info.filename}"
            name = info.filename.lower()
            nested = name.endswith(".zip")
            if nested and depth >= MAX_NESTING:
                yield Problem(member, f"an archive nested deeper than {MAX_NESTING} levels:"
                              " not opened", "zip member")
                continue
            if not nested and not any(name.endswith(e) for e in extensions):
                yield Problem(member, "not a document this source reads (skipped by extension)",
                              "file name")
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if (info.file_size > MAX_MEMBER_BYTES or ratio > MAX_RATIO
                    or budget.spent + info.file_size > MAX_ARCHIVE_BYTES):
                yield Problem(member, f"refused: {info.file_size} bytes uncompressed, ratio"
                              f" {ratio:.0f} (caps: {MAX_MEMBER_BYTES} bytes, ratio {MAX_RATIO},"
                              f" {MAX_ARCHIVE_BYTES} bytes per archive)", "zip member size")
                continue
            limit = min(MAX_MEMBER_BYTES, max(info.compress_size, 1) * MAX_RATIO)
            try:
                with zf.open(info) as raw:
                    stream = _Capped(raw, limit, budget, f"caps: {MAX_MEMBER_BYTES} bytes,"
                                     f" ratio {MAX_RATIO}")
                    if nested:
                        yield from _inner(stream, member, archive, source, extensions, depth,
                                          budget, pack)
                        continue
                    data = _small(stream) if pack and info.file_size <= SMALL_FILE else None
                    if data is not None:
                        sha, size = archive.put_packed(data)
                    else:
                        sha, size = archive.put_stream(stream)
            except CapExceeded as exc:
                yield Problem(member, str(exc), "zip member size")
                if "in all" in str(exc):
                    return
                continue
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                yield Problem(member, f"cannot extract: {exc}", "zip member")
                continue
            yield Document(sha, source, member, archive.path(sha), size, _media_type(name),
                           data=data)


def _small(stream: _Capped) -> bytes | None:
    """A member's bytes if it is as small as its header says, else None with the stream
    left at its start (a member whose header lied is streamed into a file of its own)."""
    data = _read_at_most(stream.read, SMALL_FILE + 1)
    if len(data) <= SMALL_FILE:
        return data
    stream.unread(data)
    return None


def _inner(stream: _Capped, member: str, archive: Archive, source: str, extensions,
           depth: int, budget: _Budget, pack: bool = False) -> Iterator[Document | Problem]:
    """An inner archive: spooled (capped) to a temporary file beside the archive, then read."""
    archive.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=archive.root, prefix=".inner-") as spool:
        while chunk := stream.read(CHUNK):
            spool.write(chunk)
        spool.seek(0)
        yield from read_zip(spool, member, archive, source, extensions, depth + 1, budget, pack)


def _read_at_most(read: Callable[[int], bytes], limit: int) -> bytes:
    """Up to `limit` bytes from `read(n)` (a file's or a member's): fewer only at its end (a
    read may return less)."""
    data = read(limit)
    if not data or len(data) == limit:
        return data
    parts = [data]
    got = len(data)
    while got < limit and (more := read(limit - got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _media_type(name: str) -> str | None:
    """The media type a file name says, asked once per run of extensions (".xml", ".json.gz"):
    `mimetypes.guess_type` reads only those and cost ~5 us a document."""
    dot = name.find(".", 1)
    return _media_type_of(name[dot:]) if dot > 0 else None


@lru_cache(maxsize=512)
def _media_type_of(extensions: str) -> str | None:
    if extensions.endswith((".jsonl", ".ndjson")):
        return "application/x-ndjson"
    return mimetypes.guess_type("x" + extensions)[0]
