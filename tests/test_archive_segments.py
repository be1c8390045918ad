"""The archive's segments (warehouse/segments.py): small documents of an ingest packed into
append-only files, read back exactly by SHA-256, written once, never referenced half-written."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
from pathlib import Path

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


@pytest.mark.parametrize("workers", [1, 2])
def test_zip_members_are_packed_and_load_as_the_files_do(shared, tmp_path, workers):
    """EIS publishes a zip of many small documents per region and day: each member goes into
    a segment (no file per document), reads back exactly, and loads as the same files do."""
    import zipfile

    from survtrack import scrapers
    from survtrack.scrapers.ingest import ingest
    from survtrack.warehouse.store import Warehouse
    from tests.conftest import table_contents

    files = sorted(p for p in (shared / "eis").glob("fz44_*.xml"))
    bundle = tmp_path / "contract_Moskva_2019120100_2019120200_001.xml.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as z:
        for path in files:
            z.write(path, path.name)
    when = {"fetched_at", "rejected_at", "run_id", "origin"}
    with Warehouse(tmp_path / "files.duckdb", archive=tmp_path / "a1") as wh:
        ingest(wh, scrapers.get("eis"), files, workers=1)
        expected = table_contents(wh, when)
    with Warehouse(tmp_path / "zip.duckdb", archive=tmp_path / "a2") as wh:
        counts = ingest(wh, scrapers.get("eis"), [bundle], workers=workers)
        assert counts["loaded"] > 0 and table_contents(wh, when) == expected
        ids = [r[0] for r in wh.query("SELECT document_id FROM documents")]
        assert len(ids) == len({hashlib.sha256(p.read_bytes()).digest() for p in files})
        for document_id in ids:
            assert not wh.archive.path(document_id).exists()  # packed, no file of its own
            assert hashlib.sha256(wh.archive.read(document_id)).hexdigest() == document_id
        again = ingest(wh, scrapers.get("eis"), [bundle], workers=workers)
        assert again["loaded"] == 0 and table_contents(wh, when) == expected


def test_a_member_bigger_than_its_header_says_is_streamed_whole():
    """A member giving more bytes than the small size its header declared (a lie the
    extraction caps guard against) is not packed from its first bytes: what was read is
    given again, so the whole member reaches the archive's stream."""
    import io

    from survtrack.scrapers.files import SMALL_FILE, _Budget, _Capped, _small

    data = b"x" * (SMALL_FILE + 10)
    stream = _Capped(io.BytesIO(data), len(data), _Budget(), "test")
    assert _small(stream) is None
    assert b"".join(iter(lambda: stream.read(1 << 16), b"")) == data
    small = _Capped(io.BytesIO(b"<a/>"), 10, _Budget(), "test")
    assert _small(small) == b"<a/>"


def _pack_at_once(folder: str, data: bytes, barrier) -> str:
    barrier.wait()  # every process opens the new index at the same moment
    archive = Archive(Path(folder))
    document_id, _ = archive.put_packed(data)
    archive.commit()
    return document_id


def test_workers_opening_a_new_index_at_once_all_pack(tmp_path, real):
    """Pool workers of a first ingest open the archive's new index together; the switch to WAL
    mode then answered SQLITE_BUSY at once to about one fresh index in four (six processes),
    without SQLite's busy wait, and failed the worker's documents."""
    context = multiprocessing.get_context("forkserver")
    docs = [real[i % len(real)] + b"\n<!-- %d -->" % i for i in range(6)]
    with context.Manager() as manager, context.Pool(6) as pool:
        for round_ in range(12):
            folder = tmp_path / f"archive{round_}"
            barrier = manager.Barrier(6)
            ids = pool.starmap(_pack_at_once, [(str(folder), d, barrier) for d in docs])
            reader = Archive(folder)
            assert [reader.read(i) for i in ids] == docs


