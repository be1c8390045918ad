"""EIS at scale: many small real 44-FZ documents, against bare lxml, in one run.

Run: python bench/bench_eis_scale.py [N] [--workers 1,2] [--again]   (default 3000 documents)
     python bench/bench_eis_scale.py [N] --workers 2 --into W.duckdb [--fill] [--statements]
     python bench/bench_eis_scale.py --kinds [--rounds R] [--passes P] [--instructions]

The documents are the real 44-FZ contracts and execution records of ../shared/data/eis, each
written N/k times with its registration number made distinct (generated in a temporary folder,
never kept). Printed, all measured in this one run on the same files (CPU seconds, children
included, so a process pool is charged for every core it uses):
- bare: read each file and `lxml.etree.fromstring` it;
- walk: read, parse as the EIS parser does, and ask every element its tag and text once from
  Python, making nothing of them: the scale for the parser's figure (a parser reading lxml's
  tree from Python pays this much to look at the whole document once; docs/scale.md);
- parser: survtrack's EIS parser alone on the same files (rows gathered, nothing written),
  with the C walk of its trees when it is built (`make env`; SURVTRACK_XMLWALK=python for
  the Python walk);
  bare, walk and parser run in turns, `--rounds` times, and the least CPU of each counts
  (other processes on this machine move a single pass by a third);
- ingest: `ingest` into a fresh warehouse with each `--workers` value (documents/s wall time,
  CPU ratio to bare; with a pool, the CPU of this process and of its workers), after a
  warm-up ingest of 8 other documents into another warehouse, so that the process's one-time
  imports are not charged to the first figure;
- with `--zip K`: the same documents as EIS publishes them, in ZIP archives of K documents
  each, against bare lxml reading the members out of the archives, then ingested with each
  `--workers` value.
- with `--again`: after each `--workers` ingest, the same folder ingested again into the
  same warehouse: with nothing new, then with 1 % new documents added; each with the input
  files' record (unchanged files skipped unread) and with `recheck=True` (every file read
  and hashed, as every repeated run did before the record), as a ratio to the first run;
- with `--into PATH`: each `--workers` ingest runs, in turns, into a fresh warehouse and into a
  copy of the warehouse PATH (the copy in the temporary folder, PATH never written), and the
  writer's CPU into the copy is printed as a ratio to its CPU into the fresh one: what grows
  with the warehouse (the documents' regNums are the bench's own, so every contract is new to
  PATH). `--fill` first adds to the copy the rows an EIS warehouse of its size holds and
  bench_dashboard's generated one lacks (FILL: a `documents` row of source eis per contract,
  two item lines per contract, an event for 1 % of them);
- with `--statements`: the writer's CPU (the ingest process's, all its threads, while each
  part runs in its main thread) by part: each SQL statement of rules.py, the lookups of
  loaded documents, the COMMIT, the checkpoint, the rest of `load_staged`;
- with `--parts`: the pool's job (ingest.parse_files) split into its steps, run here in one
  process over the same files in the pool's chunks, `--rounds` times, the least CPU of each:
  reading each file and hashing it (files.archive_file, the bytes held for the segment),
  the segment's write and its index rows (Archive.commit, once a chunk), the parser
  (parse_alone) and the chunk's Arrow tables (partitions.chunk_tables, suspicious.flags
  included, as IPC streams), each as a ratio to bare. A pool adds its start, the results'
  traffic and the writer (the ingest lines above).

With `--kinds`, instead: the parser's speed ratio to bare `lxml.etree.fromstring` per document
kind (document_kinds.csv's law and kind) over every EIS document of ../shared/data/eis and
../shared/data/outside/eis, read from memory, with the C walk and the Python walk
(SURVTRACK_XMLWALK=python) side by side: each round runs one child process per walk, in turn,
which parses each kind's documents `--passes` times bare and then with the parser; the least
CPU of each over `--rounds` counts. `--instructions` counts instructions instead (valgrind
callgrind, deterministic: PYTHONHASHSEED=0, no address randomisation; one child per walk, a
profile dumped between the passes, each kind's documents `--passes` times after a warm-up).
`--written` adds tests/fixtures/eis's hand-written documents (complaints, plans: no real ones
in ../shared/data) as kinds of their own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from baseline import ratio
from lxml import etree

from survtrack import scrapers
from survtrack.scrapers import ingest as pool
from survtrack.scrapers import xmlsafe
from survtrack.scrapers.files import archive_file
from survtrack.scrapers.ingest import ingest
from survtrack.scrapers.xmlsafe import parse_bytes
from survtrack.warehouse.archive import Archive
from survtrack.warehouse.parsing import parse_alone
from survtrack.warehouse.partitions import chunk_tables, to_ipc
from survtrack.warehouse.protocol import Document, Rejected, RowBuffer
from survtrack.warehouse.store import Warehouse

DATA = Path(os.environ.get("SURVTRACK_SHARED_DATA",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data")) / "eis"
REAL = sorted(p for p in DATA.glob("fz44_contract*.xml"))
# the pool's job's steps (`--parts`), in the order a chunk runs them
PARTS = ("read and hash", "segment write and index", "parser", "Arrow tables")
REG_NUM = re.compile(rb"(<(?:\w+:)?regNum>)(\d+)(</)")


def generate(folder: Path, n: int, start: int = 0) -> list[Path]:
    """n documents: the real ones in turn, each copy with its own regNum (and so its own hash);
    `start`: the first copy's number (more documents for a folder made before)."""
    templates = [p.read_bytes() for p in REAL]
    paths = []
    for i in range(start, start + n):
        body = templates[i % len(templates)]
        body = REG_NUM.sub(lambda m, i=i: m[1] + m[2][:-7] + f"{i:07d}".encode() + m[3], body)
        path = folder / f"{i // 1000:04d}" / f"doc{i:07d}.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        paths.append(path)
    return paths


def cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def own_cpu() -> float:
    """CPU of this process alone (the ingest's writer, with a pool)."""
    t = os.times()
    return t.user + t.system


def _bare(paths: list[Path]) -> None:
    for p in paths:
        etree.fromstring(p.read_bytes())


def _walk(paths: list[Path]) -> None:
    """What looking at the whole tree once from Python costs: the parse (as the EIS parser
    does it) and each element's tag and text asked once, nothing made of them."""
    for p in paths:
        for el in parse_bytes(p.read_bytes(), blank_text=False).iter():
            el.tag, el.text  # noqa: B018 - the cost of asking is what is measured


def _parser(eis, paths: list[Path]) -> None:
    for p in paths:
        eis.parse(RowBuffer(Document("x", "eis", str(p), p, p.stat().st_size)))


KIND_FOLDERS = (DATA, DATA.parent / "outside" / "eis")
# hand-written documents of the kinds no real one in ../shared/data shows (complaints, plans)
WRITTEN = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "eis"


def kind_documents(written: bool = False) -> dict[str, list[bytes]]:
    """{"44-FZ contract": [document bytes, ...], ...}: every EIS document of KIND_FOLDERS by the
    kind document_kinds.csv gives its root (223-FZ) or document element (44-FZ); with
    `written`, tests/fixtures/eis's hand-written ones too, as kinds of their own."""
    from survtrack.scrapers.eis import recognise
    from survtrack.scrapers.xmlsafe import local

    kinds: dict[str, list[bytes]] = {}
    folders = [(folder, "") for folder in KIND_FOLDERS] + ([(WRITTEN, " (written)")] if written
                                                           else [])
    for folder, label in folders:
        for path in sorted(folder.rglob("*.xml")):
            data = path.read_bytes()
            root = etree.fromstring(data)
            if local(root.tag) == "export":
                law, element = "44", local(next(root.iterchildren("{*}*")).tag)
            else:
                law, element = "223", local(root.tag)
            kind = recognise(law, element)["kind"]
            kinds.setdefault(f"{law}-FZ {kind}{label}", []).append(data)
    return dict(sorted(kinds.items()))


