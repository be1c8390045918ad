"""Watchlists: follow a vendor, buyer, category, country or title text and hear of the contracts
that arrive later.

`add()` records what already matches as the watchlist's baseline (not news); `record()`, run
after every ingest, scrape and build, records each contract that matches a watchlist for the
first time; `report()` returns the matches not yet reported and marks them reported, so each
new contract is reported once. A watchlist's conditions all hold at once (AND); vendor and buyer
match the resolved entity or the organization as published, so a watchlist made before entity
resolution keeps matching after it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from survtrack.analysis.facts import FACTS_SQL

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
FIELDS = ("vendor", "buyer", "category", "country", "query")


class WatchError(ValueError):
    """A watchlist that cannot be added or found, with the reason."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _match_sql(watch: dict) -> tuple[str, list]:
    """WHERE over contract facts (with the contract's description) for one watchlist."""
    conds, params = [], []
    for role in ("vendor", "buyer"):
        if watch.get(role):
            conds.append(f"(f.{role}_key = ? OR f.{role}_id = ?)")
            params += [watch[role], watch[role]]
    if watch.get("category"):
        conds.append("list_contains(f.categories, ?)")
        params.append(watch["category"])
    if watch.get("country"):
        conds.append("f.country = ?")
        params.append(watch["country"].upper())
    if watch.get("query"):
        pattern = "%" + watch["query"].replace("\\", "\\\\").replace("%", "\\%") \
            .replace("_", "\\_") + "%"
        conds.append("(f.title ILIKE ? ESCAPE '\\' OR c.description ILIKE ? ESCAPE '\\')")
        params += [pattern, pattern]
    return " AND ".join(conds) or "TRUE", params


def add(wh, name: str, **conditions) -> int:
    """Add a watchlist; return how many contracts already match (its baseline)."""
    if not NAME.match(name or ""):
        raise WatchError(f"a watchlist name is letters, digits, - and _ (up to 64), not {name!r}")
    given = {k: (v.strip() if isinstance(v, str) else v) for k, v in conditions.items()
             if k in FIELDS and v}
    if not given:
        raise WatchError("a watchlist needs at least one of --vendor, --buyer, --category,"
                         " --country, --query")
    if wh.scalar("SELECT count(*) FROM watchlists WHERE name = ?", [name]):
        raise WatchError(f"there is a watchlist {name!r} already: `survtrack watch remove {name}`"
                         " first")
    now = _now()
    with wh.transaction():
        wh.execute(f"INSERT INTO watchlists (name, {', '.join(given)}, created_at)"
                   f" VALUES (?, {', '.join('?' for _ in given)}, ?)",
                   [name, *given.values(), now])
        _insert_matches(wh, {"name": name, **given}, now, baseline=True)
    return wh.scalar("SELECT count(*) FROM watch_matches WHERE watchlist = ?", [name])


def remove(wh, name: str) -> None:
    if not wh.scalar("SELECT count(*) FROM watchlists WHERE name = ?", [name]):
        raise WatchError(f"no watchlist {name!r}")
    with wh.transaction():
        wh.execute("DELETE FROM watch_matches WHERE watchlist = ?", [name])
        wh.execute("DELETE FROM watchlists WHERE name = ?", [name])


def watchlists(con) -> list[dict]:
    """Every watchlist with its counts of matches and of new (unreported) ones."""
    cur = con.execute(
        """SELECT w.*, count(m.contract_id) FILTER (WHERE NOT m.baseline) AS matches,
                  count(m.contract_id) FILTER (WHERE NOT m.baseline AND m.reported_at IS NULL)
                      AS new, count(m.contract_id) FILTER (WHERE m.baseline) AS baseline
           FROM watchlists w LEFT JOIN watch_matches m ON m.watchlist = w.name
           GROUP BY ALL ORDER BY w.name""")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _insert_matches(wh, watch: dict, now: datetime, baseline: bool) -> int:
    where, params = _match_sql(watch)
    before = wh.scalar("SELECT count(*) FROM watch_matches WHERE watchlist = ?", [watch["name"]])
    wh.execute(
        f"""INSERT INTO watch_matches (watchlist, contract_id, matched_at, baseline)
            SELECT ?, f.contract_id, ?, ? FROM ({FACTS_SQL}) f
            JOIN contracts c USING (contract_id)
            WHERE {where} AND f.contract_id NOT IN
                (SELECT contract_id FROM watch_matches WHERE watchlist = ?)""",
        [watch["name"], now, baseline, *params, watch["name"]])
    return wh.scalar("SELECT count(*) FROM watch_matches WHERE watchlist = ?",
                     [watch["name"]]) - before


def record(wh) -> dict[str, int]:
    """Record, for every watchlist, the contracts that match it for the first time; return
    the new matches per watchlist (run after every ingest, scrape and build)."""
    found = {}
    now = _now()
    lists = watchlists(wh.con)
    if not lists:
        return found
    with wh.transaction():
        for watch in lists:
            found[watch["name"]] = _insert_matches(wh, watch, now, baseline=False)
    return found


MATCH_COLUMNS = """m.watchlist, m.contract_id, m.matched_at, m.reported_at, f.title, f.signed_on,
       f.year, f.amount, f.currency, f.amount_usd, f.vendor_name, f.buyer_name, f.country,
       f.source, f.url, f.document_id"""


def matches(con, name: str | None = None, new_only: bool = True, limit: int | None = None,
            facts: str | None = None) -> list[dict]:
    """Matches (not the baseline) of one watchlist or all, newest first."""
    conds = ["NOT m.baseline"] + (["m.reported_at IS NULL"] if new_only else [])
    params: list = []
    if name:
        conds.append("m.watchlist = ?")
        params.append(name)
    cur = con.execute(
        f"""SELECT {MATCH_COLUMNS} FROM watch_matches m
            JOIN {facts or f'({FACTS_SQL})'} f USING (contract_id)
            WHERE {' AND '.join(conds)}
            ORDER BY m.matched_at DESC, m.contract_id {'LIMIT ?' if limit else ''}""",
        params + ([limit] if limit else []))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def report(wh, name: str | None = None) -> list[dict]:
    """The new matches of one watchlist (or all), marked reported: each is reported once."""
    if name and not wh.scalar("SELECT count(*) FROM watchlists WHERE name = ?", [name]):
        raise WatchError(f"no watchlist {name!r}")
    found = matches(wh.con, name)
    now = _now()
    with wh.transaction():
        wh.execute(
            f"""UPDATE watch_matches SET reported_at = ?
                WHERE reported_at IS NULL AND NOT baseline
                {'AND watchlist = ?' if name else ''}""", [now] + ([name] if name else []))
        wh.execute(f"UPDATE watchlists SET reported_at = ? {'WHERE name = ?' if name else ''}",
                   [now] + ([name] if name else []))
    return found
