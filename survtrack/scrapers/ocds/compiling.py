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
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ocdsmerge.exceptions import DuplicateIdValueWarning, OCDSMergeError
from ocdsmerge.merge import CompiledRelease

from survtrack.scrapers import values as v
from survtrack.warehouse.protocol import LoadContext, Rejected

from . import codes


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
        self.new: dict[str, dict[str, Entry]] = {}
        self._spool = tempfile.TemporaryFile()  # this document's releases, one per line
        self._blob: str | None = None

    def close(self) -> None:
        self._spool.close()

    def add(self, release: dict, where: str, *, compiled: bool = False,
            fallback_date: str | None = None) -> Entry:
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
        release["ocid"], release["date"] = ocid, date_text
        data = json.dumps(release, ensure_ascii=False, separators=(",", ":"), default=_number)
        if compiled:
            release_id = f"compiledRelease:{date_text}"
        else:  # a release without id is known by its content
            release_id = _text(release.get("id")) or "sha256:" + hashlib.sha256(
                data.encode()).hexdigest()[:32]
        offset = self._spool.tell()
        self._spool.write(data.encode() + b"\n")
        tags = release.get("tag")
        entry = Entry(ocid, release_id, published,
                      ",".join(map(str, tags)) if isinstance(tags, list) else _text(tags),
                      compiled, None, offset, self.ctx.document.document_id)
        self.new.setdefault(ocid, {})[release_id] = entry
        return entry

    def keep(self) -> None:
        """Put this document's releases into the archive (before they are indexed)."""
        self._spool.flush()
        if self.ctx.archive is not None:
            self._spool.seek(0)
            self._blob = self.ctx.archive.put_stream(self._spool)[0]
            for entries in self.new.values():
                for e in entries.values():
                    e.blob = self._blob

    def index_rows(self, entries: list[Entry]):
        for e in entries:
            if e.document_id == self.ctx.document.document_id:
                yield {"ocid": e.ocid, "release_id": e.release_id,
                       "published_on": e.published_on, "tags": e.tags,
                       "compiled": e.compiled, "blob": e.blob, "line_offset": e.offset,
                       "document_id": e.document_id}

    def processes(self):
        """(ocid, its releases in merge order, whether the warehouse held some before)."""
        prior = self._prior(list(self.new))
        while self.new:  # each process leaves the index once compiled: memory goes down
            ocid = next(iter(self.new))
            earlier = prior.pop(ocid, {})
            merged = dict(earlier)
            for release_id, entry in self.new.pop(ocid).items():
                # one release in several documents: the same one is kept whatever the order
                # they arrive in (the greatest document id), so the tables never depend on it
                known = merged.get(release_id)
                if known is None or entry.document_id >= known.document_id:
                    merged[release_id] = entry
            yield ocid, sorted(merged.values(), key=_merge_order), bool(earlier)

    def compile(self, entries: list[Entry]) -> tuple[list[tuple[int, Entry, dict]], dict]:
        """Merge the releases in order. Returns the versions (ordinal, release, state after
        it) and the final state. A compiledRelease dated like a release it compiles restates
        that release and is no version of its own."""
        merged = CompiledRelease(merge_rules=codes.merge_rules())
        release_dates = {e.published_on for e in entries if not e.compiled}
        versions, pending, state, ordinal, changed = [], [], None, 0, False
        for i, entry in enumerate(entries):
            release = self._load(entry)
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

    def _load(self, entry: Entry) -> dict:
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
            " FROM ocds_releases WHERE ocid IN (SELECT unnest(?::VARCHAR[]))", [ocids])
        out: dict[str, dict[str, Entry]] = {}
        for row in rows:
            out.setdefault(row[0], {})[row[1]] = Entry(*row)
        return out


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
