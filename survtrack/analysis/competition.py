"""Competition facts per contract: what the documents of its procurement say, folded into one
row of `competition` with the document behind each group of facts.

Parsers write what each document states into `procurement_facts` (a notice its procedure,
deadline and estimate; a protocol its bids; a contract its basis). Here each contract meets
the facts about itself and about its procurement (`procurement_id`: the EIS purchase number,
the OCDS ocid, the TED procedure), and every group of facts is taken from one document:

- procedure: the statement weighing most (analysis/flags/procedure_types.csv: a contract's
  single-supplier reason over a notice's placing way over "awarded after a notice"), mapped to
  one scale (open, restricted, negotiated_with_call, direct, other) and `competitive`;
- bids: the contract's own count (a TED lot, a US award) first, else the procurement's largest
  count received (a protocol may list only the applications still in the running) and the
  latest count admitted; rejected = received − admitted where both are known;
- tender period and estimate: the contract's own statement, else the latest of its procurement;
- values: the contract's earliest and latest version in its currency (contract_versions);
- first publication: the earliest own statement of a contract or award notice, and whether it
  is the first (regimes.csv: a record's version N, or the award notice itself).

NULL is unknown. The step computes and rewrites only the contracts whose inputs changed since
the last build (analysis/inputs.py).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

from survtrack.analysis import inputs, kept
from survtrack.datafiles import numbered_rows
from survtrack.warehouse import changes
from survtrack.warehouse.store import Warehouse

FOLDER = Path(__file__).with_name("flags")
SCALE = ("open", "restricted", "negotiated_with_call", "direct", "other")


@dataclass(frozen=True)
class ProcedureType:
    scheme: str
    code: str
    text: str
    procedure_type: str
    competitive: bool | None
    bids_admitted: int | None
    weight: int
    doc: str


@cache
def procedure_types() -> tuple[ProcedureType, ...]:
    out = []
    for line, row in numbered_rows(FOLDER / "procedure_types.csv"):
        if row["procedure_type"] not in SCALE:
            raise ValueError(f"procedure_types.csv line {line}: procedure_type"
                             f" {row['procedure_type']!r} is not one of {SCALE}")
        out.append(ProcedureType(
            row["scheme"], row["code"] or "*", row["text"].casefold(), row["procedure_type"],
            {"true": True, "false": False, "": None}[row["competitive"]],
            int(row["bids_admitted"]) if row["bids_admitted"] else None,
            int(row["weight"] or 1), row["doc"]))
    return tuple(out)


def procedure_type(scheme: str | None, code: str | None, text: str | None
                   ) -> ProcedureType | None:
    """The first row of procedure_types.csv matching a stated procedure, or None."""
    if not scheme:
        return None
    words = (text or "").casefold()
    for row in procedure_types():
        if row.scheme != scheme or not fnmatch.fnmatchcase(code or "", row.code):
            continue
        if row.text and not fnmatch.fnmatchcase(words, row.text):
            continue
        return row
    return None


@cache
def regimes() -> tuple[dict, ...]:
    return tuple(row for _, row in numbered_rows(FOLDER / "regimes.csv"))


def regime_of(scheme: str | None, source: str | None) -> str | None:
    for row in regimes():
        if scheme and any(fnmatch.fnmatchcase(scheme, p) for p in row["schemes"].split()):
            return row["regime"]
    for row in regimes():
        if source and source in row["sources"].split():
            return row["regime"]
    return None


def _lookups(wh: Warehouse, tables: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Relations for the SQL: every stated procedure of the facts read mapped to the scale and
    its regime; each source's fallback regime; each regime's rule for a first publication."""
    stated = wh.query("SELECT DISTINCT procedure_scheme, procedure_code, procedure_text"
                      f" FROM {tables['facts']} WHERE procedure_scheme IS NOT NULL")
    rows = []
    for scheme, code, text in stated:
        found = procedure_type(scheme, code, text)
        rows.append((scheme, code, text, found and found.procedure_type,
                     found.competitive if found else None,
                     found.bids_admitted if found else None, found.weight if found else 0,
                     regime_of(scheme, None)))
    ptypes = pd.DataFrame(rows, columns=["scheme", "code", "text", "procedure_type",
                                         "competitive", "implied_admitted", "weight", "regime"])
    ptypes = ptypes.astype({"scheme": "string", "code": "string", "text": "string",
                            "procedure_type": "string", "competitive": "boolean",
                            "implied_admitted": "Int64", "weight": "Int64", "regime": "string"})
    sources = [s for (s,) in wh.query(f"SELECT DISTINCT source FROM {tables['contracts']}")]
    fallback = pd.DataFrame([(s, regime_of(None, s)) for s in sources],
                            columns=["source", "regime"]).astype("string")
    rules = pd.DataFrame(
        [(r["regime"],
          int(r["first_publication"][8:]) if r["first_publication"].startswith("version:")
          else None,
          r["first_publication"][6:] if r["first_publication"].startswith("stage:") else None)
         for r in regimes()], columns=["regime", "first_version", "first_stage"]
    ).astype({"regime": "string", "first_version": "Int64", "first_stage": "string"})
    return {"ptypes": ptypes, "source_regimes": fallback, "regime_rules": rules}


