"""Figures quoted in reporting, checked against the contracts in the warehouse.

A claim (one row of claims.csv) states a figure and its scope: buyer, vendor, category,
years, country, currency, and how the figure is meant ('at_least', 'about', 'exactly', with
a tolerance). `check` finds the contracts in that scope and says whether the records
support the figure, contradict it, or cannot yet tell, with the sum found, the gap and the
contracts behind it (ids and URLs), so a reader can check every step.

Matching rules (docs/claims.md):
- buyer / vendor: each `|`-separated pattern matches an org_id exactly when it looks like
  one (`RU-INN:7710...`, `name:eis:...`), otherwise case-insensitively as a substring of the
  organization's name or short name, or of its resolved entity's name or aliases.
  `vendor_not` removes contracts whose vendor matches (e.g. software from a hardware total).
- category: the contract carries a `tags` row in one of the `|`-separated categories.
- years: `contracts.year` between year_from and year_to (either may be open); a contract
  without a year only counts when the claim sets no year.
- currency: amounts are compared as published, in the claim's currency only; contracts in
  scope in other currencies, or without an amount, are counted and listed, never summed.
- country: `contracts.country`.
- Annulled contracts (never in force) are left out.
- Source `curated` is excluded by default: those rows are themselves reporting, so a claim
  would verify itself. With include_curated, the claim's own row (`from_row`) still is.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from survtrack.datafiles import DataFileError, rows
from survtrack.warehouse.schema import CANCELLED_STATUSES
from survtrack.warehouse.store import Warehouse

COMPARISONS = ("at_least", "about", "exactly")
SCOPES = ("total", "single")
STATUSES = ("supported", "contradicted", "not_yet_verifiable")
COLUMNS = ("id", "claim", "figure", "currency", "comparison", "tolerance", "scope", "buyer",
           "vendor", "vendor_not", "category", "country", "year_from", "year_to", "from_row",
           "url", "outlet", "published_on", "checked")
ORG_ID = re.compile(r"^([A-Z]{2}-[A-Z0-9]+|name):\S+$")


# The project's claims file sits beside the curated contracts it cites (issue: "a claims file
# beside the curated CSV"); it is data, read by path, so analysis imports nothing from scrapers.
DEFAULT_CLAIMS = Path(__file__).with_name("claims.csv")


class ClaimError(ValueError):
    """A claims file row that cannot be checked; names the claim and the column."""

    def __init__(self, claim_id: str, column: str, reason: str):
        super().__init__(f"claim {claim_id or '?'}: {column}: {reason}")
        self.claim_id, self.column, self.reason = claim_id, column, reason


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    figure: Decimal
    currency: str
    comparison: str
    tolerance: Decimal
    scope: str
    buyer: tuple[str, ...] = ()
    vendor: tuple[str, ...] = ()
    vendor_not: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    country: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    from_row: str | None = None
    url: str | None = None
    outlet: str | None = None
    published_on: str | None = None


@dataclass
class Evidence:
    contract_id: str
    source: str
    amount: Decimal | None
    currency: str | None
    year: int | None
    buyer: str | None
    vendor: str | None
    url: str | None
    document_id: str
    status: str | None = None


@dataclass
class Verdict:
    claim: Claim
    status: str
    found: Decimal | None
    gap: Decimal | None
    reason: str
    contracts: list[Evidence] = field(default_factory=list)
    other_currency: list[Evidence] = field(default_factory=list)
    unpriced: list[Evidence] = field(default_factory=list)
    # cancelled or annulled contracts in scope: shown, never summed
    cancelled: list[Evidence] = field(default_factory=list)
    # curated rows in the claim's scope (its own row included): pointers for the analyst to
    # follow up in the registries, never evidence
    leads: list[Evidence] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["claim"] = {k: (list(val) if isinstance(val, tuple) else val)
                        for k, val in asdict(self.claim).items()}
        return out


# -- reading claims --------------------------------------------------------------------------
def load_claims(path: Path) -> list[Claim]:
    try:
        found = rows(path, COLUMNS)
    except DataFileError as exc:
        raise ClaimError("", exc.column or "(file)", str(exc)) from None
    claims = [_claim(row) for row in found]
    ids = [c.id for c in claims]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ClaimError(dupes[0], "id", "duplicate claim id")
    return claims


def _claim(row: dict) -> Claim:
    row = {k: (v or "").strip() for k, v in row.items() if k is not None}
    cid = row["id"]
    for column in ("id", "claim", "figure", "currency", "comparison", "tolerance", "scope",
                   "url"):
        if not row[column]:
            raise ClaimError(cid, column, "is empty")
    if row["comparison"] not in COMPARISONS:
        raise ClaimError(cid, "comparison", f"{row['comparison']!r} not one of {COMPARISONS}")
    if row["scope"] not in SCOPES:
        raise ClaimError(cid, "scope", f"{row['scope']!r} not one of {SCOPES}")
    if not re.match(r"^[A-Z]{3}$", row["currency"]):
        raise ClaimError(cid, "currency", f"{row['currency']!r} is not an ISO 4217 code")
    figure, tolerance = _decimal(cid, row, "figure"), _decimal(cid, row, "tolerance")
    if figure <= 0:
        raise ClaimError(cid, "figure", "must be positive")
    if not 0 <= tolerance < 1:
        raise ClaimError(cid, "tolerance", "must be a fraction in [0, 1)")
    year_from, year_to = _year(cid, row, "year_from"), _year(cid, row, "year_to")
    if year_from and year_to and year_from > year_to:
        raise ClaimError(cid, "year_to", "is before year_from")
    return Claim(
        id=cid, claim=row["claim"], figure=figure, currency=row["currency"],
        comparison=row["comparison"], tolerance=tolerance, scope=row["scope"],
        buyer=_patterns(row["buyer"]), vendor=_patterns(row["vendor"]),
        vendor_not=_patterns(row["vendor_not"]), category=_patterns(row["category"]),
        country=row["country"].upper() or None, year_from=year_from, year_to=year_to,
        from_row=row["from_row"] or None, url=row["url"], outlet=row["outlet"] or None,
        published_on=row["published_on"] or None)


def _decimal(cid: str, row: dict, column: str) -> Decimal:
    try:
        value = Decimal(row[column].replace(" ", "").replace("_", ""))
    except InvalidOperation:
        raise ClaimError(cid, column, f"{row[column]!r} is not a number") from None
    if not value.is_finite():
        raise ClaimError(cid, column, f"{row[column]!r} is not finite")
    return value


def _year(cid: str, row: dict, column: str) -> int | None:
    if not row[column]:
        return None
    if not re.match(r"^\d{4}$", row[column]):
        raise ClaimError(cid, column, f"{row[column]!r} is not a year")
    return int(row[column])


def _patterns(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split("|") if p.strip())


# -- finding the evidence --------------------------------------------------------------------
def _org_match(alias: str, patterns: tuple[str, ...], params: list) -> str:
    """SQL matching organization `alias` (joined with its entity `alias`e) any pattern."""
    ors = []
    for p in patterns:
        if ORG_ID.match(p):
            ors.append(f"({alias}.org_id = ? OR {alias}.entity_id = ?)")
            params += [p, p]
        else:
            ors.append(
                f"(strpos(lower(coalesce({alias}.name, '')), lower(?)) > 0"
                f" OR strpos(lower(coalesce({alias}.short_name, '')), lower(?)) > 0"
                f" OR strpos(lower(coalesce({alias}e.name, '')), lower(?)) > 0"
                f" OR list_bool_or(list_transform(coalesce({alias}e.aliases, []::VARCHAR[]),"
                f" lambda a: strpos(lower(a), lower(?)) > 0)))")
            params += [p, p, p, p]
    return "(" + " OR ".join(ors) + ")"


def evidence(wh: Warehouse, claim: Claim, include_curated: bool = False,
             own_row: bool = False) -> list[Evidence]:
    """Every contract in the claim's scope (any currency, priced or not). The claim's own
    curated row is left out unless `own_row` (it is the report being checked)."""
    where, params = ["TRUE"], []
    if not include_curated:
        where.append("c.source <> 'curated'")
    if claim.from_row and not own_row:
        where.append("c.contract_id <> ?")
        params.append(f"curated:{claim.from_row}")
    if claim.buyer:
        where.append(_org_match("b", claim.buyer, params))
    if claim.vendor:
        where.append(_org_match("v", claim.vendor, params))
    if claim.vendor_not:
        where.append(f"NOT coalesce({_org_match('v', claim.vendor_not, params)}, false)")
    if claim.category:
        where.append("EXISTS (SELECT 1 FROM tags t WHERE t.contract_id = c.contract_id"
                     f" AND t.category IN ({', '.join('?' for _ in claim.category)}))")
        params += list(claim.category)
    if claim.country:
        where.append("c.country = ?")
        params.append(claim.country)
    if claim.year_from is not None:
        where.append("c.year >= ?")
        params.append(claim.year_from)
    if claim.year_to is not None:
        where.append("c.year <= ?")
        params.append(claim.year_to)
    sql = f"""
        SELECT c.contract_id, c.source, c.amount, c.currency, c.year, b.name, v.name, c.url,
               c.document_id, c.status
        FROM contracts c
        LEFT JOIN organizations b ON b.org_id = c.buyer_id
        LEFT JOIN entities be ON be.entity_id = b.entity_id
        LEFT JOIN organizations v ON v.org_id = c.vendor_id
        LEFT JOIN entities ve ON ve.entity_id = v.entity_id
        WHERE {' AND '.join(where)}
        ORDER BY c.amount DESC NULLS LAST, c.contract_id"""
    return [Evidence(*row) for row in wh.query(sql, params)]


# -- judging ---------------------------------------------------------------------------------
def check(wh: Warehouse, claim: Claim, include_curated: bool = False) -> Verdict:
    found = evidence(wh, claim, include_curated)
    # a cancelled or annulled contract never adds to spending: listed apart, never summed
    cancelled = [e for e in found if e.status in CANCELLED_STATUSES]
    found_all = [e for e in found if e.status not in CANCELLED_STATUSES]
    priced = [e for e in found_all if e.amount is not None and e.currency == claim.currency]
    other = [e for e in found_all if e.amount is not None and e.currency != claim.currency]
    unpriced = [e for e in found_all if e.amount is None]
    verdict = (_single if claim.scope == "single" else _total)(claim, priced)
    verdict.other_currency, verdict.unpriced, verdict.cancelled = other, unpriced, cancelled
    if not include_curated:
        verdict.leads = [e for e in evidence(wh, claim, include_curated=True, own_row=True)
                         if e.source == "curated"]
    return verdict


def _bounds(claim: Claim) -> tuple[Decimal, Decimal]:
    slack = claim.figure * claim.tolerance
    return claim.figure - slack, claim.figure + slack


def _within(claim: Claim, amount: Decimal) -> bool:
    low, high = _bounds(claim)
    return amount >= low if claim.comparison == "at_least" else low <= amount <= high


def _single(claim: Claim, priced: list[Evidence]) -> Verdict:
    if not priced:
        return Verdict(claim, "not_yet_verifiable", None, None,
                       f"no contract in scope priced in {claim.currency}")
    matching = [e for e in priced if _within(claim, e.amount)]
    if matching:
        best = min(matching, key=lambda e: abs(e.amount - claim.figure))
        return Verdict(claim, "supported", best.amount, best.amount - claim.figure,
                       f"{len(matching)} contract(s) in scope match the figure", matching)
    closest = min(priced, key=lambda e: abs(e.amount - claim.figure))
    if len(priced) > 1:  # which of them the report meant is unknown: no contradiction
        return Verdict(claim, "not_yet_verifiable", closest.amount,
                       closest.amount - claim.figure,
                       f"{len(priced)} contracts in scope, none within the tolerance; narrow"
                       " the scope to decide", priced)
    return Verdict(claim, "contradicted", closest.amount, closest.amount - claim.figure,
                   f"the one contract in scope, {closest.contract_id}, differs from the"
                   " figure beyond the tolerance", priced)


def _total(claim: Claim, priced: list[Evidence]) -> Verdict:
    if not priced:
        return Verdict(claim, "not_yet_verifiable", None, None,
                       f"no contract in scope priced in {claim.currency}")
    total = sum((e.amount for e in priced), Decimal(0))
    gap = total - claim.figure
    high = _bounds(claim)[1]
    if _within(claim, total):
        return Verdict(claim, "supported", total, gap,
                       f"sum of {len(priced)} contract(s) meets the figure", priced)
    if claim.comparison != "at_least" and total > high:
        return Verdict(claim, "contradicted", total, gap,
                       f"sum of {len(priced)} contract(s) already exceeds the figure", priced)
    return Verdict(claim, "not_yet_verifiable", total, gap,
                   f"sum of {len(priced)} contract(s) falls short; the warehouse may not hold"
                   " every contract in scope", priced)


def check_all(wh: Warehouse, claims: list[Claim], include_curated: bool = False
              ) -> list[Verdict]:
    return [check(wh, claim, include_curated) for claim in claims]


STATUS_WORDS = {"supported": "supported", "contradicted": "contradicted",
                "not_yet_verifiable": "not yet verifiable"}
COMPARISON_WORDS = {"at_least": "at least", "about": "about", "exactly": "exactly"}


def amount_text(value, currency: str | None) -> str:
    """'3,300,000,000 RUB', '224,000.50 USD'; 'no amount' for none (never 'None USD')."""
    if value is None:
        return "no amount"
    text = f"{Decimal(value):,.2f}".removesuffix(".00")
    return f"{text} {currency}" if currency else text


def summary_line(verdicts: list[Verdict]) -> str:
    """'7 claims: 1 supported, 0 contradicted, 6 not yet verifiable'."""
    counts = {status: sum(v.status == status for v in verdicts) for status in STATUSES}
    return (f"{len(verdicts)} claim{'s' if len(verdicts) != 1 else ''}: "
            + ", ".join(f"{n} {STATUS_WORDS[status]}" for status, n in counts.items()))


def report(verdicts: list[Verdict], include_curated: bool = False) -> list[str]:
    """The readable report (Rich markup): a summary, then each claim, its verdict in words and
    the records behind it, and each lead with the `survtrack scrape` command that looks it up
    online. Amounts are exact (a journalist quotes them); URLs stay on one line each."""
    from rich.markup import escape

    from survtrack.analysis.leads import verify_lead

    lines = [f"[bold]{summary_line(verdicts)}[/bold] ({'with' if include_curated else 'without'}"
             " curated rows as evidence)"]
    for v in verdicts:
        c = v.claim
        colour = {"supported": "green", "contradicted": "red"}.get(v.status, "yellow")
        lines.append(f"\n[bold]{c.id}[/bold]: [{colour}]{STATUS_WORDS[v.status]}[/{colour}]"
                     f" — {escape(c.claim)}")
        lines.append(f"  claimed: {COMPARISON_WORDS.get(c.comparison, c.comparison)}"
                     f" {amount_text(c.figure, c.currency)}"
                     + ("" if v.found is None else f"; found {amount_text(v.found, c.currency)}")
                     + ("" if v.gap is None else f"; gap {v.gap:+,.2f}".removesuffix(".00"))
                     + f"; {escape(v.reason)}")
        lines.append(f"  cited: {c.url}")
        for e in v.contracts:
            lines.append(f"  record {e.contract_id}: {amount_text(e.amount, e.currency)}"
                         f" ({e.year or 'year not known'})" + (f" {e.url}" if e.url else ""))
        for e in v.other_currency + v.unpriced:
            lines.append(f"  in scope, not summed: {e.contract_id},"
                         f" {amount_text(e.amount, e.currency)}")
        for e in v.cancelled:
            lines.append(f"  cancelled ({e.status}), never summed: {e.contract_id},"
                         f" {amount_text(e.amount, e.currency)}")
        for e in v.leads:
            figure = "no amount summed (a ceiling)" if e.amount is None else \
                amount_text(e.amount, e.currency)
            lines.append(f"  lead from reporting (not evidence): {e.contract_id}, {figure}"
                         f" ({e.year or 'year not reported'})")
            command = verify_lead(e.contract_id, e.year, e.vendor)
            if command:  # Rich markup would read a [ as a tag
                lines.append("    verify online: " + escape(command))
    return lines
