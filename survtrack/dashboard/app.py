"""The Dash app: routing, the callbacks that keep the URL and the views in step, and the
Flask routes for archived documents and downloads.

State lives in the URL: every filter is a query parameter, so a view is a link, and
back/forward replay it. Pages are rendered on the server from the URL; controls only write
the URL. The app reads a read-only snapshot of the warehouse (`SnapshotReader`), never the
warehouse a scrape may be writing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlencode

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from flask import Response, abort, request, send_file

from survtrack import api, config
from survtrack.analysis import facts, levels, spending
from survtrack.warehouse.archive import Archive
from survtrack.warehouse.snapshot import SnapshotReader

from . import cache, downloads, figures, labels, urls
from .common import navbar, not_found, records
from .i18n import language, t
from .pages import compare, contract, contracts, countries, document, overview, profile
from .pages import search as search_page
from .readable import readable_page
from .urls import first, from_query, href, parse_search, to_query

DOCUMENT_ID = re.compile(r"^[0-9a-f]{64}$")
FILTER_CONTROLS = ["f-country", "f-source", "f-category", "f-currency", "f-buyer", "f-vendor",
                   "f-from", "f-to", "f-surveillance", "f-measure", "f-flag"]


def render(reader: SnapshotReader, pathname: str | None, search: str | None,
           archive: Archive | None = None):
    query = parse_search(search)
    lang = language(first(query, "lang"))
    f = from_query(query)
    con = reader.cursor()
    path = (pathname or "/").rstrip("/") or "/"
    pages = {
        "/": lambda: overview.layout(con, f, query, lang),
        "/contracts": lambda: contracts.layout(con, f, query, lang),
        "/vendor": lambda: profile.layout(con, "vendor", f, query, lang),
        "/buyer": lambda: profile.layout(con, "buyer", f, query, lang),
        "/countries": lambda: countries.layout(con, f, query, lang),
        "/search": lambda: search_page.layout(con, query, lang),
        "/compare": lambda: compare.layout(con, f, query, lang),
    }
    if path.startswith("/contract/"):  # the id is URL-encoded whole: unquote once
        body = contract.layout(con, unquote(path[len("/contract/"):]), f, query, lang, archive)
    elif path.startswith("/document/"):
        body = document.layout(con, unquote(path[len("/document/"):]), query, lang, archive)
    elif path not in pages:
        body = not_found(lang)
    else:
        unknown = spending.unknown_values(con, f)
        body = refused(path, query, unknown, lang) if unknown else pages[path]()
    snapshot = reader.path.stem if reader.path else "–"
    footer = html.Footer(f"{t('snapshot', lang)}: {snapshot}", className="footer")
    return navbar(path, search, lang), [body, footer]


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def page_title(con, pathname: str | None, search: str | None) -> dict:
    """The browser tab says what the page shows ('NtechLab — vendor — survtrack'), in the
    page's language (also set as <html lang>)."""
    query = parse_search(search)
    lang = language(first(query, "lang"))
    path = (pathname or "/").rstrip("/") or "/"
    parts = {"/": [t("title_overview", lang)], "/contracts": [t("title_contracts", lang)],
             "/countries": [t("title_countries", lang)], "/compare": [t("title_compare", lang)],
             "/search": [f"«{first(query, 'q')}»"] * bool(first(query, "q"))
             + [t("title_search", lang)]}
    if path in ("/vendor", "/buyer"):
        role = path[1:]
        name = labels.party_name(con, role, first(query, "id"))
        parts[path] = [name or t("title_not_found", lang), t(f"title_{role}", lang)]
    elif path.startswith("/contract/"):
        found = con.execute("SELECT title FROM contracts WHERE contract_id = ?",
                            [unquote(path[len("/contract/"):])]).fetchone()
        parts[path] = [_shortened(found[0], 60) if found and found[0] else
                       t("title_not_found", lang), t("title_contract", lang)]
    elif path.startswith("/document/"):
        parts[path] = [t("title_document", lang)]
    return {"title": " — ".join([*parts.get(path, [t("title_not_found", lang)]), "survtrack"]),
            "lang": lang}