# a contract's procedure: the one its latest own statement names (of two published at once,
# the greatest id, so that every build finds the same)
PROCUREMENT_OF = ("arg_max(procurement_id, (coalesce(published_on, TIMESTAMP '1900-01-01'),"
                  " procurement_id))")

COMPETITION_TEMPLATE = """
WITH own AS (
    SELECT f.*, TRUE AS own FROM {@facts} f
    WHERE f.subject_id IN (SELECT contract_id FROM competition_scope)),
link AS (
    SELECT c.contract_id, c.source, c.signed_on, c.buyer_id, c.vendor_id, c.currency,
           coalesce(o.procurement_id, c.notice_id) AS procurement_id
    FROM {@contracts} c
    LEFT JOIN (SELECT subject_id, {PROCUREMENT_OF} AS procurement_id
               FROM own WHERE procurement_id IS NOT NULL GROUP BY 1) o
      ON o.subject_id = c.contract_id
    WHERE c.contract_id IN (SELECT contract_id FROM competition_scope)),
facts AS (
    SELECT l.contract_id, o.* EXCLUDE (own), TRUE AS own FROM link l
    JOIN own o ON o.subject_id = l.contract_id
    UNION ALL
    SELECT l.contract_id, f.*, FALSE AS own FROM link l
    JOIN {@facts} f ON f.subject_id = l.procurement_id
    WHERE l.procurement_id IS NOT NULL AND l.procurement_id <> l.contract_id),
typed AS (
    SELECT f.*, p.procedure_type, p.competitive, p.implied_admitted, p.weight,
           p.regime AS scheme_regime,
           coalesce(f.published_on, TIMESTAMP '1900-01-01') AS seen_at
    FROM facts f LEFT JOIN ptypes p
      ON p.scheme = f.procedure_scheme AND p.code IS NOT DISTINCT FROM f.procedure_code
     AND p.text IS NOT DISTINCT FROM f.procedure_text),
folded AS (
    SELECT contract_id,
        arg_max({'type': procedure_type, 'competitive': competitive,
                 'label': procedure_scheme || ':' || coalesce(procedure_code, '')
                          || coalesce(' ' || procedure_text, ''),
                 'implied': implied_admitted, 'doc': document_id},
                (weight, own, seen_at)) FILTER (WHERE procedure_type IS NOT NULL) AS proc,
        arg_max(scheme_regime, (own, seen_at)) FILTER (WHERE scheme_regime IS NOT NULL) AS regime,
        arg_max({'n': bids_received, 'doc': document_id}, (own, bids_received, seen_at))
            FILTER (WHERE bids_received IS NOT NULL) AS received,
        arg_max({'n': bids_admitted, 'rejected': bids_rejected, 'doc': document_id}, (own, seen_at))
            FILTER (WHERE bids_admitted IS NOT NULL) AS admitted,
        arg_max({'start': tender_published_on, 'deadline': tender_deadline,
                 'doc': document_id}, (own, seen_at))
            FILTER (WHERE tender_published_on IS NOT NULL AND tender_deadline IS NOT NULL)
            AS tender,
        arg_max({'amount': estimated_amount, 'currency': estimated_currency,
                 'doc': document_id}, (own, seen_at))
            FILTER (WHERE estimated_amount IS NOT NULL) AS estimate,
        arg_min({'at': published_on, 'stage': stage, 'doc': document_id}, published_on)
            FILTER (WHERE own AND published_on IS NOT NULL
                    AND stage IN ('contract', 'award', 'modification')) AS first_pub
    FROM typed GROUP BY contract_id),
versions AS (
    SELECT v.contract_id,
           arg_min({'amount': v.amount, 'version': v.version, 'doc': v.document_id},
                   (v.version, coalesce(v.published_on, TIMESTAMP '1900-01-01'))) AS first,
           arg_max({'amount': v.amount, 'doc': v.document_id},
                   (v.version, coalesce(v.published_on, TIMESTAMP '1900-01-01'))) AS last,
           count(*) AS n,
           min(v.version) AS min_version
    FROM {@versions} v JOIN link l USING (contract_id)
    WHERE v.amount IS NOT NULL AND v.currency IS NOT DISTINCT FROM l.currency
    GROUP BY v.contract_id),
lowest AS (SELECT contract_id, min(version) AS min_version FROM {@versions}
           WHERE contract_id IN (SELECT contract_id FROM competition_scope) GROUP BY 1)
SELECT l.contract_id, l.source,
       coalesce(f.regime, sr.regime) AS regime, l.procurement_id,
       f.proc.type AS procedure_type, f.proc.competitive AS competitive,
       f.proc.label AS procedure, f.proc.doc AS procedure_document_id,
       f.received.n AS bids_received,
       coalesce(f.admitted.n, f.proc.implied) AS bids_admitted,
       CASE WHEN f.received.n IS NOT NULL AND f.admitted.n IS NOT NULL
            THEN greatest(f.received.n - f.admitted.n, 0) ELSE f.admitted.rejected END
           AS bids_rejected,
       coalesce(f.received.doc, f.admitted.doc,
                CASE WHEN f.proc.implied IS NOT NULL THEN f.proc.doc END) AS bids_document_id,
       f.tender.start AS tender_published_on, f.tender.deadline AS tender_deadline,
       date_diff('second', f.tender.start, f.tender.deadline) / 86400.0 AS tender_days,
       f.tender.doc AS tender_document_id,
       f.estimate.amount AS estimated_amount, f.estimate.currency AS estimated_currency,
       f.estimate.doc AS estimate_document_id,
       v.first.amount AS award_amount, v.last.amount AS final_amount,
       CASE WHEN v.n > 0 THEN l.currency END AS amount_currency, v.n::INTEGER AS versions,
       v.first.doc AS award_document_id, v.last.doc AS final_document_id,
       l.signed_on, f.first_pub.at AS first_published_on,
       CASE WHEN f.first_pub.at IS NULL THEN NULL
            WHEN r.first_stage IS NOT NULL THEN f.first_pub.stage = r.first_stage
            WHEN r.first_version IS NOT NULL THEN lo.min_version = r.first_version
            END AS first_version,
       f.first_pub.doc AS first_document_id, l.buyer_id, l.vendor_id
FROM link l
LEFT JOIN folded f USING (contract_id)
LEFT JOIN versions v USING (contract_id)
LEFT JOIN lowest lo USING (contract_id)
LEFT JOIN source_regimes sr ON sr.source = l.source
LEFT JOIN regime_rules r ON r.regime = coalesce(f.regime, sr.regime)
""".replace("{PROCUREMENT_OF}", PROCUREMENT_OF)

