"""The flags' documentation, generated from their data by `survtrack docs`: docs/flags.md (the
index, the procedure scale, the regimes) and one page per flag in docs/flags/ (definition,
reference, thresholds per regime, the function that decides it, worked examples)."""

from __future__ import annotations

import inspect

from survtrack.analysis.competition import procedure_types, regimes
from survtrack.datafiles import numbered_rows

from . import FOLDER, definitions, thresholds
from .rules import GROUP_RULES, RULES

GENERATED = "Generated from `survtrack/analysis/flags/` by `survtrack docs`."
STATUS_WORDS = {"raised": "raised", "clear": "clear", "unknown": "unknown",
                "not_applicable": "not applicable"}


def _cell(value) -> str:
    return str(value if value not in (None, "") else "–").replace("|", "\\|").replace("\n", " ")


def examples() -> list[dict]:
    return [row for _, row in numbered_rows(FOLDER / "examples.csv")]


def index() -> str:
    out = ["# Red flags", "", GENERATED, "",
           "How was each contract won? `survtrack build` reads what every document says about its"
           " procurement (`procurement_facts`: a notice's procedure, deadline and estimate, a"
           " protocol's bids, a contract's basis), folds it per contract into `competition`"
           " (analysis/competition.py: procedure on one scale, bids received and admitted, tender"
           " period, estimate, value when awarded and after modifications, first publication),"
           " tells each contract's story in `threads`, and decides the flags below into `flags`.",
           "",
           "## Honest denominators", "",
           "A flag is **raised**, **clear**, **not applicable** (a single bid cannot happen in a"
           " direct award) or **unknown** (no document says enough). `flags` keeps one row per"
           " contract and flag where the flag was decided, raised or clear; a contract without a"
           " row is never counted as clear. Every rate (`survtrack flags`, the dashboard, the"
           " notebook's `st.flags()`) is raised over *knowable* contracts, and says how many"
           " those are. Thresholds are read as lower bounds of the law: a period shorter than"
           " N calendar days is certainly shorter than N working days, so the calendar-day"
           " thresholds never flag a legal period; working days leave out weekends and public"
           " holidays (python-holidays), which can only shorten a delay.", "",
           "| flag | name | Russian | computed for | follows |", "|---|---|---|---|---|"]
    for name, flag in definitions().items():
        out.append(f"| [`{name}`](flags/{name}.md) | {flag.name_en} | {flag.name_ru} |"
                   f" {', '.join(flag.sources)} | {_cell(flag.reference)} |")
    out += ["", "Commands: `survtrack flags` (counts per flag and source, rates over the"
            " knowable), `survtrack flags --contract ID` (every flag of one contract with its"
            " evidence), `survtrack export flags`; in notebooks `st.flags()`, `st.flagged(flag,"
            " …)`, `st.competition(id)`, `st.thread(id)`; in Python"
            " `survtrack.analysis.flags.for_contract(con, id)` (the build's rows where it kept"
            " one), `flags.decide(con, id)` (every flag decided from the facts now) and"
            " `survtrack.analysis.threads.for_contract(con, id)`.", "",
            "In the dashboard: the overview's *Red flag* filter (`?flag=<id>` in any page's URL)"
            " narrows every view, the contracts grid and its downloads (whose `flags` and"
            " `flags_known` columns list the flags raised and decided per contract) to the"
            " contracts raising it; a contract's page lists every flag, raised, clear, not"
            " applicable or unknown, with its value, threshold, evidence and document, and the"
            " procurement's thread; the overview lists each flag's raised-of-knowable contracts and share of the"
            " money for the selection; a vendor's or buyer's profile sets its rates beside those"
            " of every contract in the selection (`spending.flag_rates`).", "",
            "## Procedures on one scale", "",
            "`analysis/flags/procedure_types.csv` maps each source's procedure codes (the first"
            " matching row of a scheme wins; codes and words are shell patterns):", "",
            "| scheme | code | words | procedure type | competitive | meaning |",
            "|---|---|---|---|---|---|"]
    for row in procedure_types():
        competitive = {True: "yes", False: "no", None: "unknown"}[row.competitive]
        out.append(f"| {row.scheme} | `{row.code}` | {_cell(row.text)} | {row.procedure_type} |"
                   f" {competitive} | {_cell(row.doc)} |")
    out += ["", "## Regimes", "", "`analysis/flags/regimes.csv`:", "",
            "| regime | law | schemes | sources | first publication | holidays of | notes |",
            "|---|---|---|---|---|---|---|"]
    for row in regimes():
        out.append(f"| {row['regime']} | {row['title_en']} ({row['title_ru']}) |"
                   f" {_cell(row['schemes'])} | {_cell(row['sources'])} |"
                   f" {_cell(row['first_publication'])} | {_cell(row['calendar'])} |"
                   f" {_cell(row['doc'])} |")
    out += ["", "## Where procurements meet", "",
            "- EIS: the purchase number (`purchaseNumber`, a contract's"
            " `foundation/…/notificationNumber`, a 223-FZ contract's `purchaseNoticeNumber`).",
            "- OCDS: the `ocid`: the compiled process's tender is the procurement.",
            "- TED: eForms' procedure identifier (BT-04, `ted:folder:<uuid>`) shared by the call"
            " and the result; a legacy award notice names its call's OJ number"
            " (`PROCEDURE/NOTICE_NUMBER_OJ`), which is the call's publication number.",
            "- USAspending: each award stands alone (its extent competed and offers come with"
            " it); no solicitation dates or estimate are published.", ""]
    out += ["## Building at scale", "",
            "`survtrack build` recomputes competition, threads and flags only for the contracts"
            " whose inputs changed since the last build (analysis/inputs.py): per contract and"
            " step, `build_inputs` keeps a hash of every row the step read for it (its"
            " contract row, the facts about it and its procurement, its versions, payments,"
            " events and notices) and of the step's own SQL and data files. A build after"
            " loading new documents reads those hashes in one pass, then computes and rewrites"
            " only the changed contracts, and, for the two group flags alone"
            " (buyer_concentration, split_purchase), the members of the groups the written"
            " contracts are in, or were in when their flags were last decided"
            " (`flags_groups`): their buyer's contracts of one category and year, and their"
            " buyer and vendor's contracts signed in the spans of `window_days` beside theirs"
            " (a contract's groups are not hashed, nor kept in `build_inputs`: each group rule"
            " decides which of those members can change, analysis/flags/flips.py)."
            " Which contracts"
            " are hashed comes from the record of changed keys the warehouse's writers keep"
            " (warehouse/changes.py): only the contracts written since the step last ran"
            " (their rows, competition rows or tags) are hashed and compared, not every"
            " contract. A changed"
            " threshold or rule recomputes every contract; `survtrack build --full` does so on"
            " demand. The rules then read only what that work needs: the one-contract rules"
            " the competition rows of the contracts decided (gathered once per pass), the group"
            " rules the whole groups of those contracts (every contract of their buyers and"
            " years, or of their buyer and vendor pairs, gathered once and read by both"
            " rules), not every contract. The group rules decide only the members whose rows"
            " can change, and only those whose rows come out different are rewritten (and"
            " recorded as"
            " changed for the snapshot and the contracts' facts): buyer_concentration's"
            " numbers are kept per group (`concentration_groups`: a buyer, category and"
            " year's count, total and unit; `concentration_vendors`: each vendor's sum),"
            " summed again only for the groups a written contract is or was in (a decided"
            " member's other groups give their stored numbers), and a"
            " member's `flags` row keeps its status, so a member whose status stays keeps its"
            " row; its value (the vendor's share) and evidence are composed from the group's"
            " numbers when read (`flags.stored_sql`: a contract's page, `survtrack flags"
            " --contract`, `survtrack export flags`, the API, `st.flagged()`)."
            " tests/test_incremental_build.py checks that an incremental build gives"
            " the tables one build of the same documents gives, with a buyer's group crossing"
            " the concentration threshold both ways.", "",
            "The build runs within a DuckDB memory limit (`--memory-limit`,"
            " `SURVTRACK_BUILD_MEMORY`, default 4GB) and spills what does not fit to"
            " `<warehouse>.tmp` (`SURVTRACK_TEMP_DIR`). The flags are decided 2.5 million"
            " contracts at a time (`flags.SLICE`), split by buyer so a group flag's groups fall in one pass;"
            " each rule is its own statement. Timings at 10 M contracts: the"
            " sections \"Build steps\" and \"The whole build at 10 M contracts\" of"
            " [scale.md](scale.md) (`bench/bench_flags.py`).", ""]
    return "\n".join(out)