def test_a_file_archived_by_its_path_string_is_the_document_its_path_gives(shared, tmp_path):
    """A pool's worker is sent path strings and makes no Path for a document it parses from
    memory (Document.at): the document equals the one a Path gives, its path is made on first
    use, and it pickles (to the writer) and reads back from the archive the same."""
    import pickle

    from survtrack.scrapers.files import archive_file

    source = sorted((shared / "eis").glob("fz44_contract*.xml"))[0]
    by_path = archive_file(source, Archive(tmp_path / "a"), "eis", pack=True)
    archive = Archive(tmp_path / "b")
    by_string = archive_file(str(source), archive, "eis", pack=True)
    archive.commit()
    assert "path" not in by_string.__dict__ and by_string.data == source.read_bytes()
    assert (by_string.document_id, by_string.origin, by_string.size, by_string.media_type) == (
        by_path.document_id, by_path.origin, by_path.size, by_path.media_type)
    assert by_string.path == archive.path(by_string.document_id)  # made now, a Path
    for root in (Path("/"), tmp_path / "c"):  # its string, as the Path's
        assert Archive(root).path_string("ab12") == str(Archive(root).path("ab12"))
    assert isinstance(by_string.path, Path)
    sent = pickle.loads(pickle.dumps(by_string))
    assert sent == by_string and sent.data is None
    assert sent.read() == source.read_bytes()  # from the archive's segment


def _pack(archive: Archive, docs: list[bytes]) -> list[str]:
    ids = [archive.put_packed(data)[0] for data in docs]
    archive.commit()
    return ids


def test_a_big_batch_is_written_past_the_page_cache_and_reads_back_exactly(tmp_path, real):
    """A batch of DIRECT_BYTES or more goes to the segment by O_DIRECT, from a block's start
    and padded to one, between batches written buffered; every document reads back exactly,
    from another process's view too."""
    from survtrack.warehouse import segments

    if not segments.O_DIRECT:
        pytest.skip("no O_DIRECT on this system")
    archive = Archive(tmp_path / "archive")
    small = _pack(archive, [real[0][:1000]])  # buffered: below DIRECT_BYTES
    big = [d + b"<!-- %d -->" % i for i, d in enumerate(real * (segments.DIRECT_BYTES
                                                               // len(real[0]) + 1))]
    direct = _pack(archive, big)
    if not archive.packed._direct:
        pytest.skip("this filesystem has no O_DIRECT")
    assert archive.packed._direct_fd is not None
    after = _pack(archive, [real[1][:777]])
    assert archive.packed.locate(direct[0])[1] % segments.DIRECT_BLOCK == 0
    reader = Archive(tmp_path / "archive")
    for document_id, data in zip(small + direct + after, [real[0][:1000], *big, real[1][:777]],
                                 strict=True):
        assert reader.read(document_id) == data
        assert hashlib.sha256(data).hexdigest() == document_id


def test_a_filesystem_without_o_direct_gets_the_batch_buffered(tmp_path, real, monkeypatch):
    """Opening the segment with O_DIRECT refused (tmpfs, some network filesystems: EINVAL):
    the batch is written buffered, the same bytes, and O_DIRECT is not asked again."""
    import errno
    import os

    from survtrack.warehouse import segments

    opened = os.open

    def refuse_direct(path, flags, *args):
        if segments.O_DIRECT and flags & segments.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument", str(path))
        return opened(path, flags, *args)

    monkeypatch.setattr(segments.os, "open", refuse_direct)
    monkeypatch.setattr(segments, "DIRECT_BYTES", 1)
    archive = Archive(tmp_path / "archive")
    ids = _pack(archive, real)
    assert not archive.packed._direct and archive.packed._direct_fd is None
    assert [Archive(tmp_path / "archive").read(i) for i in ids] == real


def test_a_short_direct_write_is_finished_buffered(tmp_path, real, monkeypatch):
    """A direct write the kernel cut short (a file size limit reached): the rest of the batch
    is written buffered after what it took, and every document reads back exactly."""
    from survtrack.warehouse import segments

    if not segments.O_DIRECT:
        pytest.skip("no O_DIRECT on this system")
    written = segments.os.pwrite

    def short(fd, data, offset):  # the first 2 blocks only
        return written(fd, data[:2 * segments.DIRECT_BLOCK], offset)

    monkeypatch.setattr(segments.os, "pwrite", short)
    monkeypatch.setattr(segments, "DIRECT_BYTES", 1)
    archive = Archive(tmp_path / "archive")
    ids = _pack(archive, real)
    if not archive.packed._direct:
        pytest.skip("this filesystem has no O_DIRECT")
    assert [Archive(tmp_path / "archive").read(i) for i in ids] == real
