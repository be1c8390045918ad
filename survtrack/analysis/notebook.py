"""The notebook API: a warehouse, tidy DataFrames, spending views and charts in a few lines.

    from survtrack.analysis.notebook import open_warehouse
    st = open_warehouse()                       # SURVTRACK_DB, else data/survtrack.duckdb
                                                # (relative paths: here, else the project root)
    st.contracts(country="RU", category="facial_recognition")
    st.spending("vendor_year", country="RU")    # a DataFrame computed in DuckDB
    st.chart("vendor_year", country="RU")       # a plotly figure
    st.claims()                                  # reported figures checked against the records
    st.events(buyer="ent:...")                  # court cases, complaints, sanctions (context)
    st.leads(buyer="Москв|Moscow")              # contracts known from reporting, and how to verify
    st.timeline("Москв|Moscow")                 # leads, records and challenges by year, one figure
    st.flags()                                   # red flags per flag and source, honest rates
    st.flags(contract_id="eis:…")                # every flag of one contract, with evidence
    st.flagged("single_bid", country="RU")       # the contracts raising a flag
    st.spending("flag_rates", country="RU")      # each flag's rate in a selection (as the dashboard)
    st.competition("eis:…"); st.thread("eis:…")  # how it was won; its story, step by step

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
from survtrack.analysis import flags, palette, spending
from survtrack.analysis.facts import FACTS_SQL
from survtrack.analysis.palette import COLOURS, OTHERS, SERIES
from survtrack.analysis.spending import Filters
from survtrack.warehouse.export import neutralise
from survtrack.warehouse.store import Warehouse

CHART_TITLES = {"vendor_year": "Spending by vendor and year", "vendor": "Spending by vendor",
                "buyer": "Spending by buyer", "category": "Spending by category",
                "country": "Spending by country", "year": "Spending by year"}
VIEWS = {
    "vendor_year": spending.by_vendor_year, "vendor": spending.by_vendor,
    "buyer": spending.by_buyer, "category": spending.by_category,
    "country": spending.by_country, "year": spending.by_year,
    "concentration": spending.concentration, "totals": spending.totals,
    "flag_rates": spending.flag_rates,  # per red flag: raised of knowable, share of the money
}


def filters(*, country=None, source=None, category=None, buyer=None, vendor=None,
            years: tuple[int | None, int | None] | None = None, currency: str = "USD",
            everything: bool = False, measure: str = "value", flag: str | None = None) -> Filters:
    """`measure`: "value" (the contracts' value) or "paid" (their published payments);
    `flag`: only contracts raising that red flag (analysis/flags/flags.csv)."""
    first, last = years or (None, None)
    if measure not in spending.MEASURE_COLUMNS:
        raise ValueError(f"measure is one of {list(spending.MEASURE_COLUMNS)}, not {measure!r}")
    if flag is not None and flag not in flags.definitions():
        raise KeyError(f"unknown flag {flag!r}; flags: {', '.join(flags.definitions())}")
    return Filters(flag=flag, country=country, source=source, category=category, buyer=buyer,
                   vendor=vendor, year_from=first, year_to=last, currency=currency.upper(),
                   surveillance_only=not everything, measure=measure)


class Investigation:
    """A read-only view of one warehouse for notebooks."""

    def __init__(self, db: str | Path | None = None):
        self.path = config.find_db(db)
        if not self.path.exists():
            root = config.project_root()
            raise FileNotFoundError(
                f"no warehouse at {self.path} (looked in {Path.cwd()}"
                + (f" and in the project folder {root}" if root else "")
                + "): run `survtrack demo --no-serve` or `survtrack ingest` in the project"
                " folder, or set SURVTRACK_DB to the warehouse file")
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
            f"""SELECT f.contract_id, f.source, f.country, f.year, f.date_basis, f.signed_on,
                       f.vendor_name, f.vendor_key, f.buyer_name, f.buyer_key, f.title,
                       f.amount, f.currency, f.amount_usd, f.paid, f.paid_usd, f.status,
                       f.cancelled, f.categories,
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
        """A plotly figure of a spending view (stacked bars by vendor and year by default):
        titled by what it shows, axes titled with their unit, years in calendar order
        (contracts without a year last, as "n.d."), the colour-blind-safe palette."""
        f = filters(**kw)
        data = self.spending(view, **kw)
        unit = "US dollars (converted)" if f.usd else f"{f.currency} (as published)"
        scope = ", ".join(str(v) for v in (f.country, f.category, f.source) if v)
        title = f"{CHART_TITLES.get(view, view)}{f' — {scope}' if scope else ''}, {unit}"
        if view in ("vendor_year", "year"):
            years = data["year"].astype("Int64")
            data = data.assign(year=[str(y) if y is not pd.NA else "n.d." for y in years])
            order = [str(y) for y in sorted(years.dropna().unique())] + ["n.d."]
        if view == "vendor_year":
            # each vendor in its own colour, from its key as on the dashboard; others grey
            named = [k for k in dict.fromkeys(data["vendor_key"]) if k != spending.OTHERS]
            styles = dict(zip(named, palette.vendor_styles(named)))
            names = dict(zip(data["vendor_key"], data["vendor_name"]))
            fig = px.bar(data, x="year", y="amount", color="vendor_name", barmode="stack",
                         color_discrete_map={"others": OTHERS, **{
                             names[k]: colour for k, (colour, _) in styles.items()}},
                         category_orders={"year": order},
                         labels={"amount": f"amount, {unit}", "vendor_name": "vendor",
                                 "year": "year signed"})
            shapes = {names[k]: shape for k, (_, shape) in styles.items()}
            fig.for_each_trace(lambda tr: tr.update(
                marker_line={"color": palette.OUTLINE, "width": 1},
                marker_pattern=palette.pattern(shapes.get(tr.name, ""))))
        elif view in ("vendor", "buyer", "country"):
            fig = px.bar(data, x="amount", y="name", orientation="h",
                         color_discrete_sequence=SERIES,
                         labels={"amount": f"amount, {unit}", "name": view})
            fig.update_yaxes(autorange="reversed")  # the biggest on top, as the table reads
        elif view in ("category", "year"):
            fig = px.bar(data, x=view, y="amount", color_discrete_sequence=SERIES,
                         category_orders={"year": order} if view == "year" else None,
                         labels={"amount": f"amount, {unit}", "year": "year signed"})
        else:
            raise KeyError(f"no chart for view {view!r}")
        fig.update_layout(template="plotly_white", legend_title_text="", title=title)
        fig.update_xaxes(type="category") if view in ("vendor_year", "year") else None
        return fig

    def claims(self, include_curated: bool = False) -> pd.DataFrame:
        """Every claim of the project's claims file, checked against the warehouse."""
        from survtrack.analysis.claims import DEFAULT_CLAIMS, check_all, load_claims

        verdicts = check_all(self.warehouse, load_claims(DEFAULT_CLAIMS), include_curated)
        return pd.DataFrame([v.as_dict() for v in verdicts])

    def events(self, *, buyer: str | None = None, vendor: str | None = None,
               named: str | None = None, years: tuple[int | None, int | None] | None = None,
               kinds: list[str] | None = None) -> pd.DataFrame:
        """Court cases, rulings, complaints, sanctions and laws (the context_events table):
        all of them, or those concerning a buyer or vendor key, or any organization whose
        name contains one of the `|`-separated patterns of `named`."""
        from survtrack.analysis import context

        keys = [k for k in (buyer, vendor) if k]
        if named:
            keys += context.keys_named(self.con, named)
        if buyer or vendor or named:
            return context.events_for(self.con, keys, years=years, kinds=kinds)
        return context.events(self.con, years=years, kinds=kinds)

    def leads(self, *, buyer: str | None = None, country: str | None = None) -> pd.DataFrame:
        """Contracts known from reporting, with the reported figure, its basis, the citation
        and the `survtrack scrape eis` command that looks each up online."""
        from survtrack.analysis.leads import leads

        return leads(self.con, buyer=buyer, country=country)

    def timeline(self, named: str, *, country: str | None = None, currency: str = "RUB",
                 also: str | None = None):
        """One figure by year for the organizations whose names contain `named` (patterns
        separated by `|`): reported leads and registry records (surveillance-tagged, in
        `currency`, never mixed) as bars, court cases, complaints and sanctions as markers.
        `also` adds the events of more organizations (a vendor, say) to the markers."""
        from plotly.subplots import make_subplots


        leads = self.leads(buyer=named, country=country)
        records = self.contracts(country=country, currency=currency)
        records = records[(records["source"] != "curated")
                          & records["buyer_name"].str.contains(named, case=False, na=False)]
        events = self.events(named=named + (f"|{also}" if also else ""))
        events = events[events["occurred_on"].notna()]
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28],
                            vertical_spacing=0.06)
        money = leads[leads["currency"] == currency]
        for label, frame, amount, colour in (
                ("leads from reporting (amount as reported)",
                 money[money["amount_basis"] != "ceiling"], "reported_amount", COLOURS["orange"]),
                ("tenders from reporting (ceiling, never summed)",
                 money[money["amount_basis"] == "ceiling"], "reported_amount", COLOURS["vermillion"]),
                ("registry records", records, "amount", COLOURS["blue"])):
            dated = frame[frame["year"].notna()]
            by_year = dated.groupby(dated["year"].astype(int))[amount].agg(["sum", "count"])
            fig.add_bar(x=by_year.index, y=by_year["sum"], name=label, marker_color=colour,
                        customdata=by_year["count"], row=1, col=1,
                        hovertemplate="%{x}: %{y:,.0f} " + currency + " in %{customdata}"
                                      "<extra>" + label + "</extra>")
        kinds = sorted(events["kind"].unique()) if not events.empty else []
        for i, kind in enumerate(kinds):
            group = events[events["kind"] == kind]
            fig.add_scatter(
                x=[d.year + (d.dayofyear - 1) / 366 for d in group["occurred_on"]],
                y=[kind.replace("_", " ")] * len(group), mode="markers", name=kind,
                marker={"symbol": "diamond", "size": 11, "color": SERIES[(i + 1) % len(SERIES)]},
                hovertext=[f"{d:%Y-%m-%d}: {t} ({o})" for d, t, o in
                           zip(group["occurred_on"], group["title"], group["outcome"])],
                hovertemplate="%{hovertext}<extra></extra>", row=2, col=1, showlegend=False)
        fig.update_layout(template="plotly_white", barmode="group", height=560,
                          legend={"orientation": "h", "y": -0.12},
                          title=f"{named}: leads, records and challenges by year")
        fig.update_yaxes(title_text=currency, row=1, col=1)
        fig.update_xaxes(dtick=1, row=2, col=1, title_text="year")
        return fig

    def flags(self, contract_id: str | None = None) -> pd.DataFrame:
        """Red flags (docs/flags.md): per flag and source, contracts raised, clear and not
        knowable, with the rate over the knowable; or every flag of one contract."""
        from survtrack.analysis import flags

        if contract_id is not None:
            return pd.DataFrame(flags.for_contract(self.con, contract_id))
        return pd.DataFrame(flags.counts(self.con))

    def flagged(self, flag: str, **kw) -> pd.DataFrame:
        """The contracts (of the filters' selection) raising `flag`, with value and evidence."""
        from survtrack.analysis import flags

        names = flags.known_names([flag])
        where, params = spending._where(filters(**kw))
        return self.con.execute(
            f"SELECT f.flag, f.value, f.threshold, f.evidence, f.document_id AS evidence_document,"
            f" cf.* FROM ({FACTS_SQL}) cf JOIN ({flags.stored_sql(self.con)}) f"
            " USING (contract_id)"
            f" WHERE f.raised AND f.flag IN (SELECT unnest(?::VARCHAR[])) AND {where}"
            " ORDER BY cf.amount_usd DESC NULLS LAST", [names, *params]).df()

    def competition(self, contract_id: str) -> pd.Series:
        """How one contract was won: procedure, bids, tender period, estimate, values."""
        frame = self.sql("SELECT * FROM competition WHERE contract_id = ?", [contract_id])
        if frame.empty:
            raise KeyError(f"no competition facts for {contract_id!r}: run `survtrack build`")
        return frame.iloc[0]

    def thread(self, contract_id: str) -> pd.DataFrame:
        """One contract's procurement as a story: notice, protocols, contract, versions,
        payments and events in time order, each with its document."""
        from survtrack.analysis import threads

        return pd.DataFrame(threads.for_contract(self.con, contract_id))

    def provenance(self, contract_id: str) -> pd.DataFrame:
        """The documents behind a contract: every version's document, payments' documents,
        with the public URL and where the archived bytes are (a file, or SEGMENT@OFFSET+SIZE
        for a small document packed by an ingest; `warehouse.archive.read(id)` reads either)."""
        docs = self.con.execute(
            """SELECT DISTINCT d.document_id, d.source, d.kind, d.url, d.origin, d.fetched_at
               FROM documents d WHERE d.document_id IN (
                   SELECT document_id FROM contract_versions WHERE contract_id = ?
                   UNION SELECT document_id FROM contracts WHERE contract_id = ?
                   UNION SELECT document_id FROM payments WHERE contract_id = ?)""",
            [contract_id] * 3).df()
        docs["archived_at"] = [self.warehouse.archive.where(d) for d in docs["document_id"]]
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
