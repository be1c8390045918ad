"""Procurement threads: each contract's story in time order, from the call to the last payment.

What belongs to one procurement is found through the identifiers the sources give: the
contract's notice (EIS purchase number, OCDS ocid, TED notice) and its procurement in
`competition` (an eForms procedure id, a legacy award's call), the documents stating facts of
that procurement, the contract's versions and modifications, its payments and reported events
(termination, completion, annulment) and the complaints naming its purchase. Every step keeps
the document it comes from.

`build_threads(wh)` writes `threads` (only the contracts whose inputs changed); `for_contract(con, id)` reads one.
"""

from __future__ import annotations

from survtrack.analysis import inputs, kept

STAGE_ORDER = ("notice", "change", "protocol", "placement_result", "result", "award",
               "contract_sign", "signed", "contract", "version", "modification", "payment",
               "completed", "terminated", "annulled", "complaint", "cancellation")

THREADS_TEMPLATE = """
WITH link AS (
    SELECT c.contract_id, c.notice_id, k.procurement_id, c.signed_on, c.document_id
    FROM {@contracts} c LEFT JOIN {@competition} k USING (contract_id)
    WHERE c.contract_id IN (SELECT contract_id FROM threads_scope)),
named AS (  -- the procurements a contract names: its notice and its procedure (one equi-join
            -- each, where `a = x OR a = y` would join every pair)
    SELECT DISTINCT contract_id, unnest([notice_id, procurement_id]) AS procurement_id
    FROM link),
procurement_docs AS (  -- documents stating facts of the contract's procurement (not its own)
    SELECT DISTINCT l.contract_id, f.document_id
    FROM link l JOIN {@facts} f ON f.subject_id = l.procurement_id
    WHERE l.procurement_id IS NOT NULL AND l.procurement_id <> l.contract_id),
notice_steps AS (
    SELECT l.contract_id, n.published_on AS occurred_on, n.kind AS stage,
           concat_ws(': ', n.document_type, n.title)
             || CASE WHEN n.bidders IS NOT NULL THEN ' (' || n.bidders || ' applications)'
                     ELSE '' END AS detail,
           n.amount, n.currency, n.document_id
    FROM named l JOIN {@notices} n ON n.notice_id = l.procurement_id
    UNION
    SELECT p.contract_id, n.published_on, n.kind,
           concat_ws(': ', n.document_type, n.title), n.amount, n.currency, n.document_id
    FROM procurement_docs p JOIN {@document_notices} n USING (document_id)),
fact_steps AS (  -- calls known only from their facts (an OCDS tender of a contract)
    SELECT p.contract_id, coalesce(f.tender_published_on, f.published_on) AS occurred_on,
           f.stage,
           concat_ws('; ', f.procedure_text,
                     'deadline ' || strftime(f.tender_deadline, '%Y-%m-%d'),
                     f.bids_received || ' bids received') AS detail,
           f.estimated_amount AS amount, f.estimated_currency AS currency, f.document_id
    FROM procurement_docs p JOIN {@document_facts} f USING (document_id)
    WHERE NOT EXISTS (SELECT 1 FROM notice_steps s WHERE s.contract_id = p.contract_id
                      AND s.document_id = f.document_id)),
version_steps AS (
    SELECT v.contract_id, v.published_on AS occurred_on,
           CASE WHEN row_number() OVER (PARTITION BY v.contract_id
                                        ORDER BY v.version, v.published_on) = 1 THEN 'contract'
                WHEN m.document_id IS NOT NULL THEN 'modification' ELSE 'version' END AS stage,
           'version ' || v.version AS detail, v.amount, v.currency, v.document_id
    FROM {@versions} v
    LEFT JOIN (SELECT DISTINCT subject_id, document_id FROM {@facts}
               WHERE stage = 'modification') m
      ON m.subject_id = v.contract_id AND m.document_id = v.document_id
    WHERE v.contract_id IN (SELECT contract_id FROM threads_scope)),
steps AS (
    SELECT * FROM notice_steps
    UNION ALL SELECT * FROM fact_steps
    UNION ALL SELECT * FROM version_steps
    UNION ALL
    SELECT contract_id, signed_on::TIMESTAMP, 'signed', 'contract signed', NULL, NULL,
           document_id
    FROM link l WHERE signed_on IS NOT NULL
    UNION ALL
    SELECT contract_id, paid_on::TIMESTAMP, 'payment',
           concat_ws(' ', 'payment', reference), amount, currency, document_id
    FROM {@payments} WHERE contract_id IN (SELECT contract_id FROM threads_scope)
    UNION ALL
    SELECT contract_id, occurred_on::TIMESTAMP, event,
           concat_ws(': ', event, reason)
             || CASE WHEN reported_paid IS NOT NULL
                     THEN ' (reported paid ' || reported_paid || ')' ELSE '' END,
           NULL, NULL, document_id
    FROM {@events} WHERE contract_id IN (SELECT contract_id FROM threads_scope)
    UNION ALL
    SELECT l.contract_id, e.occurred_on::TIMESTAMP, 'complaint',
           concat_ws(': ', e.kind, e.title, e.outcome), NULL, NULL, e.document_id
    FROM named l JOIN {@complaints} e ON e.procurement_id = l.procurement_id)
SELECT s.contract_id,
       row_number() OVER (PARTITION BY s.contract_id
                          ORDER BY s.occurred_on NULLS LAST, o.rank, s.document_id,
                                   s.detail)::INTEGER AS position,
       s.occurred_on, s.stage, s.detail, s.amount, s.currency, s.document_id
FROM steps s JOIN link USING (contract_id)
LEFT JOIN stage_rank o ON o.stage = s.stage
"""

