"""Explainable surveillance classifier: every tag names the rule that fired and its evidence.

The rules are data, in `analysis/taxonomy/` (one CSV per rule kind, one documented row per
rule): product codes (OKPD2, KTRU, CPV, PSC, NAICS, UNSPSC), word stems in nine languages,
known vendors, and negative rules for the traps (a brake chamber is not a camera). Text is
compared after `normalize` (case folded, accents and ё/й marks stripped, whitespace
collapsed); a match is reported as the original text it covers.

Negative rules work two ways: a positive match that overlaps a negative match is dropped
(«камера тормозная»), and a negative rule of scope `text` also drops, for its categories,
every tag from the same text whose score is below `strong_score` («веб-камера для
видеоконференцсвязи» under OKPD2 26.70.13). A strong phrase («система видеонаблюдения») is
never silenced by a text-wide negative.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import types
import unicodedata
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

from survtrack.analysis import inputs
from survtrack.analysis.names import strip_legal_forms, tokens
from survtrack.datafiles import rows
from survtrack.warehouse import changes
from survtrack.warehouse.protocol import CATEGORIES, categories

TAXONOMY = Path(__file__).with_name("taxonomy")
# Rule-id prefixes this module owns in `tags`; other tags (e.g. curated ones) are left alone.
RULE_KINDS = ("kw:", "code:", "vendor:")
SCHEMES = ("OKPD2", "KTRU", "CPV", "PSC", "NAICS", "UNSPSC")


@dataclass(frozen=True)
class Tag:
    category: str
    rule: str
    evidence: str
    score: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Pattern:
    rule: str
    category: str
    regex: re.Pattern
    score: float


@dataclass(frozen=True)
class CodeRule:
    rule: str
    scheme: str
    code: str
    match: str  # prefix | exact
    category: str
    score: float
    name: str


@dataclass(frozen=True)
class Negative:
    rule: str
    regex: re.Pattern
    categories: frozenset[str] | None  # None: every category
    scope: str  # span | text


# -- text ----------------------------------------------------------------------------------
_DASHES_QUOTES = str.maketrans({**dict.fromkeys("‐‑‒–—", "-"), **dict.fromkeys("«»“”„\"`", '"'),
                                "’": "'", "\u00ad": None})
_SPACES = re.compile(r"\s+")
_FOLDED: dict[str, str] = {}  # character -> its folded form, filled as characters are met


def _strip_marks(text: str) -> str:
    return "".join(c for c in text if not unicodedata.combining(c))


def normalize(text: str) -> str:
    """Text as rules see it: dashes and quotes unified, soft hyphens dropped, case folded,
    accents and other combining marks stripped (ё→е, й→и, ü→u), whitespace runs collapsed."""
    out = unicodedata.normalize("NFKD", text.translate(_DASHES_QUOTES).casefold())
    if not out.isascii():
        out = _strip_marks(out)
    return _SPACES.sub(" ", out).lstrip(" ")


def _normalize_with_map(text: str) -> tuple[str, list[int]]:
    """`normalize(text)`, and for each of its characters the index of the original one.

    Character by character, hence slower: used only for texts where a rule matched, to
    report the evidence as the original text.
    """
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        folded = _FOLDED.get(ch)
        if folded is None:
            folded = _FOLDED[ch] = _strip_marks(unicodedata.normalize(
                "NFKD", ch.translate(_DASHES_QUOTES).casefold()))
        for c in folded:
            if c.isspace():
                if not chars or chars[-1] == " ":
                    continue
                c = " "
            chars.append(c)
            origin.append(i)
    return "".join(chars), origin


def _compile(pattern: str) -> re.Pattern:
    # Patterns are folded the same way as the text; the data file writes them naturally.
    return re.compile(r"(?<!\w)(?:" + normalize(pattern) + r")(?!\w)")


def _combine(patterns: Sequence[re.Pattern]) -> re.Pattern:
    """One pattern matching where any of `patterns` (built by `_compile`) matches, with the
    word-start test hoisted so that the engine skips mid-word positions at once."""
    return re.compile(r"(?<!\w)(?:" + "|".join(p.pattern[len("(?<!\\w)"):] for p in patterns)
                      + ")")


# -- loading the taxonomy ------------------------------------------------------------------
def _rows(path: Path) -> list[dict]:
    return rows(path)


def _code_key(scheme: str, code: str) -> str:
    """A code as compared: CPV without its check digit, KTRU as its OKPD2 part, no spaces."""
    code = re.sub(r"\s+", "", code or "").upper()
    if scheme in ("CPV", "KTRU"):
        code = code.split("-")[0]
    return code


class Classifier:
    """The rules of one taxonomy folder, loaded once."""

    def __init__(self, folder: Path = TAXONOMY):
        self.folder = Path(folder)
        self.settings = {r["name"]: r["value"] for r in _rows(self.folder / "settings.csv")}
        self.strong_score = float(self.settings["strong_score"])
        self.categories = categories()
        self.keywords = [self._pattern(r) for r in _rows(self.folder / "keywords.csv")]
        self.vendors = [self._pattern(r) for r in _rows(self.folder / "vendors.csv")]
        self.vendor_in_text = {r["rule"] for r in _rows(self.folder / "vendors.csv")
                               if r["in_text"] == "yes"}
        self.codes = [self._code_rule(r) for r in _rows(self.folder / "codes.csv")]
        self.negatives = [
            Negative(r["rule"], _compile(r["pattern"]),
                     None if r["categories"] == "*" else frozenset(r["categories"].split(";")),
                     r["scope"])
            for r in _rows(self.folder / "negatives.csv")]
        for n in self.negatives:
            unknown = (n.categories or set()) - set(self.categories)
            if unknown or n.scope not in ("span", "text"):
                raise ValueError(f"negatives.csv {n.rule}: bad categories or scope")
        # Speed: one combined scan of every word rule rejects most texts (most procurement
        # matches nothing); then one combined scan per category, and a rule's own pattern
        # runs only where its category's scan matched.
        groups: dict[str, list[Pattern]] = {}
        for p in self.keywords + [v for v in self.vendors if v.rule in self.vendor_in_text]:
            groups.setdefault(p.category, []).append(p)
        self._word_groups = [(_combine([p.regex for p in group]), group)
                             for group in groups.values()]
        self._any_word = _combine([p.regex for group in groups.values() for p in group])
        # most vendors match no vendor rule: one scan of the name's words tells them, before
        # its legal form is set aside (a rule matching the name's core matches its words)
        self._any_vendor = _combine([p.regex for p in self.vendors])
        self.version = self._version()
        # a vendor's name and a product code recur across thousands of contracts: their tags
        # are worked out once (Tags are frozen, so the lists are shared read-only)
        self._vendor_tags: dict[str, list[Tag]] = {}
        self._code_tags: dict[tuple[str, str], list[Tag]] = {}

    def _category(self, row: dict) -> str:
        if row["category"] not in self.categories:
            raise ValueError(f"{row['rule']}: unknown category {row['category']!r}")
        return row["category"]

    def _code_rule(self, row: dict) -> CodeRule:
        if row["scheme"] not in SCHEMES or row["match"] not in ("exact", "prefix"):
            raise ValueError(f"{row['rule']}: scheme must be one of {SCHEMES},"
                             " match exact or prefix")
        return CodeRule(row["rule"], row["scheme"], _code_key(row["scheme"], row["code"]),
                        row["match"], self._category(row), float(row["score"]), row["name"])

    def _pattern(self, row: dict) -> Pattern:
        try:
            regex = _compile(row["pattern"])
        except re.error as exc:
            raise ValueError(f"{row['rule']}: bad pattern {row['pattern']!r}: {exc}") from None
        return Pattern(row["rule"], self._category(row), regex, float(row["score"]))

    def _version(self) -> str:
        """Hash of the rule files: a change of rules makes the next build reclassify all."""
        h = hashlib.sha256()
        for path in sorted([*self.folder.glob("*.csv"), CATEGORIES], key=lambda p: p.name):
            h.update(path.name.encode() + path.read_bytes())
        return h.hexdigest()[:16]

    # -- classifying -----------------------------------------------------------------------
    def classify(self, text: str | None, codes: Iterable = (),
                 vendor: str | Sequence[str] | None = None) -> list[Tag]:
        """Tags for one text with its product codes and the vendor's name."""
        return self.classify_parts([(text, list(codes))], vendor)

    def classify_parts(self, parts: Sequence[tuple[str | None, Iterable]],
                       vendor: str | Sequence[str] | None = None) -> list[Tag]:
        """Tags for a contract made of parts (title, product lines), one list, best first.

        Negative rules act within the part they match, so one line's webcam does not silence
        another line's CCTV camera.
        """
        best: dict[tuple[str, str], Tag] = {}
        for text, codes in parts:
            for tag in self._part(text or "", codes):
                _keep(best, tag)
        for name in ([vendor] if isinstance(vendor, str) else vendor or []):
            for tag in self._vendor(name):
                _keep(best, tag)
        return sorted(best.values(), key=lambda t: (-t.score, t.category, t.rule))

    def _part(self, text: str, codes: Iterable) -> list[Tag]:
        found: list[tuple[Tag, tuple[int, int] | None]] = []
        for scheme, code in _codes(codes):
            for tag in self._code(scheme, code):
                found.append((tag, None))
        folded = normalize(text)
        hits = [group for combined, group in self._word_groups if combined.search(folded)] \
            if self._any_word.search(folded) else []
        if not found and not hits:
            return []
        folded, origin = _normalize_with_map(text)
        for group in hits:
            for p in group:
                for m in p.regex.finditer(folded):
                    found.append((Tag(p.category, p.rule, _original(text, origin, m),
                                      p.score), m.span()))
        if not found:
            return []
        spans, text_wide = [], set()
        for n in self.negatives:
            for m in n.regex.finditer(folded):
                spans.append((m.span(), n.categories))
                if n.scope == "text":
                    text_wide |= n.categories or set(self.categories)
        kept = []
        for tag, span in found:
            if span and any(_overlap(span, s) and (cats is None or tag.category in cats)
                            for s, cats in spans):
                continue
            if tag.category in text_wide and tag.score < self.strong_score:
                continue
            kept.append(tag)
        return kept

    def _code(self, scheme: str, code: str) -> list[Tag]:
        known = self._code_tags.get((scheme, code))
        if known is None:
            known = self._code_tags[scheme, code] = self._code_rules(scheme, code)
            _bound(self._code_tags)
        return known

    def _code_rules(self, scheme: str, code: str) -> list[Tag]:
        scheme = scheme.upper()
        key = _code_key(scheme, code)
        # A KTRU position is an OKPD2 code with a suffix: OKPD2 rules apply to it.
        schemes = {scheme, "OKPD2"} if scheme == "KTRU" else {scheme}
        tags = []
        for r in self.codes:
            if r.scheme in schemes and (key == r.code if r.match == "exact"
                                        else key.startswith(r.code)):
                tags.append(Tag(r.category, r.rule, f"{scheme} {code}: {r.name}", r.score))
        return tags

    def code_name(self, scheme: str | None, code: str | None) -> str | None:
        """The code list's name of a product code, where a rule of the taxonomy names it
        (the most specific rule); None for a code no rule covers."""
        if not scheme or not code:
            return None
        tags = self._code(scheme, code)
        best = max(((r.code, r.name) for r in self.codes for t in tags if t.rule == r.rule),
                   default=None, key=lambda pair: len(pair[0]))
        return best[1] if best else None

    def _vendor(self, vendor: str) -> list[Tag]:
        """Vendor rules match the vendor's name as a whole, from its first word once its legal
        form is set aside («ООО «НтехЛаб»», "SZ DJI Technology Co., Ltd."), never a word
        inside another name ("EY DjI PRINT SPY", an Armenian print shop, is no DJI)."""
        known = self._vendor_tags.get(vendor)
        if known is None:
            words = tokens(vendor)
            # the core is some of these words, in order: a rule matching at its start (a
            # word's) and ending at its end (a word's) matches among the words
            core = normalize(" ".join(strip_legal_forms(words))) \
                if self._any_vendor.search(normalize(" ".join(words))) else ""
            known = self._vendor_tags[vendor] = [
                Tag(p.category, p.rule, f"vendor: {vendor}", p.score)
                for p in self.vendors if core and p.regex.match(core)]
            _bound(self._vendor_tags)
        return known

    def category_names(self, tags: Iterable[Tag]) -> list[str]:
        order = list(self.categories)
        return sorted({t.category for t in tags}, key=order.index)


