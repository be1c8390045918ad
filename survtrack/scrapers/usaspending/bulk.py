"""Bulk award CSVs (Custom Award Data / Award Data Archive): prime contract transactions and
prime award summaries, read row by row.

A transactions file has one row per action (the base award and each modification), so rows
are folded into one award: its amount is the cumulative `total_dollars_obligated` the latest
transaction states, plus any action after it that states none; where no row states it, the
sum of `federal_action_obligation`. Nothing is summed twice and no ceiling is ever used
(docs/usaspending.md). Column names live in bulk_columns.csv.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from survtrack import datafiles
from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import LoadContext, Rejected

from .common import Award, Organizations, amount, award_category, country2, emit_award

HERE = Path(__file__).parent
csv.field_size_limit(16 * 1024 * 1024)  # long award descriptions; a runaway quote still ends
BASE_MODIFICATIONS = {"0", "00", "000", "0000"}


@cache
def columns() -> list[dict]:
    rows = datafiles.rows(HERE / "bulk_columns.csv", ("columns", "layouts"))
    for row in rows:
        row["candidates"] = row["columns"].split("|")
        row["layouts"] = row["layouts"].split()
    return rows


def layout_of(header: list[str]) -> str:
    names = set(header)
    if "assistance_award_unique_key" in names and "contract_award_unique_key" not in names:
        return "assistance"
    return "transactions" if "federal_action_obligation" in names or \
        "contract_transaction_unique_key" in names else "awards"


def roles(header: list[str], layout: str) -> dict[str, str]:
    """role -> the column holding it in this file; missing required columns reject the file."""
    names = set(header)
    found, missing = {}, []
    for spec in columns():
        if layout not in spec["layouts"]:
            continue
        column = next((c for c in spec["candidates"] if c in names), None)
        if column:
            found[spec["role"]] = column
        elif spec["required"] == "yes":
            missing.append(spec["candidates"][0])
    if missing:
        raise Rejected(f"CSV ({layout} file) lacks required columns: {', '.join(missing)}",
                       ", ".join(missing))
    return found


@dataclass
class Tally:
    """What one award's transactions in this file add up to."""

    latest_key: tuple = ()
    latest: dict = field(default_factory=dict)  # the roles of the latest transaction
    stated: tuple[tuple, Decimal] | None = None  # latest (key, total_dollars_obligated)
    unstated: dict[str, tuple[tuple, Decimal]] = field(default_factory=dict)  # actions
    # without it, by transaction key: a transaction listed twice is counted once
    duplicates: int = 0
    transactions: int = 0
    base_date: date | None = None
    first_date: date | None = None
    last_modified: datetime | None = None

    def add(self, key: tuple, row: dict, obligation: Decimal | None,
            stated_total: Decimal | None, action: date) -> None:
        self.transactions += 1
        if key > self.latest_key:
            self.latest_key, self.latest = key, row
        if stated_total is not None:
            if self.stated is None or key > self.stated[0]:
                self.stated = (key, stated_total)
        elif obligation is not None:
            transaction = row.get("transaction_key") or f"line {key[2]}"
            if transaction in self.unstated:
                self.duplicates += 1
            else:
                self.unstated[transaction] = (key, obligation)
        if (row.get("modification") or "").strip() in BASE_MODIFICATIONS:
            self.base_date = action
        self.first_date = min(self.first_date or action, action)
        modified = key[1] if key[1] != datetime.min else None
        if modified and (self.last_modified is None or modified > self.last_modified):
            self.last_modified = modified

    def amount(self) -> tuple[Decimal | None, str]:
        """(amount, how it was reached)."""
        if self.stated is not None:
            key, total = self.stated
            after = [o for k, o in self.unstated.values() if k > key]
            if after:
                return total + sum(after, Decimal(0)), "stated total + later actions"
            return total, "stated total"
        if self.unstated:
            total = sum((o for _, o in self.unstated.values()), Decimal(0))
            # without the base award the file may hold only part of the award's actions
            return total, "sum of actions" + ("" if self.base_date else
                                              " (base award not in the file)")
        return None, "no obligation stated"


