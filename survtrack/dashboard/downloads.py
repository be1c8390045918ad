"""Downloads of the contracts behind a selection, as CSV or XLSX, that describe themselves.

Each file carries the columns an analyst quotes (EXPORT_COLUMNS, plus the link to each
contract's page and to its document's exact bytes) and says what it holds: the selection, the
snapshot, the survtrack version, the time of export and the money rules. CSV puts that in
comment lines before the table, the first of which says how many there are; XLSX puts it in a
second sheet, "about". The file name says what it holds too. Every text cell that a
spreadsheet would run as a formula is neutralised (`warehouse.export.neutralise`), and XLSX
cells are written as values with their type, never as formulas.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import quote, urlencode

from survtrack.analysis.spending import Filters
from survtrack.warehouse.export import neutralise

from . import urls

XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header
LINK_COLUMNS = ("source_url", "contract_page", "document_raw")
MONEY_COLUMNS = ("amount", "amount_usd", "amount_usd_constant", "paid", "paid_usd")
WIDTHS = {"contract_id": 34, "title": 60, "buyer": 40, "vendor": 40, "citation": 60,
          "source_url": 40, "contract_page": 40, "document_raw": 40, "document_id": 20}


def survtrack_version() -> str:
    try:
        return version("survtrack")
    except PackageNotFoundError:
        return "unknown"


def describe(f: Filters) -> str:
    """The selection in words, as the file states it."""
    parts = ["surveillance-tagged contracts only" if f.surveillance_only else "all contracts"]
    for name in ("country", "source", "category", "buyer", "vendor"):
        value = getattr(f, name)
        if value is not None:
            parts.append(f"{name} {value}")
    if f.year_from or f.year_to:
        parts.append(f"dated {f.year_from or '…'}–{f.year_to or '…'}")
    if f.undated:
        parts.append("without a year")
    if f.flag:
        parts.append(f"red flag {f.flag} raised")
    if f.exclude_vendors:
        parts.append(f"excluding vendors {', '.join(f.exclude_vendors)}")
    parts.append("summed in US dollars (converted)" if f.usd
                 else f"in {f.currency} only (original currency; no other currency mixed in)")
    if f.measure == "paid":
        parts.append("measure: paid (published payments)")
    return "; ".join(parts)


def about(f: Filters, snapshot: str, rows: int, view: str) -> list[tuple[str, str]]:
    """What the file holds, as (field, value) pairs."""
    return [
        ("file", "survtrack contracts export: one row per contract of the selection"),
        ("selection", describe(f)),
        ("view", view),
        ("rows", str(rows)),
        ("snapshot", snapshot),
        ("exported_at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("survtrack", survtrack_version()),
        ("money", "amount and currency as published; amount_usd at the rate of dated_on"
                  " (the signing date, else the date date_basis names; fx_source, fx_date; an"
                  " annual average for a year-only figure), empty where not converted;"
                  " amount_usd_constant in dollars of the CPI base year; paid is the sum of the"
                  " published payments in the contract's currency, paid_usd each payment at its"
                  " own date's rate (empty unless all are converted)"),
        ("cancelled", "rows with cancelled = true (status annulled) are listed but never"
                      " summed on the dashboard"),
        ("leads", "rows of source 'curated' are leads from public reporting, not registry"
                  " records: citation names the report"),
        ("formulas", "a text cell beginning with = + - @, a tab or a carriage return starts"
                     " with an apostrophe (') so that no spreadsheet runs it"),
        ("columns", "docs/dashboard.md, section Downloads"),
    ]


def file_name(f: Filters, snapshot: str, fmt: str) -> str:
    """`survtrack-contracts_country-RU_currency-RUB_2019-2019_<snapshot>.csv`: what it holds."""
    parts = ["survtrack-contracts"]
    for param, value in urls.to_query(f).items():  # the URL's own non-default filters
        if param in urls.QUERY_PARAMS.values():
            parts.append(f"{param}-{value}")
    parts.append("tagged" if f.surveillance_only else "all")
    if f.undated:
        parts.append("undated")
    if f.exclude_vendors:
        parts.append(f"others-{len(f.exclude_vendors)}-excluded")
    parts.append(snapshot)
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", p) for p in parts)[:150] + "." + fmt


def rows_with_links(names: list[str], batches, base_url: str):
    """The export rows plus the contract page and the raw document of each, as full URLs."""
    at_id, at_doc = names.index("contract_id"), names.index("document_id")
    for batch in batches:
        yield [(*row, f"{base_url}/contract/{quote(row[at_id], safe='')}",
                f"{base_url}/document/{row[at_doc]}/raw") for row in batch]


def csv_stream(meta: list[tuple[str, str]], names: list[str], batches):
    """The CSV: comment lines (their count in the first), then the header and the rows."""
    notes = [f"{key}: {value}" for key, value in meta]
    first = (f"# survtrack export; the table starts after the {len(notes) + 1} lines beginning"
             " with '#' (pandas: read_csv(path, skiprows=" + str(len(notes) + 1) + "))")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff" + "\r\n".join([first, *(f"# {n}" for n in notes)]) + "\r\n"
    writer.writerow(names)
    yield buffer.getvalue()
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([neutralise(v) for v in row] for row in batch)
        yield buffer.getvalue()


def xlsx(meta: list[tuple[str, str]], names: list[str], batches) -> io.BytesIO:
    """The workbook: sheet "contracts" (frozen header, typed number and date cells,
    clickable links) and sheet "about"; no cell holds a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet("contracts")
    sheet.freeze_panes = "A2"
    for i, name in enumerate(names, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = WIDTHS.get(name, 14)
    bold = Font(bold=True)

    def cell(value, name: str | None = None, font=None, ws=sheet):
        value = neutralise(float(value) if isinstance(value, Decimal) else value)
        c = WriteOnlyCell(ws, value=value)
        if isinstance(value, str):
            c.data_type = "s"  # text stays text, whatever it begins with
            if name in LINK_COLUMNS and value.startswith(("http://", "https://")):
                c.hyperlink = value
                c.style = "Hyperlink"
        elif isinstance(value, datetime):
            c.number_format = "yyyy-mm-dd hh:mm"
        elif isinstance(value, date):
            c.number_format = "yyyy-mm-dd"
        elif name in MONEY_COLUMNS:
            c.number_format = "#,##0.00"
        if font:
            c.font = font
        return c

    sheet.append([cell(n, font=bold) for n in names])
    written = 0
    for batch in batches:
        for row in batch:
            if written >= XLSX_MAX_ROWS:
                raise OverflowError("more rows than a spreadsheet holds: download CSV instead")
            sheet.append([cell(v, n) for v, n in zip(row, names)])
            written += 1
    notes = book.create_sheet("about")
    notes.column_dimensions["A"].width = 14
    notes.column_dimensions["B"].width = 120
    for key, value in meta:
        notes.append([cell(key, font=bold, ws=notes), cell(value, ws=notes)])
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


def view_path(f: Filters) -> str:
    params = urls.to_query(f)
    return "/contracts" + ("?" + urlencode(params, doseq=True) if params else "")
