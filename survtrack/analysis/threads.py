"""Procurement threads: each contract's story in time order, from the call to the last payment.

What belongs to one procurement is found through the identifiers the sources give: the
contract's notice (EIS purchase number, OCDS ocid, TED notice) and its procurement in
`competition` (an eForms procedure id, a legacy award's call), the documents stating facts of
that procurement, the contract's versions and modifications, its payments and reported events
(termination, completion, annulment) and the complaints naming its purchase. Every step keeps
the document it comes from.

`build_threads(wh)` writes `threads` (only rows that changed); `for_contract(con, id)` reads one.
"""

from __future__ import annotations

from survtrack.warehouse.schema import TABLES

STAGE_ORDER = ("notice", "change", "protocol", "placement_result", "result", "award",
               "contract_sign", "signed", "contract", "version", "modification", "payment",
               "completed", "terminated", "annulled", "complaint", "cancellation")

THREADS_SQL = """
WITH link AS (
    SELECT c.contract_id, c.notice_id, k.procurement_id, c.signed_on
    FROM contracts c LEFT JOIN competition k USING (contract_id)),
procurement_docs AS (  -- documents stating facts of the contract's procurement (not its own)
    SELECT DISTINCT l.contract_id, f.document_id
    FROM link l JOIN procurement_facts f ON f.subject_id = l.procurement_id
    WHERE l.procurement_id IS NOT NULL AND l.procurement_id <> l.contract_id),
notice_steps AS (
    SELECT l.contract_id, n.published_on AS occurred_on, n.kind AS stage,
           concat_ws(': ', n.document_type, n.title)
             || CASE WHEN n.bidders IS NOT NULL THEN ' (' || n.bidders || ' applications)'
                     ELSE '' END AS detail,
           n.amount, n.currency, n.document_id
    FROM link l JOIN notices n ON n.notice_id = l.notice_id OR n.notice_id = l.procurement_id
    UNION
    SELECT p.contract_id, n.published_on, n.kind,
           concat_ws(': ', n.document_type, n.title), n.amount, n.currency, n.document_id
    FROM procurement_docs p JOIN notices n USING (document_id)),
fact_steps AS (  -- calls known only from their facts (an OCDS tender of a contract)
    SELECT p.contract_id, coalesce(f.tender_published_on, f.published_on) AS occurred_on,
           f.stage,
           concat_ws('; ', f.procedure_text,
                     'deadline ' || strftime(f.tender_deadline, '%Y-%m-%d'),
                     f.bids_received || ' bids received') AS detail,
           f.estimated_amount AS amount, f.estimated_currency AS currency, f.document_id
    FROM procurement_docs p JOIN procurement_facts f USING (document_id)
    WHERE NOT EXISTS (SELECT 1 FROM notice_steps s WHERE s.contract_id = p.contract_id
                      AND s.document_id = f.document_id)),
version_steps AS (
    SELECT v.contract_id, v.published_on AS occurred_on,
           CASE WHEN row_number() OVER (PARTITION BY v.contract_id
                                        ORDER BY v.version, v.published_on) = 1 THEN 'contract'
                WHEN m.document_id IS NOT NULL THEN 'modification' ELSE 'version' END AS stage,
           'version ' || v.version AS detail, v.amount, v.currency, v.document_id
    FROM contract_versions v
    LEFT JOIN (SELECT DISTINCT subject_id, document_id FROM procurement_facts
               WHERE stage = 'modification') m
      ON m.subject_id = v.contract_id AND m.document_id = v.document_id),
steps AS (
    SELECT * FROM notice_steps
    UNION ALL SELECT * FROM fact_steps
    UNION ALL SELECT * FROM version_steps
    UNION ALL
    SELECT contract_id, signed_on::TIMESTAMP, 'signed', 'contract signed', NULL, NULL,
           (SELECT document_id FROM contracts x WHERE x.contract_id = l.contract_id)
    FROM link l WHERE signed_on IS NOT NULL
    UNION ALL
    SELECT contract_id, paid_on::TIMESTAMP, 'payment',
           concat_ws(' ', 'payment', reference), amount, currency, document_id
    FROM payments
    UNION ALL
    SELECT contract_id, occurred_on::TIMESTAMP, event,
           concat_ws(': ', event, reason)
             || CASE WHEN reported_paid IS NOT NULL
                     THEN ' (reported paid ' || reported_paid || ')' ELSE '' END,
           NULL, NULL, document_id
    FROM contract_events
    UNION ALL
    SELECT l.contract_id, e.occurred_on::TIMESTAMP, 'complaint',
           concat_ws(': ', e.kind, e.title, e.outcome), NULL, NULL, e.document_id
    FROM link l JOIN context_events e
      ON e.procurement_id = l.notice_id OR e.procurement_id = l.procurement_id)
SELECT s.contract_id,
       row_number() OVER (PARTITION BY s.contract_id
                          ORDER BY s.occurred_on NULLS LAST, o.rank, s.document_id,
                                   s.detail)::INTEGER AS position,
       s.occurred_on, s.stage, s.detail, s.amount, s.currency, s.document_id
FROM steps s JOIN contracts USING (contract_id)
LEFT JOIN stage_rank o ON o.stage = s.stage
"""


def _stage_rank():
    import pandas as pd

    return pd.DataFrame({"stage": list(STAGE_ORDER), "rank": range(len(STAGE_ORDER))})


def build_threads(wh) -> dict:
    """Recompute every thread; write only the steps that changed. Returns counts."""
    cols = ", ".join(TABLES["threads"].column_names)
    try:
        with wh.using(stage_rank=_stage_rank()):
            wh.execute(f"CREATE OR REPLACE TEMP TABLE new_threads AS {THREADS_SQL}")
        with wh.transaction():
            wh.execute("CREATE OR REPLACE TEMP TABLE changed_threads AS"
                       f" SELECT {cols} FROM new_threads EXCEPT SELECT {cols} FROM threads")
            wh.execute("DELETE FROM threads t WHERE NOT EXISTS (SELECT 1 FROM new_threads n"
                       " WHERE n.contract_id = t.contract_id AND n.position = t.position)"
                       " OR EXISTS (SELECT 1 FROM changed_threads x WHERE x.contract_id ="
                       " t.contract_id AND x.position = t.position)")
            wh.execute(f"INSERT INTO threads ({cols}) SELECT {cols} FROM changed_threads")
        out = {"steps": wh.scalar("SELECT count(*) FROM new_threads"),
               "changed": wh.scalar("SELECT count(*) FROM changed_threads"),
               "with_procurement": wh.scalar(
                   "SELECT count(DISTINCT contract_id) FROM new_threads WHERE stage NOT IN"
                   " ('signed', 'contract', 'version')")}
    finally:
        wh.execute("DROP TABLE IF EXISTS changed_threads")
        wh.execute("DROP TABLE IF EXISTS new_threads")
    return out


def for_contract(con, contract_id: str) -> list[dict]:
    """One contract's thread, in order: position, occurred_on, stage, detail, amount,
    currency, document_id (`con`: a warehouse or snapshot connection)."""
    cur = con.execute("SELECT position, occurred_on, stage, detail, amount, currency,"
                      " document_id FROM threads WHERE contract_id = ? ORDER BY position",
                      [contract_id])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]