# The tables the step reads, by their markers in the SQL. A build narrowed by the record of
# changes reads its candidates' rows of them once into temporary tables (`gather`); the hash
# and the computing then read those instead of each scanning the tables again.
READ = {"contracts": "contracts", "facts": "procurement_facts", "versions": "contract_versions"}
GATHERED = {"contracts": "competition_contracts", "facts": "competition_facts",
            "versions": "competition_versions"}


def competition_sql(tables: dict[str, str] = READ) -> str:
    return inputs.fill(COMPETITION_TEMPLATE, tables)


COMPETITION_SQL = competition_sql()

# What a contract's row is computed from: its own row, the facts about it and about its
# procurement, its versions (analysis/inputs.py), and this module's SQL and data files.
def inputs_sql(only: str | None = None, tables: dict[str, str] = READ) -> str:
    """The contracts' hashes (`only`: of the contracts in that temporary table, reading the
    facts of them and of the procurements they may name, and their versions alone; `tables`:
    the tables read, GATHERED when `gather` made them)."""
    own = inputs.among(only)
    # the contracts' own facts and every procurement they or their facts name (a superset of
    # the one chosen: each subject's facts are read whole either way)
    facts = None if only is None else (
        f"subject_id IN (SELECT contract_id FROM {only}"
        f" UNION ALL SELECT notice_id FROM contracts WHERE {own}"
        f" UNION ALL SELECT procurement_id FROM procurement_facts WHERE {inputs.among(only, 'subject_id')})")
    return f"""
WITH facts AS (
    SELECT subject_id, bit_xor(hash(f)) AS inputs,
           {PROCUREMENT_OF} FILTER (WHERE procurement_id IS NOT NULL) AS procurement_id
    FROM {inputs.rows(tables["facts"], facts)} f GROUP BY subject_id),
versions AS (SELECT contract_id, bit_xor(hash(v)) AS inputs
             FROM {inputs.rows(tables["versions"], own)} v GROUP BY contract_id)
SELECT c.contract_id,
       hash(c.source, c.signed_on, c.buyer_id, c.vendor_id, c.currency, c.notice_id,
            o.inputs, p.inputs, v.inputs, $code) AS inputs
FROM {inputs.rows(tables["contracts"], own)} c
LEFT JOIN facts o ON o.subject_id = c.contract_id
LEFT JOIN facts p ON p.subject_id = coalesce(o.procurement_id, c.notice_id)
                 AND p.subject_id <> c.contract_id
LEFT JOIN versions v ON v.contract_id = c.contract_id
"""


