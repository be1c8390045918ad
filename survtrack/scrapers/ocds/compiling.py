"""Processes compiled across documents: every release of an ocid, merged with ocdsmerge.

Publishers spread a process over many releases, and those over many documents (daily
packages, one file per release). The releases a document brings are written, as read, to one
JSON Lines file kept in the raw archive beside the document, and indexed in `ocds_releases`
(ocid, release id, date, file and byte offset), so any release can be read again with one seek
and memory stays flat however big the document.
When a document brings a release of an ocid, the process is compiled again from all of its
releases the warehouse holds plus the new ones, in date order, so a late-arriving older
release lands where it belongs instead of overwriting newer facts. A record's
`compiledRelease` joins as one more release at its date: merged after the releases it
compiles, it restates them; a later release merges on top of it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import islice

import orjson
from ocdsmerge.exceptions import DuplicateIdValueWarning, OCDSMergeError
from ocdsmerge.merge import CompiledRelease

from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import LoadContext, Rejected

from . import codes

# Processes whose earlier releases are asked of the warehouse in one query: one query for a
# package's 650 k processes held them all at once (a step of ~200 MB).
PRIOR_CHUNK = 5_000


@dataclass(slots=True)
class Entry:
    ocid: str
    release_id: str
    published_on: datetime
    tags: str | None
    compiled: bool
    blob: str | None  # archive id of the JSON Lines file; None while it is being written
    offset: int
    document_id: str


class Processes:
    """The releases a document brings, and their processes compiled with what came before."""

    def __init__(self, ctx: LoadContext):
        self.ctx = ctx
        # ocid -> byte offsets in the spool of its releases (negative: ~offset of a record's
        # compiledRelease); a bare int for one release. Only offsets are held, not entries:
        # a package of 650 k releases indexes them in tens of MB. Entries are read back, one
        # process at a time, when it is compiled.
        self.new: dict[str, int | list[int]] = {}
        self.releases = 0  # added (the compiledReleases of records among them)
        self._spool = tempfile.TemporaryFile()  # this document's releases, one per line
        self._blob: str | None = None
        self._read: dict[int, dict] = {}  # the current process's releases, read once
        # False while workers compile the processes (they read the releases themselves): a
        # release is read here for its entry alone, by orjson where that gives the same entry
        self.compiles_here = True

    def close(self) -> None:
        self._spool.close()

    def add(self, release: dict, where: str, *, compiled: bool = False,
            fallback_date: str | None = None) -> None:
        ocid = _text(release.get("ocid"))
        if not ocid:
            raise Rejected(f"{where}: release without ocid", f"{where}.ocid")
        date_text = _text(release.get("date")) or _text(fallback_date)
        if not date_text:
            raise Rejected(f"{where}: release {release.get('id')!r} of {ocid} has no date,"
                           " so it cannot be ordered among the process's releases",
                           f"{where}.date")
        try:
            published = v.moment(date_text, f"{where}.date")
        except Rejected as exc:
            raise Rejected(f"{where}: release of {ocid}: {exc.reason}", exc.field) from None
        del published  # checked here; read again with the release when it is compiled
        release["ocid"], release["date"] = ocid, date_text
        data = json.dumps(release, ensure_ascii=False, separators=(",", ":"), default=_number)
        offset = self._spool.tell()
        self._spool.write(data.encode() + b"\n")
        key = ~offset if compiled else offset
        self.releases += 1
        known = self.new.get(ocid)
        if known is None:
            self.new[ocid] = key
        elif isinstance(known, int):
            self.new[ocid] = [known, key]
        else:
            known.append(key)

    def _entry(self, key: int) -> Entry:
        """The entry of the release at spool offset `key` (~offset: a compiledRelease)."""
        compiled, offset = key < 0, ~key if key < 0 else key
        self._spool.seek(offset)
        line = self._spool.readline()
        release = None if self.compiles_here else _for_entry(line)
        if release is None:
            release = json.loads(line, parse_float=Decimal)
            if self.compiles_here:  # kept for the compilation
                self._read[offset] = release
        date_text = release["date"]
        if compiled:
            release_id = f"compiledRelease:{date_text}"
        else:  # a release without id is known by its content
            release_id = _text(release.get("id")) or "sha256:" + hashlib.sha256(
                line[:-1]).hexdigest()[:32]
        tags = release.get("tag")
        return Entry(release["ocid"], release_id, v.moment(date_text, "date"),
                     ",".join(map(str, tags)) if isinstance(tags, list) else _text(tags),
                     compiled, self._blob, offset, self.ctx.document.document_id)

    def keep(self) -> None:
        """Put this document's releases into the archive (before they are indexed)."""
        self._spool.flush()
        if self.ctx.archive is not None:
            self._spool.seek(0)
            self._blob = self.ctx.archive.put_stream(self._spool)[0]

    def index_rows(self, entries: list[Entry]):
        for e in entries:
            if e.document_id == self.ctx.document.document_id:
                yield {"ocid": e.ocid, "release_id": e.release_id,
                       "published_on": e.published_on, "tags": e.tags,
                       "compiled": e.compiled, "blob": e.blob, "line_offset": e.offset,
                       "document_id": e.document_id}

    def processes(self):
        """(ocid, its releases in merge order, whether the warehouse held some before)."""
        prior: dict[str, dict[str, Entry]] = {}
        left = 0  # processes of the current chunk not compiled yet
        while self.new:  # each process leaves the index once compiled: memory goes down
            if not left:  # what the warehouse holds, PRIOR_CHUNK processes at a time
                chunk = list(islice(self.new, PRIOR_CHUNK))
                prior, left = self._prior(chunk), len(chunk)
            left -= 1
            ocid = next(iter(self.new))
            earlier = prior.pop(ocid, {})
            merged = dict(earlier)
            keys = self.new.pop(ocid)
            self._read.clear()
            for entry in map(self._entry, [keys] if isinstance(keys, int) else keys):
                release_id = entry.release_id
                # one release in several documents: the same one is kept whatever the order
                # they arrive in (the greatest document id), so the tables never depend on it
                known = merged.get(release_id)
                if known is None or entry.document_id >= known.document_id:
                    merged[release_id] = entry
            yield ocid, sorted(merged.values(), key=_merge_order), bool(earlier)

    def compile(self, entries: list[Entry]) -> tuple[list[tuple[int, Entry, dict]], dict]:
        return compile_process(entries, self._load)

    def _load(self, entry: Entry) -> dict:
        if entry.document_id == self.ctx.document.document_id and entry.offset in self._read:
            return self._read.pop(entry.offset)  # read once, when the process was gathered
        if entry.blob is None or entry.blob == self._blob:  # this document's own releases
            self._spool.seek(entry.offset)
            line = self._spool.readline()
        else:
            with self.ctx.archive.open(entry.blob) as fh:
                fh.seek(entry.offset)
                line = fh.readline()
        return json.loads(line, parse_float=Decimal)

    def _prior(self, ocids: list[str]) -> dict[str, dict[str, Entry]]:
        if self.ctx.query is None or not ocids:
            return {}
        rows = self.ctx.query(
            "SELECT ocid, release_id, published_on, tags, compiled, blob, line_offset,"
            " document_id"
            " FROM ocds_releases WHERE ocid IN (SELECT unnest(?::VARCHAR[]))"
            # this document's own releases, indexed by a run killed after a batch committed
            # (store.py, write_batch), are read from the document again, not as earlier ones
            " AND document_id <> ?", [ocids, self.ctx.document.document_id])
        out: dict[str, dict[str, Entry]] = {}
        for row in rows:
            out.setdefault(row[0], {})[row[1]] = Entry(*row)
        return out


