"""The polite session: the only way survtrack reaches the network.

- An HTTP cache (requests-cache, SQLite file beside the warehouse) with an explicit policy:
  listing and search pages expire after an hour, detail documents after 30 days, so a
  resumed run re-reads its pages from the cache instead of from the publisher.
- urllib3 `Retry` with exponential backoff on connection errors, read timeouts and
  429/500/502/503/504, honouring `Retry-After`.
- Connect and read timeouts on every request.
- A token bucket per host at the source's declared rate (`Source.rate_limit`); cache hits
  never reach the network, so they spend no token.
- An honest User-Agent naming the project and a contact URL.
- Bodies are checked before anyone stores them: received length against Content-Length,
  and JSON/XML well-formedness, so a truncated or garbled response is retried, never kept.
- Bounds no publisher can stretch: an overall deadline per response (headers and body, not
  just between two bytes: a server trickling one byte every 10 s would reset any read
  timeout), a deadline per run step (one page and its documents), a body-size cap counted
  while the body streams (decompressed bytes: a gzip bomb is counted as it inflates), and a
  cap on redirects. Each ends the request with a FetchError saying which bound it met; none
  is retried (the scrape run is recorded `failed` with that reason, and resumes from its
  last checkpoint with `--resume`).
"""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import InvalidOperation
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import ijson
import requests
from requests.adapters import HTTPAdapter
from requests_cache import DO_NOT_CACHE, CachedSession
from urllib3.util.retry import Retry

from survtrack.scrapers import jsonsafe, xmlsafe
from survtrack.scrapers.jsonsafe import LimitExceeded
from survtrack.warehouse.protocol import Rejected

CONTACT_URL = os.environ.get("SURVTRACK_CONTACT", "https://github.com/survtrack/survtrack")
RETRY_STATUSES = (429, 500, 502, 503, 504)
# headers and query parameters that carry secrets: never part of a cache key, never stored
SECRETS = ("individualPerson_token", "Authorization", "token", "api_key")


def user_agent() -> str:
    try:
        ver = version("survtrack")
    except PackageNotFoundError:  # running from a source tree
        ver = "dev"
    return (f"survtrack/{ver} (surveillance-procurement transparency research;"
            f" +{CONTACT_URL}) python-requests/{requests.__version__}")


class FetchError(Exception):
    """A response that stayed bad after every retry (truncated, malformed, HTTP error)."""

    def __init__(self, url: str, reason: str, attempts: int | None = None,
                 status: int | None = None):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.attempts, self.status = url, reason, attempts, status

    def one_line(self) -> str:
        """What failed, for a person: host, status or cause, attempts (the full reason, with
        urllib3's nested exceptions, stays in str(self) for logs)."""
        host = urlsplit(self.url).netloc or self.url
        what = f"HTTP {self.status}" if self.status else _cause(self.reason)
        tries = f" after {self.attempts} attempts" if self.attempts else ""
        return f"{host}: {what}{tries}"


# urllib3/requests exception names -> what they mean to a person
CAUSES = (("NameResolutionError", "host name not resolved (offline, or a DNS problem)"),
          ("Failed to resolve", "host name not resolved (offline, or a DNS problem)"),
          ("ConnectTimeout", "connection timed out"),
          ("ReadTimeout", "no answer within the read timeout"),
          ("NewConnectionError", "connection refused or unreachable"),
          ("SSLError", "TLS/SSL handshake failed"),
          ("ChunkedEncodingError", "response cut off"),
          ("RemoteDisconnected", "the server closed the connection"))


def _cause(reason: str) -> str:
    for marker, words in CAUSES:
        if marker in reason:
            return words
    return reason if len(reason) <= 160 else reason[:157] + "…"


class BadBody(Exception):
    """A body that must not be stored: shorter than announced, or not well-formed."""


class OverBound(Exception):
    """A response that met a bound (deadline, body size): refused, never retried."""


