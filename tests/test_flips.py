"""An incremental build decides each group rule only for the members whose rows can change
(analysis/flags/flips.py), and gives what a full build gives.

The fixture group (tests/fixtures/flags): one buyer's three camera contracts of 2018, a
vendor with two of them (MATES) taking 80 %, another vendor's third (GROWN). Contracts are
added to it (copies of GROWN under new ids) and changed, each write recorded as the writers
record it, and every incremental build is compared with `--full`.
"""

from __future__ import annotations

from survtrack.analysis import facts, flags
from survtrack.analysis.build import run_build
from survtrack.analysis.flags import flips
from survtrack.warehouse import changes
from survtrack.warehouse.store import Warehouse
from tests.test_incremental_build import (
    GROWN,
    MATES,
    both_halves,
    derived,
    halves,  # noqa: F401 (a fixture)
)

STEPS = ["competition", "threads", "flags"]
COPY = """INSERT INTO contracts BY NAME
          SELECT * REPLACE ($id AS contract_id, $id AS native_id,
                            coalesce($vendor, vendor_id) AS vendor_id,
                            coalesce($amount::DECIMAL(24, 2), amount) AS amount)
          FROM contracts WHERE contract_id = $like"""


def add(wh: Warehouse, contract_id: str, vendor: str | None = None,
        amount: float | None = None, categories: tuple[str, ...] = ("video_surveillance",),
        like: str = GROWN) -> None:
    """A copy of `like` under a new id (another vendor, amount, categories if given)."""
    with wh.transaction():
        wh.execute(COPY, {"id": contract_id, "vendor": vendor, "amount": amount, "like": like})
        for category in categories:
            wh.execute("INSERT INTO tags (contract_id, category, rule) VALUES (?, ?, 'test')",
                       [contract_id, category])
        for table in ("contracts", "tags"):
            changes.record_keys(wh, table, [contract_id])


def remove(wh: Warehouse, contract_id: str) -> None:
    with wh.transaction():
        changes.record_keys(wh, "contracts", [contract_id])
        wh.execute("DELETE FROM contracts WHERE contract_id = ?", [contract_id])


def concentration(wh: Warehouse) -> dict[str, bool]:
    return dict(wh.query("SELECT contract_id, raised FROM flags"
                         " WHERE flag = 'buyer_concentration'"))


def recorded(wh: Warehouse, seq: int) -> set[str]:
    return {k for k, in wh.query("SELECT key FROM changes WHERE seq > ?"
                                 " AND table_name = 'flags'", [seq])}


def first_build(wh: Warehouse, path) -> None:
    """A first build, and a snapshot published: the record keeps what is written after it
    (changes.prune), which the tests read."""
    run_build(wh)
    facts.publish_snapshot(path, wh.con)


def build_as_full(wh: Warehouse) -> dict:
    """An incremental build, checked against a full build of the same warehouse."""
    seq = wh.scalar("SELECT max(seq) FROM changes")
    built = run_build(wh, STEPS)["flags"]
    built["recorded"] = recorded(wh, seq)
    after = derived(wh)
    run_build(wh, STEPS, full=True)
    assert derived(wh) == after
    return built


def rows_of(wh: Warehouse, contract_id: str) -> list[tuple]:
    return wh.query("SELECT * FROM flags WHERE contract_id = ? ORDER BY ALL", [contract_id])


