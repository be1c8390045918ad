"""Hostile files, folders and archives (EIS XML, as published in nested ZIPs): a zip bomb
inside a zip, archives nested too deep, a link to /etc/passwd, a FIFO, a DOCTYPE hidden
after a 64 KB comment. One bounded `survtrack ingest eis FOLDER` beside a good contract."""

from __future__ import annotations

import os
import shutil
import zipfile

import pytest

from hostile.harness import survtrack

GOOD = "fz44_contract_v6.3_voronezh_2366200608816001262.xml"


def zip_of(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, shared):
    root = tmp_path_factory.mktemp("hostile-files")
    inbox = root / "eis"
    inbox.mkdir()
    shutil.copy(shared / "eis" / GOOD, inbox / GOOD)
    good = (shared / "eis" / GOOD).read_bytes()
    # finding 6: a small zip holding a *stored* big zip; the inner one was read into memory and
    # its ratio never checked (1.2 MB -> 1.2 GB took 2.6 GB RSS); here 60 MB in ~60 KB
    inner = root / "inner.zip"
    zip_of(inner, {"big.xml": b"<" + b"0" * (60 * 1024**2)}, zipfile.ZIP_STORED)
    with zipfile.ZipFile(inbox / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(inner, "inner.zip")
    # archives in archives in archives in an archive: the fourth level is not opened
    zip_of(root / "l4.zip", {"deepest.xml": good})
    zip_of(root / "l3.zip", {"l4.zip": (root / "l4.zip").read_bytes()})
    zip_of(root / "l2.zip", {"l3.zip": (root / "l3.zip").read_bytes()})
    zip_of(inbox / "nested.zip", {"l2.zip": (root / "l2.zip").read_bytes()})
    # finding 9: a link out of the folder to a secret, a FIFO, a DOCTYPE after 64 KB
    (inbox / "secret.xml").symlink_to("/etc/passwd")
    os.mkfifo(inbox / "pipe.xml")
    (inbox / "doctype.xml").write_bytes(
        b'<?xml version="1.0"?><!--' + b"x" * 70_000 + b'--><!DOCTYPE r [<!ENTITY a "b">]>'
        b"<r>&a;</r>")
    return inbox


@pytest.fixture(scope="module")
def ingested(folder):
    return survtrack(folder.parent / "w.duckdb", "ingest", "eis", str(folder))


def test_the_run_ends_by_itself_and_the_good_contract_loads(ingested):
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    assert ingested.query("SELECT status FROM runs") == [("finished",)]
    assert ingested.query("SELECT contract_id FROM contracts") == [("eis:2366200608816001262",)]


@pytest.mark.parametrize("name, reason", [
    ("inner.zip", "ratio"),                       # refused at the outer level, never unpacked
    ("l4.zip", "nested deeper than 2 levels"),
    ("doctype.xml", "declares a DTD"),
])
def test_rejects_name_the_member_and_the_reason(ingested, name, reason):
    assert any(reason in r for r in ingested.rejects().get(name, [])), ingested.rejects()


def test_links_out_of_the_folder_and_fifos_are_named_not_read(ingested, folder):
    err = " ".join(ingested.stderr.split())
    assert "secret.xml: a link to /etc/passwd" in err and "not followed" in err
    assert "pipe.xml: not a regular file (a FIFO)" in err
    assert not ingested.query("SELECT * FROM documents WHERE origin LIKE '%secret%'")
    archived = [p for p in (folder.parent / "archive").rglob("*") if p.is_file()]
    assert not any(b"root:" in p.read_bytes()[:4096] for p in archived)
    # nothing big reached the archive: the 60 MB member was refused before extraction
    assert sum(p.stat().st_size for p in archived) < 5 * 1024**2


def test_a_fifo_or_link_given_explicitly(folder):
    fifo = survtrack(folder.parent / "w2.duckdb", "ingest", "eis", str(folder / "pipe.xml"),
                     timeout=60)
    assert fifo.returncode == 0 and fifo.summary()["rejected"] == 1
    assert "not a regular file (a FIFO)" in fifo.rejects()["pipe.xml"][0]
    link = survtrack(folder.parent / "w3.duckdb", "ingest", "eis", "--follow-links",
                     str(folder), timeout=120)
    # followed on request: /etc/passwd is archived and rejected as malformed XML
    assert "malformed XML" in link.rejects()["secret.xml"][0]
