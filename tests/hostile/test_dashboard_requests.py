"""Malformed grid requests get the default page, never a server error (issue 11 finding 9)."""

from __future__ import annotations

import pytest

from survtrack.dashboard.pages.contracts import PAGE, grid_request


@pytest.mark.parametrize("request_, expected", [
    (None, (0, PAGE, [], [])),
    ("junk", (0, PAGE, [], [])),
    ({"startRow": "abc", "endRow": [], "sortModel": "amount", "filterModel": ["x"]},
     (0, PAGE, [], [])),
    ({"startRow": 1e300, "endRow": -5}, (10**9, 10**9, [], [])),
    ({"startRow": 10, "endRow": 10**8, "sortModel": ["x", {"colId": "amount", "sort": "desc"}],
      "filterModel": {"title": "x", "amount": {"filterType": "number"},
                      "year": {"filterType": "number", "type": "equals", "filter": 2019}}},
     (10, 10_010, [("amount", "desc")], [("year", "=", 2019)])),
])
def test_grid_requests_are_sanitised(request_, expected):
    assert grid_request(request_) == expected