def _award(award_id: str, row: dict) -> Award:
    idv = award_id.startswith("CONT_IDV_") or (row.get("award_or_idv") or "").upper() == "IDV"
    return Award(
        award_id=award_id, piid=v.clean(row.get("piid")),
        type_description=v.clean(row.get("idv_type") if idv else row.get("award_type"))
        or v.clean(row.get("award_type")),
        description=v.clean(row.get("description")),
        agency_code=v.clean(row.get("agency_code")), agency_name=v.clean(row.get("agency_name")),
        sub_agency_code=v.clean(row.get("sub_agency_code")),
        sub_agency_name=v.clean(row.get("sub_agency_name")),
        recipient_uei=v.clean(row.get("recipient_uei")),
        recipient_duns=v.clean(row.get("recipient_duns")),
        recipient_name=v.clean(row.get("recipient_name")),
        recipient_country=country2(row.get("recipient_country")),
        parent_uei=v.clean(row.get("parent_uei")), parent_duns=v.clean(row.get("parent_duns")),
        parent_name=v.clean(row.get("parent_name")),
        psc_code=v.clean(row.get("psc_code")), psc_name=v.clean(row.get("psc_name")),
        naics_code=v.clean(row.get("naics_code")), naics_name=v.clean(row.get("naics_name")),
        extent_competed=v.clean(row.get("extent_competed")),
        solicitation_procedures=v.clean(row.get("solicitation_procedures")),
        extent_code=v.clean(row.get("extent_code")), offers=v.clean(row.get("offers")),
        set_aside=v.clean(row.get("set_aside")),
        parent_award=v.clean(row.get("parent_award_piid")),
    )


def _rows(ctx: LoadContext):
    """The header, then (line number, fields, malformed?) for each row, streamed."""
    with ctx.document.open() as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        try:
            header = next(reader, None)
            if not header:
                raise Rejected("empty CSV: no header row", "header")
            yield header
            for record in reader:
                if record:
                    yield reader.line_num, record, len(record) != len(header)
        except csv.Error as exc:
            raise Rejected(f"malformed CSV at line {reader.line_num}: {exc}", "CSV") from None
        except UnicodeDecodeError as exc:
            raise Rejected(f"CSV is not UTF-8 near line {reader.line_num}: {exc.reason}",
                           "encoding") from None


def _award_of_malformed(record: list[str], index: dict[str, int], line: int) -> str:
    """The award a row with the wrong number of fields belongs to, where that can be told.

    A row split or merged by a stray quote may hold part of an award's money: that award is
    withheld. Where even the award cannot be told, the whole file is refused, because loading
    the rest could understate some award's total.
    """
    i = index["award_key"]
    award_id = record[i].strip() if i < len(record) else ""
    try:
        award_category(award_id, "contract_award_unique_key")
    except Rejected:
        raise Rejected(f"line {line} has the wrong number of fields and no readable award key:"
                       " the file is damaged", "row") from None
    return award_id


def parse_csv(ctx: LoadContext) -> None:
    rows = _rows(ctx)
    header = next(rows)
    layout = layout_of(header)
    if layout == "assistance":
        ctx.describe("bulk_assistance", "assistance (grants, loans) award file: not"
                     " procurement", contract_bearing=False)
        return
    found = roles(header, layout)
    index = {role: header.index(column) for role, column in found.items()}
    orgs = Organizations(ctx)
    if layout == "awards":
        n = _award_summaries(ctx, orgs, rows, index)
        detail = f"prime award summaries file: {n} contract awards and IDVs"
    else:
        n, transactions, methods = _transactions(ctx, orgs, rows, index)
        detail = (f"prime transactions file: {transactions} transactions of {n} awards and IDVs;"
                  " amounts: " + ", ".join(f"{k} {c}" for k, c in sorted(methods.items())))
    orgs.flush()
    if ctx.part_rejects:
        detail += f"; {len(ctx.part_rejects)} rows or awards rejected"
    ctx.describe(f"bulk_{layout}", detail, contract_bearing=n > 0)


