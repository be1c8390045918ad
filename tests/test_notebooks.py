"""The notebooks execute top to bottom on a demo warehouse, and are committed without outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="session")
def demo_warehouse(demo_site) -> Path:
    """The session's demo warehouse: curated leads and every document of ../shared/data."""
    return demo_site.db


def test_notebooks_are_committed_without_outputs():
    assert len(NOTEBOOKS) >= 3
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, path.name


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, demo_warehouse, monkeypatch):
    monkeypatch.setenv("SURVTRACK_DB", str(demo_warehouse))
    monkeypatch.delenv("SURVTRACK_ONLINE", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=dict(os.environ))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert len(shown) >= 5  # tables and charts were produced, not just silence


def test_the_notebook_api_finds_the_warehouse_from_any_folder_of_the_project(
        demo_warehouse, tmp_path, monkeypatch):
    """Jupyter starts a notebook in its own folder: `data/survtrack.duckdb` and a relative
    SURVTRACK_DB are looked up under the project root when they are not beside it."""
    from survtrack import config
    from survtrack.analysis.notebook import open_warehouse

    project = tmp_path / "checkout"
    (project / "notebooks" / "drafts").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "survtrack"\n', encoding="utf-8")
    (project / "data").mkdir()
    (project / "data" / "survtrack.duckdb").symlink_to(demo_warehouse)
    (project / "mine").mkdir()
    (project / "mine" / "w.duckdb").symlink_to(demo_warehouse)
    monkeypatch.delenv("SURVTRACK_DB", raising=False)
    for folder in (project / "notebooks", project / "notebooks" / "drafts", project):
        monkeypatch.chdir(folder)
        with open_warehouse() as st:
            assert st.path == project / "data" / "survtrack.duckdb"
            assert len(st.contracts()) > 0
    monkeypatch.chdir(project / "notebooks")
    monkeypatch.setenv("SURVTRACK_DB", "mine/w.duckdb")
    assert config.find_db() == project / "mine" / "w.duckdb"
    monkeypatch.chdir(tmp_path)  # outside the project: the error says where it looked
    with pytest.raises(FileNotFoundError, match=f"no warehouse at mine/w.duckdb \\(looked in"
                                                f" {tmp_path}\\)"):
        open_warehouse()


def test_charts_read_years_in_order_with_titles_and_units(demo_warehouse):
    from survtrack.analysis.notebook import open_warehouse

    with open_warehouse(demo_warehouse) as st:
        fig = st.chart("vendor_year")
        years = list(fig.layout.xaxis.categoryarray)
        assert years == sorted(years[:-1]) + ["n.d."] and len(years) > 5
        assert fig.layout.title.text == "Spending by vendor and year, US dollars (converted)"
        assert fig.layout.yaxis.title.text == "amount, US dollars (converted)"
        assert fig.layout.xaxis.title.text == "year signed"
        rub = st.chart("vendor", country="RU", currency="RUB")
        assert rub.layout.title.text == "Spending by vendor — RU, RUB (as published)"
        assert rub.layout.xaxis.title.text == "amount, RUB (as published)"
