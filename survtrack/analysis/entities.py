"""Entity resolution: organizations as each source names them -> real-world entities.

Rules, strongest first (docs/entities.md explains them with examples):

1. **Overrides** (`overrides/entities.csv` beside the warehouse, or a path given) win over
   everything: `merge` joins two organizations, `split` keeps one alone, `name` sets the
   display name, `part_of` records the body an entity belongs to (`entities.parent_id`, the
   buyer roll-up), `member` a member of a joint award (`entities.members`). The project's own
   decisions (data/entity_links.csv: ICE's offices are ICE, a curated name is the registry
   body it names) come first; an analyst's row for the same org_id replaces them.
2. **Registry identifiers**: organizations with the same number in the same registry are one
   entity (RU-INN:7710878000 from EIS and from an OCDS publisher; identifier_schemes.csv says
   which scheme names share a registry). Two different numbers are two entities, whatever
   their names say.
3. **Normalized names**: legal forms (legal_forms.csv), quotes, punctuation and case removed,
   Cyrillic transliterated and spellings folded (transliteration.csv), so «ООО "НТЕХЛАБ"»,
   'NtechLab LLC' and 'N-Tech.Lab Ltd' all read `ntehlab`. A name attaches an organization
   *without* a registry number to the one registered organization of that name; if several
   registered organizations share the name, it is ambiguous and stays apart. Name-only
   organizations of the same name are one entity.
4. **Fuzzy names** (rapidfuzz ratio >= entity_settings.csv threshold): a name-only
   organization still alone attaches to the one registered organization whose name is close
   enough, when the digits in both names agree and the countries do not contradict.

Every merge records its rule in `entities.reason`. The build recomputes all entities from
`organizations` (deterministic, so running it twice changes nothing); entity ids are
`ent:` + the smallest registered org_id of the cluster (else its smallest org_id), so they stay
stable as name-only organizations join.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from pathlib import Path

import pandas as pd
from rapidfuzz import fuzz, process

from survtrack.analysis import inputs
from survtrack.analysis.datafiles import table
from survtrack.analysis.names import cyrillic, strip_legal_forms, tokens
from survtrack.datafiles import numbered_rows
from survtrack.warehouse import changes
from survtrack.warehouse.store import Warehouse

OVERRIDE_ACTIONS = ("merge", "split", "name", "part_of", "member")
TARGETED = ("merge", "name", "part_of", "member")  # actions that need a target


class OverrideError(ValueError):
    """A malformed overrides file: names the file, the line and the field."""

    def __init__(self, path: Path, line: int, field: str, reason: str):
        super().__init__(f"{path}:{line}: {field}: {reason}")
        self.path, self.line, self.field, self.reason = path, line, field, reason


# -- names ---------------------------------------------------------------------------------

@cache
def _latin() -> dict[int, str]:
    """`cyrillic` as a `str.translate` table (a character is looked up alone)."""
    return {ord(k): v for k, v in cyrillic().items() if len(k) == 1}


@cache
def _folds() -> tuple[re.Pattern, dict[str, str]]:
    folds = {r["from"][5:]: r["to"] for r in table("transliteration") if r["from"].startswith("fold:")}
    pattern = re.compile("|".join(re.escape(k) for k in sorted(folds, key=len, reverse=True)))
    return pattern, folds


@cache
def _registries() -> dict[str, str]:
    return {r["scheme"].upper(): r["registry"] for r in table("identifier_schemes")}


@cache
def settings() -> dict[str, float]:
    return {r["setting"]: float(r["value"]) for r in table("entity_settings")}


def skeleton(text: str) -> str:
    """One-script spelling skeleton: Cyrillic -> Latin, then the fold rules, doubles merged."""
    latin = text.translate(_latin())
    pattern, folds = _folds()
    folded = pattern.sub(lambda m: folds[m.group(0)], latin)
    return re.sub(r"(.)\1+", r"\1", folded)


def name_key(name: str | None) -> str | None:
    """The comparison key of a name: 'ООО «НтехЛаб»' -> 'ntehlab'; None for no name."""
    words = strip_legal_forms(tokens(name))
    key = skeleton("".join(words))
    return key or None


def _digits(key: str) -> str:
    return "".join(ch for ch in key if ch.isdigit())


def fuzzy_score(a: str | None, b: str | None) -> float:
    """Similarity (0-100) of two names as the fuzzy rule sees them (see `_key_score`)."""
    return _key_score(name_key(a), name_key(b))


def _key_score(ka: str | None, kb: str | None) -> float:
    """Similarity (0-100) of two name keys; 0 where a guard forbids a merge.

    Guards: both keys long enough; the same digits (МУП №1 is not МУП №2); and neither key
    merely extends the other ('megapolis' vs 'megapolism': an added word or letter names a
    different company more often than it is a typo).
    """
    if not ka or not kb or min(len(ka), len(kb)) < settings()["fuzzy_min_length"]:
        return 0.0
    if _digits(ka) != _digits(kb) or (ka != kb and (ka.startswith(kb) or kb.startswith(ka)
                                                   or ka.endswith(kb) or kb.endswith(ka))):
        return 0.0
    return fuzz.ratio(ka, kb)


# -- overrides ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Override:
    action: str
    org_id: str
    target: str
    note: str
    line: int
    project: bool = False  # from data/entity_links.csv: skipped silently where not loaded


def default_overrides_path(wh: Warehouse) -> Path:
    return wh.path.parent / "overrides" / "entities.csv"


def project_links() -> list[Override]:
    """The project's own entity decisions (survtrack/analysis/data/entity_links.csv)."""
    path = Path(__file__).parent / "data" / "entity_links.csv"
    return [replace(o, project=True) for o in read_overrides(path)]