# The tables the step reads, by their markers in the SQL (the facts and notices also read by
# document: those of the documents stating facts of a contract's procurement). A build
# narrowed by the record of changes reads its candidates' rows of them once into temporary
# tables (`gather`); the hash and the computing then read those instead of each scanning the
# tables again.
READ = {"contracts": "contracts", "competition": "competition", "facts": "procurement_facts",
        "document_facts": "procurement_facts", "notices": "notices",
        "document_notices": "notices", "versions": "contract_versions",
        "payments": "payments", "events": "contract_events", "complaints": "context_events"}
GATHERED = {marker: f"threads_{marker}" for marker in READ}


def threads_sql(tables: dict[str, str] = READ) -> str:
    return inputs.fill(THREADS_TEMPLATE, tables)


THREADS_SQL = threads_sql()

# What a contract's thread is built from (analysis/inputs.py): its row, its procedure, the
# facts about it and its procurement (their documents' notices are read by document, and a
# document's rows never change), its versions, payments and events, the notices and
# complaints of the procurements it names; and this module's SQL.
def inputs_sql(only: str | None = None, tables: dict[str, str] = READ) -> str:
    """The contracts' hashes (`only`: of the contracts in that temporary table, reading the
    rows of them and of the procurements and notices they name alone; `tables`: the tables
    read, GATHERED when `gather` made them)."""
    own = inputs.among(only)
    facts = notes = complaints = None
    if only:
        # what the contracts name: their notices and procurements (their own facts' subject
        # is the contract itself)
        named = (f"IN (SELECT contract_id FROM {only} UNION ALL SELECT notice_id FROM contracts"
                 f" WHERE {own} UNION ALL SELECT procurement_id FROM competition WHERE {own})")
        facts, notes, complaints = (f"subject_id {named}", f"notice_id {named}",
                                    f"procurement_id {named}")
    return f"""
WITH facts AS (SELECT subject_id, bit_xor(hash(f)) AS inputs
               FROM {inputs.rows(tables["facts"], facts)} f GROUP BY subject_id),
versions AS (SELECT contract_id, bit_xor(hash(v)) AS inputs
             FROM {inputs.rows(tables["versions"], own)} v GROUP BY contract_id),
paid AS (SELECT contract_id, bit_xor(hash(p)) AS inputs FROM {inputs.rows(tables["payments"], own)} p
         GROUP BY contract_id),
events AS (SELECT contract_id, bit_xor(hash(e)) AS inputs
           FROM {inputs.rows(tables["events"], own)} e GROUP BY contract_id),
notes AS (SELECT notice_id, bit_xor(hash(n)) AS inputs FROM {inputs.rows(tables["notices"], notes)} n
          GROUP BY notice_id),
complaints AS (SELECT procurement_id, bit_xor(hash(e)) AS inputs
               FROM {inputs.rows(tables["complaints"], complaints)} e
               WHERE procurement_id IS NOT NULL GROUP BY procurement_id)
SELECT c.contract_id,
       hash(c.notice_id, c.signed_on, c.document_id, k.procurement_id, o.inputs, p.inputs,
            v.inputs, pd.inputs, ev.inputs, n1.inputs, n2.inputs, x1.inputs, x2.inputs,
            $code) AS inputs
FROM {inputs.rows(tables["contracts"], own)} c
LEFT JOIN {inputs.rows(tables["competition"], own)} k USING (contract_id)
LEFT JOIN facts o ON o.subject_id = c.contract_id
LEFT JOIN facts p ON p.subject_id = k.procurement_id AND k.procurement_id <> c.contract_id
LEFT JOIN versions v ON v.contract_id = c.contract_id
LEFT JOIN paid pd ON pd.contract_id = c.contract_id
LEFT JOIN events ev ON ev.contract_id = c.contract_id
LEFT JOIN notes n1 ON n1.notice_id = c.notice_id
LEFT JOIN notes n2 ON n2.notice_id = k.procurement_id
LEFT JOIN complaints x1 ON x1.procurement_id = c.notice_id
LEFT JOIN complaints x2 ON x2.procurement_id = k.procurement_id
"""


