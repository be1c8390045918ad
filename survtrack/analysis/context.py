"""Context events (court cases, rulings, complaints, sanctions, laws) and the buyers and
vendors they concern.

A party is linked to organizations by registry id (`org_id`, as EIS complaints give it) or by
name patterns (`match`, as curated events give it), matched like claims: case-insensitively
inside the organization's name, short name, or its resolved entity's name and aliases. A
control body's decision names no parties of its own: it follows its complaint (same source and
case number). Every function returns an empty frame on a warehouse without the context tables.
"""

from __future__ import annotations

import pandas as pd

from survtrack.analysis import per_snapshot

COLUMNS = ["event_id", "source", "kind", "occurred_on", "date_basis", "jurisdiction", "forum",
           "title", "outcome", "case_number", "procurement_id", "url", "outlet",
           "published_on", "parties", "roles"]

# every organization of a key (entity_id or org_id), with the names a pattern may meet
_ORGS = """
    SELECT o.org_id, o.name, o.short_name, e.name AS entity_name, e.aliases
    FROM organizations o LEFT JOIN entities e ON e.entity_id = o.entity_id
    WHERE o.entity_id IN (SELECT unnest(?::VARCHAR[])) OR o.org_id IN (SELECT unnest(?::VARCHAR[]))
"""
_NAMED = """(strpos(lower(coalesce(o.name, '')), lower(pp.m)) > 0
             OR strpos(lower(coalesce(o.short_name, '')), lower(pp.m)) > 0
             OR strpos(lower(coalesce(o.entity_name, '')), lower(pp.m)) > 0
             OR list_bool_or(list_transform(coalesce(o.aliases, []::VARCHAR[]),
                                            lambda a: strpos(lower(a), lower(pp.m)) > 0)))"""


def available(con) -> bool:
    """Whether the warehouse (or snapshot) has the context tables."""
    return per_snapshot.kept(con, "context tables", lambda: con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN"
        " ('context_events', 'context_parties')").fetchone()[0] == 2)


def _any_events(con) -> bool:
    """Whether there is any event to link (a national-scale warehouse may hold none: then a
    buyer's or vendor's page spends nothing matching its organizations against patterns)."""
    return available(con) and per_snapshot.kept(con, "context events", lambda: con.execute(
        "SELECT count(*) > 0 FROM (SELECT 1 FROM context_events LIMIT 1)").fetchone()[0])


def _frame(con, links_sql: str | None, params: list, years, kinds) -> pd.DataFrame:
    if not _any_events(con):
        return pd.DataFrame(columns=COLUMNS)
    where, args = [], []
    if years:
        first, last = years
        if first is not None:
            where.append("year(e.occurred_on) >= ?")
            args.append(int(first))
        if last is not None:
            where.append("year(e.occurred_on) <= ?")
            args.append(int(last))
    if kinds:
        where.append("e.kind IN (SELECT unnest(?::VARCHAR[]))")
        args.append(list(kinds))
    linked = f"JOIN ({links_sql}) l ON l.event_id = e.event_id" if links_sql else \
        "LEFT JOIN (SELECT NULL::VARCHAR AS event_id, NULL::VARCHAR AS role) l ON false"
    sql = f"""
        SELECT e.event_id, e.source, e.kind, e.occurred_on, e.date_basis, e.jurisdiction,
               e.forum, e.title, e.outcome, e.case_number, e.procurement_id, e.url, e.outlet,
               e.published_on,
               (SELECT string_agg(p.role || ': ' || p.name, '; ' ORDER BY p.position)
                FROM context_parties p WHERE p.event_id = e.event_id) AS parties,
               string_agg(DISTINCT l.role, ', ' ORDER BY l.role) AS roles
        FROM context_events e {linked}
        {'WHERE ' + ' AND '.join(where) if where else ''}
        GROUP BY ALL
        ORDER BY e.occurred_on NULLS LAST, e.event_id"""
    return con.execute(sql, params + args).df()


def events(con, *, years: tuple[int | None, int | None] | None = None,
           kinds: list[str] | None = None) -> pd.DataFrame:
    """Every context event, with its parties in one line, oldest first."""
    return _frame(con, None, [], years, kinds)


def events_for(con, keys: list[str] | str, *,
               years: tuple[int | None, int | None] | None = None,
               kinds: list[str] | None = None) -> pd.DataFrame:
    """The events concerning any of the buyer or vendor keys (entity_id or org_id), with the
    role(s) the key plays in each (`roles`)."""
    keys = [keys] if isinstance(keys, str) else [k for k in keys if k]
    if not keys:
        return pd.DataFrame(columns=COLUMNS)
    links = f"""
        WITH orgs AS ({_ORGS}),
        patterns AS (SELECT event_id, role, unnest(match) AS m FROM context_parties
                     WHERE match IS NOT NULL),
        direct AS (
            SELECT p.event_id, p.role FROM context_parties p
            WHERE p.org_id IN (SELECT org_id FROM orgs)
            UNION
            SELECT pp.event_id, pp.role FROM patterns pp JOIN orgs o ON {_NAMED}),
        followers AS (  -- a decision follows its complaint: same source, same case number
            SELECT e2.event_id, d.role FROM direct d
            JOIN context_events e1 ON e1.event_id = d.event_id
            JOIN context_events e2 ON e2.source = e1.source AND e2.case_number = e1.case_number
            WHERE e1.source = 'eis' AND e1.case_number IS NOT NULL)
        SELECT * FROM direct UNION SELECT * FROM followers"""
    return _frame(con, links, [keys, keys], years, kinds)


def keys_named(con, patterns: str) -> list[str]:
    """The buyer and vendor keys (entity_id, else org_id) of every organization whose name,
    short name or entity name contains one of the `|`-separated patterns."""
    parts = [p.strip() for p in patterns.split("|") if p.strip()]
    if not parts:
        return []
    test = " OR ".join("strpos(lower(coalesce(o.name, '') || ' ' || coalesce(o.short_name, '')"
                       " || ' ' || coalesce(e.name, '')), lower(?)) > 0" for _ in parts)
    return [k for (k,) in con.execute(
        f"""SELECT DISTINCT coalesce(o.entity_id, o.org_id) FROM organizations o
            LEFT JOIN entities e ON e.entity_id = o.entity_id WHERE {test} ORDER BY 1""",
        parts).fetchall()]


def parties(con) -> pd.DataFrame:
    """Every party of every event, with the organizations it is linked to (org ids)."""
    if not available(con):
        return pd.DataFrame(columns=["event_id", "position", "role", "name", "org_id", "match",
                                     "linked"])
    return con.execute(f"""
        WITH o AS (SELECT o.org_id, o.name, o.short_name, e.name AS entity_name, e.aliases
                   FROM organizations o LEFT JOIN entities e ON e.entity_id = o.entity_id),
        pp AS (SELECT event_id, position, unnest(match) AS m FROM context_parties
               WHERE match IS NOT NULL),
        linked AS (SELECT pp.event_id, pp.position, o.org_id FROM pp JOIN o ON {_NAMED}
                   UNION SELECT event_id, position, org_id FROM context_parties
                   WHERE org_id IS NOT NULL)
        SELECT p.event_id, p.position, p.role, p.name, p.org_id, p.match,
               list(DISTINCT l.org_id ORDER BY l.org_id) FILTER (WHERE l.org_id IS NOT NULL)
                   AS linked
        FROM context_parties p
        LEFT JOIN linked l ON l.event_id = p.event_id AND l.position = p.position
        GROUP BY ALL ORDER BY p.event_id, p.position""").df()
