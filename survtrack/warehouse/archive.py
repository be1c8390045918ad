"""The raw archive: every document's bytes under their SHA-256, written once.

Files are streamed in and hashed on the way, so a multi-GB download never sits in memory.
A document is either a file of its own (`path`: ROOT/ab/abcd…) or, for the small documents of
an ingest, packed into a segment file (segments.py: creating a file per document cost more
than parsing it). Read a document through `open`, `read`, `has`, `size` or `copy_to`, which
find it either way; `path` alone only names where its own file would be.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import BinaryIO

from .faults import StorageFault
from .segments import Segments

CHUNK = 1 << 20


class Archive:
    def __init__(self, root: Path):
        # absolute from the start: a relative root would be read against whatever folder the
        # reader resolves paths from (Flask's send_file uses the package folder)
        self.root = Path(root).absolute()
        self._prefix = str(self.root).rstrip("/") + "/"  # `path_string`'s
        self._folders: set[Path] = set()
        self._packed: Segments | None = None

    @staticmethod
    @cache
    def at(root: Path) -> Archive:
        """The archive at `root`, one per process (for reading a document by its path)."""
        return Archive(root)

    def path(self, document_id: str) -> Path:
        """Where the document's own file is (a packed document has none: see `has`)."""
        return self.root / document_id[:2] / document_id

    def path_string(self, document_id: str) -> str:
        """`path` as a string, without making a Path (`Document.at`): str(path(id))."""
        return f"{self._prefix}{document_id[:2]}/{document_id}"

    @property
    def packed(self) -> Segments:
        if self._packed is None:
            self._packed = Segments(self.root)
        return self._packed

    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> tuple[str, int]:
        """Copy a stream into the archive; return (sha256, size). Raises if over max_bytes.

        Reading `stream` may fail as the input's own problem (an OSError); writing the
        archive failing (disk full, read-only) is a faults.StorageFault, which no handler of
        bad input catches: the run stops instead of rejecting every document after it."""
        digest = hashlib.sha256()
        size = 0
        with self.writing(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise ValueError(f"document larger than the cap of {max_bytes} bytes")
                    digest.update(chunk)
                    with self.writing(Path(tmp)):
                        _write_all(out, chunk)
            sha = digest.hexdigest()
            target = self.path(sha)
            if target.exists():
                os.unlink(tmp)
            else:
                with self.writing(target):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp, target)
            return sha, size
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @staticmethod
    @contextmanager
    def writing(path: Path) -> Iterator[None]:
        """Writes to the archive within: a failure of the storage is a StorageFault."""
        try:
            yield
        except OSError as exc:
            _raise_fault(exc, path)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """`put_stream` for bytes in memory (a small document): hashed first, so bytes the
        archive already holds cost one stat and no write; else one write and a rename."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists():
            return sha, len(data)
        try:
            self._write(data, target)
        except FileNotFoundError:  # a folder remembered as made was removed meanwhile
            self._folders.clear()
            self._write(data, target)
        return sha, len(data)

    def put_packed(self, data: bytes) -> tuple[str, int]:
        """`put_bytes` appending to this process's segment instead of creating a file (held,
        then written with the others at `commit`); the document is readable here at once,
        and by other processes after `commit`."""
        sha = hashlib.sha256(data).hexdigest()
        # os.path on the string: pathlib's joins and exists() cost ~10 us a document here
        if not os.path.exists(self.path_string(sha)):
            try:  # as in `writing(self.root)` (the archive is named, as by put_bytes), without
                self.packed.append(sha, data)  # a generator's context manager per document
            except OSError as exc:
                _raise_fault(exc, self.root)
        return sha, len(data)

    def commit(self) -> None:
        """Make the documents packed since the last commit readable by every process (before
        the warehouse records them)."""
        if self._packed is not None:
            with self.writing(self.root):  # the held documents' bytes first, as put_packed's
                self._packed.flush()
            with self.writing(self._packed.index):
                self._packed.commit()

    def close(self) -> None:
        """Release the open segment and index connections (commit first)."""
        if self._packed is not None:
            self._packed.close()

    def _write(self, data: bytes, target: Path) -> None:
        with self.writing(self.root):
            self._folder(self.root)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb", buffering=0) as out, self.writing(Path(tmp)):
                _write_all(out, data)
            with self.writing(target):
                self._folder(target.parent)
                os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _folder(self, folder: Path) -> None:
        """mkdir -p, once per folder and process (an ingest writes thousands of documents
        into the same 257 folders)."""
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)

    def has(self, document_id: str) -> bool:
        return self.path(document_id).is_file() or self.packed.locate(document_id) is not None

    def size(self, document_id: str) -> int | None:
        """The bytes the archive holds of a document, or None if it holds none."""
        try:
            return self.path(document_id).stat().st_size
        except FileNotFoundError:
            return self.packed.stored_size(document_id)

    def where(self, document_id: str) -> str:
        """Where the bytes are, for people: the file, or SEGMENT@OFFSET+SIZE when packed."""
        path = self.path(document_id)
        found = None if path.is_file() else self.packed.locate(document_id)
        return str(path) if found is None else f"{found[0]}@{found[1]}+{found[2]}"

    def open(self, document_id: str) -> BinaryIO:
        try:
            return open(self.path(document_id), "rb")
        except FileNotFoundError:
            data = self.packed.read(document_id)
            if data is None:
                raise
            return io.BytesIO(data)

    def read(self, document_id: str) -> bytes:
        try:
            return self.path(document_id).read_bytes()
        except FileNotFoundError:
            data = self.packed.read(document_id)
            if data is None:
                raise
            return data

    def copy_to(self, document_id: str, dest: Path) -> None:
        try:
            shutil.copyfile(self.path(document_id), dest)
        except FileNotFoundError:
            data = self.packed.read(document_id)
            if data is None:
                raise
            Path(dest).write_bytes(data)


def _write_all(out, data: bytes) -> None:
    """Unbuffered writes may be partial (a file size limit reached mid-chunk)."""
    view = memoryview(data)
    while view:
        view = view[out.write(view):]


def _raise_fault(exc: OSError, path: Path) -> None:
    """Raise `exc` as a StorageFault when it is a failure of the storage, else as it is."""
    fault = StorageFault.of(exc, path, "writing the archive")
    if fault is None:
        raise exc
    raise fault from exc
