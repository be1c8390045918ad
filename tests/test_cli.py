"""The command line: ingest, status and export, run as a user runs them."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
from typer.testing import CliRunner

from survtrack.cli import app

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_ingest_status_export(shared, tmp_path):
    db = tmp_path / "w.duckdb"
    out = invoke("--db", db, "ingest", "eis", shared / "eis").stdout.strip().splitlines()[-1]
    others = [p for p in (shared / "eis").iterdir() if p.suffix != ".xml"]  # README, CSV, HTML
    assert json.loads(out) == {"source": "eis", "loaded": 11, "not_contract_bearing": 7,
                               "skipped": 0, "rejected": 0, "ignored": len(others)}
    again = json.loads(invoke("--db", db, "ingest", "eis", shared / "eis").stdout.splitlines()[-1])
    assert again["skipped"] == 18 and again["loaded"] == 0

    status = json.loads(invoke("--db", db, "status", "--json").stdout)
    assert status["tables"]["contracts"] == 5 and status["tables"]["payments"] == 5
    assert status["sources"]["eis"]["documents"] == 18
    assert [r[1] for r in status["runs"]] == ["ingest", "ingest"]
    # legible in an 80-column terminal: nothing wider, nothing cut off with an ellipsis
    narrow = runner.invoke(app, ["--db", str(db), "status"], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0 and "by source" in narrow.stdout
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    assert "…" not in narrow.stdout

    rows = json.loads(invoke("--db", db, "export", "contracts", "--format", "json").stdout)
    voronezh = next(r for r in rows if r["native_id"] == "2366200608816001262")
    assert voronezh["signed_on"] == "2016-11-21"
    assert voronezh["published_on"] == "2016-11-21T10:44:22.541"
    assert voronezh["amount"] == 1207680.35

    invoke("--db", db, "export", "payments", "--format", "csv", "--output", tmp_path / "p.csv")
    with open(tmp_path / "p.csv", encoding="utf-8") as fh:
        payments = list(csv.DictReader(fh))
    assert sorted(p["amount"] for p in payments) == [
        "256336.02", "264204.07", "3133.94", "600000.00", "7186.06"]

    invoke("--db", db, "export", "items", "--format", "parquet", "-o", tmp_path / "i.parquet")
    items = pq.read_table(tmp_path / "i.parquet")
    assert items.num_rows == 24 and "code" in items.column_names

    text = invoke("--db", db, "export", "organizations").stdout
    names = {r["org_id"]: r["name"] for r in csv.DictReader(io.StringIO(text))}
    assert names["RU-INN:6829057730"] == 'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "Р-ЛАБ"'


def test_env_var_names_the_warehouse(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("SURVTRACK_DB", str(tmp_path / "env.duckdb"))
    invoke("ingest", "eis", shared / "eis" / "fz44_contract_v6.0_belgorod_3312100001816000003.xml")
    assert (tmp_path / "env.duckdb").exists()
    assert (tmp_path / "archive").is_dir()


def test_clear_errors(tmp_path):
    result = runner.invoke(app, ["--db", str(tmp_path / "x.duckdb"), "ingest", "nosuch", "."])
    assert result.exit_code != 0 and "unknown source 'nosuch'" in result.output
    result = runner.invoke(app, ["--db", str(tmp_path / "x.duckdb"), "status"])
    assert result.exit_code != 0 and "no warehouse" in result.output
