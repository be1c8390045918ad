"""Suspicious values: loaded as published, but flagged in the `warnings` table.

A negative amount, a date outside 1990-2035, text with replacement characters or UTF-8 read
in the wrong encoding is not a reason to drop a record (it may be a real refund, a real typo
the analyst must see), but nobody should sum it unawares. The rules are data
(`suspicious.csv`, one documented row each); the store calls `flags` on every batch of rows it
writes, so every source is covered, and `survtrack status` counts the flags.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from survtrack.datafiles import rows

RULES_FILE = Path(__file__).with_name("suspicious.csv")
# which column names a contract in each table's rows
CONTRACT_OF = {"contracts": "contract_id", "contract_versions": "contract_id",
               "items": "contract_id", "payments": "contract_id"}
KEY_OF = {"organizations": "org_id"}


@dataclass(frozen=True)
class Rule:
    rule: str
    table: str
    column: str
    test: str
    limit: str
    reason: str
    # the test as a function of a value, made once (flags runs it on every row written)
    broken: object = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "broken", self._test())

    def broken_by(self, value) -> bool:
        return value is not None and self.broken(value)

    def _test(self):
        if self.test == "below":
            limit = Decimal(self.limit)
            return lambda v: isinstance(v, (int, float, Decimal)) and v < limit
        if self.test == "outside_years":
            first, last = map(int, self.limit.split("-"))
            return lambda v: isinstance(v, (date, datetime)) and not first <= v.year <= last
        if self.test == "replacement":
            return lambda v: isinstance(v, str) and "\ufffd" in v
        if self.test == "mojibake":
            return lambda v: isinstance(v, str) and mojibake(v)
        raise ValueError(f"suspicious.csv: unknown test {self.test!r} in rule {self.rule}")


@cache
def rules() -> dict[str, list[Rule]]:
    by_table: dict[str, list[Rule]] = {}
    for row in rows(RULES_FILE, ("rule", "table", "column", "test", "limit", "reason")):
        rule = Rule(**row)
        by_table.setdefault(rule.table, []).append(rule)
    return by_table


def _sequence(encoding: str) -> str:
    """A regex class pair: a UTF-8 lead byte then a continuation byte, as `encoding` shows them."""
    lead = bytes(range(0xC2, 0xF5)).decode(encoding, errors="ignore")
    follow = bytes(range(0x80, 0xC0)).decode(encoding, errors="ignore")
    return f"[{re.escape(lead)}][{re.escape(follow)}]"


# Text that decodes to UTF-8 beyond ASCII once encoded back holds such a pair somewhere: a
# regex finds it in C, so the encode/decode below runs only on the few texts that have one
# (Russian text in Cyrillic letters almost never does).
_MAYBE = re.compile(f"{_sequence('cp1251')}|{_sequence('latin-1')}")
# The pair's second character alone: a one-class scan, ~2x cheaper than _MAYBE over Russian
# text (nearly every Cyrillic letter is a lead byte in Windows-1251, so _MAYBE tries a pair
# at each letter), and absent from most texts.
_FOLLOW = re.compile("[" + re.escape("".join(
    sorted({*bytes(range(0x80, 0xC0)).decode("cp1251", errors="ignore"),
            *bytes(range(0x80, 0xC0)).decode("latin-1")}))) + "]")


def mojibake(text: str) -> bool:
    """UTF-8 bytes decoded as Windows-1251 or ISO-8859-1: encoding the text back gives valid
    UTF-8 with characters beyond ASCII ('Ð”Ð•ÐŸ' -> 'ДЕП', 'CompaÃ±Ã­a' -> 'Compañía')."""
    if text.isascii() or not _FOLLOW.search(text) or not _MAYBE.search(text):
        return False
    for wrong in ("cp1251", "latin-1"):
        try:
            fixed = text.encode(wrong).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if fixed != text and not fixed.isascii():
            return True
    return False


def flags(rows: dict[str, list[dict]], document_id: str, source: str,
          flagged_at: datetime) -> list[dict]:
    """`warnings` rows for the rows about to be written (a batch's rows carry `_doc`)."""
    out: dict[str, dict] = {}
    for table, table_rules in rules().items():
        table_rows = rows.get(table)
        if not table_rows:
            continue
        for row in table_rows:
            for rule in table_rules:
                value = row.get(rule.column)
                if value is None or not rule.broken(value):
                    continue
                doc = row.get("_doc", document_id)
                key = row.get(CONTRACT_OF.get(table, ""), row.get(KEY_OF.get(table, ""), ""))
                warning_id = hashlib.sha256(
                    f"{doc}|{table}|{key}|{row.get('line_no', row.get('payment_id', row.get('version', '')))}"
                    f"|{rule.column}|{rule.rule}".encode()).hexdigest()[:32]
                out[warning_id] = {
                    "warning_id": warning_id, "source": source, "document_id": doc,
                    "contract_id": row.get(CONTRACT_OF.get(table, "")), "table_name": table,
                    "record_key": str(key) or None, "column_name": rule.column,
                    "value": str(value)[:200], "rule": rule.rule, "reason": rule.reason,
                    "flagged_at": flagged_at}
    return list(out.values())


def for_contract(con, contract_id: str) -> list[tuple]:
    """(column, value, rule, reason) flagged on the version of a contract now shown, and on
    its parties: what the contract page lists under "suspicious values". `con` is any DuckDB
    connection to a warehouse or a snapshot (both hold `warnings`)."""
    return con.execute(
        """SELECT w.column_name, w.value, w.rule, w.reason FROM warnings w
           JOIN contracts c ON c.contract_id = ?
           WHERE (w.contract_id = c.contract_id AND w.document_id = c.document_id)
              OR (w.table_name = 'organizations' AND w.record_key IN (c.buyer_id, c.vendor_id)
                  AND w.document_id = c.document_id)
           ORDER BY w.table_name, w.column_name""", [contract_id]).fetchall()
