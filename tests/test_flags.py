"""Red flags, competition facts and procurement threads on real documents (docs/flags.md).

One warehouse per session holds the recorded documents of every source and the hand-written
cases of tests/fixtures/flags; each worked example of analysis/flags/examples.csv (the pages of
docs/flags/) is decided on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, SHARED
from typer.testing import CliRunner

from survtrack import scrapers
from survtrack.analysis import competition, flags, threads
from survtrack.analysis.build import run_build
from survtrack.datafiles import numbered_rows
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import Warehouse

EXAMPLES = [row for _, row in numbered_rows(Path(flags.__file__).with_name("examples.csv"))]


def example_paths(row: dict) -> list[Path]:
    out = []
    for doc in row["documents"].split():
        head, _, rest = doc.partition("/")
        out.append(SHARED / rest if head == "shared" else ROOT / doc)
    return out




@pytest.fixture(scope="session")
def flagged(tmp_path_factory, shared) -> Path:
    """Every real document of ../shared/data (recorded, outside/, surveillance/ocds-uk/) and
    the examples' documents, built once."""
    db = tmp_path_factory.mktemp("flags") / "survtrack.duckdb"
    inputs = {source: [shared / source, shared / "outside" / source]
              for source in ("eis", "ted", "ocds", "usaspending")}
    inputs["ocds"].append(shared / "surveillance" / "ocds-uk")
    for row in EXAMPLES:
        source = row["contract_id"].split(":")[0]
        inputs[source] += [p for p in example_paths(row) if p not in inputs[source]]
    with Warehouse(db) as wh:
        for source, paths in inputs.items():
            ingest(wh, scrapers.get(source), paths)
        summary = run_build(wh)
        again = run_build(wh, ["competition", "threads", "flags"])
    assert summary["competition"]["changed"] == summary["competition"]["contracts"] > 0
    # a build with nothing new rewrites nothing
    assert again["competition"]["changed"] == again["threads"]["changed"] == 0
    assert again["flags"]["changed"] == again["flags"]["removed"] == 0
    return db


@pytest.fixture(scope="session")
def con(flagged):
    wh = Warehouse(flagged, read_only=True)
    yield wh.con
    wh.close()


@pytest.mark.parametrize("row", EXAMPLES, ids=lambda r: f"{r['flag']}-{r['case']}-"
                         f"{r['contract_id'][:30]}")
def test_worked_example(con, row):
    found = flags.decide(con, row["contract_id"], [row["flag"]])[row["flag"]]
    assert found["status"] == row["status"], found["evidence"]
    if row["value"]:
        assert found["value"] == pytest.approx(float(row["value"]), abs=0.006)
    stored = con.execute(f"SELECT raised, value FROM ({flags.stored_sql(con)})"
                         " WHERE contract_id = ? AND flag = ?",
                         [row["contract_id"], row["flag"]]).fetchall()
    if row["status"] in ("raised", "clear"):  # the build kept what for_contract decides
        assert stored == [(row["status"] == "raised", found["value"])]
    else:  # unknown is never stored as clear
        assert stored == []
    assert found["evidence"]
    if row["status"] != "unknown":
        assert found["document_id"] and con.execute(
            "SELECT count(*) FROM documents WHERE document_id = ?",
            [found["document_id"]]).fetchone()[0] == 1
    shown = {f["flag"]: f for f in flags.for_contract(con, row["contract_id"])}[row["flag"]]
    assert {k: shown[k] for k in found} == found  # the page shows what was decided


def test_the_build_kept_what_the_rules_decide_for_every_contract(con):
    """Every contract of the warehouse, every flag: the build's `flags` row is what deciding
    the contract alone gives (raised or clear), and there is none where that is unknown or not
    applicable. So a contract's page may show the build's rows (`for_contract`); the value
    and evidence of buyer_concentration's rows, which the build keeps per group, composed
    (`stored_sql`)."""
    contracts = [c for c, in con.execute("SELECT contract_id FROM contracts ORDER BY 1").fetchall()]
    stored = {}
    for cid, flag, raised, value, threshold, regime, evidence, document_id in con.execute(
            flags.stored_sql(con)).fetchall():
        stored[cid, flag] = {"status": "raised" if raised else "clear", "value": value,
                             "threshold": threshold, "regime": regime, "evidence": evidence,
                             "document_id": document_id}
    assert len(contracts) > 50 and len(stored) > 100
    for cid in contracts:
        for flag, found in flags.decide(con, cid).items():
            if found["status"] in ("raised", "clear"):
                assert stored.get((cid, flag)) == found, (cid, flag)
            else:
                assert (cid, flag) not in stored, (cid, flag)