INPUTS_SQL = inputs_sql()
# The contracts whose inputs a recorded write may have changed (analysis/inputs.py): those
# written, the facts' subjects, and the contracts of a procurement whose facts were written.
# A contract reads the facts of one procurement, the one its `competition` row names
# (PROCUREMENT_OF of its own facts, else its notice): when its own facts and notice are
# unchanged since the last build, that row names the procurement it reads now, and when they
# changed, it was written and is a candidate anyway. So its last build's procurement finds it
# and `procurement_facts` is not scanned by procurement (at 1 M the third of the three scans).
# The contracts of those procurements' notices are for threads (analysis/kept.py): the
# procurements are kept, and the contracts of those it reads are among these candidates.
READS = inputs.Reads(
    ("contracts", "contract_versions", "procurement_facts"), f"""
WITH procs AS (SELECT key FROM competition_procs)
{inputs.keys("competition", "contracts", "contract_versions", "procurement_facts")}
UNION ALL SELECT contract_id FROM contracts WHERE notice_id IN (SELECT key FROM procs)
UNION ALL SELECT contract_id FROM competition WHERE procurement_id IN (SELECT key FROM procs)
""", lambda wh: wh.execute("CREATE OR REPLACE TEMP TABLE competition_procs AS "
                           + inputs.keys("competition", "procurement_facts")))


def code_version() -> str:
    return inputs.version(COMPETITION_SQL, FOLDER / "procedure_types.csv",
                          FOLDER / "regimes.csv")


