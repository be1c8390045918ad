"""The explainable classifier: rule kinds, traps, the CLI, the evaluation set, the warehouse."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from survtrack import scrapers
from survtrack.analysis.classify import (
    TAXONOMY,
    Classifier,
    Tag,
    _normalize_with_map,
    classifier,
    classify,
    classify_warehouse,
    normalize,
)
from survtrack.analysis.names import strip_legal_forms, tokens
from survtrack.cli import app
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import Warehouse

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "tests" / "data" / "classifier_eval.csv"
FIXTURES = ROOT / "tests" / "fixtures" / "eis"


def tag_of(tags: list[Tag], rule: str) -> Tag:
    found = [t for t in tags if t.rule == rule]
    assert found, f"rule {rule} did not fire: {tags}"
    return found[0]


# -- each rule kind fires, with its evidence ------------------------------------------------
@pytest.mark.parametrize("text, rule, category, evidence", [
    ("Поставка камер видеонаблюдения для школы", "kw:ru:videonablyudenie", "video_surveillance",
     "видеонаблюдения"),
    ("Монтаж системы ВИДЕОНАБЛЮДЕНИЕМ", "kw:ru:videonablyudenie", "video_surveillance",
     "ВИДЕОНАБЛЮДЕНИЕМ"),
    ("Поставка программного обеспечения для распознавания лиц", "kw:ru:raspoznavanie-lits",
     "facial_recognition", "распознавания лиц"),
    ("Послуги з технічного обслуговування системи відеоспостереження",
     "kw:uk:videosposterezhennya", "video_surveillance", "відеоспостереження"),
    ("Automated license plate readers", "kw:en:anpr", "licence_plate_recognition",
     "Automated license plate readers"),
    ("Adquisición de cámaras de seguridad", "kw:latn:camaras-seguridad", "video_surveillance",
     "cámaras de seguridad"),
    ("Serviço de videomonitoramento", "kw:latn:videovigilancia", "video_surveillance",
     "videomonitoramento"),
    ("Extension du système de vidéoprotection urbaine", "kw:fr:videoprotection",
     "video_surveillance", "vidéoprotection"),
    ("Lieferung von Überwachungskameras", "kw:de:videoueberwachung", "video_surveillance",
     "Überwachungskameras"),
    ("Rozbudowa systemu monitoringu wizyjnego miasta", "kw:pl:monitoring-wizyjny",
     "video_surveillance", "monitoringu wizyjnego"),
    ("Servizio di intercettazioni telefoniche", "kw:latn:intercepcion",
     "communications_interception", "intercettazioni"),
    ("Dostawa dronów dla straży pożarnej", "kw:latn:drone", "drones", "dronów"),
    ("Модернизация комплекса технических средств СОРМ-3", "kw:ru:sorm",
     "communications_interception", "СОРМ"),
])
def test_keyword_rules_fire_with_the_matched_text(text, rule, category, evidence):
    tag = tag_of(classify(text), rule)
    assert (tag.category, tag.evidence) == (category, evidence)
    assert 0 < tag.score <= 1


@pytest.mark.parametrize("codes, rule, category, evidence", [
    (["OKPD2:26.70.13.000"], "code:OKPD2:26.70.13", "video_surveillance",
     "OKPD2 26.70.13.000: Видеокамеры цифровые"),
    ([("KTRU", "26.70.13.000-00000002")], "code:OKPD2:26.70.13", "video_surveillance",
     "KTRU 26.70.13.000-00000002: Видеокамеры цифровые"),
    (["CPV:35125300-2"], "code:CPV:35125300", "video_surveillance",
     "CPV 35125300-2: Security cameras"),
    (["CPV:32323500"], "code:CPV:32323500", "video_surveillance",
     "CPV 32323500: Video-surveillance system"),
    (["PSC:1550"], "code:PSC:1550", "drones", "PSC 1550: DRONES"),
    (["NAICS:561621"], "code:NAICS:561621", "surveillance_infrastructure",
     "NAICS 561621: Security Systems Services (except Locksmiths)"),
    (["UNSPSC:46171610"], "code:UNSPSC:46171610", "video_surveillance",
     "UNSPSC 46171610: Security cameras"),
    (["OKPD2:26.30.11.160"], "code:OKPD2:26.30.11.160", "communications_interception",
     ("OKPD2 26.30.11.160: Средства связи, в том числе программное обеспечение, обеспечивающее"
      " выполнение установленных действий при проведении оперативно-розыскных мероприятий")),
])
def test_code_rules_fire_with_the_code_and_its_name(codes, rule, category, evidence):
    tag = tag_of(classify("Поставка товара", codes), rule)
    assert (tag.category, tag.evidence) == (category, evidence)


def test_exact_code_rules_do_not_cover_children():
    # 35120000 is matched exactly: its child 35121000 (security equipment) is not surveillance.
    assert classify("", ["CPV:35121000"]) == []
    assert tag_of(classify("", ["CPV:35120000-1"]), "code:CPV:35120000").score == 0.7


@pytest.mark.parametrize("vendor, rule, category", [
    ('ООО "НтехЛаб"', "vendor:ntechlab", "facial_recognition"),
    ("NtechLab Ltd", "vendor:ntechlab", "facial_recognition"),
    ("VisionLabs B.V.", "vendor:visionlabs", "facial_recognition"),
    ("HANGZHOU HIKVISION DIGITAL TECHNOLOGY CO., LTD.", "vendor:hikvision", "video_surveillance"),
    ("Axon Enterprise, Inc.", "vendor:axon", "video_surveillance"),
    ("FLOCK GROUP INC (Flock Safety)", "vendor:flock", "licence_plate_recognition"),
    ("Clearview AI, Inc.", "vendor:clearview", "facial_recognition"),
    ("CELLEBRITE INC", "vendor:cellebrite", "phone_forensics"),
    ("Palantir USG Inc", "vendor:palantir", "surveillance_infrastructure"),
])
def test_vendor_rules_name_the_vendor(vendor, rule, category):
    tag = tag_of(classify("Оказание услуг", vendor=vendor), rule)
    assert (tag.category, tag.evidence) == (category, f"vendor: {vendor}")


def test_vendors_told_apart_by_one_scan_get_the_tags_every_rule_gives():
    """The scan of a name's words before its legal form is set aside only skips names no
    rule can match: every vendor rule's own name, wrapped in legal forms, in the middle of
    another name or glued to a word, gets the tags each rule tried on the core gives."""
    clf = classifier()
    names = []
    for row in csv.DictReader(line for line in (TAXONOMY / "vendors.csv").open(encoding="utf-8")
                              if not line.startswith("#")):
        for brand in row["pattern"].replace(" ?", " ").replace("?", "").split("|"):
            names += [brand, f'ООО "{brand}"', f"{brand.upper()} Co., Ltd.",
                      f"АО {brand}-Сервис", f"EY {brand} PRINT", f"{brand}x", f"Группа {brand}"]
    names += ["", "ООО", "Рога и копыта", "EY DjI PRINT SPY", "SZ DJI Technology Co., Ltd."]
    matched = 0
    for name in names:
        core = normalize(" ".join(strip_legal_forms(tokens(name))))
        every_rule = [p.rule for p in clf.vendors if core and p.regex.match(core)]
        assert [t.rule for t in clf._vendor(name)] == every_rule, name
        matched += bool(every_rule)
    assert 0 < matched < len(names)


def test_distinctive_brands_count_in_the_text_but_axon_does_not():
    assert tag_of(classify("Камера IP Hikvision DS-2CD2043"), "vendor:hikvision").evidence \
        == "Hikvision"
    assert classify("Axon growth in cultured neurons: reagents") == []


# -- traps stay negative --------------------------------------------------------------------
@pytest.mark.parametrize("text, codes", [
    ("Камера тормозная тип 24", []),
    ("Поставка шин и камер для автомобилей", []),
    ("Камера сгорания двигателя", []),
    ("Поставка камеры холодильной для хранения продуктов", []),
    ("Поставка гамма-камеры для отделения радионуклидной диагностики", []),
    ("Gamma camera for nuclear medicine department", []),
    ("Видеокамера для системы видеоконференцсвязи", ["OKPD2:26.70.13.000"]),
    ("Веб-камера Logitech C920", ["OKPD2:26.70.13.000"]),
    ("Video conferencing equipment for meeting rooms", []),
    ("Оказание услуг по видеосъемке мероприятий", []),
    ("Видеокамера для фото- и видеосъемки мероприятий", ["OKPD2:26.70.13.000"]),
    ("Event filming and live streaming services", []),
    ("Мониторы, подключаемые к компьютеру", []),
    ("Computer monitors and docking stations", []),
    ("Камера телевизионная студийная для телеканала", ["OKPD2:26.30.13.000"]),
    ("Аппарат для ультразвуковой биометрии глаза", []),
    ("Biometría hemática completa", []),
    ("CCTV drainage survey and jetting", []),
    ("Disease surveillance system strengthening", []),
    ("Services de surveillance d'installations d'alarme", []),
    ("Мониторинг эффективности продвижения в социальных сетях", []),
    ("Dronabinol capsules", []),
    ("Anti-virus and anti-spyware software licences", []),
])
def test_traps_stay_negative(text, codes):
    assert classify(text, codes) == []


def test_a_negative_acts_within_its_own_part():
    """A webcam line does not silence the CCTV line of the same contract."""
    clf = classifier()
    tags = clf.classify_parts([("Камера видеонаблюдения", [("OKPD2", "26.30.13.000")]),
                               ("Веб-камера", [("OKPD2", "26.70.13.000")])])
    assert {t.rule for t in tags} == {"kw:ru:videonablyudenie", "code:OKPD2:26.30.13"}


def test_a_strong_phrase_survives_a_text_wide_negative():
    tags = classify("Система видеонаблюдения и видеоконференцсвязи", ["OKPD2:26.70.13.000"])
    assert [t.rule for t in tags] == ["kw:ru:videonablyudenie"]


def test_normalize_folds_case_accents_and_whitespace():
    assert normalize("  Vidéo\u00a0 SURVEILLANCE — Überwachung ёлка й ви\u00adдео «x» ’") == \
        "video surveillance - uberwachung елка и видео \"x\" '"


def test_the_fast_and_the_mapped_normalization_agree():
    """Evidence is cut from the original text through the character map: both foldings must
    build the same string, or the evidence would be shifted."""
    with open(EVAL, encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    texts += ["Straße ß ﬁ ¨ x\u0308 \t\n  Ǆ ǅ Σ ς ＡＢＣ ①", "\u00ad\u00ad", " ", ""]
    for text in texts:
        assert normalize(text) == _normalize_with_map(text)[0], text


# -- the data files ---------------------------------------------------------------------------
def rules(name: str) -> list[dict]:
    with open(TAXONOMY / name, encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def test_every_rule_has_a_note_and_a_known_category():
    clf = classifier()
    for name in ("codes.csv", "keywords.csv", "vendors.csv", "negatives.csv"):
        rows = rules(name)
        assert rows, name
        assert len({r["rule"] for r in rows}) == len(rows), f"duplicate rule ids in {name}"
        for r in rows:
            assert r["note"].strip(), f"{name} {r['rule']} has no note"
            cats = r.get("category") or r["categories"]
            assert cats == "*" or set(cats.split(";")) <= set(clf.categories), r["rule"]
    assert len(clf.categories) == 10
    assert all(c["description"].strip() for c in clf.categories.values())


def test_the_real_code_lists_tag_only_surveillance_codes(shared):
    """Each of the 3,846 OKPD2 names seen in EIS notices, classified with its own code, and
    each PSC name with its inclusions: only the surveillance codes come out tagged."""
    clf = classifier()
    with open(shared / "eis" / "okpd2_codes_seen_in_notices_cp1251.csv", encoding="cp1251") as f:
        rows = list(csv.reader(f, delimiter=";"))[1:]
    assert len(rows) == 3846
    tagged = {code: clf.category_names(clf.classify(name, [("OKPD2", code)]))
              for code, name, _ in rows}
    assert {code: cats for code, cats in tagged.items() if cats} == {
        "26.40.33.110": ["video_surveillance"],
        "26.70.13.000": ["video_surveillance"],
        "26.30.13.000": ["video_surveillance"],
        "26.30.11.160": ["communications_interception"],
    }
    with open(shared / "usaspending" / "psc_codes.csv", encoding="utf-8", errors="replace") as f:
        psc = list(csv.DictReader(f))
    tagged = {}
    for r in psc:
        text = " ".join(filter(None, [r["PRODUCT AND SERVICE CODE NAME"],
                                      r["PRODUCT AND SERVICE CODE INICLUDES"]]))
        cats = clf.category_names(clf.classify(text, [("PSC", r["PSC CODE"])]))
        if cats:
            tagged[r["PSC CODE"]] = cats
    # 1410 GUIDED MISSILES lists "Complete Drones, initially designed as missiles".
    assert tagged == {"1410": ["drones"], "1550": ["drones"], "5836": ["video_surveillance"],
                      "S211": ["surveillance_infrastructure"]}


def test_a_bad_pattern_is_named(tmp_path):
    for path in TAXONOMY.glob("*.csv"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    with open(tmp_path / "keywords.csv", "a", encoding="utf-8") as f:
        f.write('kw:test:broken,drones,en,"(unclosed",0.9,"a broken pattern"\n')
    with pytest.raises(ValueError, match="kw:test:broken"):
        Classifier(tmp_path)


# -- precision and recall on the labelled evaluation set -------------------------------------
def test_precision_and_recall_on_the_evaluation_set():
    clf = classifier()
    tp = fp = fn = 0
    misses = []
    with open(EVAL, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        expected = {c for c in row["expected"].split(";") if c}
        assert expected <= set(clf.categories), row["text"]
        codes = [c for c in row["codes"].split(";") if c]
        got = set(clf.category_names(clf.classify(row["text"], codes)))
        tp += len(expected & got)
        fp += len(got - expected)
        fn += len(expected - got)
        if got != expected:
            misses.append(f"  {row['text'][:70]!r}: expected {sorted(expected)}, got {sorted(got)}")
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"\nclassifier evaluation: {len(rows)} rows, {sum(1 for r in rows if r['expected'])}"
          f" positive; micro precision {precision:.3f}, recall {recall:.3f}"
          f" (tp {tp}, fp {fp}, fn {fn})")
    print("\n".join(misses))
    assert len(rows) >= 300 and len({r["language"] for r in rows}) >= 9
    assert precision >= 0.95
    assert recall >= 0.90


# -- the command line -------------------------------------------------------------------------
def test_cli_text_prints_tags_as_json():
    result = CliRunner().invoke(app, ["classify", "--text", "Поставка камер видеонаблюдения",
                                      "--code", "CPV:35125300-2", "--vendor", "Hikvision"])
    assert result.exit_code == 0, result.output
    import json

    tags = json.loads(result.stdout)
    assert {(t["category"], t["rule"], t["evidence"]) for t in tags} == {
        ("video_surveillance", "kw:ru:videonablyudenie", "видеонаблюдения"),
        ("video_surveillance", "code:CPV:35125300", "CPV 35125300-2: Security cameras"),
        ("video_surveillance", "vendor:hikvision", "vendor: Hikvision"),
    }


def test_cli_csv_round_trip(tmp_path):
    source = tmp_path / "titles.csv"
    source.write_text(
        "id,title,cpv\n"
        "1,Поставка камер видеонаблюдения,\n"
        '2,"Камера тормозная, тип 24",\n'
        "3,Suministro de drones y software de reconocimiento facial,\n"
        "4,Office chairs,CPV:35125300-2\n", encoding="utf-8")
    out = tmp_path / "tagged.csv"
    result = subprocess.run(
        [sys.executable, "-m", "survtrack.cli", "classify", "--csv", str(source),
         "--column", "title", "--codes-column", "cpv", "--output", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    with open(out, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == ["1", "2", "3", "4"]
    assert [r["title"] for r in rows][1] == "Камера тормозная, тип 24"
    assert [r["categories"] for r in rows] == [
        "video_surveillance", "", "facial_recognition;drones", "video_surveillance"]
    assert rows[0]["evidence"] == "video_surveillance [kw:ru:videonablyudenie] «видеонаблюдения»"
    assert rows[1]["evidence"] == ""
    assert "drones [kw:latn:drone] «drones»" in rows[2]["evidence"]
    assert rows[3]["evidence"] == \
        "video_surveillance [code:CPV:35125300] «CPV 35125300-2: Security cameras»"


def test_cli_csv_names_a_missing_column(tmp_path):
    source = tmp_path / "t.csv"
    source.write_text("id,name\n1,x\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["classify", "--csv", str(source), "--column", "title"],
                                env={"COLUMNS": "300"})
    assert result.exit_code != 0
    assert "no column 'title' (columns: id, name)" in result.output


# -- the warehouse ----------------------------------------------------------------------------
def test_classify_warehouse_tags_real_eis_contracts_incrementally(warehouse, load, shared):
    load("eis", shared / "eis", FIXTURES / "fz44_contract_cctv_written_v0.xml")
    n_contracts = warehouse.count("contracts")
    assert n_contracts == 6

    counts = classify_warehouse(warehouse)
    assert counts == {"checked": 6, "tagged": 1, "tags": 3}
    tags = warehouse.query("SELECT contract_id, category, rule, evidence, score FROM tags"
                           " ORDER BY rule")
    cid = "eis:3312100001824000099"
    assert tags == [
        (cid, "video_surveillance", "code:OKPD2:26.30.13",
         "OKPD2 26.30.13.000: Камеры телевизионные", 0.7),
        (cid, "video_surveillance", "kw:ru:videonablyudenie", "видеонаблюдения", 0.95),
        (cid, "video_surveillance", "vendor:dahua",
         'vendor: ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "ДАХУА-ТЕСТ (ВЫМЫШЛЕННЫЙ ПОСТАВЩИК)"',
         0.9),
    ]
    # The real documents (gas, jet fuel, street lighting, lab reagents) stay untagged but
    # are recorded as classified, with the document they were classified from.
    assert warehouse.query(
        "SELECT count(*) FROM classified s JOIN contracts c USING (contract_id)"
        " WHERE s.document_id = c.document_id") == [(6,)]

    # Idempotent: nothing changed, nothing is redone.
    before = warehouse.query("SELECT * FROM tags ORDER BY ALL")
    assert classify_warehouse(warehouse) == {"checked": 0, "tagged": 0, "tags": 0}
    assert warehouse.query("SELECT * FROM tags ORDER BY ALL") == before

    # A new version of the contract (another document) is classified again, and only it.
    load("eis", FIXTURES / "fz44_contract_cctv_written_v1.xml")
    assert classify_warehouse(warehouse) == {"checked": 1, "tagged": 1, "tags": 4}
    face = warehouse.query("SELECT evidence FROM tags WHERE contract_id = ?"
                           " AND category = 'facial_recognition'", [cid])
    assert face == [("распознавания лиц",)]

    # Tags of other origins (a curated source) are not the classifier's to delete.
    warehouse.con.execute("INSERT INTO tags VALUES (?, 'drones', 'curated:report-1', 'x', 1.0)",
                          [cid])
    assert classify_warehouse(warehouse, full=True)["checked"] == 6
    assert warehouse.query("SELECT count(*) FROM tags WHERE rule = 'curated:report-1'") == [(1,)]
    assert warehouse.count("tags") == 5


def test_cli_classify_warehouse(tmp_path, shared):
    db = tmp_path / "w.duckdb"
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", "eis", str(shared / "eis"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["classify", "--warehouse", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == '{"checked": 5, "tagged": 0, "tags": 0}'
    result = runner.invoke(app, ["classify", "--warehouse", "--db", str(db)])
    assert result.stdout.strip() == '{"checked": 0, "tagged": 0, "tags": 0}'


def test_classify_warehouse_in_worker_processes_equals_one_process(tmp_path, shared):
    """The pool of processes a big build uses gives the tags and states one process gives
    (two workers, batches of 2 contracts flushed every 3 batches, on real documents)."""
    tables = []
    for workers in (1, 2):
        with Warehouse(tmp_path / f"w{workers}.duckdb") as wh:
            ingest(wh, scrapers.get("eis"),
                   [shared / "eis", FIXTURES / "fz44_contract_cctv_written_v0.xml"])
            ingest(wh, scrapers.get("ocds"), [shared / "surveillance" / "ocds-uk"])
            counts = classify_warehouse(wh, batch=2, flush=6, workers=workers, parallel_from=0)
            tables.append((counts,
                           wh.query("SELECT contract_id, category, rule, evidence, score"
                                    " FROM tags ORDER BY ALL"),
                           wh.query("SELECT contract_id, document_id, taxonomy, tags"
                                    " FROM classified ORDER BY ALL")))
    assert tables[0][0]["tagged"] > 0 and tables[0][0]["checked"] > 6
    assert tables[1] == tables[0]


def test_the_record_of_changes_narrows_which_documents_are_compared(warehouse, load, shared):
    """After a classify, only the contracts the record of changes names since then have their
    document compared (warehouse/changes.py; a writer records every contract it writes): a
    document changed without its record is not seen until `full` or another taxonomy, one
    loaded through the writer is, as is a recorded one written by hand."""
    from survtrack.warehouse import changes

    load("eis", shared / "eis", FIXTURES / "fz44_contract_cctv_written_v0.xml")
    assert classify_warehouse(warehouse)["checked"] == 6
    cid = "eis:3312100001824000099"
    other = warehouse.scalar("SELECT min(contract_id) FROM contracts WHERE contract_id <> ?",
                             [cid])
    warehouse.execute("UPDATE contracts SET document_id = 'elsewhere' WHERE contract_id = ?",
                      [other])  # not recorded: unseen
    assert classify_warehouse(warehouse)["checked"] == 0
    load("eis", FIXTURES / "fz44_contract_cctv_written_v1.xml")  # the writer records it
    assert classify_warehouse(warehouse) == {"checked": 1, "tagged": 1, "tags": 4}
    changes.record_keys(warehouse, "contracts", [other])
    assert classify_warehouse(warehouse)["checked"] == 1
    warehouse.execute("UPDATE contracts SET document_id = 'again' WHERE contract_id = ?", [other])
    warehouse.execute("UPDATE change_cursors SET code = 'older' WHERE consumer = 'classify'")
    assert classify_warehouse(warehouse)["checked"] == 1  # another taxonomy: every contract
    warehouse.execute("UPDATE contracts SET document_id = 'third' WHERE contract_id = ?", [other])
    assert classify_warehouse(warehouse, full=True)["checked"] == 6
    assert classify_warehouse(warehouse)["checked"] == 0
    assert warehouse.query(
        "SELECT count(*) FROM classified s JOIN contracts c USING (contract_id)"
        " WHERE s.document_id = c.document_id") == [(6,)]


MAIN_SCRIPT = """
import sys
with open(sys.argv[2], "a") as marks:
    marks.write(__name__ + "\\n")  # a worker running this module again writes __mp_main__
import survtrack.cli  # as the `survtrack` console script does
from survtrack import scrapers
from survtrack.analysis.classify import classify_warehouse
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import Warehouse

if __name__ == "__main__":
    with Warehouse(sys.argv[1] + "/w.duckdb") as wh:
        ingest(wh, scrapers.get("eis"), [sys.argv[3]])
        print(classify_warehouse(wh, batch=1, workers=2, parallel_from=0)["checked"])
"""


def test_pool_workers_neither_run_the_main_module_nor_import_pandas(tmp_path):
    """classify's spawned workers start light: the parent's main module (the console script
    imports the whole CLI) is not run again in them, and the module they import for
    `classify_rows` imports neither pandas, pyarrow nor DuckDB."""
    script, marks = tmp_path / "main.py", tmp_path / "marks.txt"
    script.write_text(MAIN_SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(tmp_path), str(marks),
                           str(FIXTURES)], capture_output=True, text=True, check=True)
    assert int(done.stdout.split()[-1]) > 2  # more batches than workers: both spawned
    assert marks.read_text().split() == ["__main__"]
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, survtrack.analysis.classify;"
         " print(sorted(m for m in ('pandas', 'pyarrow', 'duckdb') if m in sys.modules))"],
        capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "[]"