def with_project_links(overrides: list[Override]) -> list[Override]:
    """The project's links, less those about an org_id the analyst decided on, then the
    analyst's overrides (so an analyst's `split` or `merge` undoes a project `merge`)."""
    mine = {o.org_id for o in overrides}
    return [o for o in project_links() if o.org_id not in mine] + list(overrides)


def read_overrides(path: Path | None) -> list[Override]:
    """The analyst's overrides; a missing file means none, a malformed row is an error."""
    if path is None or not Path(path).exists():
        return []
    out = []
    for line, row in numbered_rows(Path(path)):
        action = row.get("action", "").lower()
        if action not in OVERRIDE_ACTIONS:
            raise OverrideError(path, line, "action",
                                f"{action!r} is not one of {', '.join(OVERRIDE_ACTIONS)}")
        if not row.get("org_id"):
            raise OverrideError(path, line, "org_id", "empty")
        if action in TARGETED and not row.get("target"):
            raise OverrideError(path, line, "target", f"{action} needs a target")
        out.append(Override(action, row["org_id"], row.get("target", ""), row.get("note", ""),
                            line))
    return out


# -- resolution ---------------------------------------------------------------------------

@dataclass
class Org:
    org_id: str
    name: str | None
    short_name: str | None = None
    scheme: str | None = None
    identifier: str | None = None
    country: str | None = None
    parent_id: str | None = None  # org_id of the parent organization the source names

    @property
    def registered(self) -> bool:
        return not self.org_id.startswith("name:")

    def registry_key(self) -> tuple[str, str]:
        scheme, _, ident = self.org_id.partition(":")
        scheme = (self.scheme or scheme).upper()
        ident = re.sub(r"[^0-9A-Za-z]", "", self.identifier or ident).upper()
        return _registries().get(scheme, scheme), ident

    @cached_property
    def name_keys(self) -> list[str]:
        return list(dict.fromkeys(k for k in (name_key(self.name), name_key(self.short_name)) if k))


@dataclass
class Entity:
    entity_id: str
    name: str | None
    aliases: list[str]
    identifiers: list[str]
    reason: str
    parent_id: str | None = None  # entity this one is part of (sub-unit -> agency)
    members: list[str] = field(default_factory=list)  # member entities of a joint award


@dataclass
class Resolution:
    entities: list[Entity]
    entity_of: dict[str, str]
    merges: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ambiguous: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"organizations": len(self.entity_of), "entities": len(self.entities),
                "merges": dict(self.merges), "ambiguous": len(self.ambiguous),
                "ambiguous_examples": self.ambiguous[:20], "warnings": self.warnings}


class _Clusters:
    """Union-find over org_ids that remembers why each union happened."""

    def __init__(self, orgs: dict[str, Org]):
        self.parent = {i: i for i in orgs}
        self.reasons: dict[str, list[str]] = defaultdict(list)
        self.countries = {i: {o.country} - {None} for i, o in orgs.items()}

    def find(self, x: str) -> str:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str, reason: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        keep, drop = sorted((ra, rb))
        self.parent[drop] = keep
        self.reasons[keep] += self.reasons.pop(drop, []) + [reason]
        self.countries[keep] |= self.countries.pop(drop)

    def country_agrees(self, org: Org, other: str) -> bool:
        """No country of `other`'s cluster contradicts `org`'s (unknown agrees with all)."""
        return not org.country or not (self.countries[self.find(other)] - {org.country})