def test_a_contracts_flags_are_the_builds_rows_where_it_kept_one(flagged, tmp_path):
    """for_contract reads a kept row as the build wrote it, and decides the rest: a copy of
    the warehouse whose kept row says something else shows that, and with the flags gone it
    decides them all again, as the build had."""
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(flagged.read_bytes())
    with Warehouse(copy) as wh:
        cid, flag = wh.con.execute("SELECT contract_id, flag FROM flags WHERE raised AND flag"
                                   " <> 'buyer_concentration' ORDER BY ALL LIMIT 1").fetchone()
        before = {f["flag"]: f for f in flags.for_contract(wh.con, cid)}
        wh.execute("UPDATE flags SET evidence = 'kept by the build' WHERE contract_id = ?"
                   " AND flag = ?", [cid, flag])
        assert {f["flag"]: f["evidence"] for f in flags.for_contract(wh.con, cid)}[flag] \
            == "kept by the build"
        wh.execute("DELETE FROM flags WHERE contract_id = ?", [cid])
        assert {f["flag"]: f for f in flags.for_contract(wh.con, cid)} == before


def test_every_flag_has_its_three_cases_on_documents():
    """Raised (from a real document wherever one raises it), clear and unknown, per flag."""
    for name in flags.definitions():
        cases = {(r["case"], r["written"]) for r in EXAMPLES if r["flag"] == name}
        assert {c for c, _ in cases} == {"raises", "clear", "unknown"}, name
        for row in (r for r in EXAMPLES if r["flag"] == name):
            for path in example_paths(row):
                assert path.is_file(), path
                if row["written"] == "no":
                    assert "written" not in path.name and SHARED in path.parents, path
    real_raises = {r["flag"] for r in EXAMPLES if r["case"] == "raises" and r["written"] == "no"}
    real_clears = {r["flag"] for r in EXAMPLES if r["case"] == "clear" and r["written"] == "no"}
    # no recorded document raises these three: their raising cases are written by hand
    assert set(flags.definitions()) - real_raises == WRITTEN_RAISES
    # nor can one be clear without a contract the data lacks (see the examples' notes)
    assert set(flags.definitions()) - real_clears == {
        "all_but_winner_rejected", "buyer_concentration"}
    for row in EXAMPLES:  # a written case says what it is modelled on and why
        assert (row["written"] == "yes") == bool(row["note"]), row
    for flag in flags.definitions().values():
        assert len(flag.caveat) > 80, flag.flag


WRITTEN_RAISES = {"all_but_winner_rejected", "buyer_concentration", "split_purchase"}


def test_no_recorded_document_raises_the_flags_shown_on_written_ones(con):
    """The search the written cases' notes report (analysis/flags/examples.csv): every real
    document of ../shared/data is loaded here, and none raises these flags. Should one start
    to, make it the flag's worked example and drop the written one."""
    real = {s: n for s, n in con.execute(
        """SELECT c.source, count(*) FROM contracts c JOIN documents d USING (document_id)
           WHERE d.origin NOT LIKE '%written%' GROUP BY 1""").fetchall()}
    assert real == {"eis": 7, "ocds": 19, "ted": 42, "usaspending": 2}  # as the notes say
    raised = con.execute(
        """SELECT f.flag, f.contract_id FROM flags f JOIN contracts c USING (contract_id)
           JOIN documents d ON d.document_id = c.document_id
           LEFT JOIN documents e ON e.document_id = f.document_id
           WHERE f.raised AND d.origin NOT LIKE '%written%'
             AND coalesce(e.origin, '') NOT LIKE '%written%'""").fetchall()
    assert {flag for flag, _ in raised} == set(flags.definitions()) - WRITTEN_RAISES, raised
    both = con.execute(
        """SELECT count(*) FROM competition k JOIN contracts c USING (contract_id)
           JOIN documents d USING (document_id) WHERE d.origin NOT LIKE '%written%'
             AND k.bids_received IS NOT NULL AND k.bids_admitted IS NOT NULL""").fetchone()[0]
    assert both == 0  # why all_but_winner_rejected cannot be decided on a real contract
    biggest = con.execute(
        """SELECT max(n) FROM (SELECT c.buyer_id, t.category, c.year, count(DISTINCT
           c.contract_id) AS n FROM contracts c JOIN tags t USING (contract_id)
           JOIN documents d ON d.document_id = c.document_id
           WHERE d.origin NOT LIKE '%written%' AND c.buyer_id IS NOT NULL GROUP BY ALL)"""
    ).fetchone()[0]
    assert biggest < 3  # why buyer_concentration cannot: no buyer's group is big enough


def test_definitions_are_data_with_a_reference_and_thresholds_per_regime():
    regimes = {r["regime"] for r in competition.regimes()}
    for flag in flags.definitions().values():
        assert flag.name_en and flag.name_ru and flag.definition and flag.reference
        assert flag.reference_url.startswith("https://")
        assert set(flag.sources) <= set(scrapers.names())
    table = flags.thresholds()
    assert set(table["regime"]) - {"*"} <= regimes
    short = table[table.flag == "short_tender_period"]
    assert {"ru44", "ru223", "eu", "ocds"} <= set(short["regime"])


