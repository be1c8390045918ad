"""The notebook API: a warehouse, tidy DataFrames, spending views and charts in a few lines.

    from survtrack.analysis.notebook import open_warehouse
    st = open_warehouse()                       # SURVTRACK_DB, else ./data/survtrack.duckdb
    st.contracts(country="RU", category="facial_recognition")
    st.spending("vendor_year", country="RU")    # a DataFrame computed in DuckDB
    st.chart("vendor_year", country="RU")       # a plotly figure
    st.claims()                                  # reported figures checked against the records

Filters are keyword arguments: country, source, category, buyer, vendor (entity or org id),
years=(first, last), currency ("USD" for converted sums, or an original ISO 4217 code), and
everything=True for all contracts instead of the surveillance-tagged ones. Sums follow the
spending views' rules: currencies never mix, unconverted amounts are counted, not guessed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px

from survtrack import config
from survtrack.analysis import spending
from survtrack.analysis.spending import Filters
from survtrack.warehouse.export import neutralise
from survtrack.warehouse.snapshot import FACTS_SQL
from survtrack.warehouse.store import Warehouse

# Okabe-Ito: distinguishable with every common colour-vision deficiency
PALETTE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
           "#999999"]
VIEWS = {
    "vendor_year": spending.by_vendor_year, "vendor": spending.by_vendor,
    "buyer": spending.by_buyer, "category": spending.by_category,
    "country": spending.by_country, "year": spending.by_year,
    "concentration": spending.concentration, "totals": spending.totals,
}


def filters(*, country=None, source=None, category=None, buyer=None, vendor=None,
            years: tuple[int | None, int | None] | None = None, currency: str = "USD",
            everything: bool = False) -> Filters:
    first, last = years or (None, None)
    return Filters(country=country, source=source, category=category, buyer=buyer,
                   vendor=vendor, year_from=first, year_to=last, currency=currency.upper(),
                   surveillance_only=not everything)


class Investigation:
    """A read-only view of one warehouse for notebooks."""

    def __init__(self, db: str | Path | None = None):
        self.path = config.db_path(db)
        if not self.path.exists():
            raise FileNotFoundError(f"no warehouse at {self.path}: run `survtrack demo --no-serve`"
                                    " or `survtrack ingest` first")
        self.warehouse = Warehouse(self.path, read_only=True,
                                   archive=config.archive_path(self.path))
        self.con = self.warehouse.con

    def close(self) -> None:
        self.warehouse.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        """Any read-only SQL over the tidy tables, as a DataFrame."""
        return self.con.execute(query, params or []).df()

    def contracts(self, **kw) -> pd.DataFrame:
        """Contracts with vendor entity, buyer, categories, tag evidence and amounts in USD."""
        where, params = spending._where(filters(**kw))
        return self.con.execute(
            f"""SELECT f.contract_id, f.source, f.country, f.year, f.signed_on,
                       f.vendor_name, f.vendor_key, f.buyer_name, f.buyer_key, f.title,
                       f.amount, f.currency, f.amount_usd, f.status, f.categories,
                       (SELECT string_agg(DISTINCT t.rule || ': ' || t.evidence, ' | ')
                        FROM tags t WHERE t.contract_id = f.contract_id) AS evidence,
                       f.url, f.document_id
                FROM ({FACTS_SQL}) f WHERE {where}
                ORDER BY f.year DESC NULLS LAST, f.amount_usd DESC NULLS LAST""",
            params).df()

    def spending(self, view: str = "vendor_year", **kw) -> pd.DataFrame:
        """A spending view by name: one of VIEWS."""
        if view not in VIEWS:
            raise KeyError(f"unknown view {view!r}; views: {', '.join(VIEWS)}")
        return VIEWS[view](self.con, filters(**kw))

    def chart(self, view: str = "vendor_year", **kw):
        """A plotly figure of a spending view (stacked bars by vendor and year by default)."""
        f = filters(**kw)
        data = self.spending(view, **kw)
        unit = "US dollars" if f.usd else f.currency
        if view == "vendor_year":
            data = data.assign(year=data["year"].astype("Int64").astype(str))
            fig = px.bar(data, x="year", y="amount", color="vendor_name", barmode="stack",
                         color_discrete_sequence=PALETTE,
                         labels={"amount": unit, "vendor_name": "vendor", "year": "year"})
        elif view in ("vendor", "buyer", "country"):
            fig = px.bar(data, x="amount", y="name", orientation="h",
                         color_discrete_sequence=PALETTE, labels={"amount": unit, "name": view})
        elif view in ("category", "year"):
            fig = px.bar(data, x=view, y="amount", color_discrete_sequence=PALETTE,
                         labels={"amount": unit})
        else:
            raise KeyError(f"no chart for view {view!r}")
        fig.update_layout(template="plotly_white", legend_title_text="")
        return fig

    def claims(self, include_curated: bool = False) -> pd.DataFrame:
        """Every claim of the project's claims file, checked against the warehouse."""
        from survtrack.analysis.claims import DEFAULT_CLAIMS, check_all, load_claims

        verdicts = check_all(self.warehouse, load_claims(DEFAULT_CLAIMS), include_curated)
        return pd.DataFrame([v.as_dict() for v in verdicts])

    def provenance(self, contract_id: str) -> pd.DataFrame:
        """The documents behind a contract: every version's document, payments' documents,
        with the public URL and the path of the archived bytes."""
        docs = self.con.execute(
            """SELECT DISTINCT d.document_id, d.source, d.kind, d.url, d.origin, d.fetched_at
               FROM documents d WHERE d.document_id IN (
                   SELECT document_id FROM contract_versions WHERE contract_id = ?
                   UNION SELECT document_id FROM contracts WHERE contract_id = ?
                   UNION SELECT document_id FROM payments WHERE contract_id = ?)""",
            [contract_id] * 3).df()
        docs["archived_at"] = [str(self.warehouse.archive.path(d)) for d in docs["document_id"]]
        return docs

    def export(self, frame: pd.DataFrame, path: str | Path) -> Path:
        """Write a DataFrame as CSV, Parquet or XLSX, by the file's extension. In CSV and XLSX
        a text cell a spreadsheet would run as a formula gets a leading apostrophe."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        elif path.suffix == ".xlsx":
            frame.map(neutralise).to_excel(path, index=False)
        else:
            frame.map(neutralise).to_csv(path, index=False)
        return path


def open_warehouse(db: str | Path | None = None) -> Investigation:
    return Investigation(db)