def _bound(cache: dict, most: int = 200_000) -> None:
    """Memory stays bounded on a corpus of millions of distinct names: start the cache afresh."""
    if len(cache) > most:
        cache.clear()


def _keep(best: dict, tag: Tag) -> None:
    key = (tag.category, tag.rule)
    if key not in best or tag.score > best[key].score:
        best[key] = tag


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _original(text: str, origin: list[int], m: re.Match) -> str:
    start, end = m.span()
    return text[origin[start]:origin[end - 1] + 1] if end > start else ""


def _codes(codes: Iterable) -> Iterable[tuple[str, str]]:
    """(scheme, code) pairs from pairs or 'SCHEME:code' strings."""
    for c in codes or ():
        if isinstance(c, str):
            scheme, sep, code = c.partition(":")
            if not sep:
                raise ValueError(f"code {c!r} needs a scheme, e.g. CPV:35125300")
        else:
            scheme, code = c
        if scheme and code:
            yield scheme.strip(), code.strip()


@lru_cache(maxsize=4)
def classifier(folder: Path = TAXONOMY) -> Classifier:
    return Classifier(folder)


def classify(text: str | None, codes: Iterable = (),
             vendor: str | Sequence[str] | None = None) -> list[Tag]:
    """Tags for a text, with optional product codes ((scheme, code) or 'CPV:35125300')
    and an optional vendor name, using the project's taxonomy."""
    return classifier().classify(text, codes, vendor)


