"""The raw archive: every document's bytes under their SHA-256, written once.

Files are streamed in and hashed on the way, so a multi-GB download never sits in memory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


class Archive:
    def __init__(self, root: Path):
        # absolute from the start: a relative root would be read against whatever folder the
        # reader resolves paths from (Flask's send_file uses the package folder)
        self.root = Path(root).absolute()

    def path(self, document_id: str) -> Path:
        return self.root / document_id[:2] / document_id

    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> tuple[str, int]:
        """Copy a stream into the archive; return (sha256, size). Raises if over max_bytes."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise ValueError(f"document larger than the cap of {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            target = self.path(sha)
            if target.exists():
                os.unlink(tmp)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
            return sha, size
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        import io

        return self.put_stream(io.BytesIO(data))

    def open(self, document_id: str) -> BinaryIO:
        return open(self.path(document_id), "rb")

    def read(self, document_id: str) -> bytes:
        return self.path(document_id).read_bytes()

    def copy_to(self, document_id: str, dest: Path) -> None:
        shutil.copyfile(self.path(document_id), dest)