INPUTS_SQL = inputs_sql()
# The contracts whose inputs a recorded write may have changed (analysis/inputs.py): those
# written (their competition rows too), and the contracts of a procurement or notice whose
# facts, notices or complaints were written (by their notice, or their procurement as
# competition found it in this build).
# The contracts of those procurements are competition's candidates when it read them all
# (analysis/kept.py): a superset, which the hashes' comparison narrows.
PROCUREMENTS = inputs.keys("threads", "procurement_facts", "notices", "context_events")


def _by_procurement(wh) -> None:
    sql = kept.contracts_of(wh, PROCUREMENTS) or f"""
        WITH procs AS ({PROCUREMENTS})
        SELECT contract_id FROM contracts WHERE notice_id IN (SELECT key FROM procs)
        UNION ALL
        SELECT contract_id FROM competition WHERE procurement_id IN (SELECT key FROM procs)"""
    wh.execute(f"CREATE OR REPLACE TEMP TABLE threads_by_procurement AS {sql}")


READS = inputs.Reads(
    ("contracts", "contract_versions", "payments", "contract_events", "competition",
     "procurement_facts", "notices", "context_events"), f"""
{inputs.keys("threads", "contracts", "contract_versions", "payments", "contract_events",
             "competition", "procurement_facts")}
UNION ALL SELECT contract_id FROM threads_by_procurement
""", _by_procurement)


def _stage_rank():
    import pandas as pd

    return pd.DataFrame({"stage": list(STAGE_ORDER), "rank": range(len(STAGE_ORDER))})