def compile_process(entries: list[Entry], load: Callable[[Entry], dict]
                    ) -> tuple[list[tuple[int, Entry, dict]], dict]:
    """Merge the releases in order (`load(entry)` reads one). Returns the versions (ordinal,
    release, state after it) and the final state. A compiledRelease dated like a release it
    compiles restates that release and is no version of its own."""
    if len(entries) == 1:  # a process of one release: compiled = the release itself
        entry = entries[0]
        state = compile_one(load(entry), codes.merge_rules())
        if state is not None:
            return [(1, entry, state)], state
    merged = CompiledRelease(merge_rules=codes.merge_rules())
    release_dates = {e.published_on for e in entries if not e.compiled}
    versions, pending, state, ordinal, changed = [], [], None, 0, False
    for i, entry in enumerate(entries):
        release = load(entry)
        # only awards and contracts carry amounts: other releases leave versions as they were
        changed = changed or entry.compiled or "awards" in release or "contracts" in release
        try:
            with warnings.catch_warnings():
                # SECOP repeats awards and contracts with one id in a release: merging
                # keeps one, as it should; the warning says nothing new
                warnings.simplefilter("ignore", DuplicateIdValueWarning)
                merged.append(release)
        except (OCDSMergeError, TypeError, AttributeError) as exc:  # a field changing type
            raise Rejected(f"{entry.ocid}: release {entry.release_id} cannot be merged:"
                           f" {type(exc).__name__}: {exc}", "release") from None
        if not (entry.compiled and entry.published_on in release_dates):
            ordinal += 1
            pending.append((ordinal, entry))
        last = i + 1 == len(entries)
        if last or entries[i + 1].published_on != entry.published_on:
            if changed or last or state is None:
                state = merged.asdict()  # unflattening is the costly step
            versions += [(o, e, state) for o, e in pending]
            pending, changed = [], False
    return versions, state