def page(name: str) -> str:
    flag = definitions()[name]
    rows = thresholds()
    rows = rows[rows.flag == name]
    decided = ("several contracts at once (a group)" if name in GROUP_RULES
               else "the contract's own competition facts")
    out = [f"# {flag.name_en} — {flag.name_ru} (`{name}`)", "", GENERATED, "",
           flag.definition, "",
           f"**Follows**: {flag.reference} — <{flag.reference_url}>", "",
           f"**Needs**: {flag.requires}. Without these the flag is *unknown* for the contract,"
           " never clear.", "",
           f"**Computed for**: {', '.join(flag.sources)}"
           + (f"; parameters {', '.join(f'{k} = {v}' for k, v in flag.parameters.items())}"
              if flag.parameters else ""), "",
           f"**Decided from**: {decided}, by `{name}()` in"
           " [survtrack/analysis/flags/rules.py](../../survtrack/analysis/flags/rules.py).",
           ""]
    doc = inspect.getdoc(RULES[name])
    if doc:
        out += [doc, ""]
    out += ["## Caveat", "", flag.caveat or "–", ""]
    out += ["## Thresholds", "", "From [thresholds.csv](../../survtrack/analysis/flags/thresholds.csv)"
            " (the first matching row wins):", "",
            "| regime | procedure | type | threshold | valid | basis |",
            "|---|---|---|---|---|---|"]
    for r in rows.itertuples():
        valid = " – ".join(d.strftime("%Y-%m-%d") if d == d and d is not None else "…"
                           for d in (r.valid_from, r.valid_to))
        unit = f" {r.currency}" if r.unit == "amount" else f" {r.unit.replace('_', ' ')}"
        out.append(f"| {r.regime} | `{r.procedure}` | {r.procedure_type} | {r.threshold:g}{unit}"
                   f" | {valid if valid != '… – …' else 'always'} | {_cell(r.basis)} |")
    if rows.empty:
        out.append("| any | `*` | * | none: the procedure itself decides | always | – |")
    out += ["", "## Worked examples", "",
            "Each is decided by `tests/test_flags.py` on the documents named (`shared/…` in"
            " ../shared/data, recorded from the publisher; `tests/…` written by hand in the"
            " shape of a real one, where no recorded document raises the flag):", "",
            "| case | contract | documents | result | value |", "|---|---|---|---|---|"]
    for row in (r for r in examples() if r["flag"] == name):
        docs = "<br>".join(f"`{d}`" + (" (written)" if row["written"] == "yes"
                                          and d.startswith("tests/") else "")
                           for d in row["documents"].split())
        out.append(f"| {row['case']} | `{row['contract_id']}` | {docs} |"
                   f" {STATUS_WORDS[row['status']]} | {_cell(row['value'])} |")
    noted = [r for r in examples() if r["flag"] == name and r.get("note")]
    if noted:
        out += ["", "Why a case is written by hand:", ""]
        out += [f"- `{r['contract_id']}` ({r['case']}): {r['note']}" for r in noted]
    out += ["", f"To see one: `survtrack flags --contract {_first_raising(name)}` on a warehouse"
            " holding its documents.", ""]
    return "\n".join(out)


def _first_raising(name: str) -> str:
    return next((r["contract_id"] for r in examples()
                 if r["flag"] == name and r["case"] == "raises"), "ID")


def write(folder) -> list:
    """Write docs/flags.md and docs/flags/<flag>.md under `folder`; return the paths."""
    (folder / "flags").mkdir(parents=True, exist_ok=True)
    paths = [folder / "flags.md"]
    paths[0].write_text(index(), encoding="utf-8")
    for name in definitions():
        path = folder / "flags" / f"{name}.md"
        path.write_text(page(name), encoding="utf-8")
        paths.append(path)
    return paths
