"""Front page: spending by vendor entity and year, with every filter in the URL."""

from __future__ import annotations

from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import dcc, html

from survtrack.analysis import context, levels, spending
from survtrack.analysis.spending import Filters

from .. import figures, formats, labels
from .. import flags as flag_views
from ..common import kpi, records, selection_summary, toggle_button
from ..i18n import dropdown_labels, t
from ..urls import href, settle_currency

COMPARED = 4  # the top vendors (buyers) the "compare" link puts side by side
TOP_VENDORS = 7  # Okabe-Ito's seven colours, plus grey for the others


def _dropdown(id_: str, options: list, value, lang: str, clearable: bool = True, **kw):
    kw.setdefault("placeholder", t("any", lang))
    return dcc.Dropdown(id=id_, options=options, value=value, clearable=clearable,
                        labels=dropdown_labels(lang), **kw)


def party_option(row) -> dict:
    """A dropdown option that typing any merged spelling of the party finds."""
    return {"label": row.name, "value": row.key,
            "search": f"{row.name} {row.key} {row.names}"}


def party_options(con, role: str, chosen: list[str]) -> list[dict]:
    """The busiest vendors (or buyers) plus the chosen ones; typing searches the rest."""
    found = spending.search_parties(con, role, None, include=chosen)
    return [party_option(r) for r in records(found)]


def chosen(f: Filters, role: str) -> list[str]:
    """The keys a party control shows chosen: one vendor, or the vendors compared."""
    if role == "vendor" and f.vendors:
        return list(f.vendors)
    key = getattr(f, role)
    return [key] if key else []


def controls(con, f: Filters, lang: str) -> html.Div:
    opts = spending.choices(con)
    first, last = opts["years"]
    years = list(range(first, last + 1)) if first and last else []
    currencies = [{"label": t("usd_converted", lang), "value": "USD"}] + [
        {"label": f"{c} ({t('in_currency', lang)})", "value": c}
        for c in opts["currency"] if c != "USD"]
    if not f.usd and f.currency not in opts["currency"]:
        currencies.append({"label": f.currency, "value": f.currency})
    # no currency asked for: the control stays empty and says which money it shows
    shown = t("usd_converted", lang) if f.usd else f"{f.currency} ({t('in_currency', lang)})"
    currency_control = _dropdown("f-currency", currencies,
                                 None if f.currency_auto else f.currency, lang,
                                 placeholder=t("currency_auto", lang).format(currency=shown))

    def field(label_key: str, control) -> dbc.Col:
        return dbc.Col([dbc.Label(t(label_key, lang), html_for=control.id), control], md=3, sm=6,
                       className="mb-2")

    # wide screens: the card above the chart; phones: a drawer opened by "Filters" (a
    # dbc.Collapse drawn as an off-canvas panel by style.css; app.py toggles it)
    head = html.Div([html.H2(t("filters_title", lang), className="filters-title"),
                     html.Button(t("close", lang), id="filters-close", type="button",
                                 className="filters-close")], className="filters-head")
    toggle = toggle_button(t("filters_open", lang), "filters-toggle", "filters-panel",
                           "filters-toggle")
    return html.Div([toggle, dbc.Collapse(dbc.Card(dbc.CardBody([
        head,
        dbc.Row([
            field("f_country", _dropdown("f-country", [
                {"label": formats.country_name(c, lang), "value": c} for c in opts["country"]],
                f.country, lang)),
            field("f_source", _dropdown("f-source", [
                {"label": labels.source_name(s, lang), "value": s} for s in opts["source"]],
                f.source, lang)),
            field("f_category", _dropdown("f-category", [
                {"label": labels.category_name(c, lang), "value": c} for c in opts["category"]],
                f.category, lang)),
            field("f_currency", currency_control),
            # several vendors: compare mode; several buyers: /compare (app.py)
            *[field(f"f_{role}", _dropdown(f"f-{role}", party_options(con, role, chosen(f, role)),
                                           chosen(f, role), lang, multi=True))
              for role in ("buyer", "vendor")],
            field("f_from", _dropdown("f-from", years, f.year_from, lang)),
            field("f_to", _dropdown("f-to", years, f.year_to, lang)),
            field("f_measure", _dropdown("f-measure", [
                {"label": t(f"measure_{m}", lang), "value": m}
                for m in spending.MEASURE_COLUMNS], f.measure, lang, clearable=False)),
            field("f_flag", _dropdown("f-flag", flag_views.options(lang), f.flag, lang)),
        ]),
        html.P(t("parties_hint", lang), className="hint small", id="parties-hint"),
        dbc.Switch(id="f-surveillance", value=f.surveillance_only,
                   label=t("f_surveillance", lang)),
    ]), className="mb-3 filters"), id="filters-panel", is_open=False,
        className="filters-panel")])


PARTY_VIEWS = {"vendor": spending.by_vendor, "buyer": spending.by_buyer}