def test_only_the_members_of_a_flipping_vendor_are_decided(halves, tmp_path):  # noqa: F811
    """A third vendor joins the group with 3.5 M of its 8.5 M: the vendor of MATES falls from
    80 % to 47 % (raised -> clear), GROWN's vendor stays clear (20 % -> 12 %). Only the new
    contract and MATES are decided by buyer_concentration; GROWN is decided by neither group
    rule (its split pair has no new contract), its rows untouched and unrecorded. The new
    contract removed, MATES rise above the threshold again, GROWN still undecided."""
    with both_halves(tmp_path, halves, build=None) as wh:
        first_build(wh, tmp_path / "w.duckdb")
        assert [concentration(wh)[c] for c in (*MATES, GROWN)] == [True, True, False]
        grown = rows_of(wh, GROWN)
        add(wh, "test:third", vendor="test:vendor", amount=3_500_000)
        built = build_as_full(wh)
        assert built["group_only"] >= 3  # GROWN and MATES: members of the new one's group
        assert (built["decided_buyer_concentration"], built["decided_split_purchase"]) == (3, 1)
        assert [concentration(wh)[c] for c in (*MATES, GROWN)] == [False, False, False]
        assert set(MATES) <= built["recorded"] and GROWN not in built["recorded"]
        assert rows_of(wh, GROWN) == grown
        remove(wh, "test:third")
        built = build_as_full(wh)
        assert (built["decided_buyer_concentration"], built["decided_split_purchase"]) == (2, 0)
        assert [concentration(wh)[c] for c in (*MATES, GROWN)] == [True, True, False]
        assert GROWN not in built["recorded"] and rows_of(wh, GROWN) == grown


def test_a_group_reaching_the_minimum_count_decides_its_members(halves, tmp_path):  # noqa: F811
    """GROWN removed, the group holds two contracts, too few to tell: MATES lose their rows;
    a contract of GROWN's vendor joining makes three again, and MATES are raised again."""
    with both_halves(tmp_path, halves, build=None) as wh:
        first_build(wh, tmp_path / "w.duckdb")
        vendor = wh.scalar("SELECT vendor_id FROM contracts WHERE contract_id = ?", [GROWN])
        remove(wh, GROWN)
        built = build_as_full(wh)
        assert built["decided_buyer_concentration"] == 2
        assert not set(MATES) & set(concentration(wh))
        assert set(MATES) <= built["recorded"]
        add(wh, "test:again", vendor=vendor, amount=1_000_000, like=MATES[0])
        built = build_as_full(wh)
        assert built["decided_buyer_concentration"] == 3
        assert [concentration(wh)[c] for c in (*MATES, "test:again")] == [True, True, False]


def _first_mate_in_a_second_category(wh, tmp_path) -> None:
    """MATES' first contract tagged facial_recognition too, beside two contracts of another
    vendor in that category; then a first build."""
    with wh.transaction():
        wh.execute("INSERT INTO tags (contract_id, category, rule)"
                   " VALUES (?, 'facial_recognition', 'test')", [MATES[0]])
        changes.record_keys(wh, "tags", [MATES[0]])
    for n in (1, 2):
        add(wh, f"test:face{n}", vendor="test:face", amount=100_000,
            categories=("facial_recognition",))
    first_build(wh, tmp_path / "w.duckdb")


def test_a_contract_in_two_categories_is_decided_for_a_flip_in_one(halves, tmp_path):  # noqa: F811
    """MATES' first contract is also in a second category, where its vendor takes most of
    the buyer's spending. A third vendor joining the camera group makes MATES' vendor clear
    there: the second contract goes clear, the first stays raised by its other category
    (decided, its rows the same: not recorded), and the result is a full build's. Only the
    camera group is summed again: the first's other group, which no written contract is
    in, gives its stored numbers."""
    first, second = MATES
    with both_halves(tmp_path, halves, build=None) as wh:
        _first_mate_in_a_second_category(wh, tmp_path)
        assert wh.scalar("SELECT count(*) FROM concentration_vendors WHERE vendor_id = ?",
                         [wh.scalar("SELECT vendor_id FROM contracts WHERE contract_id = ?",
                                    [first])]) == 2
        kept = rows_of(wh, first)
        add(wh, "test:third", vendor="test:vendor", amount=3_500_000)
        built = build_as_full(wh)
        assert built["decided_buyer_concentration"] == 3  # the new one and MATES
        assert built["groups_summed"] == 1
        assert concentration(wh)[first] is True and concentration(wh)[second] is False
        assert second in built["recorded"] and first not in built["recorded"]
        assert rows_of(wh, first) == kept