def evidence_line(tags: Iterable[Tag]) -> str:
    """Tags as one readable cell: `category [rule] «evidence»`, joined by ' | '."""
    return " | ".join(f"{t.category} [{t.rule}] «{t.evidence}»" for t in tags)


# -- the warehouse -------------------------------------------------------------------------
# Contracts from which classify_warehouse uses a pool of processes: below, starting the
# workers (each starts Python, imports this module and loads the taxonomy) costs more than it
# saves.
PARALLEL_FROM = 50_000


def classify_warehouse(wh, full: bool = False, batch: int = 2000, flush: int = 200_000,
                       clf: Classifier | None = None, workers: int | None = None,
                       parallel_from: int = PARALLEL_FROM) -> dict[str, int]:
    """(Re)compute `tags` for the contracts whose document changed since the last build.

    `classified` remembers, per contract, the document (`contracts.document_id`) and the
    taxonomy version its tags were computed from. A contract is classified again when a new
    version of it was loaded (another document), or when the rule files changed; otherwise
    it is skipped. `full=True` reclassifies everything. The results of `batch` contracts at a
    time gather in temporary tables; every `flush` contracts one transaction replaces their own
    tags (rule ids kw:, code:, vendor:) and states, so a killed build resumes from the last
    flush, and each flush scans `tags` once (one scan per batch made the build quadratic).
    From `parallel_from` stale contracts on, `workers` processes (default: the machine's
    cores) classify the batches the warehouse's process reads and writes, in order.
    """
    clf = clf or classifier()
    # The stale contracts (and their product lines) are gathered once, numbered in a work
    # table; each batch then reads its own range of numbers, which DuckDB finds by the table's
    # min/max per row group instead of scanning `contracts` again (a scan per batch made the
    # build quadratic: 1.24 s a batch at 10 M contracts).
    candidates = None if full else inputs.narrowed(wh, "classify", clf.version, READS)
    wh.execute(
        f"""CREATE OR REPLACE TEMP TABLE classify_work AS
           SELECT row_number() OVER (ORDER BY c.contract_id) - 1 AS rn, c.contract_id,
                  c.document_id, c.title, c.description, o.name, o.short_name,
                  s.contract_id IS NOT NULL AS had
           FROM {inputs.rows("contracts", inputs.among(candidates))} c
                LEFT JOIN {inputs.rows("classified", inputs.among(candidates))} s
                USING (contract_id)
                LEFT JOIN organizations o ON o.org_id = c.vendor_id
           WHERE ? OR s.contract_id IS NULL OR s.document_id <> c.document_id
              OR s.taxonomy <> ?
           ORDER BY rn""", [full, clf.version])
    wh.execute(
        """CREATE OR REPLACE TEMP TABLE classify_lines AS
           SELECT w.rn, i.contract_id, i.line_no, i.description, i.scheme, i.code
           FROM items i JOIN classify_work w USING (contract_id) ORDER BY w.rn, i.line_no""")
    for name, table in (("classify_tags", "tags"), ("classify_states", "classified")):
        wh.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {table} LIMIT 0")
    total = wh.scalar("SELECT count(*) FROM classify_work")
    counts = {"checked": total, "tagged": 0, "tags": 0}
    own = " OR ".join(f"rule LIKE '{k}%'" for k in RULE_KINDS)
    # a work of contracts never classified (new ones) has no states to delete: not scanned
    had = inputs.any_rows(wh, "classify_work WHERE had")
    workers = (os.cpu_count() or 1) if workers is None else workers
    pool = None
    if workers > 1 and total >= parallel_from:
        # spawn: the parent holds DuckDB's threads, which a fork would copy half-locked
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    try:
        flushed = 0
        ahead: deque = deque()  # (end, result) of batches read and being classified, in order
        most = 2 * workers if pool else 0  # one process writes each batch as soon as it is done
        for start in range(0, total, batch):
            work = _read_batch(wh, start, start + batch)
            if pool is None:
                result: Future = Future()
                result.set_result(classify_rows(clf.folder, *work, clf=clf))
            else:
                with _main_left_behind():  # a submit may spawn a worker
                    result = pool.submit(classify_rows, clf.folder, *work)
            ahead.append((start + batch, result))
            while ahead and (len(ahead) > most or start + batch >= total):
                end, result = ahead.popleft()
                _write_batch(wh, result.result(), counts)
                if end - flushed >= flush or end >= total:
                    _replace_tags(wh, own, had)
                    flushed = end
        with wh.transaction():  # after the last flush: a killed run reads the record again
            changes.advance(wh, "classify", clf.version, READS.tables)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        for name in ("classify_work", "classify_lines", "classify_tags", "classify_states",
                     "classify_candidates"):
            wh.execute(f"DROP TABLE IF EXISTS {name}")
    return counts


