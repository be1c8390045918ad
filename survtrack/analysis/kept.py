"""The rows competition gathered, kept for threads: one scan of each shared table per build.

competition and threads both gather their candidates' rows of `contracts`,
`contract_versions` and `procurement_facts` (analysis/inputs.py `Gathering`), each gather a
scan of a key column of the whole table (they carry no index). After a build's new or
changed contracts, threads' candidates are competition's (the same writes, and the rows
competition rewrote), so competition keeps what it gathered and threads reads its rows from
there instead of scanning the tables again (`current`, `holds`): only when every one of its
candidates and every subject it names is among competition's, and nothing has been recorded
as written since competition gathered (warehouse/changes.py; every writer records, as the
narrowed build itself relies on), else it scans as before. The kept tables live on the
connection (a `run_build` per step keeps them from competition's to threads') and go when
threads has read them or competition gathers again.
"""

from __future__ import annotations

# the kept tables, by the markers of the steps' SQL (analysis/inputs.py `fill`)
TABLES = {"contracts": "kept_contracts", "versions": "kept_versions", "facts": "kept_facts"}
# competition's new rows (those of its work: every row of those contracts, once written)
COMPETITION = "kept_competition"
# what else is kept: the candidates, the work, the subjects whose facts were gathered whole, the
# procurements whose facts were recorded as written, and the record's highest seq when they
# were gathered
IDS, WORK, SUBJECTS, PROCUREMENTS, AT = ("kept_ids", "kept_work", "kept_subjects",
                                         "kept_procurements", "kept_at")
# a table written after the gather that the kept rows do not hold: competition's own rows
UNREAD = ("competition",)


def keep(wh, gathered: dict[str, str], candidates: str, subjects: str, procurements: str,
         new_rows: str, work: str, at: int) -> None:
    """Keep competition's gathered tables (`gathered`, by TABLES' markers), its candidates
    (the temporary table `candidates`), the subjects whose facts it gathered whole
    (`subjects`), the keys of procurement facts its candidates came from (`procurements`,
    column `key`), as gathered when the record's highest seq was `at`, and the rows it wrote
    (`new_rows`) of its work (`work`). The tables are renamed, not copied."""
    drop(wh)
    for marker, name in TABLES.items():
        wh.rename_temporary(gathered[marker], name)
    wh.rename_temporary(new_rows, COMPETITION)
    wh.execute(f"CREATE TEMP TABLE {WORK} AS SELECT contract_id FROM {work}")
    wh.rename_temporary(subjects, SUBJECTS)
    wh.rename_temporary(procurements, PROCUREMENTS)
    wh.execute(f"CREATE TEMP TABLE {IDS} AS SELECT contract_id FROM {candidates}")
    wh.execute(f"CREATE TEMP TABLE {AT} AS SELECT ?::BIGINT AS seq", [at])


def current(wh) -> bool:
    """Whether rows are kept and no write to a table they read has been recorded since."""
    if not wh.scalar(f"SELECT count(*) FROM duckdb_tables() WHERE temporary"
                     f" AND table_name = '{AT}'"):
        return False
    unread = ", ".join(f"'{t}'" for t in UNREAD)
    return not wh.scalar(f"SELECT count(*) FROM changes WHERE seq > (SELECT seq FROM {AT})"
                         f" AND table_name NOT IN ({unread})")


def holds(wh, only: str, kept: str) -> bool:
    """Whether the kept table `kept` (IDS: the candidates whose rows were gathered; WORK: the
    contracts whose `competition` rows competition wrote) names every contract of the
    temporary table `only`. Whether the kept rows are still `current` is the caller's to ask,
    once."""
    return not wh.scalar(
        f"SELECT count(*) FROM {only} WHERE contract_id NOT IN (SELECT contract_id FROM {kept})")


def contracts_of(wh, procurements: str) -> str | None:
    """SQL of a superset of the contracts whose notice or whose `competition` row's
    procurement is one of `procurements` (SQL of keys), when the kept candidates are one:
    the kept rows are current and competition found its candidates from every one of those
    procurements (its candidates hold the contracts of their notices and its rows of them
    before it wrote, and it rewrote only candidates). None: they are not."""
    if not current(wh) or wh.scalar(f"SELECT count(*) FROM ({procurements}) p(key)"
                                    f" WHERE key NOT IN (SELECT key FROM {PROCUREMENTS})"):
        return None
    return f"SELECT contract_id FROM {IDS}"


def holds_facts_of(wh, subjects: str) -> bool:
    """Whether every subject of the temporary table `subjects` (column `key`) had its facts
    gathered whole."""
    return not wh.scalar(f"SELECT count(*) FROM {subjects}"
                         f" WHERE key NOT IN (SELECT subject_id FROM {SUBJECTS})")


def drop(wh) -> None:
    for name in (*TABLES.values(), COMPETITION, IDS, WORK, SUBJECTS, PROCUREMENTS, AT):
        wh.execute(f"DROP TABLE IF EXISTS {name}")
