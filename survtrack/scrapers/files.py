"""Local inputs: files, folders and ZIP archives, turned into archived documents.

Folders are walked whole, following links to other folders (an inbox of linked folders).
ZIP archives (as EIS publishes them) are opened member by member under size caps, so a
zip bomb is refused instead of filling the disk: a member may not exceed MAX_MEMBER_BYTES
uncompressed, nor a compression ratio of MAX_RATIO, and a whole archive MAX_ARCHIVE_BYTES.
"""

from __future__ import annotations

import mimetypes
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from survtrack.warehouse.archive import Archive
from survtrack.warehouse.protocol import Document

MAX_MEMBER_BYTES = 2 * 1024**3
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
    XML files): not loaded, but named in the ingest's report, never dropped silently."""

    origin: str
    reason: str


def iter_inputs(paths: list[Path], archive: Archive, source: str, extensions: tuple[str, ...]
                ) -> Iterator[Document | Problem | Ignored]:
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for child in walk(path):
                if _wanted(child, extensions):
                    yield from _from_file(child, archive, source, extensions)
                else:
                    yield Ignored(str(child), f"not a {source} document"
                                  f" ({', '.join(extensions)} or .zip)")
        elif path.exists():
            yield from _from_file(path, archive, source, extensions)
        else:
            yield Problem(str(path), "no such file or folder")


def walk(folder: Path) -> list[Path]:
    """Every file under `folder`, sorted, following links to folders (a user links the
    folders to load into an inbox) but never into the same folder twice (a link loop)."""
    found, seen = [], set()
    for top, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            dirs.clear()
            continue
        seen.add(real)
        found += [Path(top) / name for name in files if os.path.isfile(Path(top) / name)]
    return sorted(found)


def _wanted(path: Path, extensions: tuple[str, ...]) -> bool:
    name = path.name.lower()
    return name.endswith(".zip") or any(name.endswith(e) for e in extensions)


def _from_file(path: Path, archive: Archive, source: str, extensions) -> Iterator:
    if path.suffix.lower() == ".zip":
        yield from _from_zip(path, str(path), archive, source, extensions, 0)
        return
    try:
        with open(path, "rb") as fh:
            sha, size = archive.put_stream(fh, MAX_MEMBER_BYTES)
    except (OSError, ValueError) as exc:
        yield Problem(str(path), f"cannot read: {exc}")
        return
    yield Document(sha, source, str(path), archive.path(sha), size, _media_type(path.name))


def _from_zip(path_or_file, origin: str, archive: Archive, source: str, extensions,
              depth: int) -> Iterator:
    try:
        zf = zipfile.ZipFile(path_or_file)
    except (zipfile.BadZipFile, OSError) as exc:
        yield Problem(origin, f"not a readable ZIP archive: {exc}")
        return
    total = 0
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            member = f"{origin}!{info.filename}"
            name = info.filename.lower()
            if name.endswith(".zip") and depth < MAX_NESTING:
                if info.file_size > MAX_MEMBER_BYTES:
                    yield Problem(member, f"nested archive of {info.file_size} bytes over the cap")
                    continue
                with zf.open(info) as inner:
                    import io
                    yield from _from_zip(io.BytesIO(inner.read()), member, archive, source,
                                         extensions, depth + 1)
                continue
            if not any(name.endswith(e) for e in extensions):
                yield Problem(member, "not a document this source reads (skipped by extension)",
                              "file name")
                continue
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > MAX_MEMBER_BYTES or ratio > MAX_RATIO or total > MAX_ARCHIVE_BYTES:
                yield Problem(member, f"refused: {info.file_size} bytes uncompressed, ratio"
                              f" {ratio:.0f} (caps: {MAX_MEMBER_BYTES} bytes, ratio {MAX_RATIO},"
                              f" {MAX_ARCHIVE_BYTES} bytes per archive)", "zip member size")
                continue
            try:
                with zf.open(info) as fh:
                    # the declared size may lie: the archive enforces the cap while copying
                    sha, size = archive.put_stream(fh, MAX_MEMBER_BYTES)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                yield Problem(member, f"cannot extract: {exc}", "zip member")
                continue
            yield Document(sha, source, member, archive.path(sha), size, _media_type(name))


def _media_type(name: str) -> str | None:
    if name.endswith((".jsonl", ".ndjson")):
        return "application/x-ndjson"
    return mimetypes.guess_type(name)[0]