def resolve(orgs: list[Org], overrides: list[Override] = ()) -> Resolution:
    """Cluster organizations into entities (pure: no warehouse needed)."""
    by_id = {o.org_id: o for o in orgs}
    clusters = _Clusters(by_id)
    result = Resolution([], {})
    split = {o.org_id for o in overrides if o.action == "split"}
    overrides = [o for o in overrides if not o.project or (
        o.org_id in by_id and (o.action in ("split", "name") or o.target in by_id
                               or _named_member(o)))]
    for o in overrides:
        target = o.target if o.action in ("merge", "part_of", "member") \
            and not _named_member(o) else None
        for ref in (o.org_id, target):
            if ref and ref not in by_id:
                result.warnings.append(f"override line {o.line}: {ref} is not in organizations")
    auto = [o for o in sorted(orgs, key=lambda o: o.org_id) if o.org_id not in split]

    # 2. registry identifiers
    registry: dict[tuple[str, str], str] = {}
    for org in auto:
        if not org.registered:
            continue
        key = org.registry_key()
        if key in registry:
            clusters.union(registry[key], org.org_id,
                           f"{org.org_id} and {registry[key]}: same {key[0]} number {key[1]}")
            result.merges["registry"] += 1
        else:
            registry[key] = org.org_id

    # 3. exact normalized names: name-only organizations attach to registered ones
    registered_by_key: dict[str, set[str]] = defaultdict(set)
    for org in auto:
        if org.registered:
            for key in org.name_keys:
                registered_by_key[key].add(clusters.find(org.org_id))
    alone_by_key: dict[str, list[str]] = defaultdict(list)
    alone: list[Org] = []
    for org in auto:
        if org.registered:
            continue
        keys = org.name_keys
        targets = sorted({t for k in keys for t in registered_by_key.get(k, ())
                          if clusters.country_agrees(org, t)})
        if len(targets) == 1:
            key = next(k for k in keys if targets[0] in registered_by_key.get(k, ()))
            clusters.union(targets[0], org.org_id,
                           f"{org.org_id}: same normalized name '{key}' as {targets[0]}")
            result.merges["name"] += 1
        elif len(targets) > 1:
            result.ambiguous.append(f"{org.org_id}: name matches {len(targets)} registered"
                                    f" organizations ({', '.join(targets)}); left apart")
        else:
            for key in keys:
                peer = next((p for p in alone_by_key[key] if clusters.country_agrees(org, p)),
                            None)
                if peer and clusters.find(peer) != clusters.find(org.org_id):
                    clusters.union(peer, org.org_id, f"{org.org_id}: same normalized name"
                                   f" '{key}' as {peer} (neither registered)")
                    result.merges["name"] += 1
                alone_by_key[key].append(org.org_id)
            if keys:
                alone.append(org)

    # 4. fuzzy names, name-only -> registered only, blocked by first letter
    _fuzzy(alone, registered_by_key, clusters, result)

    # 1. overrides win: merges after everything automatic; split ones were kept out above
    for o in overrides:
        if o.action == "merge" and o.org_id in by_id and o.target in by_id:
            where = "entity_links.csv" if o.project else "override"
            clusters.union(o.target, o.org_id, f"{where} (line {o.line}): {o.org_id} merged"
                           f" into {o.target}" + (f": {o.note}" if o.note else ""))
            result.merges["override"] += 1
    names = {clusters.find(o.org_id): o.target for o in overrides
             if o.action == "name" and o.org_id in by_id}

    members: dict[str, list[Org]] = defaultdict(list)
    for org in orgs:
        members[clusters.find(org.org_id)].append(org)
    entity_of_root: dict[str, str] = {}
    for root, group in sorted(members.items()):
        # the representative: registered, in its registry's own scheme, smallest id
        group.sort(key=lambda o: (not o.registered, o.registry_key()[0] != o.org_id.split(":")[0]
                                  if o.registered else True, o.org_id))
        rep = group[0]
        entity_id = f"ent:{rep.org_id}"
        aliases = list(dict.fromkeys(n for o in group for n in (o.name, o.short_name) if n))
        reasons = clusters.reasons.get(root, [])
        if rep.org_id in split:
            reasons = [f"override: {rep.org_id} split (kept apart)"] + reasons
        reason = "; ".join(reasons) or "single organization: nothing to merge"
        result.entities.append(Entity(entity_id, names.get(root) or rep.name or rep.short_name,
                                      aliases, [o.org_id for o in group], reason))
        entity_of_root[root] = entity_id
        for org in group:
            result.entity_of[org.org_id] = entity_id
    _link_entities(orgs, overrides, clusters, entity_of_root, result)
    return result