def refused(path: str, query: dict, unknown: dict[str, tuple[str, list]], lang: str):
    """A filter value no contract has (a mistyped or stale link): say so, offer the rest."""
    params = {k: v for k, v in query.items()
              if k not in {urls.QUERY_PARAMS.get(name, name) for name in unknown}}
    lines = []
    for name, (value, known) in unknown.items():
        shown = ", ".join(map(str, known[:30])) + (" …" if len(known) > 30 else "")
        lines.append(html.P(t("unknown_value", lang).format(
            filter=t("f_" + name, lang), value=value, known=shown or "–")))
    return html.Div([html.H1(t("refused_title", lang)), *lines,
                     dcc.Link(t("without_filter", lang),
                              href=path + ("?" + urlencode(params, doseq=True) if params else ""),
                              id="without-filter")], id="unknown-filter")


def _keys(value) -> list[str]:
    """A party control's value (a list of keys, or one key) as a list."""
    if value in (None, ""):
        return []
    return [v for v in value if v] if isinstance(value, list) else [value]


def filters_to_search(values: list, search: str | None) -> str:
    """The URL query for the control values (keeping the language). Several vendors chosen:
    compare mode (vendor=a&vendor=b)."""
    (country, source, category, currency, buyer, vendor, year_from, year_to, surv, measure,
     flag) = values
    query = {"country": country, "source": source, "category": category,
             "currency": currency, "buyer": (_keys(buyer) or [None])[0],
             "from": year_from, "to": year_to, "scope": None if surv else "all",
             "measure": measure, "flag": flag}
    current = parse_search(search)
    query = {k: str(v) for k, v in query.items() if v not in (None, "")}
    query["vendor"] = _keys(vendor)
    query["not_vendor"] = current.get("not_vendor", [])  # no control shows it: keep it
    query["level"] = first(current, "level")  # the buyer tables' own switch sets it
    params = to_query(from_query(query))
    lang = language(first(current, "lang"))
    if lang != "en":
        params["lang"] = lang
    return "?" + urlencode(params, doseq=True) if params else ""


def filters_to_url(values: list, search: str | None) -> tuple[str, str]:
    """(pathname, search) for the control values: the overview, or with several buyers
    chosen, those buyers side by side on /compare under the other filters."""
    new = filters_to_search(values, search)
    buyers = _keys(values[4])
    if len(buyers) < 2:
        return "/", new
    query = parse_search(new)
    query.pop("vendor", None)  # /compare puts buyers side by side: the vendor filters go
    query.pop("not_vendor", None)
    query["buyer"] = buyers
    return "/compare", "?" + urlencode(query, doseq=True)


def with_level(search: str | None, value: str | None) -> str:
    """The URL query with the buyer level set to `value` (the default level leaves none)."""
    query = parse_search(search)
    query.pop("level", None)
    if levels.level(value) != levels.DEFAULT:
        query["level"] = [levels.level(value)]
    return "?" + urlencode(query, doseq=True) if query else ""


def drill_down(search: str | None, vendor: str | None, year,
               top_vendors: list[str] | tuple[str, ...] = ()) -> tuple[str, str]:
    """(pathname, search) of the contracts behind a bar or a legend entry.

    `year` is the bar's year, "" for the bar of contracts without a date, None for a legend
    entry (every year)."""
    query = parse_search(search)
    lang = language(first(query, "lang"))
    undated = year == ""
    year = int(year) if isinstance(year, (int, float)) or str(year).isdigit() else None
    target = spending.selection(from_query(query), vendor, year, top_vendors,
                                undated=undated)
    link = href("/contracts", target, lang)
    return "/contracts", link[len("/contracts"):]