def test_the_statuses_from_the_group_numbers_are_the_rules(halves, tmp_path):  # noqa: F811
    """flips.STATUS (a pair's status from the stored numbers) decides every member as the
    rule does: per contract, raised where one of its pairs is raised, clear where all are
    clear, equal to the build's rows (with a third vendor, a second category and a group of
    two beside the fixture's groups)."""
    with both_halves(tmp_path, halves, build=None) as wh:
        add(wh, "test:third", vendor="test:vendor", amount=1_500_000)
        add(wh, "test:face", vendor="test:face", categories=("facial_recognition",))
        add(wh, "test:both", categories=("video_surveillance", "facial_recognition"))
        run_build(wh)
        status = flips.fill(flips.STATUS, "p")
        with wh.using(**flags.relations()):
            derived_rows = wh.query(f"""
                WITH p AS (SELECT v.*, g.n, g.valued_n, g.total, g.unvendored, TRUE AS here
                           FROM concentration_vendors v
                           JOIN concentration_groups g USING (buyer_id, category, year)),
                member AS (
                    SELECT c.contract_id, {status} AS status
                    FROM contracts c JOIN (SELECT DISTINCT contract_id, category FROM tags) t
                      USING (contract_id)
                    JOIN p ON p.buyer_id = c.buyer_id AND p.category = t.category
                          AND p.year = c.year AND p.vendor_id = c.vendor_id)
                SELECT contract_id, bool_or(status = 'raised') FROM member GROUP BY 1
                HAVING bool_or(status = 'raised') OR bool_and(status = 'clear')
                ORDER BY 1""")
        assert len(derived_rows) >= 6
        assert derived_rows == wh.query("SELECT contract_id, raised FROM flags"
                                        " WHERE flag = 'buyer_concentration' ORDER BY 1")


def test_a_share_at_the_threshold_is_decided_by_the_rule(halves, tmp_path):  # noqa: F811
    """A third vendor joins with 3 M: MATES' vendor holds exactly half of the 8 M, the
    threshold itself, where the stored sums and the rule's may differ in their last bits:
    those members are decided by the rule (not from the numbers), as a full build decides
    them."""
    with both_halves(tmp_path, halves, build=None) as wh:
        first_build(wh, tmp_path / "w.duckdb")
        add(wh, "test:half", vendor="test:vendor", amount=3_000_000)
        built = build_as_full(wh)
        assert built["decided_by_the_rule_near_the_threshold"] >= 2  # MATES
        assert not any(concentration(wh).get(c) for c in MATES)


def test_a_share_at_the_threshold_reads_its_other_groups_whole(halves, tmp_path):  # noqa: F811
    """As above, MATES' first contract also in a second category, whose group no written
    contract is in (so its members are not among the narrowed build's mates): the rule that
    decides the members at the threshold reads their buyers' whole years, and the first
    stays raised by its other category, as a full build decides it."""
    first, second = MATES
    with both_halves(tmp_path, halves, build=None) as wh:
        _first_mate_in_a_second_category(wh, tmp_path)
        # the copies of GROWN are cameras too (classify): no more
        with wh.transaction():
            wh.execute("DELETE FROM tags WHERE contract_id LIKE 'test:face%'"
                       " AND category = 'video_surveillance'")
            changes.record_keys(wh, "tags", ["test:face1", "test:face2"])
        build_as_full(wh)
        add(wh, "test:half", vendor="test:vendor", amount=3_000_000)
        built = build_as_full(wh)
        assert built["decided_by_the_rule_near_the_threshold"] >= 2  # MATES
        assert built["groups_summed"] == 1
        assert concentration(wh)[first] is True and concentration(wh)[second] is False


