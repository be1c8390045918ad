"""The archive's segments (warehouse/segments.py): small documents of an ingest packed into
append-only files, read back exactly by SHA-256, written once, never referenced half-written."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from survtrack.warehouse.archive import Archive
from survtrack.warehouse.protocol import Document


@pytest.fixture
def real(shared) -> list[bytes]:
    return [p.read_bytes() for p in sorted((shared / "eis").glob("fz44_contract*.xml"))]


def test_packed_documents_read_back_exactly_from_another_process_view(tmp_path, real):
    writer = Archive(tmp_path / "archive")
    ids = [writer.put_packed(data)[0] for data in real]
    assert all(writer.read(i) == d for i, d in zip(ids, real, strict=True))  # before commit
    reader = Archive(tmp_path / "archive")  # another process: sees only what is committed
    assert not any(reader.has(i) for i in ids)
    writer.commit()
    for document_id, data in zip(ids, real, strict=True):
        assert reader.has(document_id) and reader.size(document_id) == len(data)
        assert reader.read(document_id) == data
        with reader.open(document_id) as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == document_id
        copy = tmp_path / "copy"
        reader.copy_to(document_id, copy)
        assert copy.read_bytes() == data
        assert not reader.path(document_id).exists()  # no file of its own
        assert "@" in reader.where(document_id)
        # a parser's Document reads it by its archive path, as a file's
        doc = Document(document_id, "eis", "x", reader.path(document_id), len(data))
        assert doc.read() == data and doc.open().read() == data


def test_the_same_bytes_twice_are_packed_once(tmp_path, real):
    archive = Archive(tmp_path / "archive")
    archive.put_packed(real[0])
    archive.commit()
    again = Archive(tmp_path / "archive")  # a second run
    again.put_packed(real[0])
    again.put_packed(real[0])
    again.commit()
    segments = sorted((tmp_path / "archive" / "segments").glob("*.seg"))
    assert sum(p.stat().st_size for p in segments) == len(real[0])
    with sqlite3.connect(tmp_path / "archive" / "segments" / "index.sqlite") as index:
        assert index.execute("SELECT count(*) FROM packed").fetchone() == (1,)


def test_bytes_of_a_killed_writer_are_never_referenced(tmp_path, real):
    """Appended but not committed (the process killed before `commit`): no reader finds
    them, and the next run packs the document again, whole."""
    killed = Archive(tmp_path / "archive")
    document_id, _ = killed.put_packed(real[1])
    del killed  # never committed
    assert not Archive(tmp_path / "archive").has(document_id)
    with pytest.raises(FileNotFoundError):
        Archive(tmp_path / "archive").read(document_id)
    rerun = Archive(tmp_path / "archive")
    rerun.put_packed(real[1])
    rerun.commit()
    assert Archive(tmp_path / "archive").read(document_id) == real[1]


def test_a_document_with_a_file_of_its_own_is_not_packed_again(tmp_path, real):
    archive = Archive(tmp_path / "archive")
    document_id, _ = archive.put_bytes(real[2])
    archive.put_packed(real[2])
    archive.commit()
    assert archive.path(document_id).is_file() and archive.packed.locate(document_id) is None
    assert archive.read(document_id) == real[2]
