"""The polite client against a real local HTTP server: retries, timeouts, checks, cache."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from werkzeug import Response

from survtrack.scrapers.http import (
    Clock,
    FetchError,
    Policy,
    PoliteClient,
    TokenBucket,
    user_agent,
)

FAST = {"backoff_factor": 0.01, "connect_timeout": 2, "read_timeout": 2}
RELEASE = b'{"uri": "x", "releases": [{"ocid": "ocds-1", "id": "1"}]}'


def client(tmp_path=None, clock: Clock | None = None, **policy) -> PoliteClient:
    return PoliteClient(cache_path=tmp_path / "cache.sqlite" if tmp_path else None,
                        policy=Policy(**{**FAST, "default_rate": 1000, **policy}),
                        clock=clock or Clock())


def sequence(*responses):
    """A handler answering the given responses in turn, then the last one forever."""
    calls = []

    def handler(request):
        calls.append((time.monotonic(), dict(request.headers)))
        r = responses[min(len(calls), len(responses)) - 1]
        return r if isinstance(r, Response) else r()

    return handler, calls


def test_429_with_retry_after_is_honoured(httpserver):
    handler, calls = sequence(Response("slow down", status=429, headers={"Retry-After": "1"}),
                              Response(RELEASE, content_type="application/json"))
    httpserver.expect_request("/api").respond_with_handler(handler)
    resp = client().get(httpserver.url_for("/api"), expect="json")
    assert resp.json()["releases"][0]["ocid"] == "ocds-1"
    assert len(calls) == 2
    assert calls[1][0] - calls[0][0] >= 0.95  # waited the second the server asked for


def test_503_is_retried_then_gives_up_with_a_clear_error(httpserver):
    handler, calls = sequence(Response("down", status=503))
    httpserver.expect_request("/down").respond_with_handler(handler)
    with pytest.raises(FetchError, match=r"HTTP 503 after retries") as err:
        client(retries=2).get(httpserver.url_for("/down"))
    assert len(calls) == 3  # first try and two retries
    # what a person reads: one line, host, status and attempts
    assert err.value.one_line() == f"{httpserver.host}:{httpserver.port}: HTTP 503 after 3 attempts"


def test_an_unreachable_host_is_one_line_saying_why():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError) as err:
        client(retries=0, body_retries=1).get(f"http://127.0.0.1:{port}/x")
    assert len(str(err.value)) > 100  # urllib3's nested exceptions, kept for logs
    assert err.value.one_line() == \
        f"127.0.0.1:{port}: connection refused or unreachable after 2 attempts"


def test_503_then_success(httpserver):
    handler, calls = sequence(Response("down", status=503),
                              Response("<ValCurs Date=\"02.03.2024\"/>",
                                       content_type="application/xml"))
    httpserver.expect_request("/xml").respond_with_handler(handler)
    assert client().get(httpserver.url_for("/xml"), expect="xml").content.startswith(b"<Val")
    assert len(calls) == 2


def test_user_agent_names_project_and_contact(httpserver):
    handler, calls = sequence(Response("ok"))
    httpserver.expect_request("/ua").respond_with_handler(handler)
    client().get(httpserver.url_for("/ua"))
    assert calls[0][1]["User-Agent"] == user_agent()
    assert user_agent().startswith("survtrack/") and "+http" in user_agent()


def test_malformed_json_and_xml_are_retried_not_returned(httpserver):
    handler, calls = sequence(Response(RELEASE[:30], content_type="application/json"),
                              Response(RELEASE, content_type="application/json"))
    httpserver.expect_request("/json").respond_with_handler(handler)
    assert client().get(httpserver.url_for("/json"), expect="json").content == RELEASE
    handler, xcalls = sequence(Response("<export><contract>", content_type="application/xml"),
                               Response("<export><contract/></export>"))
    httpserver.expect_request("/x").respond_with_handler(handler)
    assert client().get(httpserver.url_for("/x"), expect="xml").content.endswith(b"</export>")
    assert len(calls) == 2 and len(xcalls) == 2


def test_truncated_body_never_cached(httpserver, tmp_path):
    handler, calls = sequence(Response(RELEASE[:20], content_type="application/json"),
                              Response(RELEASE, content_type="application/json"))
    httpserver.expect_request("/t").respond_with_handler(handler)
    polite = client(tmp_path)
    assert polite.get(httpserver.url_for("/t"), expect="json").content == RELEASE
    again = polite.get(httpserver.url_for("/t"), expect="json")
    assert again.content == RELEASE and getattr(again, "from_cache", False)
    assert len(calls) == 2  # the cut body was dropped, the good one cached


@pytest.fixture
def short_body_server():
    """A raw socket server announcing 100 bytes and sending 40, then (second time) all."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    served = []

    def serve():
        while len(served) < 2:
            conn, _ = sock.accept()
            conn.recv(65536)
            body = RELEASE if served else RELEASE[:40]
            served.append(len(body))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(RELEASE)
                         + body)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/short", served
    sock.close()