def _is_context(traces: list[dict], index) -> bool:
    """Whether trace `index` is the chart's court-case and complaint markers."""
    return isinstance(index, int) and 0 <= index < len(traces) and \
        traces[index].get("meta") == figures.CONTEXT_TRACE


def _named_vendors(figure: dict | None) -> list[str]:
    """The vendor keys the chart shows by name (every trace but "others")."""
    keys = [trace["customdata"][0][0] for trace in (figure or {}).get("data", [])
            if trace.get("customdata")]
    return [k for k in keys if k != spending.OTHERS]


def create_app(db_path: str | os.PathLike | None = None, *,
               reader: SnapshotReader | None = None, archive: Path | None = None,
               cache_entries: int | None = None) -> Dash:
    """The dashboard over the current snapshot of the warehouse at `db_path`.

    Callback answers are cached per snapshot (cache.py; `cache_entries` answers, default
    SURVTRACK_DASHBOARD_CACHE or 256, 0 for none)."""
    # absolute now: Flask resolves a relative file against the package folder, not the cwd
    db = config.db_path(db_path).absolute()
    reader = reader or SnapshotReader(db, publish=facts.publish_snapshot)
    archive_store = Archive(archive or config.archive_path(db))
    app = Dash(__name__, title="survtrack", suppress_callback_exceptions=True,
               assets_folder=str(Path(__file__).with_name("assets")), update_title=None)
    app.layout = html.Div([
        dcc.Location(id="url", refresh="callback-nav"),
        dcc.Store(id="filters-open", data=False),  # the phone's filter drawer, open or not
        html.Div(id="navbar"),
        dcc.Store(id="page-meta"),
        dcc.Loading(html.Main(id="page", className="page"), delay_show=300),
    ])

    @app.callback(Output("navbar", "children"), Output("page", "children"),
                  Output("page-meta", "data"), Input("url", "pathname"), Input("url", "search"))
    def _render(pathname, search):
        return (*render(reader, pathname, search, archive_store),
                page_title(reader.cursor(), pathname, search))

    # the tab's title and <html lang> follow the page (Dash serves one static index page)
    app.clientside_callback(
        """function(meta) { if (meta) { document.title = meta.title;
                                        document.documentElement.lang = meta.lang; }
                           return window.dash_clientside.no_update; }""",
        Output("page-meta", "id"), Input("page-meta", "data"))

    # the phone's menu and filter drawer: open and close in the browser, no round trip; the
    # drawer takes the focus when it opens and gives it back to its button when it closes
    app.clientside_callback(
        """function(n, open) { return [!open, String(!open)]; }""",
        Output("nav-menu", "is_open"), Output("nav-toggle", "aria-expanded"),
        Input("nav-toggle", "n_clicks"), State("nav-menu", "is_open"),
        prevent_initial_call=True)
    # the drawer stays open across the re-renders its own filter changes cause, until the
    # analyst closes it: its state is kept outside the page (filters-open); after a change the
    # focus goes back to the control last used (a11y.js records it), drawer or not
    app.clientside_callback(
        """function(opened, closed, stored) {
             // a drawer just rendered has no clicks yet: it opens as it was left
             const clicked = opened || closed;
             const trig = (window.dash_clientside.callback_context.triggered || [])
               .map(t => t.prop_id);
             const next = !clicked ? !!stored
               : trig.some(p => p.startsWith('filters-toggle.')) ? !stored : false;
             const last = !clicked && window.survtrackFilterFocus;
             if (clicked || next || last) setTimeout(() => {
               const lost = !document.activeElement || document.activeElement === document.body;
               const e = (last && document.getElementById(last))
                 || document.getElementById(next ? 'filters-close' : 'filters-toggle');
               if (e && (clicked || lost)) e.focus(); }, 50);
             return [next, String(next), next]; }""",
        Output("filters-panel", "is_open"), Output("filters-toggle", "aria-expanded"),
        Output("filters-open", "data"),
        Input("filters-toggle", "n_clicks"), Input("filters-close", "n_clicks"),
        State("filters-open", "data"))

    @app.callback(Output("url", "pathname", allow_duplicate=True),
                  Output("url", "search"), [Input(c, "value") for c in FILTER_CONTROLS],
                  State("url", "search"), prevent_initial_call=True)
    def _filters(*args):
        *values, search = args
        path, new = filters_to_url(values, search)
        if path == "/" and new == (search or ""):
            return no_update, no_update
        return (no_update if path == "/" else path), new

    @app.callback(Output("url", "search", allow_duplicate=True), Input("buyer-level", "value"),
                  State("url", "search"), prevent_initial_call=True)
    def _level(value, search):
        new = with_level(search, value)
        return no_update if new == (search or "") else new

    for role in ("vendor", "buyer"):
        @app.callback(Output(f"f-{role}", "options"), Input(f"f-{role}", "search_value"),
                      State(f"f-{role}", "value"), prevent_initial_call=True)
        def _search(text, value, role=role):
            if not text:
                return no_update
            found = spending.search_parties(reader.cursor(), role, text, include=_keys(value))
            return [overview.party_option(r) for r in records(found)]

    @app.callback(Output("url", "pathname"), Output("url", "search", allow_duplicate=True),
                  Input("overview-chart", "clickData"), Input("overview-chart", "restyleData"),
                  State("overview-chart", "figure"), State("url", "search"),
                  prevent_initial_call=True)
    def _drill(click, restyle, figure, search):
        # fired with empty values when the page renders the chart: nothing was clicked
        trigger = ctx.triggered[0] if ctx.triggered else {}
        if not trigger.get("value"):
            return no_update, no_update
        traces = (figure or {}).get("data", [])
        if trigger["prop_id"].endswith("clickData"):
            point = (click or {}).get("points", [{}])[0]
            if _is_context(traces, point.get("curveNumber")):  # an event marker: no contracts
                return no_update, no_update
            vendor, year = (point.get("customdata") or [None, None])[:2]
            return drill_down(search, vendor, year, _named_vendors(figure))
        # a legend click toggles one trace: open that vendor's contracts over all years
        if restyle and len(restyle) == 2 and len(restyle[1]) == 1:
            if _is_context(traces, restyle[1][0]):
                return no_update, no_update
            trace = traces[restyle[1][0]]
            return drill_down(search, trace["customdata"][0][0], None, _named_vendors(figure))
        return no_update, no_update

    @app.callback(Output("url", "pathname", allow_duplicate=True),
                  Output("url", "search", allow_duplicate=True),
                  Input("country-chart", "clickData"), State("url", "search"),
                  prevent_initial_call=True)
    def _country(click, search):
        if not click:
            return no_update, no_update
        point = (click or {}).get("points", [{}])[0]
        country = (point.get("customdata") or [None])[0]
        query = parse_search(search)
        lang = language(first(query, "lang"))
        link = href("/", from_query(query).with_(country=country), lang)
        return "/", link[1:]

    @app.callback(Output("contracts-grid", "getRowsResponse"),
                  Input("contracts-grid", "getRowsRequest"), State("url", "search"),
                  prevent_initial_call=True)
    def _rows(req, search):
        query = parse_search(search)
        return contracts.page_rows(reader.cursor(), from_query(query), req,
                                   language(first(query, "lang")))

    _routes(app, reader, archive_store)
    api.mount(app.server, reader)  # /api/: the read-only JSON API (docs/api.md)
    cache.install(app, reader.db_path, cache_entries)
    # Dash sets itself up (registering the scripts it may serve) on a process's first request,
    # and concurrent first requests race it: a gunicorn worker whose first requests were the
    # page's scripts answered 500. One request now, before any server thread runs.
    app.server.test_client().get(app.config.routes_pathname_prefix + "_dash-layout")
    return app