@pytest.mark.parametrize("scheme, code, text, expected", [
    ("eis44_single_reason", "20270", "…несостоявшимся электронного аукциона…", ("open", True)),
    ("eis44_single_reason", "999", "Закупка у единственного поставщика", ("direct", False)),
    ("eis44_placing", "EAP44", "Электронный аукцион", ("open", True)),
    ("eis223_purchase_type", "30000", "Закупка у единственного поставщика", ("direct", False)),
    ("eis223_purchase_method", "24576", "Открытый запрос цен в электронной форме",
     ("open", True)),
    ("ocds_method", "limited", None, ("direct", False)),
    ("ted_legacy", "PT_AWARD_CONTRACT_WITHOUT_CALL", None, ("direct", False)),
    ("eforms", "neg-w-call", None, ("negotiated_with_call", True)),
    ("eforms", "oth-single", None, ("other", None)),
    ("fpds_extent_competed", "NDO", None, ("direct", False)),
])
def test_procedures_on_one_scale(scheme, code, text, expected):
    found = competition.procedure_type(scheme, code, text)
    assert (found.procedure_type, found.competitive) == expected


def test_protocols_notices_and_awards_state_their_facts(con):
    facts = {(s, d): (r, a, x) for s, d, r, a, x in con.execute(
        "SELECT subject_id, left(procedure_scheme || ':' || coalesce(procedure_code, ''), 40),"
        " bids_received, bids_admitted, bids_rejected FROM procurement_facts"
        " WHERE procedure_scheme IS NOT NULL OR bids_received IS NOT NULL").fetchall()}
    by_subject = {s: v for (s, _), v in facts.items()}
    assert by_subject["eis:0873500000820003425"] == (6, 6, 0)  # EF3: six applications admitted
    assert by_subject["eis:0373200554120000039"] == (2, 2, 0)  # EZK2: two, admittedInfo
    assert by_subject["eis:0373200029720003506"] == (0, None, None)  # PZP: none filed
    assert by_subject["ted:34453177-5a72-4c6f-b531-19b5aaa217ba/CON-0001"][0] == 12  # BT-759
    assert by_subject["usaspending:CONT_AWD_H907_9700_SPE2DX16D1500_9700"] == (4, None, None)
    call = con.execute("SELECT procedure_code, tender_published_on::DATE, tender_deadline::DATE"
                       " FROM procurement_facts WHERE subject_id = ?",
                       ["ted:folder:db1670b5-a512-40fa-ab34-01795b562228"]).fetchone()
    assert [str(x) for x in call] == ["restricted", "2024-03-15", "2024-04-15"]  # BT-1311


def test_competition_links_a_contract_to_its_procedure(con):
    row = con.execute(
        "SELECT procurement_id, procedure_type, bids_received, tender_days, estimated_amount,"
        " award_amount, first_version FROM competition WHERE contract_id = ?",
        ["eis:9990000000021000011"]).fetchone()
    assert row[:4] == ("eis:9990000000021000001", "open", None, 3.0)
    assert float(row[4]) == 1_000_000 and float(row[5]) == 995_000 and row[6] is True
    legacy = con.execute("SELECT procurement_id FROM competition WHERE contract_id = ?",
                         ["ted:88158-2022/lot-5"]).fetchone()[0]
    assert legacy == "ted:628645-2020"  # the call's OJ number in PROCEDURE/NOTICE_NUMBER_OJ


def test_thread_tells_the_story_in_order(con):
    steps = threads.for_contract(con, "eis:9990000000021000011")
    assert [s["stage"] for s in steps] == ["notice", "signed", "contract"]
    assert steps[0]["document_id"] != steps[-1]["document_id"]
    paid = threads.for_contract(con, "ocds:OCDS-87SD3T-SEFIN-DRM-A-001-2016/1")
    stages = [s["stage"] for s in paid]
    assert stages.count("payment") == 11 and stages[0] == "contract" and "version" in stages
    days = [s["occurred_on"] for s in paid if s["occurred_on"]]
    assert days == sorted(days)


def test_counts_are_over_the_knowable(con):
    rows = flags.counts(con)
    by = {(r["flag"], r["source"]): r for r in rows}
    single = by[("single_bid", "ted")]
    assert single["raised"] >= 1 and single["raised"] + single["clear"] == single["knowable"]
    assert single["knowable"] + single["not_knowable"] == single["contracts"]
    assert single["rate"] == single["raised"] / single["knowable"]
    shown = {r["source"] for r in rows if r["raised"]}
    assert shown == {"eis", "ocds", "ted", "usaspending"}


