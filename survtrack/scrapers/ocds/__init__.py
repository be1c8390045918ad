"""Open Contracting Data Standard (OCDS): any publisher's releases and records.

`parse` reads a document of any OCDS shape (reader.py), keeps each release and compiles every
process it touches with all that process's releases already in the warehouse
(compiling.py), then turns the compiled state into contracts, versions, product lines,
payments and organizations (extract.py, orgs.py). A process with no award and no contract
is a notice, not a contract.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import islice

from survtrack.warehouse.protocol import RETRACT_FROM, LoadContext, Rejected, RowBuffer

from . import competition
from .compiling import Processes
from .extract import amounts, extract
from .reader import Broken, Reader

SOURCE_NAME = "ocds"
FLUSH_ROWS = 20_000  # buffered rows handed to the warehouse at once (~1.5 KB each in Python)
# Processes a worker compiles at a time, when the ingest hands a document's processes to its
# workers (a document of at least the ingest's `part_min` releases, docs/ocds.md)
PART_CHUNK = 1_000


def parse(ctx: LoadContext) -> None:
    processes = Processes(ctx)
    try:
        _parse(ctx, processes)
    finally:
        processes.close()


def _parse(ctx: LoadContext, processes: Processes) -> None:
    reader = Reader(ctx.document.path)
    seen = {"release": 0, "record": 0}
    linked: dict[str, int] = {}  # ocid -> releases a record only links to
    first_problem = None
    for part in reader:
        if isinstance(part, Broken):
            if part.fatal and not processes.new:
                raise Rejected(f"{part.reason} ({part.where})", part.where)
            first_problem = first_problem or f"{part.where}: {part.reason}"
            ctx.reject_part(f"{part.where}: {part.reason}", part.where)
            continue
        fallback = _text(reader.meta.get("publishedDate"))
        try:
            if part.kind == "release":
                processes.add(part.obj, part.where, fallback_date=fallback)
            else:
                _add_record(processes, part.obj, part.where, fallback, linked)
            seen[part.kind] += 1
        except Rejected as exc:
            first_problem = first_problem or exc.reason
            ctx.reject_part(exc.reason, exc.field)
    if not processes.new and linked and not first_problem:
        ctx.describe(reader.shape or "ocds", f"{seen['record']} records of {len(linked)}"
                     f" processes linking {sum(linked.values())} releases by URL, none"
                     " embedded and no compiledRelease: nothing to compile until the releases"
                     " themselves are loaded; not contract-bearing", contract_bearing=False,
                     url=_text(reader.meta.get("uri")))
        return
    if not processes.new:
        raise Rejected("no OCDS release or record with an ocid and a date"
                       + (f"; first problem: {first_problem}" if first_problem else ""),
                       "releases")
    processes.keep()

    url = _text(reader.meta.get("uri"))
    tally: Counter = Counter(contracts=0, awards=0, notices=0, processes=0, recompiled=0)
    batch = _Batch()
    pool = ctx.pool if ctx.archive is not None else None
    if pool is not None and processes.releases >= pool.min_parts:
        done = _compiled_by_workers(ctx, processes, pool, url)
    else:
        urls = _DocumentUrls(ctx)
        current = ctx.document.document_id
        done = ((entries, _compile_process(
            ctx, processes.compile, ocid, entries, had_prior,
            lambda d: url if d == current else urls.of(d)))
            for ocid, entries, had_prior in processes.processes())
    for entries, process in done:
        tally["processes"] += 1
        for row in processes.index_rows(entries):
            ctx.emit("ocds_releases", **row)
        process.replay(ctx)  # what a worker recorded, made here in order (serial: nothing)
        batch.add(process)
        tally.update(process.tally)
        if not process.rejected and sum(map(len, ctx.rows.values())) >= FLUSH_ROWS:
            batch = _flush(ctx, batch)
    _flush(ctx, batch, final=True)

    rows = tally["contracts"] + tally["awards"]
    detail = (f"{seen['release']} releases, {seen['record']} records of {tally['processes']}"
              f" processes: {rows} contracts ({tally['awards']} from awards without a contract),"
              f" {tally['notices']} processes without award or contract"
              + (f"; {tally['recompiled']} compiled with releases from earlier documents"
                 if tally["recompiled"] else "")
              + ("; read as ISO-8859-1" if reader.encoding != "utf-8" else ""))
    ctx.describe(reader.shape or "ocds", detail, contract_bearing=rows > 0, url=url)


def _compiled_by_workers(ctx: LoadContext, processes: Processes, pool, url: str | None):
    """(entries, _Compiled) of every process, in the serial order, compiled by the
    ingest's workers PART_CHUNK processes at a time: this process reads the document and the
    warehouse (the releases kept in the archive, the earlier ones' entries), the workers read
    the releases back from the archive by offset, compile and extract, and send back what
    they recorded."""
    urls = _DocumentUrls(ctx)
    current = ctx.document.document_id
    sent: deque[list] = deque()
    processes.compiles_here = False

    def chunks():
        parts = processes.processes()
        while chunk := list(islice(parts, PART_CHUNK)):
            # the pages of the earlier documents a process holds releases of, asked here
            pages = {e.document_id: urls.of(e.document_id)
                     for _, entries, had_prior in chunk if had_prior
                     for e in entries if e.document_id != current}
            sent.append(chunk)
            yield str(ctx.archive.root), current, url, pages, chunk

    for compiled in pool.map(compile_chunk, chunks()):
        for (_, entries, _), done in zip(sent.popleft(), compiled, strict=True):
            yield entries, done


def compile_chunk(archive_root: str, document_id: str, url: str | None,
                  pages: dict[str, str | None], chunk: list) -> list[_Compiled]:
    """A worker's job: compile and extract each (ocid, entries, had_prior) of `chunk`, its
    releases read from the archive by offset; touches no warehouse."""
    from pathlib import Path

    from survtrack.warehouse.archive import Archive

    from .compiling import ArchiveReleases, compile_process

    releases = ArchiveReleases(Archive(Path(archive_root)))
    try:
        out = []
        for ocid, entries, had_prior in chunk:
            recorder = RowBuffer(_DocumentId(document_id))
            done = _compile_process(
                recorder, lambda e: compile_process(e, releases.load), ocid, entries,
                had_prior, lambda d: url if d == document_id else pages.get(d))
            done.recorded = (dict(recorder.rows),
                             [(r.reason, r.field) for r in recorder.part_rejects],
                             recorder.retracted)
            out.append(done)
        return out
    finally:
        releases.close()


def _compile_process(out, compile, ocid: str, entries: list, had_prior: bool,
                     page_of) -> _Compiled:
    """Compile one process and emit its rows into `out` (the document's context, or a
    worker's RowBuffer); returns what the process adds to the batch and the tally.
    `page_of(document_id)`: the public URL of a document whose releases it holds."""
    done = _Compiled()
    try:
        versions, state = compile(entries)
    except Rejected as exc:  # what the warehouse holds of the process stays as it was
        out.reject_part(exc.reason, exc.field)
        done.rejected = True
        return done
    if had_prior:
        done.recompiled = ocid
        done.tally["recompiled"] = 1
    last_ordinal, last, _ = versions[-1]
    # the page of the document holding the newest version, whichever document is loading
    page = page_of(last.document_id) or _text(
        (state.get("packageInfo") or {}).get("uri")
        if isinstance(state.get("packageInfo"), dict) else None)
    version_rows, first_seen = [], {}
    for ordinal, entry, at in versions:
        for contract_id, (amount, currency) in amounts(at).items():
            first_seen.setdefault(contract_id, entry.published_on)
            version_rows.append(dict(
                contract_id=contract_id, version=ordinal, published_on=entry.published_on,
                amount=amount, currency=currency, document_id=entry.document_id))
    found = extract(state, version=last_ordinal, published_on=last.published_on,
                    document_id=last.document_id, url=page, first_seen=first_seen)
    for problem in found.problems:
        out.reject_part(problem.reason, problem.field)
    if had_prior:  # its facts are stated again, from the newest release's document
        out.retract(f"{competition.SOURCE}:{ocid}", ("procurement_facts",))
    competition.emit(out, state, last.published_on, last.document_id)
    done.failed |= found.failed  # a contract whose new state is unreadable keeps its rows
    # parties are named as of the process's newest release (of several at one time, the
    # one in the greatest document): an earlier compilation never names them later
    newest = max(entries, key=lambda e: (e.published_on, e.document_id))
    for org in found.orgs:
        done.orgs[org.org_id, newest.document_id, newest.published_on] = org
    for row in found.contracts:
        out.emit("contracts", **row)
        done.kept.append(row["contract_id"])
        kind = "awards" if "/award:" in row["native_id"] else "contracts"
        done.tally[kind] = done.tally.get(kind, 0) + 1
    for table in ("items", "payments"):
        for row in getattr(found, table):
            out.emit(table, **row)
    ids = {row["contract_id"] for row in found.contracts}
    for row in version_rows:
        if row["contract_id"] in ids:
            out.emit("contract_versions", **row)
    if not found.contracts and not found.problems:
        done.tally["notices"] = 1
        buyer = _notice(out, state, last, page)
        if buyer:
            done.orgs[buyer.org_id, newest.document_id, newest.published_on] = buyer
    return done


@dataclass(slots=True)  # pickled as its values alone: one per process comes back from a worker
class _Compiled:
    """What compiling one process adds to the document's batch and tally; `recorded`: the
    rows (by table, as emitted), rejects and retractions a worker's compilation made."""

    rejected: bool = False
    recompiled: str | None = None
    kept: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    orgs: dict = field(default_factory=dict)
    tally: dict[str, int] = field(default_factory=dict)
    recorded: tuple[dict, list, list] | None = None

    def replay(self, ctx: LoadContext) -> None:
        """Made on the document's context as the serial path makes them: each table's rows
        in their order (checked by the worker's RowBuffer.emit), the rejects, the
        retractions (which the store applies before the rows whatever their order)."""
        if self.recorded is None:
            return
        rows, rejects, retracted = self.recorded
        for table, emitted in rows.items():
            ctx.rows.setdefault(table, []).extend(emitted)
        for reason, field_name in rejects:
            ctx.reject_part(reason, field_name)
        for subject, tables in retracted:
            ctx.retract(subject, tables)


@dataclass(frozen=True)
class _DocumentId:
    document_id: str


@dataclass
class _Batch:
    """What the rows buffered since the last flush need at the flush."""

    orgs: dict = field(default_factory=dict)
    recompiled: list[str] = field(default_factory=list)
    kept: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)

    def add(self, done: _Compiled) -> None:
        if done.recompiled:
            self.recompiled.append(done.recompiled)
        self.kept.update(done.kept)
        self.failed |= done.failed
        self.orgs.update(done.orgs)  # in the order assigned: as if assigned here


def _flush(ctx: LoadContext, batch: _Batch, final: bool = False) -> _Batch:
    """Hand the buffered processes' rows to the warehouse (inside the document's transaction),
    so a package of any size never holds all its rows. Contracts the warehouse held for a
    process compiled again go first: stale versions, and awards now carried by a contract."""
    for contract_id in _held(ctx, batch.recompiled):
        if contract_id in batch.failed:
            continue
        # the process compiled again restates its contracts' versions and transactions
        ctx.retract(contract_id, ("contract_versions", "payments") if contract_id in batch.kept
                    else RETRACT_FROM)
    for (_, document_id, published_on), org in batch.orgs.items():
        ctx.emit("organizations", org_id=org.org_id, name=org.name, short_name=None,
                 scheme=org.scheme, identifier=org.identifier, kpp=None, country=org.country,
                 published_on=published_on, document_id=document_id)
    if ctx.flush is not None and not final:
        ctx.flush()
    return _Batch()


class _DocumentUrls:
    """The public URL of documents loaded before, as the warehouse holds them."""

    def __init__(self, ctx: LoadContext):
        self.ctx, self.known = ctx, {}

    def of(self, document_id: str) -> str | None:
        if document_id not in self.known and self.ctx.query is not None:
            rows = self.ctx.query("SELECT url FROM documents WHERE document_id = ?",
                                  [document_id])
            self.known[document_id] = rows[0][0] if rows else None
        return self.known.get(document_id)


def _add_record(processes: Processes, record: dict, where: str, fallback: str | None,
                linked: dict[str, int]) -> None:
    releases = [r for r in record.get("releases") or [] if isinstance(r, dict)]
    embedded = [r for r in releases if set(r) - {"url", "date", "tag", "ocid"}]
    compiled = record.get("compiledRelease")
    ocid = _text(record.get("ocid")) or (
        _text(compiled.get("ocid")) if isinstance(compiled, dict) else None)
    if not isinstance(compiled, dict) and not embedded:
        if not (ocid and releases and all(_text(r.get("url")) for r in releases)):
            raise Rejected(f"{where}: record of {ocid} has no compiledRelease, no embedded"
                           " release and no linked release with a url", f"{where}.releases")
        linked[ocid] = len(releases)  # valid OCDS: the releases are published elsewhere
        return
    for n, release in enumerate(embedded, start=1):
        if ocid:
            release.setdefault("ocid", ocid)
        processes.add(release, f"{where}.releases[{n}]", fallback_date=fallback)
    if isinstance(compiled, dict):
        if ocid:
            compiled.setdefault("ocid", ocid)
        latest = max((str(r["date"]) for r in releases if r.get("date")), default=fallback)
        processes.add(compiled, f"{where}.compiledRelease", compiled=True,
                      fallback_date=latest)


def _notice(ctx: LoadContext, state: dict, last, url):
    from survtrack.scrapers import values as v

    from .orgs import buyer_of, localized, organization, parties_by_id

    ocid = state["ocid"]
    tender = state.get("tender") if isinstance(state.get("tender"), dict) else {}
    lang = _text(state.get("language"))
    buyer = organization(buyer_of(state, parties_by_id(state)), ocid, language=lang)
    value = tender.get("value") if isinstance(tender.get("value"), dict) else {}
    try:
        amount = v.money(_text(value.get("amount")), "tender.value.amount")
        currency = v.currency(_text(value.get("currency")), "tender.value.currency")
    except Rejected as exc:
        ctx.reject_part(f"{ocid}: {exc.reason}", exc.field)
        amount = currency = None
    bidders = tender.get("numberOfTenderers")
    ctx.emit("notices", notice_id=f"{SOURCE_NAME}:{ocid}", kind="notice",
             document_type=f"ocds {last.tags or 'release'}", published_on=last.published_on,
             buyer_id=buyer.org_id if buyer else None,
             title=v.clean(localized(tender, "title", lang)
                           or localized(tender, "description", lang), 1000),
             amount=amount, currency=currency,
             bidders=bidders if isinstance(bidders, int) else None, url=url,
             document_id=ctx.document.document_id)
    return buyer


def _held(ctx: LoadContext, ocids: list[str]) -> list[str]:
    """Contracts the warehouse holds for processes compiled again (one scan: the ocid is the
    contract id's part before the first slash, unless the ocid has a slash itself)."""
    if not ocids or ctx.query is None:
        return []
    plain = [o for o in ocids if "/" not in o]
    held = [cid for (cid,) in ctx.query(
        "SELECT contract_id FROM contracts WHERE source = 'ocds' AND"
        " split_part(substr(contract_id, 6), '/', 1) IN (SELECT unnest(?::VARCHAR[]))", [plain])]
    for ocid in (o for o in ocids if "/" in o):
        held += [cid for (cid,) in ctx.query(
            "SELECT contract_id FROM contracts WHERE starts_with(contract_id, ?)",
            [f"{SOURCE_NAME}:{ocid}/"])]
    return held


def _text(value) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None