def _routes(app: Dash, reader: SnapshotReader, archive: Archive) -> None:
    server = app.server

    def archived(document_id: str):
        """The media type of a known, archived document, or abort with 400/404."""
        if not DOCUMENT_ID.match(document_id):
            abort(400, "a document id is 64 lowercase hex characters")
        known, media_type = spending.document_media_type(reader.cursor(), document_id)
        if not known or not archive.has(document_id):
            abort(404)
        return media_type

    @server.route("/document/<document_id>/raw")
    def document_raw(document_id: str):
        """The archived bytes of a document, exactly as the source published them."""
        media_type = archived(document_id)
        path = archive.path(document_id)  # its own file, or the bytes packed in a segment
        response = send_file(path if path.is_file() else archive.open(document_id),
                             mimetype=media_type or "application/octet-stream",
                             download_name=f"{document_id}{_extension(media_type)}",
                             as_attachment=False, max_age=86400, etag=document_id)
        # archived pages are someone else's HTML: never let them run scripts on our origin
        response.headers["Content-Security-Policy"] = "sandbox"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @server.route("/document/<document_id>/view")
    def document_view(document_id: str):
        """The document's content laid out readably (the document page frames it)."""
        media_type = archived(document_id)
        page = readable_page(archive.read(document_id), media_type, request.args.get("row"),
                             title=document_id)
        return Response(page, mimetype="text/html", headers={
            # only our own escaped markup and style: no script, no fetch, no form
            "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=86400"})

    # The document and contract pages are Dash pages; these routes serve the same page with
    # HTTP 404 when the id is unknown, so links and crawlers learn it too.
    @server.route("/document/<document_id>")
    def document_page(document_id: str):
        known = DOCUMENT_ID.match(document_id) and spending.document_media_type(
            reader.cursor(), document_id)[0]
        return app.index(), 200 if known else 404

    @server.route("/contract/<path:contract_id>")
    def contract_page(contract_id: str):
        known = spending.contract_exists(reader.cursor(), contract_id)
        return app.index(), 200 if known else 404

    @server.route("/download/contracts.<fmt>")
    def download(fmt: str):
        """The contracts of the URL's selection, described by the file itself."""
        if fmt not in ("csv", "xlsx"):
            abort(404)
        f = from_query(request.args.to_dict(flat=False))
        con = reader.cursor()
        unknown = spending.unknown_values(con, f)
        if unknown:
            abort(400, "; ".join(f"no contract has {name} {value!r}"
                                 for name, (value, _) in unknown.items()))
        snapshot = reader.path.stem if reader.path else "no-snapshot"
        meta = downloads.about(f, snapshot, spending.count_contracts(con, f),
                               downloads.view_path(f))
        names, batches = spending.iter_contracts(con, f)
        names = [*names, "contract_page", "document_raw"]
        rows = downloads.rows_with_links(names, batches, request.host_url.rstrip("/"))
        name = downloads.file_name(f, snapshot, fmt)
        if fmt == "csv":
            return Response(downloads.csv_stream(meta, names, rows),
                            mimetype="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f"attachment; filename={name}"})
        try:
            book = downloads.xlsx(meta, names, rows)
        except OverflowError as exc:
            abort(413, str(exc))
        return send_file(book, as_attachment=True, download_name=name,
                         mimetype="application/vnd.openxmlformats-officedocument"
                                  ".spreadsheetml.sheet")


def _extension(media_type: str | None) -> str:
    return {"application/xml": ".xml", "text/xml": ".xml", "application/json": ".json",
            "text/html": ".html", "application/zip": ".zip", "text/csv": ".csv"}.get(
        (media_type or "").split(";")[0], "")


def server_from_env():
    """WSGI entry point for gunicorn workers: the warehouse from SURVTRACK_DB."""
    return create_app(os.environ.get("SURVTRACK_DB")).server