def gather(wh, only: str) -> None:
    """The rows the hash and the computing read of the contracts of the temporary table
    `only`, in temporary tables (GATHERED), each found by one scan of a key column and read
    by rowid: their contracts' and competition rows' columns, their versions, payments and
    events; the facts, notices and complaints of them and of the procurements and notices they
    name; the facts and notices of the documents stating facts of their procurements."""
    own = inputs.among(only)
    # the rows competition kept of the same contracts, when they hold these (analysis/kept.py)
    reused = kept.current(wh) and kept.holds(wh, only, kept.IDS)
    source = kept.TABLES if reused else {
        "contracts": "contracts", "versions": "contract_versions", "facts": "procurement_facts"}
    made = {
        "contracts": "SELECT contract_id, notice_id, signed_on, document_id FROM "
                     + inputs.rows(source["contracts"], own),
        "competition": "SELECT contract_id, procurement_id FROM " + inputs.rows(
            kept.COMPETITION if reused and kept.holds(wh, only, kept.WORK)
            else "competition", own),
        "versions": f"SELECT * FROM {inputs.rows(source['versions'], own)}"}
    for marker, table in (("payments", "payments"), ("events", "contract_events")):
        made[marker] = f"SELECT * FROM {inputs.rows(table, own)}"
    for marker, sql in made.items():
        wh.execute(f"CREATE OR REPLACE TEMP TABLE threads_{marker} AS {sql}")
    # what they name: themselves (their own facts), their notices and procurements
    wh.execute(f"""CREATE OR REPLACE TEMP TABLE threads_named AS
        SELECT contract_id AS key FROM {only}
        UNION SELECT notice_id FROM threads_contracts WHERE notice_id IS NOT NULL
        UNION SELECT procurement_id FROM threads_competition WHERE procurement_id IS NOT NULL""")
    named = "IN (SELECT key FROM threads_named)"
    facts = source["facts"] if reused and kept.holds_facts_of(
        wh, "threads_named") else "procurement_facts"
    for marker, table, condition in (("facts", facts, f"subject_id {named}"),
                                     ("notices", "notices", f"notice_id {named}"),
                                     ("complaints", "context_events", f"procurement_id {named}")):
        wh.execute(f"CREATE OR REPLACE TEMP TABLE threads_{marker} AS"
                   f" SELECT * FROM {inputs.rows(table, condition)}")
    # the documents stating facts of their procurements (THREADS_SQL's procurement_docs)
    documents = ("document_id IN (SELECT f.document_id FROM threads_facts f"
                 " JOIN threads_competition k ON f.subject_id = k.procurement_id"
                 " WHERE k.procurement_id <> k.contract_id)")
    for marker, table in (("document_facts", "procurement_facts"),
                          ("document_notices", "notices")):
        wh.execute(f"CREATE OR REPLACE TEMP TABLE threads_{marker} AS"
                   f" SELECT * FROM {inputs.rows(table, documents)}")
    wh.execute("DROP TABLE threads_named")
    kept.drop(wh)  # read: no later step reads them


def build_threads(wh, full: bool = False, slice_size: int = inputs.SLICE) -> dict:
    """Build the threads of the contracts whose inputs changed since the last build (every one
    when `full`), `slice_size` contracts at a time; drop removed contracts' steps. Returns
    counts."""
    reading = inputs.Gathering(wh, gather, inputs_sql, READ, GATHERED)

    try:
        code = inputs.version(THREADS_SQL, " ".join(STAGE_ORDER))
        changed = inputs.stale(wh, "threads", reading.hashed, code, full, READS)
        with wh.using(stage_rank=_stage_rank()):
            inputs.in_passes(wh, "threads", threads_sql(reading.tables), "new_threads", slice_size)
        inputs.replace(wh, "threads", "threads", "new_threads")
        out = {"steps": wh.scalar("SELECT count(*) FROM threads"), "changed": changed,
               "with_procurement": wh.scalar(
                   "SELECT count(DISTINCT contract_id) FROM threads WHERE stage NOT IN"
                   " ('signed', 'contract', 'version')")}
    finally:
        inputs.done(wh, "threads", "new_threads", "threads_by_procurement",
                    *GATHERED.values())
        kept.drop(wh)  # competition's, unread when this build was not narrowed
    return out


def for_contract(con, contract_id: str) -> list[dict]:
    """One contract's thread, in order: position, occurred_on, stage, detail, amount,
    currency, document_id (`con`: a warehouse or snapshot connection)."""
    cur = con.execute("SELECT position, occurred_on, stage, detail, amount, currency,"
                      " document_id FROM threads WHERE contract_id = ? ORDER BY position",
                      [contract_id])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]
