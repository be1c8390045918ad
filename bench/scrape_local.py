"""Scraping figures against a local server (no publisher is touched).

Measures (1) pages per second through the whole path (polite client with cache, archive,
warehouse rows, checkpoints) for an OCDS API of N chained release-package pages, and
(2) a big JSON Lines file streamed into the archive: MB/s and how much the process's peak
memory grew, which must stay far below the file size. Each beside a bare baseline from the same
server (`requests` alone walking the pages' links.next and decoding each; streaming the file to
a temporary file), with a RATIO line (bench/baseline.py).

    .venv/bin/python bench/scrape_local.py [--pages 200] [--megabytes 100]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from baseline import ratio

from survtrack.scrapers.http import Policy, PoliteClient
from survtrack.scrapers.scrape import scrape
from survtrack.warehouse.store import Warehouse

RELEASE = {"ocid": "ocds-bench-{n}", "id": "{n}", "date": "2024-01-01T00:00:00Z",
           "tag": ["award"], "awards": [{"id": "1", "value": {"amount": 1000, "currency": "EUR"}}]}


def make_handler(pages: int, line: bytes, lines: int, port: list[int]):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/page/"):
                n = int(self.path.rsplit("/", 1)[1])
                package = {"uri": self.path, "releases": [
                    json.loads(json.dumps(RELEASE).replace("{n}", f"{n}-{i}")) for i in range(20)]}
                if n < pages:
                    package["links"] = {"next": f"http://127.0.0.1:{port[0]}/page/{n + 1}"}
                body = json.dumps(package).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:  # the bulk file, streamed from a generator
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Content-Length", str(len(line) * lines))
                self.end_headers()
                for _ in range(lines):
                    self.wfile.write(line)
    return Handler


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_pages(url: str) -> int:
    """The baseline of (1): `requests` alone follows links.next, decoding every page."""
    n = 0
    with requests.Session() as session:
        while url:
            url = session.get(url, timeout=60).json().get("links", {}).get("next")
            n += 1
    return n


def bare_download(url: str, folder: str) -> None:
    """The baseline of (2): `requests` alone streams the file to disk."""
    with requests.get(url, stream=True, timeout=60) as response, \
            open(Path(folder) / "bare.jsonl", "wb") as out:
        for chunk in response.iter_content(1 << 20):
            out.write(chunk)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--megabytes", type=int, default=100)
    args = ap.parse_args()
    line = (json.dumps(RELEASE) + "\n").encode()
    lines = args.megabytes * 1024 * 1024 // len(line)
    port: list[int] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args.pages, line, lines, port))
    port.append(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{port[0]}"
    with tempfile.TemporaryDirectory() as tmp, Warehouse(Path(tmp) / "w.duckdb") as wh:
        client = PoliteClient(cache_path=Path(tmp) / "http_cache.sqlite", policy=Policy())
        t = time.perf_counter()
        out = scrape(wh, "ocds", {"url": f"{root}/page/1"}, client, rate=10_000)
        took = time.perf_counter() - t
        print(f"API pages: {sum(out.counts.values())} pages in {took:.2f} s"
              f" = {sum(out.counts.values()) / took:.0f} pages/s (cache, archive, runs)")
        t = time.perf_counter()
        bare_pages(f"{root}/page/1")
        ratio("scrape API pages", took, "requests alone following links.next",
              time.perf_counter() - t)
        t = time.perf_counter()
        again = scrape(wh, "ocds", {"url": f"{root}/page/1"}, client, rate=10_000)
        took = time.perf_counter() - t
        print(f"re-run (all from cache, all skipped): {dict(again.counts)} in {took:.2f} s")
        before = peak_mb()
        t = time.perf_counter()
        bulk = scrape(wh, "ocds", {"url": f"{root}/bulk/releases.jsonl"}, client, rate=10_000)
        took = time.perf_counter() - t
        size = lines * len(line) / 1024 / 1024
        print(f"bulk JSONL: {size:.0f} MB streamed and checked in {took:.2f} s"
              f" = {size / took:.0f} MB/s; peak memory {before:.0f} -> {peak_mb():.0f} MB"
              f" ({dict(bulk.counts)})")
        t = time.perf_counter()
        bare_download(f"{root}/bulk/releases.jsonl", tmp)
        ratio("scrape bulk JSONL", took, "requests alone streaming it to a file",
              time.perf_counter() - t)
    server.shutdown()


if __name__ == "__main__":
    main()