def test_cli_prints_counts_and_one_contracts_flags(flagged):
    from survtrack.cli import app

    runner = CliRunner()
    done = runner.invoke(app, ["--db", str(flagged), "flags", "--json"])
    assert done.exit_code == 0, done.output
    rows = json.loads(done.output)
    assert {r["flag"] for r in rows} == set(flags.definitions())
    one = runner.invoke(app, ["--db", str(flagged), "flags", "--contract",
                              "ted:88158-2022/lot-5", "--json"])
    decided = {r["flag"]: r["status"] for r in json.loads(one.output)}
    assert decided["single_bid"] == decided["late_publication"] == "raised"
    table = runner.invoke(app, ["--db", str(flagged), "flags"])
    assert "single_bid" in table.output and "% of" in table.output
    missing = runner.invoke(app, ["--db", str(flagged), "flags", "--contract", "eis:nope"])
    assert missing.exit_code != 0 and "no contract" in missing.output


def test_notebook_and_export(flagged, tmp_path):
    from survtrack.analysis.notebook import Investigation
    from survtrack.warehouse.export import export_table

    with Investigation(flagged) as st:
        raised = st.flagged("single_bid", everything=True)
        assert "ted:88158-2022/lot-5" in set(raised["contract_id"])
        assert set(raised["flag"]) == {"single_bid"}
        held = st.flagged("buyer_concentration", everything=True)  # composed (stored_sql)
        assert len(held) and held["evidence"].str.startswith("vendor's share").all()
        assert st.flags()["knowable"].sum() > 0
        assert st.competition("ted:88158-2022/lot-5")["bids_received"] == 1
        assert list(st.thread("ted:88158-2022/lot-5")["stage"]) == ["signed", "award", "contract"]
        with pytest.raises(KeyError):
            st.flagged("no_such_flag")
    with Warehouse(flagged, read_only=True) as wh:
        out = export_table(wh, "flags", "csv", tmp_path / "flags.csv")
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header == "contract_id,flag,raised,value,threshold,regime,evidence,document_id"
    # `survtrack export flags`: buyer_concentration's value and evidence composed from its
    # group's numbers, as the contract's page shows them
    from survtrack.cli import app

    done = CliRunner().invoke(app, ["--db", str(flagged), "export", "flags", "--format",
                                    "json", "--output", str(tmp_path / "flags.json")])
    assert done.exit_code == 0, done.output
    exported = {(r["contract_id"], r["flag"]): r for r in
                json.loads((tmp_path / "flags.json").read_text(encoding="utf-8"))}
    example = exported["eis:9990000000018000041", "buyer_concentration"]
    with Warehouse(flagged, read_only=True) as wh:
        shown = {f["flag"]: f for f in flags.for_contract(wh.con, "eis:9990000000018000041")}
    assert example["evidence"].startswith("vendor's share") and example["value"] == 0.8
    assert (example["value"], example["evidence"]) == (
        shown["buyer_concentration"]["value"], shown["buyer_concentration"]["evidence"])


def test_selection_rates_and_the_flag_filter_on_a_snapshot(flagged):
    """What the dashboard shows: per flag raised of knowable over the selection (never over
    every contract), and `?flag=` narrowing every view to the contracts raising it."""
    from survtrack.analysis import facts, spending
    from survtrack.dashboard import urls
    from survtrack.warehouse.snapshot import SnapshotReader

    con = SnapshotReader(flagged, publish=facts.publish_snapshot).cursor()
    everything = spending.Filters(surveillance_only=False)
    rates = spending.flag_rates(con, everything).set_index("flag")
    by_flag: dict[str, list[int]] = {}
    for r in flags.counts(con):
        raised, knowable = by_flag.setdefault(r["flag"], [0, 0])
        by_flag[r["flag"]] = [raised + r["raised"], knowable + r["knowable"]]
    for name, (raised, knowable) in by_flag.items():
        assert (rates.raised[name], rates.knowable[name]) == (raised, knowable), name
    single = rates.loc["single_bid"]
    assert single.knowable < single.contracts == con.execute(
        "SELECT count(*) FROM contracts").fetchone()[0]  # unknown: in neither count
    narrowed = everything.with_(flag="single_bid")
    assert spending.totals(con, narrowed).contracts[0] == single.raised
    assert spending.count_contracts(con, narrowed) == single.raised
    assert spending.flag_rates(con, narrowed).equals(spending.flag_rates(con, everything))
    assert urls.from_query({"flag": "no_such_flag"}).flag is None
    vendor = spending.by_vendor(con, narrowed, limit=1).key[0]
    mine = spending.flag_rates(con, everything.with_(vendor=vendor)).set_index("flag")
    assert 1 <= mine.raised["single_bid"] <= mine.knowable["single_bid"]