def _link_entities(orgs: list[Org], overrides: list[Override], clusters: _Clusters,
                   entity_of_root: dict[str, str], result: Resolution) -> None:
    """entities.parent_id (from the source's parent_id, then `part_of` rows, which win) and
    entities.members (`member` rows); a link inside one entity, or a loop, is dropped."""
    by_entity = {e.entity_id: e for e in result.entities}
    ent = {o.org_id: entity_of_root[clusters.find(o.org_id)] for o in orgs}
    links = [(o.org_id, o.parent_id) for o in orgs if o.parent_id in ent]
    links += [(o.org_id, o.target) for o in overrides
              if o.action == "part_of" and o.org_id in ent and o.target in ent]
    for child, parent in links:
        child_entity, parent_entity = ent[child], ent[parent]
        seen, up = {child_entity}, parent_entity
        while up and up not in seen:  # no loops: the parent must not descend from the child
            seen.add(up)
            up = by_entity[up].parent_id
        if up is None:
            by_entity[child_entity].parent_id = parent_entity
            result.merges["part_of"] += 1
    for o in overrides:
        if o.action != "member" or o.org_id not in ent:
            continue
        if o.target in ent:
            member = ent[o.target] if ent[o.org_id] != ent[o.target] else None
        else:  # a member no source names alone: kept by its name
            member = o.target if _named_member(o) else None
        joint = by_entity[ent[o.org_id]]
        if member and member not in joint.members:
            joint.members.append(member)


def _named_member(o: Override) -> bool:
    """A `member` row whose target is a company's name, not an org_id (which has a scheme:
    'RU-INN:…', 'name:curated:…'): a consortium's member that no loaded record names alone."""
    return o.action == "member" and ":" not in o.target


def _fuzzy(alone: list[Org], registered_by_key: dict[str, set[str]], clusters: _Clusters,
           result: Resolution) -> None:
    cfg = settings()
    threshold, min_len = cfg["fuzzy_threshold"], int(cfg["fuzzy_min_length"])
    # blocking: same first letter, and lengths a ratio >= threshold allows
    # (ratio = 2 * matches / (len a + len b), so the shorter is >= t / (2 - t) of the longer)
    blocks: dict[tuple[str, int], list[str]] = defaultdict(list)
    for key in registered_by_key:
        if len(key) >= min_len:
            blocks[key[0], len(key)].append(key)
    share = (threshold / 100) / (2 - threshold / 100)
    for org in alone:
        if clusters.find(org.org_id) != org.org_id or any(
                k in registered_by_key for k in org.name_keys):
            continue  # already attached, or ambiguous by exact name
        hits: dict[str, tuple[float, str]] = {}
        for key in org.name_keys:
            if len(key) < min_len:
                continue
            candidates = [other for n in range(math.ceil(len(key) * share),
                                               math.floor(len(key) / share) + 1)
                          for other in blocks.get((key[0], n), ())]
            for other, score, _ in process.extract(key, candidates,
                                                   scorer=fuzz.ratio, score_cutoff=threshold,
                                                   limit=None):
                score = _key_score(key, other)
                if score < threshold:
                    continue
                for target in registered_by_key[other]:
                    target = clusters.find(target)
                    if not clusters.country_agrees(org, target):
                        continue
                    if score > hits.get(target, (0, ""))[0]:
                        hits[target] = (score, f"'{key}' ~ '{other}'")
        if len(hits) == 1:
            (target, (score, pair)), = hits.items()
            clusters.union(target, org.org_id, f"{org.org_id}: fuzzy name match {pair}"
                           f" (ratio {score:.0f} >= {threshold:.0f}) with {target}")
            result.merges["fuzzy"] += 1
        elif len(hits) > 1:
            result.ambiguous.append(f"{org.org_id}: close to {len(hits)} registered"
                                    f" organizations ({', '.join(sorted(hits))}); left apart")


# -- warehouse ----------------------------------------------------------------------------