def _kind_passes(eis, docs: list[bytes], passes: int) -> tuple:
    def bare():
        for _ in range(passes):
            for data in docs:
                etree.fromstring(data)

    documents = [Document("x", "eis", str(i), Path(f"doc{i}.xml"), len(data), data=data)
                 for i, data in enumerate(docs)]  # as an ingest hands them over, bytes read

    def parser():
        for _ in range(passes):
            for document in documents:
                try:
                    eis.parse(RowBuffer(document))
                except Rejected:  # a broken hand-written one: a reject row in an ingest
                    pass
    return bare, parser


def kinds_child(passes: int, marks: bool, written: bool) -> None:
    """One round in this process (with the walk its environment chose): {kind: [bare CPU s,
    parser CPU s]} as JSON on stdout; with `marks`, `os.getppid()` before and after each pass
    instead of timing it (callgrind dumps its profile there)."""
    eis = scrapers.get("eis")
    out = {}
    for kind, docs in kind_documents(written).items():
        bare, parser = _kind_passes(eis, docs, passes)
        if marks:
            _kind_passes(eis, docs, 1)[1]()  # warm-up: caches, lazy imports
            os.getppid()
            bare()
            os.getppid()
            parser()
            os.getppid()
            continue
        spent = []
        for run in (bare, parser):
            c = time.process_time()  # finer than os.times' clock ticks
            run()
            spent.append(time.process_time() - c)
        out[kind] = spent
    print(json.dumps({"compiled": xmlsafe.COMPILED, "kinds": out}))


WALKS = {"C walk": {}, "Python walk": {"SURVTRACK_XMLWALK": "python"}}


def kinds_main(args) -> None:
    kinds = kind_documents(args.written)
    folders = [*KIND_FOLDERS, *([WRITTEN] if args.written else [])]
    print(f"{sum(map(len, kinds.values()))} EIS documents of {', '.join(map(str, folders))}")
    child = ["--kinds-child", "--passes", str(args.passes)] + (["--written"] if args.written
                                                               else [])
    if args.instructions:
        return kinds_instructions(args, kinds, child)
    least: dict = {}  # (walk, kind) -> [bare, parser]
    for _ in range(args.rounds):
        for walk, env in WALKS.items():
            done = subprocess.run([sys.executable, __file__, *child], env={**os.environ, **env},
                                  capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.splitlines()[-1])
            assert result["compiled"] == (walk == "C walk"), f"{walk}: the C walk is not built"
            for kind, spent in result["kinds"].items():
                best = least.setdefault((walk, kind), spent)
                least[(walk, kind)] = [min(a, b) for a, b in zip(best, spent)]
    print(f"CPU, least of {args.rounds} rounds of {args.passes} passes (ms per document;"
          " speed ratio to bare, goal >= 0.5):")
    print(f"| kind | documents | KB | bare | {' | '.join(WALKS)} |")
    print("|---|---|---|---|" + "---|" * len(WALKS))
    for kind, docs in kinds.items():
        n = args.passes * len(docs)
        bare = min(least[(walk, kind)][0] for walk in WALKS)
        cells = [f"{1e3 * least[(walk, kind)][1] / n:.3f} ({bare / least[(walk, kind)][1]:.2f})"
                 for walk in WALKS]
        print(f"| {kind} | {len(docs)} | {sum(map(len, docs)) / 1e3:.0f} | {1e3 * bare / n:.3f}"
              f" | {' | '.join(cells)} |")
    real = [kind for kind in kinds if "(written)" not in kind]
    n = args.passes * sum(len(kinds[kind]) for kind in real)
    bare = sum(min(least[(walk, kind)][0] for walk in WALKS) for kind in real)
    cells = [f"{1e3 * (spent := sum(least[(walk, kind)][1] for kind in real)) / n:.3f}"
             f" ({bare / spent:.2f})" for walk in WALKS]
    print(f"| every real document | {n // args.passes} | "
          f"{sum(len(d) for kind in real for d in kinds[kind]) / 1e3:.0f} | {1e3 * bare / n:.3f}"
          f" | {' | '.join(cells)} |")


