"""An incremental build gives what a build of everything at once gives, row for row.

Real documents of every source (../shared/data, outside/ and the UK surveillance OCDS
publisher): every other document of each source is loaded and built, then the rest are
loaded and built again, so the second build meets later versions of contracts already built,
OCDS processes compiled again from releases of both halves, notices and protocols of
procurements whose contracts were built without them (the hand-written cases of
tests/fixtures/flags: contracts first, their notices and protocols after). competition, threads and flags then
recompute only the contracts whose inputs changed (analysis/inputs.py); a warehouse that
loads the same documents in the same order and builds once must hold the same tables.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

from survtrack import scrapers
from survtrack.analysis import facts, flags
from survtrack.analysis.build import BuildError, run_build
from survtrack.analysis.competition import build_competition
from survtrack.analysis.threads import build_threads
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse import changes
from survtrack.warehouse.store import Warehouse
from tests.conftest import ROOT, SOURCES, all_documents, table_contents, table_rows

# when a row was written and by which run: the only columns that differ between two builds
WHEN = {"fetched_at", "rejected_at", "run_id", "classified_at", "flagged_at"}


@pytest.fixture(scope="module")
def halves(shared) -> list[dict[str, list[Path]]]:
    docs = {source: all_documents(source) for source in SOURCES}
    docs["ocds"] += sorted(p for p in (shared / "surveillance" / "ocds-uk").rglob("*")
                           if p.is_file())
    halves = [{s: paths[::2] for s, paths in docs.items()},
              {s: paths[1::2] for s, paths in docs.items()}]
    # the hand-written cases of the flags' worked examples: the contracts first, the notices
    # and protocols of their purchases (bids, deadlines, rejections) after them
    for path in sorted((ROOT / "tests" / "fixtures" / "flags").glob("*_written.*")):
        source = "eis" if path.name.startswith("fz44_") else "usaspending"
        halves["_contract" not in path.name][source].append(path)
    return halves


# one buyer's three camera contracts of 2018 (tests/fixtures/flags): a vendor with two of them
# (MATES) takes 80 %; the third (GROWN) is another vendor's, the one the group tests change
MATES = ("eis:9990000000018000041", "eis:9990000000018000042")
GROWN = "eis:9990000000018000043"


def load(wh: Warehouse, paths: dict[str, list[Path]]) -> None:
    for source, files in paths.items():
        if files:
            ingest(wh, scrapers.get(source), files)


@contextmanager
def both_halves(tmp_path: Path, halves, build=run_build):
    """A warehouse (tmp_path / "w.duckdb") holding every document of both halves, built by
    `build` (None: not built)."""
    with Warehouse(tmp_path / "w.duckdb") as wh:
        load(wh, halves[0])
        load(wh, halves[1])
        if build:
            build(wh)
        yield wh


def test_incremental_build_equals_one_build(halves, tmp_path):
    with Warehouse(tmp_path / "incremental" / "w.duckdb") as wh:
        load(wh, halves[0])
        run_build(wh)
        load(wh, halves[1])
        second = run_build(wh)
        incremental = table_contents(wh, WHEN)
        again = run_build(wh, ["money", "competition", "threads", "flags"])
    with Warehouse(tmp_path / "once" / "w.duckdb") as wh:
        load(wh, halves[0])
        load(wh, halves[1])
        once = run_build(wh)
        expected = table_contents(wh, WHEN)
    total = once["competition"]["contracts"]
    # the second build recomputed the contracts the second half touched, not every one
    assert 0 < second["competition"]["changed"] < total
    assert 0 < second["flags"]["changed"] < total
    assert 0 < second["money"]["changed"] < once["money"]["contracts"]
    for table in ("competition", "threads", "flags", "build_inputs"):
        assert incremental[table] == expected[table], table
    assert incremental == expected
    # nothing new: nothing recomputed
    assert again["competition"]["changed"] == again["threads"]["changed"] == 0
    assert again["flags"]["changed"] == again["money"]["changed"] == 0


def test_full_build_recomputes_every_contract_to_the_same_rows(halves, tmp_path):
    with Warehouse(tmp_path / "w.duckdb") as wh:
        load(wh, halves[0])
        run_build(wh, memory_limit="256MB")  # a small limit spills, and changes nothing
        built = table_contents(wh, WHEN)
        full = run_build(wh, ["competition", "threads", "flags"], full=True)
        assert full["competition"]["changed"] == full["competition"]["contracts"]
        assert table_contents(wh, WHEN) == built
        assert wh.scalar("SELECT current_setting('memory_limit')") != "256.0 MiB"
        with pytest.raises(BuildError, match="memory_limit"):
            run_build(wh, ["competition"], memory_limit="lots")


def test_flags_decided_in_passes_equal_one_pass(halves, tmp_path):
    """At scale the flags are decided a slice of contracts at a time (by buyer, so a group
    flag's groups fall in one pass); any slicing gives the rows of one pass."""
    with both_halves(tmp_path, halves) as wh:
        one_pass = table_rows(wh, "flags")
        sliced = flags.compute(wh, full=True, slice_size=7)
        total = wh.scalar("SELECT count(*) FROM competition")
        assert sliced["passes"] == -(-total // 7) > 1
        assert table_rows(wh, "flags") == one_pass


def test_competition_and_threads_in_passes_equal_one_pass(halves, tmp_path):
    """At scale competition and threads are computed a slice of contracts at a time (by the
    contract's hash); any slicing gives the rows of one pass."""
    with both_halves(tmp_path, halves) as wh:
        one_pass = {t: table_rows(wh, t) for t in ("competition", "threads")}
        build_competition(wh, full=True, slice_size=7)
        build_threads(wh, full=True, slice_size=7)
        assert {t: table_rows(wh, t) for t in ("competition", "threads")} == one_pass
        assert wh.scalar("SELECT count(*) FROM competition") > 7 * 2


# What changes under built contracts other than their own documents: one change of each kind
# (as a later load would make it), each followed by an incremental build that must give what
# recomputing every contract gives.
# Each is written with its record (warehouse/changes.py), as the warehouse's writers do: the
# table written and the SQL of the keys written.
PROTOCOL = ("SELECT procurement_id FROM competition"
            " WHERE contract_id = 'eis:9990000000021000031'")
CHANGES = {
    "a group-mate's amount (buyer_concentration)":
        ("UPDATE contracts SET amount = amount * 20 WHERE contract_id = 'eis:9990000000018000043'",
         "contracts", "SELECT 'eis:9990000000018000043'"),
    "a group-mate's tags": ("DELETE FROM tags WHERE contract_id = 'eis:9990000000018000042'",
                            "tags", "SELECT 'eis:9990000000018000042'"),
    "a split pair's date (split_purchase)":
        ("UPDATE contracts SET signed_on = signed_on + 45"
         " WHERE contract_id = 'eis:9990000000018000051'",
         "contracts", "SELECT 'eis:9990000000018000051'"),
    "a procurement's protocol (bids)":
        ("UPDATE procurement_facts SET bids_admitted = bids_received WHERE subject_id ="
         f" ({PROTOCOL}) AND bids_received IS NOT NULL", "procurement_facts", PROTOCOL),
    "a removed contract": ("DELETE FROM contracts WHERE contract_id = 'eis:9990000000018000053'",
                           "contracts", "SELECT 'eis:9990000000018000053'"),
}


def write(wh: Warehouse, change: str) -> None:
    """One of CHANGES, recorded as a writer records it, in one transaction."""
    sql, table, keys = CHANGES[change]
    with wh.transaction():
        changes.record(wh, table, keys)
        wh.execute(sql)


def derived(wh: Warehouse) -> dict[str, list[tuple]]:
    """The build's tables, and the flags' rows as read (buyer_concentration's value and
    evidence composed from its group numbers)."""
    out = {t: table_rows(wh, t) for t in ("competition", "threads", "flags", "build_inputs",
                                          "flags_groups", *flags.GROUP_NUMBERS)}
    out["flags as read"] = wh.query(f"SELECT * FROM ({flags.stored_sql(wh.con)}) ORDER BY ALL")
    return out


def test_each_kind_of_change_rebuilds_as_a_full_build(halves, tmp_path):
    with both_halves(tmp_path, halves) as wh:
        total = wh.count("contracts")
        for change in CHANGES:
            before = derived(wh)
            write(wh, change)
            built = run_build(wh, ["competition", "threads", "flags"])
            after = derived(wh)
            assert after != before, change
            assert 0 < built["flags"]["changed"] < total / 2, change
            run_build(wh, ["competition", "threads", "flags"], full=True)
            assert derived(wh) == after, change


def test_a_group_mates_change_decides_only_the_group_flags_of_the_others(halves, tmp_path):
    """One contract's amount changes: it is decided again by every rule, its group mates
    (same buyer, category and year) by the group rules alone, and the result is a full
    build's."""
    with both_halves(tmp_path, halves) as wh:
        write(wh, "a group-mate's amount (buyer_concentration)")
        built = run_build(wh, ["competition", "threads", "flags"])["flags"]
        mates = wh.scalar("""
            SELECT count(DISTINCT c.contract_id) FROM contracts c JOIN tags t USING (contract_id)
            WHERE (c.buyer_id, c.year, t.category) IN (
                SELECT (c.buyer_id, c.year, t.category) FROM contracts c
                JOIN tags t USING (contract_id) WHERE contract_id = 'eis:9990000000018000043')
              AND c.contract_id <> 'eis:9990000000018000043'""")
        assert mates >= 2
        assert built["changed"] - built["group_only"] == 1  # the changed contract itself
        assert built["group_only"] >= mates
        after = derived(wh)
        run_build(wh, ["competition", "threads", "flags"], full=True)
        assert derived(wh) == after


def test_a_group_crossing_the_concentration_threshold_both_ways_equals_a_full_build(
        halves, tmp_path):
    """One buyer's three camera contracts of 2018 (tests/fixtures/flags): a vendor with two
    of them takes 80 %. The third one's amount grows twentyfold, so its vendor takes 83 %
    and the two others fall under the threshold without a write of their own; then it goes
    back. The group flags of every member are decided again from the whole group, read by
    the build for its work alone (flags/rules.py `Scope.members`), and each incremental build
    gives what a full build gives."""
    mates, grown = MATES, GROWN
    steps = ["competition", "threads", "flags"]
    with both_halves(tmp_path, halves) as wh:
        start = derived(wh)

        def raised() -> tuple[bool, ...]:
            found = dict(wh.query("SELECT contract_id, raised FROM flags"
                                  " WHERE flag = 'buyer_concentration'"))
            return tuple(found[c] for c in (*mates, grown))

        assert raised() == (True, True, False)
        amount = wh.scalar("SELECT amount FROM contracts WHERE contract_id = ?", [grown])
        for new_amount, expected in ((amount * 20, (False, False, True)),
                                     (amount, (True, True, False))):
            with wh.transaction():
                changes.record_keys(wh, "contracts", [grown])
                wh.execute("UPDATE contracts SET amount = ? WHERE contract_id = ?",
                           [new_amount, grown])
            built = run_build(wh, steps)["flags"]
            assert raised() == expected
            assert built["changed"] - built["group_only"] == 1  # the mates: group rules only
            assert built["changed"] < wh.count("contracts") / 2
            after = derived(wh)
            run_build(wh, steps, full=True)
            assert derived(wh) == after, new_amount
        assert derived(wh) == start


def test_a_group_whose_statuses_stay_leaves_its_members_rows_unrecorded(halves, tmp_path):
    """A member's amount changes a little: the group's numbers change (its share, its total),
    no member's status does. The group's numbers are rewritten; the other members' `flags`
    rows stay as they were, are not recorded as changed (so neither contract_facts nor the
    snapshot copies them), and the result is a full build's, the value and evidence read
    with the new numbers."""
    mates, grown = MATES, GROWN
    steps = ["competition", "threads", "flags"]
    with both_halves(tmp_path, halves) as wh:
        # a snapshot published: the record keeps what was written after it (changes.prune)
        facts.publish_snapshot(tmp_path / "w.duckdb", wh.con)
        rows = table_rows(wh, "flags")
        read = dict(wh.query(f"SELECT contract_id, evidence FROM ({flags.stored_sql(wh.con)})"
                             " WHERE flag = 'buyer_concentration'"))
        seq = wh.scalar("SELECT max(seq) FROM changes")
        with wh.transaction():
            changes.record_keys(wh, "contracts", [grown])
            wh.execute("UPDATE contracts SET amount = amount * 1.5 WHERE contract_id = ?",
                       [grown])
        built = run_build(wh, steps)["flags"]
        assert built["group_only"] >= 2 and built["kept"] >= 2 and built["groups_changed"] >= 1
        recorded = {k for k, in wh.query("SELECT key FROM changes WHERE seq > ?"
                                         " AND table_name = 'flags'", [seq])}
        assert grown in recorded and not recorded & set(mates)
        assert [r for r in table_rows(wh, "flags") if r[0] in mates] \
            == [r for r in rows if r[0] in mates]
        now = dict(wh.query(f"SELECT contract_id, evidence FROM ({flags.stored_sql(wh.con)})"
                            " WHERE flag = 'buyer_concentration'"))
        assert all(now[m] != read[m] for m in mates)  # the group's numbers, read anew
        assert wh.scalar("SELECT count(*) FROM changes WHERE seq > ?"
                         " AND table_name = 'concentration_groups'", [seq])
        after = derived(wh)
        run_build(wh, steps, full=True)
        assert derived(wh) == after


def test_the_composed_value_and_evidence_are_the_rules(halves, tmp_path):
    """buyer_concentration's value and evidence read from the group numbers (flags.stored_sql:
    the export, the notebook, the API) are those the rule gives over the whole table, for
    every stored row."""
    from survtrack.analysis.flags.rules import Scope, buyer_concentration

    with both_halves(tmp_path, halves) as wh:
        with wh.using(**flags.relations()):
            rule = wh.query(f"SELECT contract_id, status = 'raised', value, evidence"
                            f" FROM ({buyer_concentration(Scope())})"
                            " WHERE status IN ('raised', 'clear') ORDER BY 1")
        read = wh.query(f"SELECT contract_id, raised, value, evidence"
                        f" FROM ({flags.stored_sql(wh.con)})"
                        " WHERE flag = 'buyer_concentration' ORDER BY 1")
        assert len(read) >= 3 and read == rule
        assert wh.query("SELECT value, evidence FROM flags"
                        " WHERE flag = 'buyer_concentration' GROUP BY ALL") == [(None, None)]


def test_a_group_decided_again_in_passes_equals_a_full_build(halves, tmp_path):
    """The same change as above decided in passes (`flags.compute`'s slice_size): each pass
    gathers its own work's group mates (flags.gather_mates) instead of reading those the
    group hash gathered for every candidate, and gives what a full build gives."""
    mates, grown = MATES, GROWN
    with both_halves(tmp_path, halves) as wh:
        amount = wh.scalar("SELECT amount FROM contracts WHERE contract_id = ?", [grown])
        with wh.transaction():
            changes.record_keys(wh, "contracts", [grown])
            wh.execute("UPDATE contracts SET amount = ? WHERE contract_id = ?",
                       [amount * 20, grown])
        run_build(wh, ["competition", "threads"])
        built = flags.compute(wh, slice_size=1)
        assert built["passes"] > 1 and built["changed"] < wh.count("contracts") / 2
        assert not any(wh.scalar("SELECT raised FROM flags WHERE flag = 'buyer_concentration'"
                                 " AND contract_id = ?", [mate]) for mate in mates)
        after = derived(wh)
        run_build(wh, ["competition", "threads", "flags"], full=True)
        assert derived(wh) == after


def test_a_contract_decided_again_alone_reads_its_whole_group(halves, tmp_path):
    """A change of a contract's own inputs only (its competition row's bids: not in its
    groups' numbers) decides it again by every rule, and buyer_concentration decides none of
    its group mates (their pairs do not flip): its group rules must still read the whole
    group, not the build's work (flags/rules.py `Scope.members`), to give what a full build
    gives."""
    grown = GROWN
    with both_halves(tmp_path, halves) as wh:
        with wh.transaction():
            changes.record_keys(wh, "competition", [grown])
            wh.execute("UPDATE competition SET bids_received = coalesce(bids_received, 0) + 7"
                       " WHERE contract_id = ?", [grown])
        built = run_build(wh, ["flags"])["flags"]
        assert built["changed"] - built["group_only"] == 1
        assert built["decided_buyer_concentration"] == 1
        assert wh.scalar("SELECT raised FROM flags WHERE flag = 'buyer_concentration'"
                         " AND contract_id = ?", [grown]) is False
        after = derived(wh)
        run_build(wh, ["flags"], full=True)
        assert derived(wh) == after


def test_a_removed_contract_goes_from_every_step_by_its_recorded_hashes(halves, tmp_path):
    """A removed contract is found by the join that compares the hashes (its hash recorded,
    none now), not by scanning each step's table: its rows and hashes go, a full build agrees;
    a step without recorded hashes (a warehouse built before them) still drops the rows."""
    steps = ["money", "competition", "threads", "flags"]
    gone = "eis:9990000000018000053"
    with both_halves(tmp_path, halves) as wh:
        assert wh.scalar("SELECT count(*) FROM flags WHERE contract_id = ?", [gone])
        write(wh, "a removed contract")
        built = run_build(wh, steps)
        assert built["competition"]["removed"] == 1 and built["flags"]["removed"] >= 1
        assert built["competition"]["changed"] == built["threads"]["changed"] == 0
        for table in ("competition", "threads", "flags", "build_inputs"):
            assert not wh.scalar(f"SELECT count(*) FROM {table} WHERE contract_id = ?",
                                 [gone]), table
        after = derived(wh)
        run_build(wh, steps, full=True)
        assert derived(wh) == after
        # no hashes recorded for competition: its rows of a removed contract still go
        other = wh.scalar("SELECT min(contract_id) FROM competition")
        wh.execute("DELETE FROM build_inputs WHERE step = 'competition'")
        wh.execute("DELETE FROM change_cursors WHERE consumer = 'competition'")
        wh.execute("DELETE FROM contracts WHERE contract_id = ?", [other])
        rebuilt = run_build(wh, ["competition"])["competition"]
        assert rebuilt["removed"] == 1
        assert rebuilt["changed"] == rebuilt["contracts"] == wh.count("contracts")


def test_a_pair_mate_signed_far_away_is_not_decided_again(halves, tmp_path):
    """split_purchase compares a contract with its buyer and vendor's contracts signed within
    its window (30 days): a change to one decides again the pair's contracts signed in its
    span of 30 days or beside it (flips.split_to_decide), not those signed a year away, and
    the result is a full build's."""
    copy = """INSERT INTO contracts BY NAME
              SELECT * REPLACE (contract_id || $suffix AS contract_id,
                                native_id || $suffix AS native_id,
                                signed_on + $days::INTEGER AS signed_on)
              FROM contracts WHERE contract_id = $id"""
    with both_halves(tmp_path, halves, build=None) as wh:
        first = wh.scalar("SELECT min(contract_id) FROM contracts WHERE buyer_id IS NOT NULL"
                          " AND vendor_id IS NOT NULL AND signed_on IS NOT NULL")
        for suffix, days in (("-near", 10), ("-far", 400), ("-changed", 20)):
            wh.execute(copy, {"suffix": suffix, "days": days, "id": first})
            changes.record_keys(wh, "contracts", [first + suffix])
        run_build(wh)
        span = "floor(date_diff('day', DATE '1970-01-01', signed_on) / 30)"
        spans = dict(wh.query(f"SELECT contract_id, {span} FROM contracts WHERE"
                              " (buyer_id, vendor_id) = (SELECT (buyer_id, vendor_id)"
                              " FROM contracts WHERE contract_id = ?)", [first]))
        beside = {c for c, b in spans.items() if abs(b - spans[first + "-changed"]) <= 1}
        assert {first, first + "-near"} <= beside and first + "-far" not in beside
        wh.execute("UPDATE contracts SET amount = amount * 3 WHERE contract_id = ?",
                   [first + "-changed"])
        changes.record_keys(wh, "contracts", [first + "-changed"])
        built = run_build(wh, ["competition", "threads", "flags"])["flags"]
        assert built["changed"] - built["group_only"] == 1
        assert built["decided_split_purchase"] == len(beside)
        after = derived(wh)
        run_build(wh, ["competition", "threads", "flags"], full=True)
        assert derived(wh) == after


def test_a_contract_in_two_categories_sees_a_contract_joining_both(halves, tmp_path):
    """A contract in two categories whose groups (buyer, category, year) hold the same
    contracts: a contract joining both groups changes its buyer_concentration (when a group
    hash found the contracts to decide, the hashes of the two groups were equal; folded with
    bit_xor they once cancelled out, and the contract was not decided again)."""
    contract = """INSERT INTO contracts BY NAME
                  SELECT * REPLACE (contract_id || $suffix AS contract_id,
                                    native_id || $suffix AS native_id,
                                    'test:buyer' AS buyer_id, $vendor AS vendor_id)
                  FROM contracts WHERE contract_id = $id"""
    tag = """INSERT INTO tags (contract_id, category, rule)
             SELECT $id || $suffix, category, 'test:' || category
             FROM (VALUES ('video_surveillance'), ('facial_recognition')) v(category)"""
    with both_halves(tmp_path, halves, build=None) as wh:
        first = wh.scalar("SELECT min(contract_id) FROM contracts WHERE vendor_id IS NOT NULL"
                          " AND year IS NOT NULL AND amount IS NOT NULL")
        vendor = wh.scalar("SELECT vendor_id FROM contracts WHERE contract_id = ?", [first])
        for suffix, who in (("-a", vendor), ("-b", vendor), ("-c", "test:vendor")):
            wh.execute(contract, {"suffix": suffix, "vendor": who, "id": first})
            wh.execute(tag, {"suffix": suffix, "id": first})
            for table in ("contracts", "tags"):
                changes.record_keys(wh, table, [first + suffix])
            if suffix == "-b":
                run_build(wh)
        run_build(wh)
        assert wh.scalar("SELECT raised FROM flags WHERE flag = 'buyer_concentration'"
                         " AND contract_id = ?", [first + "-a"]) is True
        after = derived(wh)
        run_build(wh, ["competition", "threads", "flags"], full=True)
        assert derived(wh) == after


def key_rows(wh: Warehouse) -> dict[str, set[tuple]]:
    """Each recorded table's rows (their hashes), with the key the record holds for them."""
    return {t: {row for row in wh.query(f"SELECT {key}, hash(r) FROM {t} r")}
            for t, key in changes.KEYS.items() if t != "competition"}


@pytest.mark.parametrize("how", [{"workers": 1}, {"workers": 2, "staged": True}],
                         ids=["in process", "staged partitions"])
def test_every_write_of_an_ingest_is_recorded(halves, tmp_path, how):
    """The second half's ingest (later versions, retractions, notices and facts of built
    contracts, OCDS processes compiled again) records the key of every row it adds, changes
    or deletes in a recorded table: fails if a writer stops recording. The build had
    consumed and pruned the record before."""
    with Warehouse(tmp_path / "w.duckdb") as wh:
        for source, files in halves[0].items():
            if files:
                ingest(wh, scrapers.get(source), files, **how)
        run_build(wh)
        # every consumer read it: pruned (but the rows the build wrote itself, until the steps
        # before them have run again: competition's until money, money's dollars in
        # `contracts` until classify)
        assert not wh.scalar("SELECT count(*) FROM changes"
                             " WHERE table_name NOT IN ('competition', 'contracts')")
        run_build(wh, ["classify"])
        assert not wh.scalar("SELECT count(*) FROM changes WHERE table_name = 'contracts'")
        before = key_rows(wh)
        for source, files in halves[1].items():
            if files:
                ingest(wh, scrapers.get(source), files, **how)
        after = key_rows(wh)
        recorded = set(wh.query("SELECT table_name, key FROM changes"))
        for table in before:
            written = {row[0] for row in before[table] ^ after[table]} - {None}
            assert written or table not in ("contracts", "contract_versions", "notices",
                                            "procurement_facts", "items"), table
            missed = {k for k in written if (table, k) not in recorded}
            assert not missed, (table, sorted(missed)[:5])


def test_a_build_after_a_killed_run_equals_a_full_build(halves, tmp_path, monkeypatch):
    """Documents loaded and the process gone before the build; the next build killed in the
    middle (threads fails after competition committed): the build after it, narrowed by the
    record, gives what a full build gives."""
    from survtrack.analysis import inputs

    path = tmp_path / "w.duckdb"
    with Warehouse(path) as wh:
        load(wh, halves[0])
        run_build(wh)
        load(wh, halves[1])  # then killed: no build
    replace = inputs.replace

    def killed(wh, step, *args, **kwargs):
        if step == "threads":
            raise KeyboardInterrupt
        return replace(wh, step, *args, **kwargs)

    with Warehouse(path) as wh:
        monkeypatch.setattr(inputs, "replace", killed)
        with pytest.raises(KeyboardInterrupt):
            run_build(wh)
        monkeypatch.setattr(inputs, "replace", replace)
    with Warehouse(path) as wh:
        built = run_build(wh)
        assert 0 < built["threads"]["changed"] < wh.count("contracts")
        after = derived(wh)
        run_build(wh, ["money", "competition", "threads", "flags"], full=True)
        assert derived(wh) == after


def test_the_record_narrows_what_is_hashed(halves, tmp_path):
    """A step hashes only the contracts recorded since it ran: a write that bypasses the
    record is not seen by an incremental build (the reason every writer records), and is by
    `--full`, or once the step's code version changes."""
    with Warehouse(tmp_path / "w.duckdb") as wh:
        load(wh, halves[0])
        run_build(wh)
        some = wh.scalar("SELECT min(contract_id) FROM competition")
        wh.execute("UPDATE contracts SET signed_on = signed_on + 400 WHERE contract_id = ?",
                   [some])
        assert run_build(wh, ["competition"])["competition"]["changed"] == 0
        wh.execute("UPDATE change_cursors SET code = 'older' WHERE consumer = 'competition'")
        assert run_build(wh, ["competition"])["competition"]["changed"] == 1
        changes.record_keys(wh, "contracts", [some])
        wh.execute("UPDATE contracts SET signed_on = signed_on + 1 WHERE contract_id = ?",
                   [some])
        assert run_build(wh, ["competition"])["competition"]["changed"] == 1
        wh.execute("UPDATE contracts SET signed_on = signed_on + 1 WHERE contract_id = ?",
                   [some])
        assert run_build(wh, ["competition"], full=True)["competition"]["changed"] \
            == wh.count("contracts")


def test_a_narrowed_hash_is_the_whole_hash_of_those_contracts(halves, tmp_path):
    """Each step's inputs hashed for a few contracts (`inputs_sql(only)`, reading rows by
    rowid) equal the same contracts' hashes among every contract's: a narrowed build
    compares like with like."""
    from survtrack.analysis import competition, money, threads

    sqls = {"money": money.inputs_sql, "competition": competition.inputs_sql,
            "threads": threads.inputs_sql, "flags": flags.own_inputs_sql}
    with both_halves(tmp_path, halves) as wh:
        wh.execute("CREATE TEMP TABLE picked AS SELECT contract_id FROM contracts"
                   " WHERE hash(contract_id) % 3 = 0")

        def competition_gathered(only):  # the build's hash: the candidates' rows gathered first
            if only is None:
                return competition.inputs_sql(None)
            competition.gather(wh, only)
            return competition.inputs_sql(None, competition.GATHERED)

        sqls["competition (rows gathered)"] = competition_gathered

        def threads_gathered(only):
            if only is None:
                return threads.inputs_sql(None)
            threads.gather(wh, only)
            return threads.inputs_sql(None, threads.GATHERED)

        sqls["threads (rows gathered)"] = threads_gathered
        for step, sql in sqls.items():
            whole = wh.query(f"SELECT * FROM ({sql(None)}) WHERE contract_id IN"
                             " (SELECT contract_id FROM picked) ORDER BY 1", {"code": "x"})
            narrowed = wh.query(f"SELECT * FROM ({sql('picked')}) ORDER BY 1", {"code": "x"})
            assert len(whole) > 10 and narrowed == whole, step


class Logged:
    """A DuckDB connection noting every statement it runs."""

    def __init__(self, con, log: list[str]):
        self._con, self._log = con, log

    def execute(self, sql, params=None):
        self._log.append(" ".join(sql.split()))
        return self._con.execute(sql, params or [])

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_a_work_of_new_contracts_deletes_nothing_and_equals_a_full_build(halves, tmp_path):
    """Every row a step writes has its contract's hash recorded with it, so contracts without
    a recorded hash have no rows: a build whose work is new contracts alone runs none of
    `replace`'s deletes (each a scan of a table's key), and one changing a contract already
    built deletes its rows; each equals a full build."""
    with Warehouse(tmp_path / "w.duckdb") as wh:
        load(wh, halves[0])
        run_build(wh)
        wh.execute("INSERT INTO contracts BY NAME SELECT * REPLACE (contract_id || '/copy'"
                   " AS contract_id) FROM contracts WHERE contract_id IN"
                   " (SELECT contract_id FROM competition ORDER BY contract_id LIMIT 5)")
        changes.record(wh, "contracts", "SELECT contract_id FROM contracts"
                       " WHERE contract_id LIKE '%/copy'")
        steps = ["competition", "threads"]
        for change in ("new contracts", "a contract built before"):
            log: list[str] = []
            real, wh.con = wh.con, Logged(wh.con, log)
            try:
                out = run_build(wh, steps)
            finally:
                wh.con = real
            deletes = [sql for sql in log if sql.startswith(("DELETE FROM competition",
                                                              "DELETE FROM threads",
                                                              "DELETE FROM build_inputs"))]
            expected = 5 if change == "new contracts" else 1
            assert out["competition"]["changed"] == out["threads"]["changed"] == expected
            assert (deletes == []) == (change == "new contracts"), change
            built = table_contents(wh, WHEN)
            run_build(wh, steps, full=True)
            assert table_contents(wh, WHEN) == built, change
            some = wh.scalar("SELECT min(contract_id) FROM competition"
                             " WHERE contract_id NOT LIKE '%/copy'")
            wh.execute("UPDATE contracts SET signed_on = signed_on + 1 WHERE contract_id = ?",
                       [some])
            changes.record_keys(wh, "contracts", [some])


def test_classifying_new_contracts_deletes_no_state_and_equals_a_full_build(halves, tmp_path):
    """`classified` holds a state per contract classified: a work of contracts never
    classified (new ones) runs no delete of states (a scan of its key), one holding a
    contract classified before (another document) does; each equals a full classify."""
    with Warehouse(tmp_path / "w.duckdb") as wh:
        load(wh, halves[0])
        run_build(wh, ["classify"])
        wh.execute("INSERT INTO contracts BY NAME SELECT * REPLACE (contract_id || '/copy'"
                   " AS contract_id) FROM contracts WHERE contract_id IN"
                   " (SELECT DISTINCT contract_id FROM tags ORDER BY contract_id LIMIT 5)")
        changes.record(wh, "contracts", "SELECT contract_id FROM contracts"
                       " WHERE contract_id LIKE '%/copy'")
        for change in ("new contracts", "a contract classified before"):
            log: list[str] = []
            real, wh.con = wh.con, Logged(wh.con, log)
            try:
                out = run_build(wh, ["classify"])["classify"]
            finally:
                wh.con = real
            deletes = [sql for sql in log if sql.startswith("DELETE FROM classified")]
            assert out["checked"] == (5 if change == "new contracts" else 1)
            assert (deletes == []) == (change == "new contracts"), change
            built = table_contents(wh, WHEN)
            run_build(wh, ["classify"], full=True)
            assert table_contents(wh, WHEN) == built, change
            some = wh.scalar("SELECT min(contract_id) FROM tags"
                             " WHERE contract_id NOT LIKE '%/copy'")
            wh.execute("UPDATE contracts SET document_id = (SELECT max(document_id)"
                       " FROM documents) WHERE contract_id = ?", [some])
            changes.record_keys(wh, "contracts", [some])


def logged_build(wh: Warehouse, steps: list[str]) -> tuple[dict, list[str]]:
    log: list[str] = []
    real, wh.con = wh.con, Logged(wh.con, log)
    try:
        return run_build(wh, steps), log
    finally:
        wh.con = real


def test_threads_reads_the_rows_competition_kept_and_equals_a_full_build(halves, tmp_path):
    """competition keeps its candidates' rows of `contracts`, `contract_versions` and
    `procurement_facts`, and the rows it wrote (analysis/kept.py): threads, run next, finds
    its candidates among competition's and reads those rows from there, not from the tables. A write recorded in
    between (or a step run alone) makes threads read the tables. Each equals a full build."""
    shared = ("contracts", "contract_versions", "procurement_facts")
    with Warehouse(tmp_path / "w.duckdb") as wh:
        load(wh, halves[0])
        run_build(wh)
        for case in ("after competition", "a write in between"):
            copies = f"/{case.split()[0]}"
            picked = ("SELECT contract_id FROM competition WHERE procurement_id IS NOT NULL"
                      " AND contract_id NOT LIKE '%/%' ORDER BY contract_id LIMIT 5")
            for table in ("contracts", "contract_versions"):
                wh.execute(f"INSERT INTO {table} BY NAME SELECT * REPLACE (contract_id || ?"
                           f" AS contract_id) FROM {table} WHERE contract_id IN ({picked})",
                           [copies])
            wh.execute("INSERT INTO procurement_facts BY NAME SELECT * REPLACE"
                       " (subject_id || ? AS subject_id) FROM procurement_facts"
                       f" WHERE subject_id IN ({picked})", [copies])
            for table in shared:
                key = "subject_id" if table == "procurement_facts" else "contract_id"
                changes.record(wh, table, f"SELECT {key} FROM {table}"
                                          f" WHERE {key} LIKE '%{copies}'")
            competition, _ = logged_build(wh, ["competition"])
            if case == "a write in between":
                some = wh.scalar(f"SELECT min(contract_id) FROM contracts"
                                 f" WHERE contract_id LIKE '%{copies}'")
                wh.execute("UPDATE contracts SET signed_on = signed_on + 1"
                           " WHERE contract_id = ?", [some])
                changes.record_keys(wh, "contracts", [some])
            threads, log = logged_build(wh, ["threads"])
            assert competition["competition"]["changed"] == threads["threads"]["changed"] == 5
            # the rows gathered and the candidates found by procurement
            read = " ".join(sql for sql in log if sql.startswith((
                "CREATE OR REPLACE TEMP TABLE threads_contracts",
                "CREATE OR REPLACE TEMP TABLE threads_competition",
                "CREATE OR REPLACE TEMP TABLE threads_versions",
                "CREATE OR REPLACE TEMP TABLE threads_facts",
                "CREATE OR REPLACE TEMP TABLE threads_by_procurement")))
            reads_tables = any(f"FROM {t} WHERE" in read for t in shared)
            assert reads_tables == (case == "a write in between"), case
            for table in ("kept_contracts", "kept_versions", "kept_facts", "kept_ids",
                          "kept_competition"):
                assert (f"FROM {table}" in read) == (case == "after competition"), (case, table)
            if case == "a write in between":  # competition's rows before it: built again
                run_build(wh, ["competition", "threads"])
            built = table_contents(wh, WHEN)
            run_build(wh, ["competition", "threads"], full=True)
            assert table_contents(wh, WHEN) == built, case
            assert not wh.scalar("SELECT count(*) FROM duckdb_tables() WHERE temporary"
                                 " AND table_name LIKE 'kept_%'")


def test_a_procurements_facts_rebuild_the_contracts_whose_last_build_names_it(halves, tmp_path):
    """A procurement's facts written: the contracts that read them are those whose
    `competition` row names it, found by that row, not by a scan of `procurement_facts` by
    procurement, also the one whose own facts chose it rather than its notice; rebuilt, they
    equal a full build (their recorded hashes too). The facts of the contracts and of their
    notices are gathered by one scan, those of a procurement only their own facts name by a
    second."""
    with both_halves(tmp_path, halves) as wh:
        proc, mate = wh.query("""
            SELECT c.notice_id, min(c.contract_id) FROM contracts c
            WHERE c.notice_id IN (SELECT subject_id FROM procurement_facts)
            GROUP BY 1 ORDER BY 1 LIMIT 1""")[0]
        other = wh.scalar("SELECT min(contract_id) FROM contracts"
                          " WHERE notice_id IS DISTINCT FROM ?", [proc])
        # the other contract's own latest fact names the procurement: its facts choose it
        wh.execute("""INSERT INTO procurement_facts BY NAME
                      SELECT * REPLACE (? AS subject_id, ? AS procurement_id,
                                        TIMESTAMP '2100-01-01' AS published_on)
                      FROM procurement_facts WHERE subject_id = ? LIMIT 1""",
                   [other, proc, proc])
        changes.record_keys(wh, "procurement_facts", [other])
        _, log = logged_build(wh, ["competition"])
        # its facts read by a scan, then those of the procurement its own facts name by another
        assert sum("FROM procurement_facts WHERE subject_id" in sql for sql in log) == 2
        assert wh.scalar("SELECT procurement_id FROM competition WHERE contract_id = ?",
                         [other]) == proc
        readers = wh.scalar("SELECT count(*) FROM competition WHERE procurement_id = ?",
                            [proc])
        assert readers >= 2, (mate, other)
        wh.execute("UPDATE procurement_facts SET bids_received = coalesce(bids_received, 0) + 7"
                   " WHERE subject_id = ?", [proc])
        changes.record_keys(wh, "procurement_facts", [proc])
        built, log = logged_build(wh, ["competition"])
        assert not any("FROM procurement_facts WHERE procurement_id" in sql for sql in log)
        # the procurement's contracts, their notices and the procurement: one scan of the facts
        assert sum("FROM procurement_facts WHERE subject_id" in sql for sql in log) == 1
        assert built["competition"]["changed"] == readers
        after = table_contents(wh, WHEN)
        run_build(wh, ["competition"], full=True)
        assert table_contents(wh, WHEN) == after