def level_switch(f: Filters, lang: str) -> html.Fieldset:
    """Buyers as signed, one level up or at the top (levels.py); the choice is kept in the
    URL (`level=`)."""
    return html.Fieldset([
        html.Legend(t("buyer_level", lang), className="form-label small mb-0"),
        dbc.RadioItems(id="buyer-level", inline=True, value=f.buyer_level, options=[
            {"label": t(f"buyer_level_{lvl}", lang), "value": lvl} for lvl in levels.LEVELS]),
        html.P(t("buyer_level_hint", lang), className="hint small"),
    ], className="level-switch mb-2")


def party_cell(r, role: str, f: Filters, lang: str) -> list:
    """A vendor or buyer by name, linking to its profile, with how many names (and, rolled
    up, bodies) it merges and the members of a joint award."""
    cell = [dcc.Link(labels.party_label(r.key, r.name, role, lang),
                     href=href(f"/{role}", f.with_(**{role: None}), lang, id=r.key))]
    notes = []
    if getattr(r, "bodies", 1) and r.bodies > 1:
        notes.append(formats.count(r.bodies, "bodies", lang))
    if getattr(r, "names", 1) and r.names > 1:
        notes.append(formats.count(r.names, "names", lang))
    if notes:
        cell.append(html.Small(" · " + ", ".join(notes), className="merged-names text-muted"))
    members = getattr(r, "members", None)
    if members is not None and len(members):
        cell.append(html.Div(t("joint_members", lang).format(names=", ".join(members)),
                             className="joint-members small text-muted"))
    member_of = getattr(r, "member_of", None)
    if member_of is not None and len(member_of):
        cell.append(html.Div(t("member_of", lang).format(names=", ".join(member_of)),
                             className="member-of small text-muted"))
    return cell


def _party_table(con, f: Filters, role: str, lang: str) -> html.Table:
    """The top ten vendors or buyers, each linking to its profile and to its contracts."""
    df = PARTY_VIEWS[role](con, f, limit=10)
    rows = [html.Tr([
        html.Td(party_cell(r, role, f, lang)),
        html.Td(formats.money(r.amount, f.currency, lang), className="num"),
        html.Td(formats.percent(r.share, lang), className="num"),
        html.Td(dcc.Link(formats.number(r.contracts, lang),
                         href=href("/contracts", f.with_(**{role: r.key}), lang)),
                className="num"),
    ]) for r in records(df)]
    head = html.Tr([html.Th(t(f"f_{role}", lang)), html.Th(t("amount", lang)),
                    html.Th(t("share", lang)), html.Th(t("contracts", lang))])
    compared = [k for k in df["key"][:COMPARED] if k != labels.UNPUBLISHED]
    link = href("/compare", f.with_(vendor=None, buyer=None), lang)  # its own parties only
    link += ("&" if "?" in link else "?") + urlencode({role: compared}, doseq=True)
    return html.Div([
        level_switch(f, lang) if role == "buyer" else None,
        html.Table([html.Thead(head), html.Tbody(rows)], className="table table-sm",
                   id=f"top-{role}s"),
        dcc.Link(t(f"compare_top_{role}s", lang).format(n=len(compared)), href=link,
                 id=f"compare-{role}s") if len(compared) > 1 else None])


def compare_note(f: Filters, lang: str) -> html.P:
    """Compare mode: the way to the side-by-side table and back to every vendor."""
    keys = urlencode({"vendor": list(f.vendors)}, doseq=True)
    table = href("/compare", f.with_(vendor=None), lang)
    return html.P([
        dcc.Link(t("compare_table_link", lang), id="compare-table-link",
                 href=table + ("&" if "?" in table else "?") + keys), " · ",
        dcc.Link(t("compare_end", lang), id="compare-end",
                 href=href("/", f.with_(vendor=None), lang))], className="hint")


def chart_table(bars, f: Filters, lang: str) -> html.Details:
    """The chart's bars as a table, each linking to the contracts behind it: what a screen
    reader or a keyboard reaches instead of the bars."""
    top = [k for k in dict.fromkeys(bars["vendor_key"]) if k != spending.OTHERS]
    rows = []
    for r in records(bars.sort_values(["rank", "year"], na_position="last")):
        name = t("others", lang) if r.vendor_key == spending.OTHERS else \
            labels.party_label(r.vendor_key, r.vendor_name, "vendor", lang)
        year = None if r.year is None else int(r.year)
        target = spending.selection(f, r.vendor_key, year, top, undated=year is None)
        rows.append(html.Tr([
            html.Td(name), html.Td(figures.year_label(r.year, lang)),
            html.Td(formats.money(r.amount, f.currency, lang, compact=False), className="num"),
            html.Td(dcc.Link(formats.number(r.contracts, lang),
                             href=href("/contracts", target, lang)), className="num")]))
    head = html.Tr([html.Th(t("f_vendor", lang)), html.Th(t("year", lang)),
                    html.Th(t("amount", lang), className="num"),
                    html.Th(t("contracts", lang), className="num")])
    return html.Details([html.Summary(t("chart_as_table", lang)),
                         html.Table([html.Thead(head), html.Tbody(rows)],
                                    className="table table-sm")],
                        id="overview-table", className="chart-table")