@contextmanager
def _main_left_behind():
    """Hide the main module while workers are spawned. A spawned worker runs the parent's main
    module again (for what it defines); the `survtrack` console script's imports the whole CLI,
    pandas and DuckDB (~0.5 CPU s a worker). The workers run `classify_rows` alone, whose module
    imports none of them."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


# What classify reads of the record of changes (warehouse/changes.py): a contract is
# classified again when its document changed, and every write of `contracts` is recorded.
READS = inputs.Reads(("contracts",), inputs.keys("classify", "contracts"))


def _read_batch(wh, start: int, stop: int) -> tuple[list, dict]:
    """The batch's contracts (id, document, title, description, vendor names) and their
    product lines by contract."""
    contracts = wh.query(
        """SELECT contract_id, document_id, title, description, name, short_name
           FROM classify_work WHERE rn >= ? AND rn < ? ORDER BY rn""", [start, stop])
    lines: dict[str, list] = {}
    for cid, description, scheme, code in wh.iter_rows(
            """SELECT contract_id, description, scheme, code FROM classify_lines
               WHERE rn >= ? AND rn < ? ORDER BY rn, line_no""", [start, stop]):
        lines.setdefault(cid, []).append((description, [(scheme, code)] if code else []))
    return contracts, lines


def classify_rows(folder: Path, contracts: list, lines: dict,
                  clf: Classifier | None = None) -> tuple[dict, dict, int]:
    """Tag and state rows (column -> values) of a batch read by `_read_batch`, and how many of
    its contracts got a tag. Runs in a worker process too (the taxonomy of `folder`)."""
    clf = clf or classifier(folder)
    tag_rows: dict[str, list] = {c: [] for c in TAG_COLUMNS}
    state_rows: dict[str, list] = {c: [] for c in STATE_COLUMNS}
    now = _utcnow()
    tagged = 0
    for cid, document_id, title, description, vendor, vendor_short in contracts:
        # the title, what the documents describe beyond it (OCDS tender and award
        # descriptions), and the product lines
        parts = [(title, []), (description, [])] + lines.get(cid, [])
        tags = clf.classify_parts(parts, [n for n in (vendor, vendor_short) if n])
        for t in tags:
            for column, value in zip(TAG_COLUMNS, (cid, t.category, t.rule, t.evidence,
                                                   t.score)):
                tag_rows[column].append(value)
        for column, value in zip(STATE_COLUMNS, (cid, document_id, clf.version, now,
                                                 len(tags))):
            state_rows[column].append(value)
        tagged += bool(tags)
    return tag_rows, state_rows, tagged


def _write_batch(wh, result: tuple[dict, dict, int], counts: dict) -> None:
    """Append a batch's rows to the gathering tables, as Arrow tables (INSERT … SELECT, far
    faster than row-by-row executemany)."""
    import pyarrow as pa  # here, not at the top: a pool worker (classify_rows) needs none of it

    tag_rows, state_rows, tagged = result
    counts["tagged"] += tagged
    counts["tags"] += len(tag_rows["contract_id"])
    for name, columns in (("classify_tags", tag_rows), ("classify_states", state_rows)):
        if columns["contract_id"]:
            with wh.using(batch_rows=pa.table(columns)):
                wh.execute(f"INSERT INTO {name} ({', '.join(columns)})"
                           f" SELECT {', '.join(columns)} FROM batch_rows")


TAG_COLUMNS = ("contract_id", "category", "rule", "evidence", "score")
STATE_COLUMNS = ("contract_id", "document_id", "taxonomy", "classified_at", "tags")


def _replace_tags(wh, own: str, had: bool = True) -> None:
    """One transaction: drop the gathered contracts' own tags and states (`had`: whether any
    of the work had a state), insert the new ones; then empty the gathering tables."""
    tags, states = ", ".join(TAG_COLUMNS), ", ".join(STATE_COLUMNS)
    with wh.transaction():
        # the flags read tags: the contracts classified again are recorded (changes.py)
        changes.record(wh, "tags", "SELECT contract_id FROM classify_states")
        changes.record(wh, "classified", "SELECT contract_id FROM classify_states")
        wh.execute(f"DELETE FROM tags WHERE ({own})"
                   " AND contract_id IN (SELECT contract_id FROM classify_states)")
        wh.execute(f"INSERT INTO tags ({tags}) SELECT {tags} FROM classify_tags")
        if had:
            wh.execute("DELETE FROM classified"
                       " WHERE contract_id IN (SELECT contract_id FROM classify_states)")
        wh.execute(f"INSERT INTO classified ({states}) SELECT {states} FROM classify_states")
    wh.execute("DELETE FROM classify_tags")
    wh.execute("DELETE FROM classify_states")


def _utcnow():
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(tzinfo=None)
