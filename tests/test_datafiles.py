"""One reader for every CSV data file: comments, encoding, required columns, errors that name
the file and the line; and every data file of the project reads cleanly with it."""

from __future__ import annotations

import pytest
from conftest import ROOT

from survtrack.datafiles import DataFileError, numbered_rows, rows


def test_comments_blank_lines_bom_and_stripped_values(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("\ufeff# where the values come from\nkey,value\n\n a , b \n# a note\nc,\n"
                     .encode("utf-8"))
    assert numbered_rows(path, ("key",)) == [(4, {"key": "a", "value": "b"}),
                                             (6, {"key": "c", "value": ""})]


@pytest.mark.parametrize(("text", "needs", "where"), [
    (b"key,value\n", ("kind",), r"a\.csv:1: no column kind \(the header has key, value\)"),
    (b"# only a comment\n", (), r"a\.csv:1: no header row"),
    (b"key,value\nx,y\nx,y,z\n", (), r"a\.csv:3: 3 cells for 2 columns"),
    (b"key,value\nx,\xe9t\xe9\n", (), r"a\.csv:2: not UTF-8"),
])
def test_errors_name_the_file_and_line(tmp_path, text, needs, where):
    (tmp_path / "a.csv").write_bytes(text)
    with pytest.raises(DataFileError, match=where):
        rows(tmp_path / "a.csv", needs)


def test_every_data_file_of_the_project_reads():
    # curated/contracts.csv is a document of the curated source, read by its parser
    files = [p for p in (ROOT / "survtrack").rglob("*.csv") if p.name != "contracts.csv"]
    assert len(files) > 25
    for path in files:
        assert rows(path), path
        lines = path.read_text("utf-8-sig").splitlines()
        assert any(line.startswith("#") for line in lines), f"{path}: no doc line"


def test_one_palette_for_dashboard_and_notebooks():
    import pandas as pd

    from survtrack.analysis import palette
    from survtrack.analysis.spending import OTHERS
    from survtrack.dashboard.figures import vendor_year_bars

    bars = pd.DataFrame({"vendor_key": ["a", "b", OTHERS], "vendor_name": ["A", "B", "others"],
                         "year": [2019, 2019, 2019], "amount": [3.0, 2.0, 1.0],
                         "contracts": [1, 1, 1]})
    colours = [trace["marker"]["color"] for trace in vendor_year_bars(bars, "RUB")["data"]]
    assert colours == [palette.vendor_colour("a"), palette.vendor_colour("b"), palette.OTHERS]
    # a vendor's colour is its key's, not its rank's: first or second, "b" stays "b"
    swapped = bars.assign(amount=[1.0, 3.0, 1.0]).iloc[[1, 0, 2]]
    assert [tr["marker"]["color"] for tr in vendor_year_bars(swapped, "RUB")["data"]][:2] == \
        [palette.vendor_colour("b"), palette.vendor_colour("a")]
    # seven vendors of one chart never look alike: a shared colour gets another fill
    keys = [f"ent:v{i}" for i in range(40)]
    styles = palette.vendor_styles(keys)
    assert len(set(styles[:7])) == 7  # the overview's seven named vendors
    assert [c for c, _ in styles] == [palette.vendor_colour(k) for k in keys]
    assert len({palette.vendor_colour(k) for k in keys}) == len(palette.SERIES)  # all used
    assert len(set(palette.SERIES)) == len(palette.SERIES) == 7  # overview's TOP_VENDORS
