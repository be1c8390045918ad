"""The API's OpenAPI 3.1 description, built from the same lists the routes use."""

from __future__ import annotations

from .queries import CONTRACT_FIELDS, MAX_SIZE, SPENDING_VIEWS

FILTERS = {
    "country": "buyer country, ISO 3166-1 alpha-2 (e.g. RU)",
    "source": "source name: eis, usaspending, ocds, ted, curated",
    "category": "surveillance category (e.g. facial_recognition)",
    "buyer": "buyer key: entity_id, else org_id (e.g. RU-INN:7710878000)",
    "vendor": "vendor key: entity_id, else org_id",
    "from": "first signing year",
    "to": "last signing year",
    "undated": "1: only contracts without a signing year",
    "currency": "USD (converted, the default) or an original ISO 4217 currency: only"
                " contracts in that currency, amounts as published",
    "measure": "value (contract value, the default) or paid (published payments)",
    "scope": "surveillance (the default: contracts with a surveillance tag) or all",
    "not_vendor": "vendor key left out (repeatable)",
    "flag": "a red flag (analysis/flags/flags.csv, e.g. single_bid): only contracts raising it",
    "level": "buyers counted as office (the body that signed, the default), agency (one level"
             " up) or department (the top body): buyer= then selects a body with its sub-units",
}
PAGING = {
    "_size": f"rows per page, 1 to {MAX_SIZE} (default 100)",
    "_next": "cursor of the next page, as `next` gave it",
    "_shape": "objects (the default: one object per row) or arrays (columns + rows)",
}
ENDPOINTS = {
    "/api/contracts": ("Contracts behind the filters, newest first, keyset-paged (`next`,"
                       " `next_url`, Link header); `q` matches the title. `.csv` for CSV.",
                       [*FILTERS, *PAGING, "q"]),
    "/api/contracts/{contract_id}": ("One contract: its facts, its published record, versions,"
                                     " items, payments, events, tags, warnings, competition"
                                     " and flags where the warehouse has them, and every"
                                     " document behind them.", []),
    "/api/vendors": ("Vendors whose name, key or any merged name contains `q`.",
                     ["q", "_size", "_shape"]),
    "/api/vendors/{key}": ("One vendor: entity, merged organizations with identifiers, totals"
                           " over the filters.", list(FILTERS)),
    "/api/buyers": ("Buyers whose name, key or any merged name contains `q`.",
                    ["q", "_size", "_shape"]),
    "/api/buyers/{key}": ("One buyer: entity, merged organizations with identifiers, totals"
                          " over the filters.", list(FILTERS)),
    "/api/spending/{view}": ("Spending views over the filters: "
                             + "; ".join(f"`{k}`: {doc}" for k, (_, doc) in
                                         SPENDING_VIEWS.items()) + ". `.csv` for CSV.",
                             [*FILTERS, "_shape", "top"]),
    "/api/search": ("Vendors, buyers and contracts matching `q`.", [*FILTERS, "q", "_size"]),
    "/api/watchlists": ("Watchlists with their matches and new matches; each one's Atom feed"
                        " is at /feeds/<name>.atom.", []),
    "/api/watchlists/{name}": ("One watchlist and its matches, newest first.", ["_size"]),
    "/api/openapi.json": ("This description.", []),
}
DESCRIPTIONS = {**FILTERS, **PAGING, "q": "text to look for (case-insensitive)",
                "top": "vendor-year: vendors shown by name (1-100, default 7)"}


def summary() -> dict[str, str]:
    return {path: doc for path, (doc, _) in ENDPOINTS.items()}


def _parameter(name: str) -> dict:
    schema = {"type": "string"}
    if name in ("from", "to", "_size", "top"):
        schema = {"type": "integer"}
    if name == "not_vendor":
        schema = {"type": "array", "items": {"type": "string"}}
    return {"name": name, "in": "query", "required": False,
            "description": DESCRIPTIONS[name], "schema": schema}


def spec() -> dict:
    error = {"description": "error", "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}
    paths = {}
    for path, (doc, params) in ENDPOINTS.items():
        parameters = [_parameter(p) for p in params]
        for name in ("contract_id", "key", "view", "name"):
            if "{" + name + "}" in path:
                parameters.insert(0, {"name": name, "in": "path", "required": True,
                                      "schema": {"type": "string"}})
        paths[path] = {"get": {"summary": doc.split(":")[0].split(".")[0], "description": doc,
                               "parameters": parameters,
                               "responses": {"200": {"description": "JSON (or CSV with .csv)"},
                                             "304": {"description": "not modified (ETag)"},
                                             "400": error, "404": error}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "survtrack API", "version": "1",
                 "description": "Read-only JSON over the dashboard's published snapshot. Money"
                                " is a decimal string; dates are ISO 8601. docs/api.md."},
        "paths": paths,
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "status"],
                      "properties": {"error": {"type": "string"},
                                     "status": {"type": "integer"}}},
            "Contract": {"type": "object",
                         "properties": {name.split(" AS ")[-1]: {}
                                        for name in CONTRACT_FIELDS}},
        }},
    }