def not_converted_note(con, f: Filters, lang: str) -> html.Div:
    """Beside a US-dollar total: the amounts left out, per currency, each linking to the
    view in that currency, with why and what to run."""
    left = records(spending.not_converted(con, f))
    parts = []
    for r in left:
        amount = formats.money(r.amount, r.currency or "", lang)
        label = f"{amount} ({formats.count(r.contracts, 'contracts', lang)}" + (
            f", {t('of_them_undated', lang).format(n=formats.number(r.undated, lang))})"
            if r.undated else ")")
        parts += [", " if parts else "",
                  dcc.Link(label, href=href("/", f.with_(currency=r.currency), lang))
                  if r.currency else label]
    return html.Div([html.Strong(t("not_in_total", lang) + ": "), *parts,
                     html.P(t("not_converted_why", lang), className="small text-muted mb-0")],
                    id="not-converted", className="callout")


def totals_row(con, f: Filters, lang: str) -> dbc.Row:
    tot = records(spending.totals(con, f))[0]
    cards = [kpi(t("total", lang), formats.money(tot.total, f.currency, lang), "kpi-total"),
             kpi(t("contracts", lang), formats.number(tot.contracts, lang), "kpi-contracts"),
             kpi(t("vendors", lang), formats.number(tot.vendors, lang), "kpi-vendors")]
    missing = int(tot.not_converted) if f.usd else 0
    no_money = "no_amount" if f.measure == "value" else "no_payments"
    cards.append(kpi(t("not_converted", lang) if f.usd else t(no_money, lang),
                     formats.number(missing if f.usd else tot.no_amount, lang),
                     "kpi-not-converted"))
    rows = [dbc.Row(cards, className="mb-3 g-2")]
    if missing:  # never hidden: what the dollar total leaves out, in its own money
        rows.append(not_converted_note(con, f, lang))
    if f.measure == "paid":  # what the paid total stands on
        rows.append(html.P(t("paid_note", lang).format(
            n=formats.number(tot.with_payments, lang), m=formats.number(tot.no_amount, lang)),
            id="paid-note", className="small text-muted"))
    if tot.cancelled:  # listed with the contracts, never in a sum
        rows.append(html.P([t("cancelled_note", lang).format(
            n=formats.number(tot.cancelled, lang)), " ", dcc.Link(
                t("cancelled_show", lang), href=href("/contracts", f, lang))],
            id="cancelled-note", className="small text-muted"))
    if f.source is None:  # curated leads are marked wherever they are summed with records
        curated = spending.count_contracts(con, f.with_(source="curated"))
        if curated:
            rows.append(html.P([t("curated_note", lang).format(n=formats.number(curated, lang)),
                                " ", dcc.Link(t("curated_show", lang), href=href(
                                    "/contracts", f.with_(source="curated"), lang))],
                               id="curated-note", className="small text-muted"))
    return html.Div(rows)


def layout(con, f: Filters, query: dict, lang: str):
    f = settle_currency(con, f)  # Russia alone in roubles; several currencies in dollars
    # compare mode (vendor=a&vendor=b): those vendors alone, their bars side by side
    bars = spending.by_vendor_year(con, f, top=len(f.vendors) or TOP_VENDORS)
    # with a buyer or vendor chosen, its court cases, complaints and sanctions join the timeline
    events = context.events_for(con, [f.buyer, f.vendor], years=(f.year_from, f.year_to)) \
        if (f.buyer or f.vendor) else None
    conc = records(spending.concentration(con, f))[0]
    cats = labels.with_category_names(spending.by_category(con, f), lang)
    empty = bars.empty
    return html.Div([
        controls(con, f, lang),
        selection_summary(f, lang, labels.names_of(con, f)),
        totals_row(con, f, lang),
        html.H1(t("spending_by_vendor", lang)),
        compare_note(f, lang) if f.vendors else None,
        html.P(t("chart_hint", lang), className="hint"),
        html.P(t("no_data", lang), className="empty") if empty else None,
        dcc.Graph(id="overview-chart",
                  figure=figures.vendor_year_bars(bars, f.currency, lang, events=events,
                                                  side_by_side=bool(f.vendors)),
                  config={"displaylogo": False, "responsive": True}),
        None if empty else chart_table(bars, f, lang),
        dbc.Row([
            dbc.Col([html.H2(t("top_vendors", lang)), _party_table(con, f, "vendor", lang),
                     html.H2(t("concentration", lang)),
                     html.Dl([html.Dt(t("hhi", lang)),
                              html.Dd(formats.number(conc.hhi, lang), id="hhi"),
                              html.Dt(t("top1_share", lang)),
                              html.Dd(formats.percent(conc.top1_share, lang)),
                              html.Dt(t("top5_share", lang)),
                              html.Dd(formats.percent(conc.top5_share, lang))])], md=6),
            dbc.Col([html.H2(t("top_buyers", lang)), _party_table(con, f, "buyer", lang),
                     html.H2(t("by_category", lang)),
                     dcc.Graph(id="category-chart",
                               figure=figures.ranked_bars(cats, "name", f.currency, lang,
                                                         key="category"),
                               config={"displaylogo": False})], md=6),
        ]),
        flag_views.selection_flags(con, f, lang),
    ])