def test_a_narrowed_build_gathers_the_written_groups_not_their_buyers_years(halves, tmp_path):  # noqa: F811
    """The places a narrowed build gathers (flags.PLACES, from `flags_groups`) are the
    written contracts', their pairs' spans' and their groups' members: a contract of the same
    buyer and year in another category, to another vendor, is not gathered (a scan of
    `contracts` gathered every contract of the buyer's year), and the build gives a full
    build's rows."""
    with both_halves(tmp_path, halves, build=None) as wh:
        add(wh, "test:drone", vendor="test:elsewhere", categories=("drones",))
        first_build(wh, tmp_path / "w.duckdb")
        # a copy of GROWN is a camera too (classify): no more
        with wh.transaction():
            wh.execute("DELETE FROM tags WHERE contract_id = 'test:drone'"
                       " AND category = 'video_surveillance'")
            changes.record_keys(wh, "tags", ["test:drone"])
        build_as_full(wh)
        add(wh, "test:third", vendor="test:vendor", amount=1_000_000)
        built = build_as_full(wh)
        group = {c for c, in wh.query(
            "SELECT contract_id FROM contracts JOIN tags USING (contract_id)"
            " WHERE (buyer_id, year) = (SELECT (buyer_id, year) FROM contracts"
            "  WHERE contract_id = ?) AND category = 'video_surveillance'", [GROWN])}
        assert {*MATES, GROWN, "test:third"} <= group
        assert built["gathered"] == len(group)
        assert built["changed"] == len(group)


def test_only_the_written_contracts_places_are_compared(halves, tmp_path, monkeypatch):  # noqa: F811
    """The members of a written group are gathered from their places as last decided
    (flags.PLACES), so only the written contracts' places are compared with those
    (`flags_groups_before` holds theirs alone, flips.to_decide): a new contract joins the
    group (nothing to compare: it had no place), then GROWN loses its tag (written by its
    tags alone: its place is compared, it leaves the group and is decided), MATES, members
    both times, never compared; each build a full build's."""
    compared = []
    to_decide = flips.to_decide

    def spy(wh, *args, **kwargs):
        to_decide(wh, *args, **kwargs)
        compared.append({c for c, in wh.query("SELECT contract_id FROM flags_groups_before")})

    monkeypatch.setattr(flips, "to_decide", spy)
    with both_halves(tmp_path, halves, build=None) as wh:
        first_build(wh, tmp_path / "w.duckdb")
        compared.clear()
        add(wh, "test:third", vendor="test:vendor", amount=3_500_000)
        built = build_as_full(wh)
        assert built["group_only"] >= 3 and compared[0] == set()
        with wh.transaction():
            wh.execute("DELETE FROM tags WHERE contract_id = ?", [GROWN])
            changes.record_keys(wh, "tags", [GROWN])
        compared.clear()
        built = build_as_full(wh)
        assert compared[0] == {GROWN}
        assert GROWN in built["recorded"] and built["decided_buyer_concentration"] >= 1


def test_the_one_contract_rules_read_the_written_contracts_facts(halves, tmp_path, monkeypatch):  # noqa: F811
    """A narrowed build reads the written contracts' competition rows once
    (`flags_written_facts`: whether each has one, and the facts the one-contract rules read
    of the work among them), not a scan of `competition`'s key for each: a new contract's
    flags are a full build's."""
    sql = []
    with both_halves(tmp_path, halves, build=None) as wh:
        first_build(wh, tmp_path / "w.duckdb")
        add(wh, "test:third", vendor="test:vendor", amount=1_000_000)
        real = wh.con

        class Spy:
            def __getattr__(self, name):
                return getattr(real, name)

            def execute(self, text, *args):
                sql.append(" ".join(str(text).split()))
                return real.execute(text, *args)

        wh.con = Spy()
        try:
            built = run_build(wh, STEPS)["flags"]
        finally:
            wh.con = real
        assert built["changed"] >= 1
        rules = [s for s in sql if s.startswith("INSERT INTO new_flags")
                 and "'single_bid' AS flag" in s]
        assert rules and all("flags_written_facts" in s for s in rules)
        assert not any("TEMP TABLE flags_facts AS" in s for s in sql)
        after = derived(wh)
        run_build(wh, STEPS, full=True)
        assert derived(wh) == after


