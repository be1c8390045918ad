"""Hostile publishers for `survtrack scrape`: a server trickling one byte at a time, a body
bigger than the cap (announced, chunked, or gzip that inflates), a redirect loop, a page of
JSON nested 100,000 deep. Each run ends by itself within bounds, is recorded `failed` with the
bound it met, and resumes from its checkpoint once the publisher behaves."""

from __future__ import annotations

import gzip
import json
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from hostile.harness import survtrack

GOOD = {"ocid": "ocds-scrape-1", "id": "1", "date": "2020-01-01T00:00:00Z", "tag": ["contract"],
        "buyer": {"name": "B"}, "contracts": [{"id": "c1", "value": {"amount": 5,
                                                                    "currency": "EUR"}}]}


@pytest.fixture
def server():
    srv = HTTPServer(threaded=True)  # a trickling handler must not block the others
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


def page(n: int, nxt: str | None) -> bytes:
    return json.dumps({"uri": f"p{n}", "releases": [{**GOOD, "ocid": f"ocds-scrape-{n}"}],
                       "links": {"next": nxt} if nxt else {}}).encode()


def scrape(tmp_path, url: str, *extra: str):
    return survtrack(tmp_path / "w.duckdb", "scrape", "ocds", "--url", url, "--rate", "1000",
                     "--backoff", "0.01", *extra, timeout=120)


def failed_with(outcome, words: str) -> None:
    assert outcome.returncode == 1, outcome.stderr[-1500:]
    assert words in " ".join(outcome.stderr.split()), outcome.stderr[-1500:]
    assert outcome.query("SELECT status FROM runs") == [("failed",)]
    assert any(words in r for (r,) in outcome.query("SELECT reason FROM rejects"))


def test_a_trickling_server_meets_the_response_deadline_and_the_run_resumes(tmp_path, server):
    """Finding 4: one byte every 10 s held a run for ever (the read timeout resets per byte)."""
    healthy = {"now": False}

    def trickle(request):
        if healthy["now"]:
            return Response(page(2, None), content_type="application/json")

        def body():
            for byte in page(2, None):
                yield bytes([byte])
                time.sleep(0.5)
        return Response(body(), content_type="application/json")

    server.expect_request("/p1").respond_with_data(page(1, server.url_for("/p2")),
                                                   content_type="application/json")
    server.expect_request("/p2").respond_with_handler(trickle)
    started = time.monotonic()
    out = scrape(tmp_path, server.url_for("/p1"), "--deadline", "3", "--timeout", "5")
    assert time.monotonic() - started < 60
    failed_with(out, "took more than 3 s (deadline)")
    assert out.query("SELECT contract_id FROM contracts") == [("ocds:ocds-scrape-1/c1",)]
    healthy["now"] = True
    again = scrape(tmp_path, server.url_for("/p1"), "--resume")
    assert again.returncode == 0 and again.summary()["resumed"] is True
    assert sorted(again.query("SELECT contract_id FROM contracts")) == [
        ("ocds:ocds-scrape-1/c1",), ("ocds:ocds-scrape-2/c1",)]


@pytest.mark.parametrize("how", ["announced", "chunked", "gzip"])
def test_a_body_over_the_cap_is_refused_while_it_streams(tmp_path, server, how):
    """Finding 5: a 2 GB listing was read whole (4.37 GB RSS, then an OverflowError)."""
    big = b'{"uri":"x","releases":[' + b" " * (3 * 1024**2) + b"]}"
    if how == "announced":
        server.expect_request("/big").respond_with_data(big, content_type="application/json")
    elif how == "chunked":
        server.expect_request("/big").respond_with_handler(lambda r: Response(
            (big[i:i + 65536] for i in range(0, len(big), 65536)),
            content_type="application/json"))
    else:
        server.expect_request("/big").respond_with_data(
            gzip.compress(big), content_type="application/json",
            headers={"Content-Encoding": "gzip"})
    out = scrape(tmp_path, server.url_for("/big"), "--max-body", "1000000")
    failed_with(out, "over the cap of 1000000")


def test_a_redirect_loop_ends_with_a_clean_message(tmp_path, server):
    server.expect_request("/loop").respond_with_response(
        Response("", status=302, headers={"Location": "/loop"}))
    failed_with(scrape(tmp_path, server.url_for("/loop")), "more than 10 redirects")


def test_a_page_nested_100000_deep_is_refused_not_parsed(tmp_path, server):
    deep = b'{"uri":"x","releases":[{"ocid":"x","n":' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    server.expect_request("/deep").respond_with_data(deep, content_type="application/json")
    failed_with(scrape(tmp_path, server.url_for("/deep")), "nested deeper than 64 levels")