def resolve_entities(wh: Warehouse, overrides: Path | None = None) -> Resolution:
    """Rebuild `entities` and `organizations.entity_id` from `organizations`.

    `overrides` defaults to `overrides/entities.csv` beside the warehouse file.
    """
    path = Path(overrides) if overrides else default_overrides_path(wh)
    rules = with_project_links(read_overrides(path))
    orgs = [Org(*row) for row in wh.query(
        "SELECT org_id, name, short_name, scheme, identifier, country, parent_id"
        " FROM organizations")]
    result = resolve(orgs, rules)
    entities = pd.DataFrame([e.__dict__ for e in result.entities],
                            columns=["entity_id", "name", "aliases", "identifiers", "reason",
                                     "parent_id", "members"])
    mapping = pd.DataFrame(list(result.entity_of.items()), columns=["org_id", "entity_id"])
    with wh.transaction():
        # the entities and organizations this changed are recorded (warehouse/changes.py)
        wh.execute("CREATE OR REPLACE TEMP TABLE entities_before AS"
                   " SELECT entity_id, hash(e) AS h FROM entities e")
        wh.execute("CREATE OR REPLACE TEMP TABLE organizations_before AS"
                   " SELECT org_id, entity_id FROM organizations")
        wh.write("entities", entities, mode="replace")
        wh.update_from("organizations", mapping, key=("org_id",), columns=("entity_id",))
        changes.record(wh, "entities", "SELECT coalesce(a.entity_id, b.entity_id)"
                       " FROM entities_before b FULL JOIN (SELECT entity_id, hash(e) AS h"
                       " FROM entities e) a ON a.entity_id = b.entity_id"
                       " WHERE a.h IS DISTINCT FROM b.h")
        changes.record(wh, "organizations", "SELECT org_id FROM organizations_before b"
                       " JOIN organizations o USING (org_id)"
                       " WHERE o.entity_id IS DISTINCT FROM b.entity_id")
        wh.execute("DROP TABLE entities_before")
        wh.execute("DROP TABLE organizations_before")
    return result


def build_entities(wh: Warehouse, overrides: Path | None = None, full: bool = False) -> dict:
    """The build step: `resolve_entities`, unless nothing it reads or writes changed since it
    last ran (`full`: always). Resolution is one clustering of every organization (a new
    registered one can rename or split the entities of others), so it is not narrowed; but a
    build after a load that named no new organization resolved all of them again to the same
    rows (1.6-1.8 CPU s of a +1 % build at 1 M contracts, docs/scale.md). The step keeps a
    fingerprint of its inputs and outputs: the rows of `organizations` it reads and their
    `entity_id`, `entities`, the overrides, its data files and code. Equal fingerprints, equal
    rows: the step is skipped (`unchanged` in its summary, and no merges or warnings reported,
    which the build that resolved reported). A write of either table, recorded or not, is seen."""
    path = Path(overrides) if overrides else default_overrides_path(wh)
    before = None if full else _fingerprint(wh, path)
    if before is not None and changes.cursor(wh, "entities", before, ()) is not None:
        return {"organizations": wh.count("organizations"), "entities": wh.count("entities"),
                "unchanged": True, "merges": {}, "ambiguous": 0, "ambiguous_examples": [],
                "warnings": []}
    summary = resolve_entities(wh, path).summary()
    with wh.transaction():
        changes.advance(wh, "entities", _fingerprint(wh, path), ())
    return summary


# what the fingerprint hashes of `organizations`: what resolve reads, and what it writes
_ORG_COLUMNS = "org_id, name, short_name, scheme, identifier, country, parent_id, entity_id"


def _fingerprint(wh: Warehouse, overrides: Path) -> str:
    """A hash of what `resolve_entities` reads and writes: both tables' rows (count and
    bit_xor of row hashes: each table is keyed, so no row cancels another), the overrides file,
    the data files, this module and its names' words (names.py)."""
    from rapidfuzz import __version__ as rapidfuzz_version

    from survtrack.analysis import names
    from survtrack.analysis.datafiles import FOLDER

    rows = wh.query(f"""
        SELECT (SELECT count(*) FROM organizations),
               (SELECT bit_xor(hash({_ORG_COLUMNS})) FROM organizations),
               (SELECT count(*) FROM entities), (SELECT bit_xor(hash(e)) FROM entities e)""")
    files = [FOLDER / f"{name}.csv" for name in ("transliteration", "legal_forms",
                                                 "identifier_schemes", "entity_settings",
                                                 "entity_links")]
    return inputs.version(Path(__file__), Path(names.__file__), *files, rapidfuzz_version, repr(rows[0]),
                          overrides if overrides.exists() else "no overrides")


build = resolve_entities