class ArchiveReleases:
    """Releases read back from the archive's JSON Lines files by offset (a worker's reads:
    each file opened once)."""

    def __init__(self, archive):
        self.archive, self.open = archive, {}

    def load(self, entry: Entry) -> dict:
        fh = self.open.get(entry.blob)
        if fh is None:
            fh = self.open[entry.blob] = self.archive.open(entry.blob)
        fh.seek(entry.offset)
        return json.loads(fh.readline(), parse_float=Decimal)

    def close(self) -> None:
        for fh in self.open.values():
            fh.close()


def compile_one(release: dict, rules: dict) -> dict | None:
    """What ocdsmerge compiles from this one release, without flattening and unflattening it
    (the costly steps): fields merged-away dropped, empty objects and arrays dropped, null
    values dropped from their object, `id`, `date`, `ocid` and `tag` set as ocdsmerge sets
    them. None when ocdsmerge would merge objects within the release (two objects of one array
    sharing an `id`, or an `id` that is not a string or number): that is left to ocdsmerge.
    tests/test_ocds.py checks it equals ocdsmerge on every real release of ../shared/data."""
    ocid, date = release.get("ocid"), release.get("date")
    try:
        body = _compile_object(release, (), rules)
    except _Merges:
        return None
    state = {"tag": ["compiled"], "id": f"{ocid}-{date}", "date": date, "ocid": ocid}
    state.update((k, v) for k, v in (body or {}).items() if k not in state)
    return state


class _Merges(Exception):
    """ocdsmerge would merge parts of the release with each other."""


_LEAF = object()


def _compile_object(obj: dict, path: tuple, rules: dict) -> dict | None:
    """The object as ocdsmerge rebuilds it, or None when nothing of it is kept."""
    out, kept = {}, False
    for key, value in obj.items():
        rule_path = (*path, key)
        rule = rules.get(rule_path)
        if rule == "omitWhenMerged" or (not path and key == "tag"):
            continue
        done = _compile_value(value, rule_path, rule, rules)
        if done is _LEAF:  # a null: the object is kept, the field is not
            kept = True
        elif done is not None:
            out[key], kept = done, True
    return out if kept else None


def _compile_value(value, rule_path: tuple, rule, rules: dict):
    if value is None:
        return _LEAF
    if (rule == "wholeListMerge" or not isinstance(value, (dict, list))
            or (type(value) is list and any(not isinstance(v, dict) for v in value))):
        return value
    if not value:
        return None
    if type(value) is not list:
        if type(value) is not dict:
            raise _Merges
        return _compile_object(value, rule_path, rules)
    seen, items = set(), []
    for item in value:
        if "id" in item:
            ident = item["id"]
            if type(ident) not in (str, int) or str(ident) in seen:
                raise _Merges
            seen.add(str(ident))
        done = _compile_object(item, rule_path, rules)
        if done is not None:
            items.append(done)
        elif "id" in item:
            raise _Merges  # cannot happen: the id itself is kept
    return items or None


def _for_entry(line: bytes) -> dict | None:
    """The release by orjson (~10x json with Decimal numbers), if the fields its entry reads
    (ocid, date: strings; id and tag) hold no fraction, which Decimal and float write
    differently (12.50, 1E+5); else None."""
    try:
        release = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    tags = release.get("tag")
    if (type(release.get("id")) is float
            or (any(type(t) is float for t in tags) if isinstance(tags, list)
                else type(tags) is float)):
        return None
    return release


def _merge_order(e: Entry):
    return (e.published_on, e.compiled, e.release_id)


def _number(value):
    """Decimals back to JSON numbers where a float holds them exactly, else to text."""
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _text(value) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None
