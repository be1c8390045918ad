"""Buyers as analysts count them: a sub-unit rolled up to the body it belongs to, and every
vendor or buyer with the number of names merged into it and the members of a joint award.

`entities.parent_id` links a body to the one it is part of: from the source (USAspending's
sub-tier agency under its department), from `part_of` rows of analysis/data/entity_links.csv
or of the analyst's overrides (docs/entities.md). The buyer views count at one of three
levels, as USAspending offers sub-agency / agency / department:

- `office`: the body that signed the contract (the default);
- `agency`: one level up where the body is part of another (Moscow's GKU Infogorod -> the
  DIT; the Department of the Air Force -> the Department of Defense), else itself;
- `department`: the top of the chain (GKU Infogorod -> the DIT -> the Government of Moscow).

A contract is attributed to exactly one body at every level, so totals never change with the
level, only how they are grouped. Keys that are no entity (an organization not resolved yet,
'(unpublished)') stay themselves at every level.
"""

from __future__ import annotations

LEVELS = ("office", "agency", "department")
DEFAULT = "office"
MAX_DEPTH = 16  # longer chains than any government has; a bound in case of a loop

# entity -> its body one level up (`agency`) and at the top (`department`)
ROLLUP_SQL = f"""
    WITH RECURSIVE up(key, ancestor, depth) AS (
        SELECT entity_id, entity_id, 0 FROM entities
        UNION ALL
        SELECT up.key, e.parent_id, up.depth + 1 FROM up
        JOIN entities e ON e.entity_id = up.ancestor
        WHERE e.parent_id IS NOT NULL AND up.depth < {MAX_DEPTH})
    SELECT key, arg_max(ancestor, depth) FILTER (WHERE depth <= 1) AS agency,
           arg_max(ancestor, depth) AS department
    FROM up GROUP BY key"""


def level(value: str | None) -> str:
    """A level from a URL value; anything else is the default."""
    return value if value in LEVELS else DEFAULT


def key_sql(lvl: str, column: str = "buyer_key", rollup: str = "r") -> str:
    """The rolled-up key of `column` (joined to ROLLUP_SQL as `rollup`)."""
    return column if lvl == DEFAULT else f"coalesce({rollup}.{level(lvl)}, {column})"


def members_of_sql(lvl: str) -> str:
    """Keys at level `lvl` -> the keys (as published) of the bodies rolled into them; used to
    select a rolled-up buyer's contracts: `buyer_key IN (...)`."""
    return f"SELECT key FROM ({ROLLUP_SQL}) WHERE {level(lvl)} = ?"


def rolled_up(con, key: str, lvl: str) -> str:
    """The body `key` is counted with at level `lvl` (itself at the office level, or when it
    is no entity)."""
    if level(lvl) == DEFAULT:
        return key
    found = con.execute(f"SELECT {level(lvl)} FROM ({ROLLUP_SQL}) WHERE key = ?",
                        [key]).fetchone()
    return found[0] if found and found[0] else key


def info_sql(lvl: str = DEFAULT, keys: str | None = None) -> str:
    """Per key at level `lvl`: its display `name` (NULL for a key that is no entity), `names`
    (how many distinct names are merged into it, or into the bodies rolled into it),
    `bodies` (how many entities it counts: 1 at `office`), `members` (the names of a joint
    award's members) and `member_of` (the joint awards it is a member of, whose money is
    counted with the joint award, never again with the member). With `keys` (a relation
    with a column `key`, at the `office` level) those keys alone: a view's top rows look up
    theirs instead of every entity's."""
    only = f" WHERE entity_id IN (SELECT key FROM {keys})" if keys else ""
    only_members = f"WHERE j.member IN (SELECT key FROM {keys})" if keys else ""
    # a member is an entity id, or the name of a member no record names alone
    members = f"""(SELECT j.entity_id, list(coalesce(m.name, j.member) ORDER BY j.i) AS members
                  FROM (SELECT entity_id, unnest(members) AS member,
                               generate_subscripts(members, 1) AS i FROM entities{only}) j
                  LEFT JOIN entities m ON m.entity_id = j.member GROUP BY 1)"""
    member_of = f"""(SELECT j.member AS entity_id, list(j.name ORDER BY j.name) AS member_of
                    FROM (SELECT name, unnest(members) AS member FROM entities) j
                    {only_members}
                    GROUP BY 1)"""
    if level(lvl) == DEFAULT:
        return f"""
            SELECT e.entity_id AS key, e.name, greatest(len(e.aliases), 1) AS names,
                   1 AS bodies, m.members, o.member_of
            FROM (SELECT * FROM entities{only}) e LEFT JOIN {members} m USING (entity_id)
            LEFT JOIN {member_of} o USING (entity_id)"""
    return f"""
        WITH r AS ({ROLLUP_SQL}),
             n AS (SELECT r.{lvl} AS key, count(DISTINCT r.key) AS bodies,
                          count(DISTINCT a.alias) AS names
                   FROM r JOIN entities e ON e.entity_id = r.key
                   LEFT JOIN (SELECT entity_id, unnest(aliases) AS alias FROM entities) a
                          ON a.entity_id = r.key
                   GROUP BY 1)
        SELECT n.key, e.name, greatest(n.names, 1) AS names, n.bodies, m.members, o.member_of
        FROM n JOIN entities e ON e.entity_id = n.key
        LEFT JOIN {members} m ON m.entity_id = n.key
        LEFT JOIN {member_of} o ON o.entity_id = n.key"""