def _pick(record: list[str], index: dict[str, int]) -> dict[str, str]:
    return {role: record[i] for role, i in index.items() if record[i] != ""}


def _transactions(ctx, orgs, rows, index) -> tuple[int, int, Counter]:
    tallies: dict[str, Tally] = {}
    methods: Counter = Counter()
    withheld: dict[str, int] = {}  # award -> line of its first bad transaction
    count = 0
    for line, record, malformed in rows:
        if malformed:
            award_id = _award_of_malformed(record, index, line)
            ctx.reject_part(f"line {line} ({award_id}): {len(record)} fields, not as many as"
                            " the header", "row")
            withheld.setdefault(award_id, line)
            continue
        row = _pick(record, index)
        award_id = row.get("award_key", "").strip()
        try:
            if not award_id:
                raise Rejected("no award key", "contract_award_unique_key")
            category = award_category(award_id, "contract_award_unique_key")
            obligation = amount(row.get("action_obligation"), "federal_action_obligation")
            stated = amount(row.get("award_total_obligated"), "total_dollars_obligated")
            action = v.day(row.get("action_date"), "action_date")
            if action is None:
                raise Rejected("no action date", "action_date")
            modified = v.moment(row.get("last_modified"), "last_modified_date")
        except Rejected as exc:
            ctx.reject_part(f"line {line} ({award_id or 'no award'}): {exc.reason}", exc.field)
            if award_id:
                withheld.setdefault(award_id, line)
            continue
        if category == "assistance":
            continue
        count += 1
        key = (action, modified or datetime.min, line)
        tallies.setdefault(award_id, Tally()).add(key, row, obligation, stated, action)
    for award_id, line in withheld.items():
        tallies.pop(award_id, None)
        ctx.reject_part(f"award {award_id} withheld: its transaction on line {line} was"
                        " rejected, so its total would be wrong", "contract_award_unique_key")
    for award_id, tally in tallies.items():
        award = _award(award_id, tally.latest)
        award.amount, method = tally.amount()
        methods[method] += 1
        if tally.duplicates:
            methods["duplicate rows ignored"] += tally.duplicates
        award.last_modified = tally.last_modified
        try:
            award.signed_on = tally.base_date
            award.started_on = v.day(tally.latest.get("pop_start"),
                                     "period_of_performance_start_date")
            award.first_action_on = tally.first_date
        except Rejected as exc:
            ctx.reject_part(f"award {award_id}: {exc.reason}", exc.field)
            continue
        emit_award(ctx, orgs, award, "bulk")
    return len(tallies), count, methods


def _award_summaries(ctx, orgs, rows, index) -> int:
    n = 0
    for line, record, malformed in rows:
        if malformed:
            award_id = _award_of_malformed(record, index, line)
            ctx.reject_part(f"line {line} ({award_id}): {len(record)} fields, not as many as"
                            " the header", "row")
            continue
        row = _pick(record, index)
        award_id = row.get("award_key", "").strip()
        try:
            if not award_id:
                raise Rejected("no award key", "contract_award_unique_key")
            if award_category(award_id, "contract_award_unique_key") == "assistance":
                continue
            award = _award(award_id, row)
            award.amount = amount(row.get("award_obligated"), "total_obligated_amount")
            award.signed_on = v.day(row.get("signed_on"), "award_base_action_date")
            award.started_on = v.day(row.get("pop_start"), "period_of_performance_start_date")
            award.last_modified = v.moment(row.get("last_modified"), "last_modified_date")
        except Rejected as exc:
            ctx.reject_part(f"line {line} ({award_id or 'no award'}): {exc.reason}", exc.field)
            continue
        emit_award(ctx, orgs, award, "bulk")
        n += 1
    return n