def gather(wh: Warehouse, only: str) -> None:
    """The rows the hash and the computing read of the contracts of the temporary table
    `only`, in temporary tables (GATHERED), each found by one scan of its key column and read
    by rowid: their contracts' columns, their versions, their own facts and the facts of every
    procurement they or their facts name (a second scan of the facts only for procurements
    that their own facts name and their notices do not: TED's procedures, not EIS's or
    OCDS's)."""
    own = inputs.among(only)
    # document_id: threads reads it from the kept rows (analysis/kept.py)
    wh.execute("CREATE OR REPLACE TEMP TABLE competition_contracts AS SELECT contract_id, source,"
               " signed_on, buyer_id, vendor_id, currency, notice_id, document_id"
               f" FROM {inputs.rows('contracts', own)}")
    wh.execute("CREATE OR REPLACE TEMP TABLE competition_versions AS"
               f" SELECT * FROM {inputs.rows('contract_versions', own)}")
    # the subjects whose facts are read whole: the contracts, their notices, and the
    # procurements their own facts name. The first two are known before the facts are read,
    # so one scan reads them; a second reads those named beyond them, only when there are
    # any. Kept for threads (analysis/kept.py)
    wh.execute(f"""CREATE OR REPLACE TEMP TABLE competition_subjects AS
        SELECT contract_id AS subject_id FROM {only}
        UNION SELECT notice_id FROM competition_contracts WHERE notice_id IS NOT NULL""")
    subjects = "subject_id IN (SELECT subject_id FROM competition_subjects)"
    wh.execute("CREATE OR REPLACE TEMP TABLE competition_facts AS"
               f" SELECT * FROM {inputs.rows('procurement_facts', subjects)}")
    wh.execute(f"""CREATE OR REPLACE TEMP TABLE competition_procurements AS
        SELECT procurement_id AS subject_id FROM competition_facts
        WHERE procurement_id IS NOT NULL AND {inputs.among(only, 'subject_id')}
        EXCEPT SELECT subject_id FROM competition_subjects""")
    if inputs.any_rows(wh, "competition_procurements"):
        wh.execute("INSERT INTO competition_facts SELECT * FROM " + inputs.rows(
            "procurement_facts",
            "subject_id IN (SELECT subject_id FROM competition_procurements)"))
        wh.execute("INSERT INTO competition_subjects SELECT subject_id"
                   " FROM competition_procurements")
    wh.execute("DROP TABLE competition_procurements")


def build_competition(wh: Warehouse, full: bool = False,
                      slice_size: int = inputs.SLICE) -> dict:
    """Compute `competition` for the contracts whose inputs changed since the last build (every
    one when `full`), `slice_size` contracts at a time; drop removed contracts' rows. Returns
    counts."""
    reading = inputs.Gathering(wh, gather, inputs_sql, READ, GATHERED)

    try:
        kept.drop(wh)  # an earlier build's, whatever this one gathers
        code = code_version()
        at = changes.latest(wh)  # the record before the gather: nothing is written between
        changed = inputs.stale(wh, "competition", reading.hashed, code, full, READS)
        if changed:
            with wh.using(**_lookups(wh, reading.tables)):
                inputs.in_passes(wh, "competition", competition_sql(reading.tables),
                                 "new_competition", slice_size)
        else:
            wh.execute("CREATE OR REPLACE TEMP TABLE new_competition AS"
                       " SELECT * FROM competition LIMIT 0")
        removed = inputs.replace(wh, "competition", "competition", "new_competition")
        if reading.tables is GATHERED:  # narrowed: threads may read these rows again
            kept.keep(wh, GATHERED, "competition_candidates", "competition_subjects",
                      "competition_procs", "new_competition", "competition_work", at)
        total = wh.scalar("SELECT count(*) FROM competition")
    finally:
        inputs.done(wh, "competition", "new_competition", "competition_subjects",
                    "competition_procs", *GATHERED.values())
    return {"contracts": total, "changed": changed, "removed": removed}
