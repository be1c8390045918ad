"""The raw archive: every document's bytes under their SHA-256, written once.

Files are streamed in and hashed on the way, so a multi-GB download never sits in memory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .faults import StorageFault

CHUNK = 1 << 20


class Archive:
    def __init__(self, root: Path):
        # absolute from the start: a relative root would be read against whatever folder the
        # reader resolves paths from (Flask's send_file uses the package folder)
        self.root = Path(root).absolute()
        self._folders: set[Path] = set()

    def path(self, document_id: str) -> Path:
        return self.root / document_id[:2] / document_id

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
            fault = StorageFault.of(exc, path, "writing the archive")
            if fault is None:
                raise
            raise fault from exc

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

    def open(self, document_id: str) -> BinaryIO:
        return open(self.path(document_id), "rb")

    def read(self, document_id: str) -> bytes:
        return self.path(document_id).read_bytes()

    def copy_to(self, document_id: str, dest: Path) -> None:
        shutil.copyfile(self.path(document_id), dest)


def _write_all(out, data: bytes) -> None:
    """Unbuffered writes may be partial (a file size limit reached mid-chunk)."""
    view = memoryview(data)
    while view:
        view = view[out.write(view):]
