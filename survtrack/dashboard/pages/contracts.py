"""The contracts behind a selection: a grid paged, sorted and filtered on the server."""

from __future__ import annotations

import dash_ag_grid as dag
import pandas as pd
from dash import html

from survtrack.analysis import spending
from survtrack.analysis.spending import Filters

from .. import formats, labels
from ..common import records, selection_summary
from ..i18n import grid_locale, t
from ..urls import contract_href, href

PAGE = 100


def columns(lang: str) -> list[dict]:
    text = {"filter": "agTextColumnFilter", "floatingFilter": True,
            "filterParams": {"filterOptions": ["contains", "equals", "startsWith"],
                             "maxNumConditions": 1}}
    number = {"filter": "agNumberColumnFilter", "floatingFilter": True,
              "filterParams": {"filterOptions": ["greaterThan", "lessThan", "equals", "inRange"],
                               "maxNumConditions": 1}}
    return [
        {"field": "contract_id", "headerName": t("contract_id", lang), "width": 230,
         "cellRenderer": "AppLink", "cellRendererParams": {"hrefField": "contract_href"},
         **text},
        {"field": "signed_on", "headerName": t("signed_on", lang), "width": 120},
        {"field": "vendor_name", "headerName": t("f_vendor", lang), "cellRenderer": "AppLink",
         "cellRendererParams": {"hrefField": "vendor_href"}, "flex": 2, "minWidth": 200, **text},
        {"field": "buyer_name", "headerName": t("f_buyer", lang), "cellRenderer": "AppLink",
         "cellRendererParams": {"hrefField": "buyer_href"}, "flex": 2, "minWidth": 200, **text},
        {"field": "title", "headerName": t("title", lang), "flex": 3, "minWidth": 260, **text},
        {"field": "amount", "headerName": t("amount", lang), "type": "rightAligned",
         "valueGetter": {"function": "params.data && params.data.amount_text"}, "width": 170,
         **number},
        {"field": "amount_usd", "headerName": t("amount_usd", lang), "type": "rightAligned",
         "valueGetter": {"function": "params.data && params.data.amount_usd_text"},
         "width": 150, **number},
        {"field": "country", "headerName": t("f_country", lang), "width": 90, **text},
        {"field": "source", "headerName": t("f_source", lang), "width": 140,
         "valueGetter": {"function": "params.data && params.data.source_text"}},
        {"field": "status", "headerName": t("status", lang), "width": 110, **text},
        {"field": "url", "headerName": t("source_page", lang), "sortable": False,
         "cellRenderer": "ExternalLink", "cellRendererParams": {"label": t("source_page", lang)},
         "width": 150},
        {"field": "document_id", "headerName": t("document", lang), "sortable": False,
         "cellRenderer": "DocumentLink", "cellRendererParams": {"label": t("document", lang)},
         "width": 170},
    ]


def rows(df: pd.DataFrame, f: Filters, lang: str) -> list[dict]:
    """Grid rows: raw values plus the display text and links the renderers show."""
    out = []
    for r in records(df):
        out.append({
            "contract_id": r.contract_id, "signed_on": formats.day(r.signed_on, lang),
            "vendor_name": labels.party_label(r.vendor_key, r.vendor_name, "vendor", lang),
            "buyer_name": labels.party_label(r.buyer_key, r.buyer_name, "buyer", lang),
            "title": r.title,
            "amount_text": formats.money(r.amount, r.currency or "", lang, compact=False),
            "amount_usd_text": formats.money(r.amount_usd, "USD", lang, compact=False),
            "country": r.country, "source": r.source,
            "source_text": labels.source_name(r.source, lang), "status": labels.status_name(r.status, lang), "url": r.url,
            "document_id": r.document_id, "contract_href": contract_href(r.contract_id, lang),
            "vendor_href": href("/vendor", f.with_(vendor=None), lang, id=r.vendor_key),
            "buyer_href": href("/buyer", f.with_(buyer=None), lang, id=r.buyer_key),
        })
    return out


