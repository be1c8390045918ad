"""OCDS and FollowTheMoney exports of the demo warehouse (every document of ../shared/data):
every OCDS export validates against the OCDS 1.1.5 schema kept in ../shared/data, the FtM
entities pass the followthemoney library's validation, and survtrack's own OCDS export
ingested into a new warehouse gives the same contracts and amounts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from survtrack import scrapers
from survtrack.cli import app
from survtrack.exports import ocds
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import Warehouse


@pytest.fixture(scope="module")
def schema_dir(shared) -> Path:
    return shared / "ocds" / "schema-1.1.5"


@pytest.fixture(scope="module")
def wh(demo_db):
    with Warehouse(demo_db, read_only=True) as warehouse:
        yield warehouse


def export(demo_db, tmp_path, *args) -> tuple[int, str, Path]:
    out = tmp_path / "out.json"
    result = CliRunner().invoke(app, ["export", *args, "--db", str(demo_db), "-o", str(out)])
    return result.exit_code, result.output, out


def contracts(wh, where: str = "TRUE") -> dict[str, tuple]:
    return {r[0]: r[1:] for r in wh.con.execute(
        f"SELECT contract_id, source, native_id, amount, currency, signed_on, title"
        f" FROM contracts WHERE {where}").fetchall()}


def test_every_ocds_export_validates(demo_db, tmp_path, schema_dir, wh):
    code, output, out = export(demo_db, tmp_path, "ocds", "--all", "--schema", str(schema_dir))
    assert code == 0, output
    package = json.loads(out.read_text(encoding="utf-8"))
    assert len(package["releases"]) == len(contracts(wh))
    # the validator does find errors: a broken copy fails
    broken = json.loads(json.dumps(package))
    broken["releases"][0]["contracts"][0]["value"] = {"amount": "lots"}
    assert ocds.errors(broken, schema_dir)
    for args in (["--country", "RU", "--lines"], ["--source", "eis"], ["--surveillance"],
                 ["--source", "ocds", "--from", "2015", "--to", "2020"]):
        code, output, out = export(demo_db, tmp_path, "ocds", *args, "--schema", str(schema_dir))
        assert code == 0, (args, output)
        assert "valid against" in output


def test_ocds_releases_carry_what_the_warehouse_knows(wh):
    from survtrack.analysis.spending import Filters

    releases = {r["ocid"]: r for r in ocds.releases(wh.con, Filters(surveillance_only=False))}
    payments = wh.con.execute("SELECT contract_id, count(*) FROM payments"
                              " WHERE contract_id IN (SELECT contract_id FROM contracts) GROUP BY 1").fetchall()
    items = wh.con.execute("SELECT contract_id, scheme, code FROM items WHERE code IS NOT NULL"
                           " AND contract_id IN (SELECT contract_id FROM contracts) LIMIT 50").fetchall()
    byid = {cid: (s, n) for cid, (s, n, *_) in contracts(wh).items()}
    for cid, n in payments:
        ocid, _ = ocds.ids(cid, *byid[cid])
        transactions = releases[ocid]["contracts"][0]["implementation"]["transactions"]
        assert len(transactions) == n
    for cid, scheme, code in items:
        ocid, _ = ocds.ids(cid, *byid[cid])
        classes = [i.get("classification") for i in releases[ocid]["contracts"][0]["items"]]
        assert {"scheme": scheme or "local", "id": code} in classes
    registry = [p for r in releases.values() for p in r["parties"] if "identifier" in p]
    assert registry and all(p["id"] == f"{p['identifier']['scheme']}:{p['identifier']['id']}"
                            for p in registry)


def test_ocds_round_trip_gives_the_same_contracts_and_amounts(demo_db, tmp_path, wh):
    code, output, out = export(demo_db, tmp_path, "ocds", "--all")
    assert code == 0, output
    with Warehouse(tmp_path / "again.duckdb") as again:
        counts = ingest(again, scrapers.get("ocds"), [out])
        assert counts["loaded"] == 1, counts
        back = contracts(again)
    original = contracts(wh)
    expected = {}
    for cid, (source, native, amount, currency, signed, title) in original.items():
        ocid, local = ocds.ids(cid, source, native)
        expected[f"ocds:{ocid}/{local}"] = (amount, currency if amount is not None else None,
                                            signed, title)
    got = {cid: (amount, currency if amount is not None else None, signed, title)
           for cid, (_, _, amount, currency, signed, title) in back.items()}
    assert got == expected


def test_ftm_export_passes_the_librarys_validation(demo_db, tmp_path, wh):
    from followthemoney import model

    code, output, out = export(demo_db, tmp_path, "ftm", "--all")
    assert code == 0, output
    entities = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_schema: dict[str, list] = {}
    for data in entities:
        proxy = model.get_proxy(data, cleaned=False)
        proxy.schema.validate(data)  # raises InvalidData on any bad value or missing property
        by_schema.setdefault(data["schema"], []).append(data)
    ids = {e["id"] for e in entities}
    assert len(ids) == len(entities)
    assert len(by_schema["Contract"]) == len(contracts(wh))
    for award in by_schema["ContractAward"]:
        assert set(award["properties"]["contract"] + award["properties"]["supplier"]) <= ids
    inn = [e for e in by_schema["PublicBody"] + by_schema["Company"]
           if e["properties"].get("innCode")]
    assert inn, "Russian taxpayer numbers land in innCode"
    checked = subprocess.run([str(Path(sys.executable).with_name("ftm")), "validate", "-i",
                              str(out), "-o", str(tmp_path / "valid.json")],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert len((tmp_path / "valid.json").read_text().splitlines()) == len(entities)


def test_export_refuses_what_it_cannot_do(demo_db, tmp_path, schema_dir):
    code, output, _ = export(demo_db, tmp_path, "ftm", "--schema", str(schema_dir))
    assert code != 0 and "OCDS exports only" in output
    code, output, _ = export(demo_db, tmp_path, "nothing")
    flat = " ".join(output.replace("│", " ").split())  # rich wraps the message in a box
    assert code != 0 and "or ocds, ftm" in flat