def test_body_shorter_than_content_length_is_retried(short_body_server):
    url, served = short_body_server
    assert client().get(url, expect="json").content == RELEASE
    assert served == [40, len(RELEASE)]


@pytest.fixture
def threaded_server():
    """A server that answers while a slow handler sleeps, as real servers do."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_slow_response_times_out_then_retries(threaded_server):
    httpserver = threaded_server

    def slow():
        time.sleep(1.5)
        return Response(RELEASE, content_type="application/json")

    handler, calls = sequence(slow, Response(RELEASE, content_type="application/json"))
    httpserver.expect_request("/slow").respond_with_handler(handler)
    resp = client(read_timeout=0.5).get(httpserver.url_for("/slow"), expect="json")
    assert resp.content == RELEASE
    assert len(calls) == 2


def test_cache_policy_listing_short_detail_long(tmp_path):
    polite = client(tmp_path, listing_ttl=timedelta(minutes=5))
    assert polite.policy.ttl("listing") == timedelta(minutes=5)
    assert polite.policy.ttl("detail") == timedelta(days=30)
    assert (tmp_path / "cache.sqlite").exists()
    with pytest.raises(ValueError, match="listing or detail"):
        polite.policy.ttl("page")


def test_listing_expires_detail_stays(httpserver, tmp_path):
    handler, calls = sequence(Response(RELEASE, content_type="application/json"))
    httpserver.expect_request("/p").respond_with_handler(handler)
    polite = client(tmp_path, listing_ttl=timedelta(seconds=1))
    url = httpserver.url_for("/p")
    polite.get(url, kind="listing")
    polite.get(url, kind="listing")
    time.sleep(1.1)
    polite.get(url, kind="listing")
    assert len(calls) == 2  # second read from the cache, third after expiry
    polite.get(url + "?detail=1", kind="detail")
    time.sleep(1.1)
    polite.get(url + "?detail=1", kind="detail")
    assert len(calls) == 3


class VirtualClock:
    """Time that passes only when the rate limiter sleeps: spacing is checked exactly,
    whatever the load on the machine (the brief forbids timed assertions)."""

    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_spaces_requests_per_host(httpserver):
    clock = VirtualClock()
    arrivals = []

    def handler(request):
        arrivals.append((request.host, clock.now))  # when each request reached the server
        return Response("ok")

    httpserver.expect_request("/r").respond_with_handler(handler)
    polite = client(clock=Clock(clock.monotonic, clock.sleep))
    url = httpserver.url_for("/r")
    polite.set_rate(url, 10)  # 10 per second: 0.1 s apart
    for _ in range(4):
        polite.get(url)
    host = urlsplit(url).netloc
    assert arrivals == [(host, pytest.approx(t)) for t in (0.0, 0.1, 0.2, 0.3)]
    # another host has its own bucket (at the default rate): its first request does not wait
    other = url.replace("localhost", "127.0.0.1")
    polite.get(other)
    assert arrivals[-1] == (urlsplit(other).netloc, pytest.approx(0.3))
    # …and the first host's bucket is still spent: its next request waits its 0.1 s
    polite.get(url)
    assert arrivals[-1] == (host, pytest.approx(0.4))
    assert clock.slept == pytest.approx([0.1] * 4)
    first = TokenBucket(5, clock=Clock(clock.monotonic, clock.sleep))
    assert first.acquire() == 0.0  # the first token is free