# AG Grid's filter types -> the neutral ops of spending.where()
AG_TEXT_OPS = {"contains": "contains", "notContains": "not_contains", "equals": "is",
               "notEqual": "is_not", "startsWith": "starts_with", "endsWith": "ends_with"}
AG_NUMBER_OPS = {"equals": "=", "notEqual": "<>", "greaterThan": ">",
                 "greaterThanOrEqual": ">=", "lessThan": "<", "lessThanOrEqual": "<="}


def conditions(filter_model: dict) -> list[spending.Condition]:
    """AG Grid's filterModel as spending's (column, op, value) conditions; a filter of a
    kind or type it does not know is dropped."""
    out: list[spending.Condition] = []
    for column, spec in filter_model.items():
        if not isinstance(spec, dict):
            continue
        kind, op, value = spec.get("filterType"), spec.get("type"), spec.get("filter")
        if kind == "text" and op in AG_TEXT_OPS:
            out.append((column, AG_TEXT_OPS[op], value))
        elif kind == "number" and op == "inRange":
            out.append((column, "between", (value, spec.get("filterTo"))))
        elif kind == "number" and op in AG_NUMBER_OPS:
            out.append((column, AG_NUMBER_OPS[op], value))
    return out


def grid_request(request) -> tuple[int, int, list[spending.Sort], list[spending.Condition]]:
    """(start, end, sort, conditions) of a getRowsRequest, whatever the client sent: rows are
    clamped to 0..10^9 and at most 10,000 a page, a sort or filter that is not the shape AG Grid
    sends is dropped (a malformed request gets the default page, never a server error)."""
    request = request if isinstance(request, dict) else {}

    def row(value, default: int) -> int:
        try:
            return max(0, min(int(value), 10**9))
        except (TypeError, ValueError, OverflowError):
            return default

    start = row(request.get("startRow") or 0, 0)
    end = row(request.get("endRow") or start + PAGE, start + PAGE)
    end = min(max(end, start), start + 10_000)
    model = request.get("sortModel") if isinstance(request.get("sortModel"), list) else []
    sort = [(s.get("colId"), s.get("sort")) for s in model if isinstance(s, dict)]
    filters = request.get("filterModel") if isinstance(request.get("filterModel"), dict) else {}
    return start, end, sort, conditions(filters)


def page_rows(con, f: Filters, request: dict | None, lang: str) -> dict:
    """The answer to one AG Grid getRowsRequest (the callback and the benchmark call this)."""
    start, end, sort, where = grid_request(request)
    df = spending.contracts(con, f, offset=start, limit=end - start, sort=sort,
                            conditions=where)
    return {"rowData": rows(df, f, lang),
            "rowCount": spending.count_contracts(con, f, where)}


def layout(con, f: Filters, query: dict, lang: str):
    total = spending.count_contracts(con, f)
    download = href("/download/contracts.csv", f)
    return html.Div([
        html.H1(t("title_contracts", lang)),
        selection_summary(f, lang, labels.names_of(con, f)),
        html.Div([
            html.Span(formats.count(total, "contracts", lang),
                      id="contract-count", className="me-3"),
            html.A(t("download_csv", lang), href=download, id="download-csv",
                   className="btn btn-outline me-2"),
            html.A(t("download_xlsx", lang), href=href("/download/contracts.xlsx", f),
                   id="download-xlsx", className="btn btn-outline me-2"),
            html.A(t("back_overview", lang), href=href("/", f, lang), className="ms-2"),
        ], className="mb-2 toolbar"),
        dag.AgGrid(
            id="contracts-grid", columnDefs=columns(lang), rowModelType="infinite",
            defaultColDef={"sortable": True, "resizable": True, "filter": False},
            dashGridOptions={"rowBuffer": 0, "cacheBlockSize": PAGE, "maxBlocksInCache": 5,
                             "suppressColumnVirtualisation": True,
                             "infiniteInitialRowCount": 1, "pagination": True,
                             "paginationPageSize": PAGE, "rowHeight": 34,
                             "localeText": grid_locale(lang)},
            getRowId="params.data.contract_id",
            style={"height": "640px"},
        ),
    ])