@contextmanager
def deadline(seconds: float | None, what: str):
    """Raise OverBound when `seconds` have passed, even inside a blocked socket read.

    SIGALRM interrupts the system call, so neither slow headers nor a trickled body can hold
    the run; an outer deadline that expires first stays in force. Outside the main thread (or
    without SIGALRM) nothing is armed, and the read timeout is the only bound.
    """
    if (not seconds or threading.current_thread() is not threading.main_thread()
            or not hasattr(signal, "setitimer")):
        yield
        return
    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
    if outer_left and outer_left <= seconds:
        yield
        return
    started = time.monotonic()

    def expire(signum, frame):
        raise OverBound(f"{what} took more than {seconds:g} s (deadline)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left:
            signal.setitimer(signal.ITIMER_REAL,
                             max(outer_left - (time.monotonic() - started), 0.001))


@dataclass
class Policy:
    """Timeouts, retries and cache lifetimes. Tests shrink them; users rarely need to."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 5                 # per request, for statuses and connection errors
    body_retries: int = 3            # for truncated or malformed bodies
    backoff_factor: float = 1.0      # sleeps 0, 2, 4, 8 … seconds (x backoff_factor)
    backoff_max: float = 120.0
    listing_ttl: timedelta = timedelta(hours=1)
    detail_ttl: timedelta = timedelta(days=30)
    default_rate: float = 1.0        # requests per second for hosts no source declares
    response_deadline: float = 300.0     # seconds for a whole page: headers and body
    download_deadline: float = 4 * 3600.0  # seconds for a whole streamed bulk file
    step_deadline: float = 3600.0    # seconds for one run step: a page and its documents
    max_body_bytes: int = 256 * 1024**2        # a page read into memory
    max_download_bytes: int = 20 * 1024**3     # a bulk file streamed to disk
    max_redirects: int = 10

    def ttl(self, kind: str) -> timedelta:
        if kind not in ("listing", "detail"):
            raise ValueError(f"cache kind must be listing or detail, not {kind!r}")
        return self.listing_ttl if kind == "listing" else self.detail_ttl


@dataclass(frozen=True)
class Clock:
    """Time as the rate limiter reads and spends it (tests pass a virtual clock, so spacing
    is checked exactly instead of timed on a busy machine)."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class TokenBucket:
    """At most `rate` requests per second on average, bursts of at most `burst`."""

    def __init__(self, rate: float, burst: int = 1, clock: Clock = Clock()):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate, self.capacity = rate, float(burst)
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock.monotonic()
        self.lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is there; return the seconds slept."""
        with self.lock:
            now = self.clock.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            wait = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
            if wait:
                self.clock.sleep(wait)
                self.updated = self.clock.monotonic()
                self.tokens = 1.0
            self.tokens -= 1
            return wait


class _RateLimitedAdapter(HTTPAdapter):
    """Spends a token of the request's host before it goes out (cache misses only)."""

    def __init__(self, client: PoliteClient, **kwargs):
        self.client = client
        super().__init__(**kwargs)

    def send(self, request, *args, **kwargs):
        self.client.bucket(urlsplit(request.url).netloc).acquire()
        resp = super().send(request, *args, **kwargs)
        _cap_body(resp, self.client.body_limit)
        return resp


def _cap_body(resp: requests.Response, limit: int) -> None:
    """Count the body's bytes as they are read (after decompression) and refuse past `limit`;
    an announced Content-Length over it is refused before reading."""
    announced = resp.headers.get("Content-Length", "")
    if announced.isdigit() and int(announced) > limit:
        resp.close()
        raise OverBound(f"body of {announced} bytes announced, over the cap of {limit}")
    raw = resp.raw
    read, read_chunked = raw.read, getattr(raw, "read_chunked", None)
    count = 0

    def spend(data: bytes) -> bytes:
        nonlocal count
        count += len(data)
        if count > limit:
            raise OverBound(f"body over the cap of {limit} bytes")
        return data

    def capped(amt=None, *args, **kwargs):
        return spend(read(amt, *args, **kwargs))

    def capped_chunked(*args, **kwargs):
        for data in read_chunked(*args, **kwargs):
            yield spend(data)

    # urllib3's stream() (which requests reads through) calls self.read, or self.read_chunked
    # for a chunked body: both are counted
    raw.read = capped
    if read_chunked is not None:
        raw.read_chunked = capped_chunked


@dataclass
class PoliteClient:
    """One polite session for a whole run; see the module docstring."""

    cache_path: Path | None = None      # None: no cache (each request goes out)
    policy: Policy = field(default_factory=Policy)
    rates: dict[str, float] = field(default_factory=dict)  # host -> requests per second
    clock: Clock = field(default_factory=Clock)  # what the per-host token buckets read

    def __post_init__(self):
        retry = Retry(
            total=self.policy.retries, connect=self.policy.retries,
            read=self.policy.retries, status=self.policy.retries, other=0,
            status_forcelist=RETRY_STATUSES, allowed_methods=None,  # searches are POSTs
            backoff_factor=self.policy.backoff_factor, backoff_max=self.policy.backoff_max,
            respect_retry_after_header=True, raise_on_status=False)
        if self.cache_path is not None:
            self.session: requests.Session = CachedSession(
                str(self.cache_path), backend="sqlite", expire_after=self.policy.detail_ttl,
                allowable_methods=("GET", "POST"), allowable_codes=(200,),
                ignored_parameters=SECRETS, stale_if_error=False)
        else:
            self.session = requests.Session()
        self.session.max_redirects = self.policy.max_redirects
        self.body_limit = self.policy.max_body_bytes
        self.step_ends: float | None = None  # monotonic end of the current run step
        adapter = _RateLimitedAdapter(self, max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = user_agent()
        self._buckets: dict[str, TokenBucket] = {}

    def set_rate(self, url_or_host: str, rate: float) -> None:
        host = urlsplit(url_or_host).netloc or url_or_host
        self.rates[host] = rate
        self._buckets.pop(host, None)

    def bucket(self, host: str) -> TokenBucket:
        if host not in self._buckets:
            self._buckets[host] = TokenBucket(self.rates.get(host, self.policy.default_rate),
                                              clock=self.clock)
        return self._buckets[host]

    def close(self) -> None:
        self.session.close()

    def start_step(self) -> None:
        """A run step begins (the scrape runner calls it at each checkpoint)."""
        self.step_ends = time.monotonic() + self.policy.step_deadline

    def _budget(self, seconds: float, url: str) -> float:
        """The response deadline, shortened to what is left of the run step."""
        if self.step_ends is None:
            return seconds
        left = self.step_ends - time.monotonic()
        if left <= 0:
            raise FetchError(url, f"run step took more than {self.policy.step_deadline:g} s"
                             " (step deadline); resume with --resume")
        return min(seconds, left)

    @contextmanager
    def _bounded(self, url: str, seconds: float, body_limit: int):
        """The deadline and body cap of one request; a bound met becomes a FetchError."""
        self.body_limit = body_limit
        try:
            with deadline(self._budget(seconds, url), "the response"):
                yield
        except OverBound as exc:
            raise FetchError(url, f"refused: {exc}") from None
        except requests.exceptions.TooManyRedirects:
            raise FetchError(url, f"more than {self.policy.max_redirects} redirects"
                             " (a redirect loop?)") from None
        finally:
            self.body_limit = self.policy.max_body_bytes

    # -- requests --------------------------------------------------------------------------
    def get(self, url: str, *, kind: str = "detail", expect: str | None = None,
            **kwargs) -> requests.Response:
        return self.request("GET", url, kind=kind, expect=expect, **kwargs)

    def post(self, url: str, *, kind: str = "listing", expect: str | None = None,
             **kwargs) -> requests.Response:
        return self.request("POST", url, kind=kind, expect=expect, **kwargs)

    def request(self, method: str, url: str, *, kind: str, expect: str | None,
                cache: bool = True, **kwargs) -> requests.Response:
        """Send, check and return a response; `expect` is json, xml, html or None.

        Statuses and connection errors are retried by urllib3 (honouring Retry-After); a
        body cut short or not well-formed is dropped from the cache and fetched again.
        `cache=False` for requests that carry a secret in their body (never stored).
        """
        timeout = (self.policy.connect_timeout, self.policy.read_timeout)
        if isinstance(self.session, CachedSession):
            kwargs["expire_after"] = self.policy.ttl(kind) if cache else DO_NOT_CACHE
        last = ""
        for attempt in range(self.policy.body_retries + 1):
            if attempt:
                time.sleep(min(self.policy.backoff_max,
                               self.policy.backoff_factor * 2 ** attempt))
            try:
                with self._bounded(url, self.policy.response_deadline,
                                   self.policy.max_body_bytes):
                    resp = self.session.request(method, url, timeout=timeout, **kwargs)
            except (requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ConnectionError,
                    requests.exceptions.Timeout) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code >= 400:
                raise FetchError(url, f"HTTP {resp.status_code} after retries"
                                 f" ({resp.reason}); body starts {resp.content[:200]!r}",
                                 attempts=self.policy.retries + 1, status=resp.status_code)
            try:
                check_body(resp.content, resp.headers, expect)
            except LimitExceeded as exc:
                self._forget(resp)
                raise FetchError(url, f"response refused: {exc}") from None
            except BadBody as exc:
                self._forget(resp)
                last = str(exc)
                continue
            return resp
        raise FetchError(url, f"gave up after {self.policy.body_retries + 1} attempts: {last}",
                         attempts=self.policy.body_retries + 1)

    def _forget(self, resp: requests.Response) -> None:
        if isinstance(self.session, CachedSession):
            self.session.cache.delete(requests=[resp.request])

    def stream(self, url: str, sink, *, expect: str | None = None, **kwargs):
        """Stream a big body into `sink(stream) -> (document_id, size)`, uncached.

        The body is checked after it is written (length, then well-formedness by a
        streaming pass over the archived file); a bad body is fetched again.
        """
        timeout = (self.policy.connect_timeout, self.policy.read_timeout)
        last = ""
        for attempt in range(self.policy.body_retries + 1):
            if attempt:
                time.sleep(min(self.policy.backoff_max,
                               self.policy.backoff_factor * 2 ** attempt))
            disabled = (self.session.cache_disabled() if isinstance(self.session, CachedSession)
                        else nullcontext())
            try:
                with self._bounded(url, self.policy.download_deadline,
                                   self.policy.max_download_bytes), disabled, \
                        self.session.get(url, timeout=timeout, stream=True, **kwargs) as resp:
                    if resp.status_code >= 400:
                        raise FetchError(url, f"HTTP {resp.status_code} after retries")
                    resp.raw.decode_content = True
                    result = sink(resp.raw, expect, resp.headers)
                    return result, resp.headers
            except FetchError:
                raise
            except (requests.exceptions.RequestException, BadBody, OSError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
        raise FetchError(url, f"gave up after {self.policy.body_retries + 1} attempts: {last}")


def check_body(body: bytes, headers, expect: str | None) -> None:
    """Raise BadBody if the body is shorter than announced or not well-formed."""
    announced = headers.get("Content-Length")
    if announced and not headers.get("Content-Encoding") and announced.isdigit() \
            and int(announced) != len(body):
        raise BadBody(f"received {len(body)} bytes of {announced} announced")
    if expect == "json":
        try:
            jsonsafe.loads(body)
        except LimitExceeded:
            raise  # not a transient fault: refused, never retried
        except ValueError as exc:
            raise BadBody(f"not well-formed JSON: {exc}") from None
    elif expect == "xml":
        check_xml(io.BytesIO(body))
    elif expect == "jsonl":
        check_jsonl(iter(body.splitlines()))


def check_xml(stream: BinaryIO) -> None:
    try:
        for event, el in xmlsafe.iterparse(stream):
            if event == "end":
                el.clear()
    except Rejected as exc:  # xmlsafe wraps lxml's syntax errors and refuses DTDs
        raise BadBody(f"XML not accepted: {exc.reason}") from None


def check_json_stream(stream: BinaryIO) -> None:
    """Walk a JSON document of any size without holding it (events only, no prefixes: their
    cost grows with the square of the depth), behind jsonsafe's bounds. A file breaking a
    bound is kept as it is: the parser refuses the offending part and loads the others."""
    try:
        for _ in ijson.basic_parse(jsonsafe.Guard(stream), multiple_values=True):
            pass
    except LimitExceeded:
        return
    except (ijson.JSONError, UnicodeDecodeError, InvalidOperation) as exc:
        raise BadBody(f"not well-formed JSON: {exc}") from None


def check_jsonl(lines: Iterator[bytes]) -> None:
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                jsonsafe.loads(line)
            except LimitExceeded:
                continue  # a line the parser will refuse on its own; the others load
            except ValueError as exc:
                raise BadBody(f"line {n} is not well-formed JSON: {exc}") from None
