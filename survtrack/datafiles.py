"""The one reader of the project's CSV data files (taxonomies, code lists, presets, settings).

The convention every data file follows: UTF-8 (a byte-order mark is allowed), a header row,
then one row per value; a line starting with `#` is a comment (a file says where its values
come from beside them), and blank lines are skipped. Values come stripped; a missing trailing
cell reads as "". A file that breaks the convention is a `DataFileError` naming the file, the
line and what is wrong, never a row read wrong. Files are read each time they are asked for:
callers keep what they build from them (with functools.cache), an analyst's file is re-read.
"""

from __future__ import annotations

import csv
from pathlib import Path


class DataFileError(ValueError):
    """A data file that cannot be read as the convention says: names the file and line."""

    def __init__(self, path: Path | str, line: int, reason: str, column: str | None = None):
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason, self.column = Path(path), line, reason, column


def numbered_rows(path: Path | str, required: tuple[str, ...] = ()) -> list[tuple[int, dict]]:
    """(line number, row) of each data row; `required` columns must be in the header."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFileError(path, 0, f"cannot be read: {exc.strerror or exc}") from None
    lines: list[tuple[int, str]] = []  # (physical line number, text) of the lines read as CSV
    for number, line in enumerate(raw.splitlines(), 1):
        try:
            text = line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise DataFileError(path, number, f"not UTF-8 ({exc.reason} at byte {exc.start}"
                                " of the line)") from None
        if text.strip() and not text.lstrip().startswith("#"):
            lines.append((number, text))
    reader = csv.reader(text for _, text in lines)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise DataFileError(path, 1, "no header row") from None
    except csv.Error as exc:
        raise DataFileError(path, lines[0][0], f"bad CSV header: {exc}") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise DataFileError(path, lines[0][0], f"no column {', '.join(missing)} (the header"
                            f" has {', '.join(header)})", missing[0])
    out = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataFileError(path, lines[reader.line_num - 1][0], f"bad CSV: {exc}") from None
        number = lines[reader.line_num - 1][0]
        if len(row) > len(header):
            raise DataFileError(path, number, f"{len(row)} cells for {len(header)} columns"
                                " (a comma inside a value needs quotes)")
        values = {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header)}
        if any(values.values()):
            out.append((number, values))
    return out


def rows(path: Path | str, required: tuple[str, ...] = ()) -> list[dict]:
    """The data rows of a file, each a dict by column name (see numbered_rows)."""
    return [row for _, row in numbered_rows(path, required)]
