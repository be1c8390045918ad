"""Classify a CSV column row by row, streaming: the rows come back with two new columns.

Like every CSV the project writes, the output's text cells that a spreadsheet would run as a
formula get a leading apostrophe (`warehouse.export.neutralise`)."""

from __future__ import annotations

import csv
import sys
from contextlib import nullcontext
from pathlib import Path

from survtrack.analysis.classify import classifier, evidence_line
from survtrack.warehouse.export import neutralise


def classify_csv(source: Path, column: str, output: Path | None = None,
                 codes_column: str | None = None, vendor_column: str | None = None) -> int:
    """Write SOURCE's rows to OUTPUT (stdout if None) plus `categories` (semicolon-separated,
    empty when none) and `evidence` (`category [rule] «matched text»`, joined by ' | ').

    Reads and writes one row at a time, so a file of any size streams. Returns the row count.
    """
    clf = classifier()
    with open(source, encoding="utf-8-sig", newline="") as f_in, (
            open(output, "w", encoding="utf-8", newline="") if output
            else nullcontext(sys.stdout)) as f_out:
        reader = csv.DictReader(f_in)
        fields = list(reader.fieldnames or [])
        for name in (column, codes_column, vendor_column):
            if name and name not in fields:
                raise KeyError(f"no column {name!r} (columns: {', '.join(fields)})")
        added = [c for c in ("categories", "evidence") if c not in fields]
        writer = csv.writer(f_out)
        writer.writerow([neutralise(name) for name in fields + added])
        n = 0
        for row in reader:
            codes = [c for c in (row.get(codes_column) or "").split(";") if c.strip()] \
                if codes_column else []
            tags = clf.classify(row.get(column), codes,
                                row.get(vendor_column) if vendor_column else None)
            row["categories"] = ";".join(clf.category_names(tags))
            row["evidence"] = evidence_line(tags)
            writer.writerow([neutralise(row.get(name)) for name in fields + added])
            n += 1
    return n
