"""What the browser posts to Dash for the dashboard's cached callbacks, as Python dicts.

One place for the component ids and shapes the tests (tests/test_dashboard_cache.py) and the
load benchmark (bench/bench_load.py) send to `UPDATE`, so both post what app.py answers.
"""

from __future__ import annotations

UPDATE = "/_dash-update-component"  # where Dash's renderer posts every callback


def render(path: str, search: str = "") -> dict:
    """A page render: the navbar, page and page title for `path` and its query string."""
    return {"output": "..navbar.children...page.children...page-meta.data..",
            "outputs": [{"id": "navbar", "property": "children"},
                        {"id": "page", "property": "children"},
                        {"id": "page-meta", "property": "data"}],
            "inputs": [{"id": "url", "property": "pathname", "value": path},
                       {"id": "url", "property": "search", "value": search}],
            "changedPropIds": ["url.pathname", "url.search"], "state": []}


def grid_rows(search: str, start: int, size: int = 100) -> dict:
    """One page of the contracts grid (AG Grid's infinite row model) under the URL's filters."""
    ask = {"startRow": start, "endRow": start + size, "sortModel": [], "filterModel": {}}
    return {"output": "contracts-grid.getRowsResponse",
            "outputs": {"id": "contracts-grid", "property": "getRowsResponse"},
            "inputs": [{"id": "contracts-grid", "property": "getRowsRequest", "value": ask}],
            "changedPropIds": ["contracts-grid.getRowsRequest"],
            "state": [{"id": "url", "property": "search", "value": search}]}


def party_search(role: str, text: str) -> dict:
    """The vendor (or buyer) filter's options while the user types `text`."""
    return {"output": f"f-{role}.options", "outputs": {"id": f"f-{role}", "property": "options"},
            "inputs": [{"id": f"f-{role}", "property": "search_value", "value": text}],
            "changedPropIds": [f"f-{role}.search_value"],
            "state": [{"id": f"f-{role}", "property": "value", "value": None}]}


def vendor_search(text: str) -> dict:
    """The vendor filter's options while the user types `text`."""
    return party_search("vendor", text)