# a contract's own procurement facts (its regime and procedure) copied to `$id || $suffix`
FACTS = """INSERT INTO procurement_facts BY NAME
           SELECT * REPLACE (subject_id || $suffix AS subject_id)
           FROM procurement_facts WHERE subject_id = $id"""


def test_split_purchase_reads_the_spans_beside_its_decided_contracts(halves, tmp_path):  # noqa: F811
    """A pair's contracts signed every 25 days for 400 days, each under the threshold and any
    two together above it: every window is raised, and a window opening in the span before a
    contract's holds it. One in the middle grows above the threshold: the contracts beside it
    are decided again from their pair's contracts of the spans beside theirs (flips.split_mates),
    not the whole pair's, and give a full build's rows; those a year away keep theirs."""
    copy = """INSERT INTO contracts BY NAME
              SELECT * REPLACE (contract_id || $suffix AS contract_id,
                                native_id || $suffix AS native_id,
                                signed_on + $days::INTEGER AS signed_on,
                                $amount::DECIMAL(24, 2) AS amount)
              FROM contracts WHERE contract_id = $id"""
    with both_halves(tmp_path, halves, build=None) as wh:
        first_build(wh, tmp_path / "w.duckdb")
        first, threshold = wh.query(
            "SELECT f.contract_id, f.threshold FROM flags f JOIN contracts c USING (contract_id)"
            " WHERE f.flag = 'split_purchase' AND c.signed_on IS NOT NULL ORDER BY 1 LIMIT 1")[0]
        with wh.transaction():
            for day in range(0, 401, 25):
                wh.execute(copy, {"suffix": f"-{day}", "days": day + 1000, "id": first,
                                  "amount": threshold * 0.6})
                wh.execute(FACTS, {"suffix": f"-{day}", "id": first})
                for table in ("contracts", "procurement_facts"):
                    changes.record_keys(wh, table, [f"{first}-{day}"])
        build_as_full(wh)
        # the threshold of the copies' dates, which may not be the first's
        threshold = wh.scalar("SELECT max(threshold) FROM flags WHERE flag = 'split_purchase'"
                              " AND contract_id LIKE ?", [first + "-%"])
        with wh.transaction():
            wh.execute("UPDATE contracts SET amount = ? WHERE contract_id LIKE ?",
                       [threshold * 0.6, first + "-%"])
            changes.record(wh, "contracts", "SELECT contract_id FROM contracts"
                                            f" WHERE contract_id LIKE '{first}-%'")
        build_as_full(wh)
        split = dict(wh.query("SELECT contract_id, raised FROM flags"
                              " WHERE flag = 'split_purchase' AND contract_id LIKE ?",
                              [first + "-%"]))
        assert len(split) == 17 and all(split.values())
        far = rows_of(wh, f"{first}-400")
        with wh.transaction():
            wh.execute("UPDATE contracts SET amount = amount * 3 WHERE contract_id = ?",
                       [f"{first}-200"])
            changes.record_keys(wh, "contracts", [f"{first}-200"])
        built = build_as_full(wh)
        assert 1 < built["decided_split_purchase"] < 17
        assert f"{first}-400" not in built["recorded"] and rows_of(wh, f"{first}-400") == far