def kinds_instructions(args, kinds: dict[str, list[bytes]], child: list[str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-eis-kinds-cg-"))
    counts = {}
    try:
        for walk, env in WALKS.items():
            out = tmp / walk.split()[0]
            subprocess.run(["setarch", "-R", "valgrind", "--tool=callgrind",
                            "--dump-before=os_getppid", f"--callgrind-out-file={out}",
                            sys.executable, __file__, *child, "--marks"],
                           env={**os.environ, **env, "PYTHONHASHSEED": "0"},
                           capture_output=True, check=True)
            dumps = sorted(tmp.glob(f"{out.name}.*"), key=lambda p: int(p.suffix[1:]))
            totals = [int(re.search(rb"^(?:summary|totals): (\d+)", p.read_bytes(), re.M)[1])
                      for p in dumps]
            # dumps: before the first mark (start-up and warm-up), then after each mark: the
            # bare pass, the parser's, the next kind's warm-up, ...
            segments = totals[1:]
            for i, kind in enumerate(kinds):
                counts[(walk, kind)] = segments[3 * i], segments[3 * i + 1]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Instructions (callgrind, {args.passes} passes after a warm-up; M instructions per"
          " document; speed ratio to bare):")
    print(f"| kind | documents | bare | {' | '.join(WALKS)} |")
    print("|---|---|---|" + "---|" * len(WALKS))
    for kind, docs in kinds.items():
        n = args.passes * len(docs)
        bare = min(counts[(walk, kind)][0] for walk in WALKS)
        cells = [f"{counts[(walk, kind)][1] / n / 1e6:.3f} ({bare / counts[(walk, kind)][1]:.2f})"
                 for walk in WALKS]
        print(f"| {kind} | {len(docs)} | {bare / n / 1e6:.3f} | {' | '.join(cells)} |")
    real = [kind for kind in kinds if "(written)" not in kind]
    n = args.passes * sum(len(kinds[kind]) for kind in real)
    bare = sum(min(counts[(walk, kind)][0] for walk in WALKS) for kind in real)
    cells = [f"{(spent := sum(counts[(walk, kind)][1] for kind in real)) / n / 1e6:.3f}"
             f" ({bare / spent:.2f})" for walk in WALKS]
    print(f"| every real document | {n // args.passes} | {bare / n / 1e6:.3f}"
          f" | {' | '.join(cells)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=3000)
    parser.add_argument("--workers", default="1,2", help="comma-separated pool sizes to ingest with (\"\": the parser only)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="passes of bare, walk and parser, in turns (the least of each counts)")
    parser.add_argument("--zip", type=int, default=0, metavar="K",
                        help="also ingest the documents zipped K per archive")
    parser.add_argument("--again", action="store_true",
                        help="ingest the folder again, nothing new and 1 %% new (see above)")
    parser.add_argument("--parts", action="store_true",
                        help="the pool's job split into its steps, each against bare (see above)")
    parser.add_argument("--into", type=Path, metavar="PATH",
                        help="also ingest into a copy of this warehouse, in turns (see above)")
    parser.add_argument("--fill", action="store_true",
                        help="with --into: add documents, item lines and events to the copy")
    parser.add_argument("--statements", action="store_true",
                        help="the writer's CPU by statement and step (see above)")
    parser.add_argument("--kinds", action="store_true",
                        help="the parser per EIS document kind, C and Python walk (see above)")
    parser.add_argument("--passes", type=int, default=100,
                        help="with --kinds: passes over each kind's documents per round")
    parser.add_argument("--instructions", action="store_true",
                        help="with --kinds: instructions by valgrind callgrind instead of CPU")
    parser.add_argument("--written", action="store_true",
                        help="with --kinds: also tests/fixtures/eis's hand-written documents"
                             " (complaints, plans), as kinds of their own")
    parser.add_argument("--kinds-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--marks", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kinds_child:
        return kinds_child(args.passes, args.marks, args.written)
    if args.kinds:
        return kinds_main(args)
    tmp = Path(tempfile.mkdtemp(prefix="bench-eis-scale-"))
    try:
        paths = generate(tmp / "in", args.n)
        print(f"{len(paths):,} documents from {len(REAL)} real 44-FZ documents,"
              f" {sum(p.stat().st_size for p in paths) / 1e6:.1f} MB")

        eis = scrapers.get("eis")
        passes = {"bare": lambda: _bare(paths), "walk": lambda: _walk(paths),
                  "parser": lambda: _parser(eis, paths)}
        # in turns, `--rounds` times, keeping each pass's least CPU: other processes slow a
        # pass down (shared caches, the other core's work), and a busy minute then hits all
        # three instead of one; the least of each is the run they disturbed least
        spent: dict[str, list[float]] = {name: [] for name in passes}
        for _ in range(args.rounds):
            for name, run in passes.items():
                c = cpu()
                run()
                spent[name].append(cpu() - c)
        bare, walk, alone = (min(spent[name]) for name in passes)
        rounds = {name: ", ".join(f"{s:.2f}" for s in spent[name]) for name in passes}
        print(f"bare lxml fromstring: {bare:.2f} s CPU = {len(paths) / bare:,.0f} docs/s"
              f" (rounds: {rounds['bare']})")
        print(f"walk, parse + each element's tag and text: {walk:.2f} s CPU, speed ratio to"
              f" bare {bare / walk:.2f} (rounds: {rounds['walk']})")
        ratio("lxml parse + every element's tag and text from Python, CPU", walk,
              "lxml fromstring of the same files", bare)
        walk_kind = ("C walk" if xmlsafe.COMPILED else "Python walk, SURVTRACK_XMLWALK=python"
                     if os.environ.get("SURVTRACK_XMLWALK") == "python"
                     else "Python walk: the C walk is not built")
        print(f"EIS parser alone ({walk_kind}): {alone:.2f} s CPU = {len(paths) / alone:,.0f}"
              f" docs/s, speed ratio to bare {bare / alone:.2f} (goal >= 0.5;"
              f" rounds: {rounds['parser']})")
        ratio("EIS parser alone, CPU", alone, "lxml fromstring of the same files", bare)

        if args.parts:
            parts(eis, paths, bare, args.rounds, tmp)

        # one-time costs of the process left out of the figures below: pyarrow imports pandas
        # on its first conversion (~1 s CPU; the survtrack CLI has it imported before an
        # ingest starts), DuckDB loads its catalogue. Each measured ingest still starts (and
        # is charged for) its own worker processes.
        import pandas  # noqa: F401 - imported by the survtrack CLI before any ingest

        generate(tmp / "warm-in", len(REAL))
        with Warehouse(tmp / "warm" / "w.duckdb") as wh:
            ingest(wh, eis, [tmp / "warm-in"], workers=1)

        workers_list = [int(w) for w in args.workers.split(",") if w]
        if args.into:
            into(eis, tmp / "in", len(paths), bare, workers_list, tmp, args)
        else:
            measure(eis, tmp / "in", "", len(paths), bare, workers_list, tmp, args.again)
        if args.zip:
            zips = zip_up(paths, tmp / "zipped", args.zip)
            c = cpu()
            for path in zips:
                with zipfile.ZipFile(path) as zf:
                    for info in zf.infolist():
                        etree.fromstring(zf.read(info))
            bare_zip = cpu() - c
            print(f"bare lxml of the members of {len(zips)} zips: {bare_zip:.2f} s CPU")
            measure(eis, tmp / "zipped", "zipped ", len(paths), bare_zip, workers_list, tmp,
                    args.again)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def parts(eis, paths: list[Path], bare: float, rounds: int, tmp: Path) -> None:
    """The pool's job, step by step, in this process: the least CPU of each step over
    `rounds` passes (the first pass also pays one-time imports), each into a fresh archive."""
    spent: dict[str, list[float]] = {step: [] for step in PARTS}
    for number in range(rounds):
        archive = Archive(tmp / f"parts-{number}")
        used = dict.fromkeys(PARTS, 0.0)
        for start in range(0, len(paths), pool.CHUNK):
            with _step(used, "read and hash"):
                docs = [archive_file(p, archive, "eis", pack=True)
                        for p in paths[start:start + pool.CHUNK]]
            with _step(used, "segment write and index"):
                archive.commit()
            with _step(used, "parser"):
                parsed = [parse_alone(doc, eis.parse) for doc in docs]
            with _step(used, "Arrow tables"):
                [to_ipc(table) for table in chunk_tables(start, parsed).values()]
        archive.close()
        for name, seconds in used.items():
            spent[name].append(seconds)
    least = {name: min(seconds) for name, seconds in spent.items()}
    for name, seconds in least.items():
        print(f"pool job step, {name}: {seconds:.2f} s CPU = {seconds / bare:.2f}x bare"
              f" (rounds: {', '.join(f'{s:.2f}' for s in spent[name])})")
    total = sum(least.values())
    print(f"pool job, its steps together: {total:.2f} s CPU = {total / bare:.2f}x bare")
    ratio("EIS pool job's steps in one process, CPU", total, "lxml fromstring of the same files",
          bare)


@contextmanager
def _step(used: dict[str, float], name: str) -> Iterator[None]:
    """The block's CPU added to `used[name]`: this process's, to the nanosecond (`cpu()`
    counts clock ticks, 10 ms here, too coarse for one chunk's step)."""
    c = time.process_time()
    yield
    used[name] += time.process_time() - c


# What --fill adds to the copy: the rows bench_dashboard's generated warehouse lacks and an EIS
# warehouse of its size holds, so that statements reading them meet as many rows as there.
FILL = (
    "INSERT INTO documents (document_id, source, origin, fetched_at, media_type, bytes, kind,"
    " status) SELECT sha256(contract_id), 'eis', 'fill:' || contract_id, now(),"
    " 'application/xml', 20000, 'contract', 'loaded' FROM contracts",
    "INSERT INTO items (contract_id, line_no, description, amount)"
    " SELECT contract_id, l, 'line ' || l, amount / 2 FROM contracts, range(1, 3) t(l)",
    "INSERT INTO contract_events (contract_id, event, occurred_on, document_id)"
    " SELECT contract_id, 'terminated', signed_on, sha256(contract_id) FROM contracts"
    " WHERE hash(contract_id) % 100 = 0",
)


def into(eis, inbox: Path, n: int, bare: float, workers_list: list[int], tmp: Path, args
         ) -> None:
    """Each --workers ingest into a fresh warehouse and into a copy of `args.into`, in turns
    (`args.rounds` times each): the writer's CPU into the copy against into the fresh one."""
    template = tmp / "into" / "w.duckdb"
    template.parent.mkdir()
    shutil.copyfile(args.into, template)
    if Path(f"{args.into}.wal").exists():
        shutil.copyfile(f"{args.into}.wal", f"{template}.wal")
    with Warehouse(template) as wh:  # its schema brought up to date, once
        for statement in FILL if args.fill else ():
            wh.execute(statement)
        wh.execute("CHECKPOINT")
        held = {t: wh.count(t) for t in ("documents", "contracts", "items", "contract_events")}
    print(f"into a copy of {args.into}{' filled' if args.fill else ''}:"
          f" {', '.join(f'{v:,} {t}' for t, v in held.items())}")
    for workers in workers_list:
        writer: dict[str, list[float]] = {"empty": [], "copy": []}
        for number in range(args.rounds):
            for target in writer:
                db = tmp / f"into-{workers}-{number}-{target}" / "w.duckdb"
                db.parent.mkdir()
                if target == "copy":
                    shutil.copyfile(template, db)
                profile = Profile(args.statements)
                with Warehouse(db, archive=db.parent / "archive") as wh, profile:
                    c, own = cpu(), own_cpu()
                    counts = ingest(wh, eis, [inbox], workers=workers)
                    used, own = cpu() - c, own_cpu() - own
                writer[target].append(own)
                print(f"ingest --workers {workers} into {target}: {dict(counts)}; {used:.2f} s"
                      f" CPU (this process {own:.2f}, workers {used - own:.2f})"
                      f" = {used / bare:.1f}x bare lxml, this process {own / bare:.2f}x")
                profile.show()
                ratio(f"EIS ingest --workers {workers} into {target}, CPU", used,
                      "lxml fromstring of the same files", bare)
                shutil.rmtree(db.parent)
        least = {target: min(spent) for target, spent in writer.items()}
        print(f"--workers {workers}: the ingest process into the copy / into empty, least of"
              f" {args.rounds}: {least['copy']:.2f} / {least['empty']:.2f} s CPU ="
              f" {least['copy'] / least['empty']:.2f}x (each round: "
              + ", ".join(f"{a / b:.2f}" for a, b in zip(writer["copy"], writer["empty"]))
              + ")")


class Profile:
    """With `on`: the ingest process's CPU (`time.process_time`, all its threads: DuckDB runs a
    statement on several) while each part of the writer runs in its main thread, a part's
    CPU less that of the parts inside it. Patches the writer's methods for the block."""

    def __init__(self, on: bool):
        self.on, self.spent, self.stack = on, defaultdict(float), []
        self.undo: list = []

    def part(self, name: str, fn):
        profile = self

        def timed(*args, **kwargs):
            profile.stack.append(0.0)
            c = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                total, inner = time.process_time() - c, profile.stack.pop()
                profile.spent[name(args) if callable(name) else name] += total - inner
                if profile.stack:
                    profile.stack[-1] += total
        return timed

    def patch(self, owner, attribute: str, name) -> None:
        self.undo.append((owner, attribute, owner.__dict__[attribute]))
        setattr(owner, attribute, self.part(name, getattr(owner, attribute)))

    def __enter__(self):
        if not self.on:
            return self
        from survtrack.warehouse import staged
        from survtrack.warehouse.derived import DerivedTables

        def statement(args) -> str:
            return re.match(r"\s*(INSERT INTO \w+|DELETE FROM \w+|UPDATE \w+|\w+)",
                            args[1]).group(1)

        self.patch(staged, "load_staged", "load_staged, the rest")
        self.patch(DerivedTables, "execute", statement)
        self.patch(Warehouse, "query", lambda args: "query: " + statement(args))
        self.patch(Warehouse, "loaded_ids", "loaded_ids")
        self.patch(Warehouse, "_apply_events", "_apply_events")
        self.patch(Warehouse, "checkpoint_wal", "checkpoint_wal")
        self.patch(pool, "_sha256", "hashing a file before it is sent (_unseen)")
        transaction = DerivedTables.__dict__["transaction"]
        self.undo.append((DerivedTables, "transaction", transaction))
        DerivedTables.transaction = _CommitTimed(transaction, self)
        return self

    def __exit__(self, *exc):
        for owner, attribute, value in reversed(self.undo):
            setattr(owner, attribute, value)

    def show(self) -> None:
        if self.on:
            for name, seconds in sorted(self.spent.items(), key=lambda kv: -kv[1]):
                print(f"    {seconds:7.3f} s  {name}")


class _CommitTimed:
    """DerivedTables.transaction with its COMMIT (the block's exit) timed as a part."""

    def __init__(self, transaction, profile: Profile):
        self.transaction, self.profile = transaction, profile

    def __get__(self, wh, owner=None):
        return lambda: self._timed(wh)

    @contextmanager
    def _timed(self, wh):
        cm = self.transaction(wh)
        cm.__enter__()
        try:
            yield wh
        except BaseException:
            if not cm.__exit__(*sys.exc_info()):
                raise
            return
        profile = self.profile
        profile.stack.append(0.0)
        c = time.process_time()
        try:
            cm.__exit__(None, None, None)
        finally:
            total, inner = time.process_time() - c, profile.stack.pop()
            profile.spent["COMMIT"] += total - inner
            if profile.stack:
                profile.stack[-1] += total


def zip_up(paths: list[Path], folder: Path, per_zip: int) -> list[Path]:
    folder.mkdir()
    zips = []
    for start in range(0, len(paths), per_zip):
        zips.append(folder / f"contract_{start // per_zip:04d}.xml.zip")
        with zipfile.ZipFile(zips[-1], "w", zipfile.ZIP_DEFLATED) as zf:
            for path in paths[start:start + per_zip]:
                zf.write(path, path.name)
    return zips


def measure(eis, inbox: Path, what: str, n: int, bare: float, workers_list: list[int],
            tmp: Path, again: bool = False) -> None:
    for workers in workers_list:
        folder = tmp / f"wh-{what.strip() or 'files'}-{workers}"
        with Warehouse(folder / "w.duckdb") as wh:
            c, own, t = cpu(), own_cpu(), time.perf_counter()
            counts = ingest(wh, eis, [inbox], workers=workers)
            wall, used, own = time.perf_counter() - t, cpu() - c, own_cpu() - own
            contracts = wh.count("contracts")
        split = f" (this process {own:.2f}, workers {used - own:.2f})" if workers > 1 else ""
        print(f"{what}ingest --workers {workers}: {dict(counts)}, {contracts:,} contracts;"
              f" {wall:.1f} s wall = {n / wall:,.0f} docs/s;"
              f" {used:.2f} s CPU{split} = {used / bare:.1f}x bare lxml (goal <= 4x)")
        ratio(f"EIS {what}ingest --workers {workers}, CPU", used,
              f"lxml fromstring of the same {what or 'files'}".strip(), bare)
        if again:
            with Warehouse(folder / "w.duckdb") as wh:
                measure_again(eis, wh, inbox, what, n, workers, used)


def measure_again(eis, wh, inbox: Path, what: str, n: int, workers: int, first: float
                  ) -> None:
    """The folder ingested again into `wh`: nothing new, then 1 % new documents, each with the
    record of input files and with every file read again (`recheck`)."""
    more = inbox.parent / f"{inbox.name}-more-{workers}"  # beside: the next ingest's inbox
    more.mkdir()
    for new in (0, max(n // 100, 1)):
        for recheck in (False, True):
            if new:  # documents no run has seen, numbered after every other
                generate(more, new, start=n * (workers + 1) + len(list(more.rglob("*.xml"))))
            c = cpu()
            counts = ingest(wh, eis, [inbox, more], workers=workers, recheck=recheck)
            used = cpu() - c
            how = "every file read again (recheck)" if recheck else "unchanged files skipped"
            print(f"{what}ingest --workers {workers} again, {new} new, {how}: {dict(counts)};"
                  f" {used:.2f} s CPU = {used / first:.3f}x the first run")
            ratio(f"EIS {what}ingest --workers {workers} again, {new} new, {how}, CPU", used,
                  "the first ingest of the folder", first)


if __name__ == "__main__":
    main()
