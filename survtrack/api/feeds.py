"""Watchlists on the web: `/api/watchlists` (JSON) and each watchlist's new contracts as an Atom
feed at `/feeds/<name>.atom` that a feed reader can follow. Both read the published snapshot, so
matches recorded by a load appear once a build (or `survtrack snapshot`) publishes it."""

from __future__ import annotations

from datetime import UTC
from urllib.parse import quote

from flask import Flask, Response, abort, request

from survtrack.analysis import watch
from survtrack.warehouse.snapshot import SnapshotReader

from .queries import contract_path

FEED_SIZE = 100  # newest matches in a feed


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()}


def has_watchlists(con) -> bool:
    return {"watchlists", "watch_matches"} <= _tables(con)


def listing(con) -> list[dict]:
    """Every watchlist with its counts and links (none in a snapshot made before them)."""
    if not has_watchlists(con):
        return []
    out = watch.watchlists(con)
    for w in out:
        w["links"] = {"feed": f"/feeds/{quote(w['name'])}.atom",
                      "matches": f"/api/watchlists/{quote(w['name'])}"}
    return out


def feed(con, name: str, base_url: str) -> bytes | None:
    """The Atom feed of a watchlist's matches, newest first; None when there is no such list."""
    from feedgen.feed import FeedGenerator

    found = [w for w in listing(con) if w["name"] == name]
    if not found:
        return None
    w = found[0]
    conditions = ", ".join(f"{k} {w[k]}" for k in watch.FIELDS if w.get(k))
    fg = FeedGenerator()
    fg.id(f"{base_url}feeds/{quote(name)}.atom")
    fg.title(f"survtrack watchlist {name}")
    fg.subtitle(f"New contracts matching {conditions}")
    fg.link(href=f"{base_url}feeds/{quote(name)}.atom", rel="self")
    fg.link(href=base_url, rel="alternate")
    fg.author({"name": "survtrack"})
    fg.updated(w["created_at"].replace(tzinfo=UTC))
    rows = watch.matches(con, name, new_only=False, limit=FEED_SIZE, facts="contract_facts")
    for m in reversed(rows):  # feedgen prepends: add oldest first, so the feed reads newest first
        entry = fg.add_entry()
        entry.id(f"{base_url}feeds/{quote(name)}/{quote(m['contract_id'], safe='')}")
        entry.title(m["title"] or m["contract_id"])
        entry.link(href=base_url.rstrip("/") + contract_path(m["contract_id"]))
        amount = f"{m['amount']:,} {m['currency'] or ''}".strip() if m["amount"] is not None \
            else "amount not published"
        entry.summary(f"{m['vendor_name']} ← {m['buyer_name']}: {amount};"
                      f" signed {m['signed_on'] or m['year'] or 'date unknown'};"
                      f" {m['source']} contract {m['contract_id']}"
                      + (f"; published at {m['url']}" if m.get("url") else ""))
        entry.updated(m["matched_at"].replace(tzinfo=UTC))
    return fg.atom_str(pretty=True)


def mount(server: Flask, reader: SnapshotReader) -> None:
    @server.route("/feeds/<name>.atom")
    def watch_feed(name: str):
        body = feed(reader.cursor(), name, request.host_url)
        if body is None:
            abort(404)
        return Response(body, mimetype="application/atom+xml")