def test_each_change_to_a_member_decides_as_a_full_build(halves, tmp_path):  # noqa: F811
    """The group hash that found the members to decide is gone (every member of a written
    contract's groups and spans is a candidate; flips.py decides which can change, and only
    the groups a written contract is or was in are summed again): each change that moves a
    group's numbers or a member's place gives a full build's rows, numbers and flags as read.
    GROWN's amount x20 (MATES clear, GROWN raised), GROWN's vendor made MATES' (all raised),
    MATES' first cancelled (two left: too few), back, GROWN's tag removed (it leaves), a
    member leaving for another buyer, then another year."""
    first, second = MATES
    changes_ = [
        ("contracts", GROWN, "UPDATE contracts SET amount = amount * 20 WHERE contract_id = ?"),
        ("contracts", GROWN, "UPDATE contracts SET vendor_id = (SELECT vendor_id FROM contracts"
                             f" WHERE contract_id = '{first}') WHERE contract_id = ?"),
        ("contracts", first, "UPDATE contracts SET status = 'annulled' WHERE contract_id = ?"),
        ("contracts", first, "UPDATE contracts SET status = 'active' WHERE contract_id = ?"),
        ("tags", GROWN, "DELETE FROM tags WHERE contract_id = ?"),
        ("contracts", second, "UPDATE contracts SET buyer_id = 'test:other' WHERE contract_id = ?"),
        ("contracts", first, "UPDATE contracts SET year = year + 1 WHERE contract_id = ?"),
    ]
    with both_halves(tmp_path, halves, build=None) as wh:
        add(wh, "test:third", vendor="test:vendor", amount=1_000_000)
        first_build(wh, tmp_path / "w.duckdb")
        seen = [concentration(wh)]
        for table, contract_id, sql in changes_:
            before = derived(wh)
            with wh.transaction():
                wh.execute(sql, [contract_id])
                changes.record_keys(wh, table, [contract_id])
            build_as_full(wh)
            assert derived(wh) != before, sql
            seen.append(concentration(wh))
        assert [seen[0][c] for c in (*MATES, GROWN)] == [True, True, False]
        assert [seen[1][c] for c in (*MATES, GROWN)] == [False, False, True]
        assert [seen[2][c] for c in (*MATES, GROWN)] == [True, True, True]
        assert GROWN not in seen[5]


def test_without_the_record_every_contract_is_decided_for_its_groups(halves, tmp_path):  # noqa: F811
    """The group step without a cursor (a warehouse built before the record, or a record
    naming most contracts) has no group hash to compare: every contract is its work, and
    the group rules decide which rows change, as a full build does."""
    with both_halves(tmp_path, halves, build=None) as wh:
        first_build(wh, tmp_path / "w.duckdb")
        grown = rows_of(wh, GROWN)
        add(wh, "test:third", vendor="test:vendor", amount=3_500_000)
        wh.execute("DELETE FROM change_cursors WHERE consumer = 'flags_group'")
        built = build_as_full(wh)
        assert built["changed"] == wh.count("contracts")
        assert [concentration(wh)[c] for c in (*MATES, GROWN)] == [False, False, False]
        assert GROWN not in built["recorded"] and rows_of(wh, GROWN) == grown


def test_group_hashes_an_earlier_build_kept_go_unread(halves, tmp_path):  # noqa: F811
    """A warehouse built by an earlier survtrack holds a group hash per contract
    (`build_inputs` step `flags_group`): nothing reads it now, the next build decides as a
    full build does and drops those rows, and a build keeps none."""
    with both_halves(tmp_path, halves, build=None) as wh:
        first_build(wh, tmp_path / "w.duckdb")
        assert not wh.scalar("SELECT count(*) FROM build_inputs WHERE step = 'flags_group'")
        wh.execute("INSERT INTO build_inputs (contract_id, step, inputs)"
                   " SELECT contract_id, 'flags_group', hash(contract_id) FROM contracts")
        add(wh, "test:third", vendor="test:vendor", amount=3_500_000)
        remove(wh, MATES[0])
        built = build_as_full(wh)  # which compares build_inputs too
        assert not wh.scalar("SELECT count(*) FROM build_inputs WHERE step = 'flags_group'")
        assert built["changed"] < wh.count("contracts")
        assert MATES[0] in built["recorded"]
