"""Entity resolution on a real DuckDB warehouse: registry ids, names, transliteration, fuzzy
matches, overrides. Organizations other sources would bring (OCDS, TED, USAspending) are
inserted as rows of `organizations`; the INNs of the invented organizations are made up."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from survtrack.analysis import entities as ent
from survtrack.analysis.entities import OverrideError, fuzzy_score, name_key, resolve_entities

FIXTURES = Path(__file__).parent / "fixtures" / "entities"

NTECHLAB_INN = "RU-INN:7700000017"  # made up for the test
NTECHLAB = [
    (NTECHLAB_INN, 'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "НТЕХЛАБ"', 'ООО «НтехЛаб»', "RU"),
    ("name:eis:ооо-нтехлаб", '«ООО "НТЕХЛАБ"»', None, "RU"),
    ("name:ocds:ntechlab-llc", "NtechLab LLC", None, None),
    ("name:ted:n-tech-lab-ltd", "N-Tech.Lab Ltd", None, None),
    ("name:curated:н-тех-лаб", "«Н-Тех Лаб»", None, "RU"),
]
LOOKALIKES = [
    ("RU-INN:7700000025", 'ООО "НТЕХ-СЕРВИС"', None, "RU"),
    ("name:usaspending:ntech-solutions-inc", "Ntech Solutions Inc", None, "US"),
]


def add_orgs(wh, rows):
    for org_id, name, short_name, country in rows:
        scheme, _, ident = org_id.partition(":")
        registered = scheme != "name"
        wh.con.execute(
            "INSERT INTO organizations (org_id, name, short_name, scheme, identifier, country)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [org_id, name, short_name, scheme if registered else None,
             ident if registered else None, country])


def entity_of(wh) -> dict[str, str]:
    return dict(wh.query("SELECT org_id, entity_id FROM organizations"))


def test_name_keys_fold_legal_forms_quotes_case_and_script():
    assert {name_key(n) for n, *_ in (r[1:] for r in NTECHLAB)} == {"ntehlab"}
    assert name_key("ООО «НтехЛаб»") == "ntehlab"
    assert name_key("Общество с ограниченной ответственностью „НТЕХЛАБ“") == "ntehlab"
    assert name_key("'NtechLab' Limited") == "ntehlab"
    assert name_key("Grupo Acme S.A. de C.V.") == name_key("Grupo Acme") == "grupoakme"
    assert name_key("Acme Sp. z o.o.") == name_key("ACME GmbH") == name_key("Acme S.p.A.") == "akme"
    assert name_key("ТОВ «Акме»") == name_key("Akme B.V.") == "akme"
    assert name_key("ФГУП «Охрана»") == name_key("ГУП Охрана") == "ohrana"
    # a legal form is only stripped at either end of a name, never from its middle
    assert name_key("Лаб АО Лаб") == "labaolab"
    assert name_key("АО Лаб, ООО") == "lab"
    assert name_key("ООО") == "o"  # a name that is only a legal form keeps it (doubles merge)
    assert name_key("НТЕХ-СЕРВИС") == "ntehservis"
    assert name_key("Ntech Solutions Inc") == "ntehsolutions"
    assert name_key(None) is None and name_key("«»") is None


def test_labelled_pairs_agree_with_the_tuned_threshold():
    threshold = ent.settings()["fuzzy_threshold"]
    with open(FIXTURES / "labelled_pairs.csv", encoding="utf-8") as fh:
        pairs = list(csv.DictReader(fh))
    assert {p["same"] for p in pairs} == {"0", "1"}
    for pair in pairs:
        a, b = pair["name_a"], pair["name_b"]
        same = name_key(a) == name_key(b) or fuzzy_score(a, b) >= threshold
        assert same == (pair["same"] == "1"), (a, b, pair["note"], fuzzy_score(a, b))


def test_ntechlab_spellings_resolve_to_one_entity_and_lookalikes_stay_apart(warehouse):
    add_orgs(warehouse, NTECHLAB + LOOKALIKES)
    result = resolve_entities(warehouse)
    mapping = entity_of(warehouse)
    assert {mapping[o[0]] for o in NTECHLAB} == {f"ent:{NTECHLAB_INN}"}
    assert mapping["RU-INN:7700000025"] == "ent:RU-INN:7700000025"
    assert mapping["name:usaspending:ntech-solutions-inc"] == \
        "ent:name:usaspending:ntech-solutions-inc"
    assert result.merges == {"name": 4}
    name, aliases, identifiers, reason = warehouse.query(
        "SELECT name, aliases, identifiers, reason FROM entities WHERE entity_id = ?",
        [f"ent:{NTECHLAB_INN}"])[0]
    assert name == 'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "НТЕХЛАБ"'
    assert identifiers == [NTECHLAB_INN, "name:curated:н-тех-лаб", "name:eis:ооо-нтехлаб",
                           "name:ocds:ntechlab-llc", "name:ted:n-tech-lab-ltd"]
    assert set(aliases) == {n for o in NTECHLAB for n in o[1:3] if n}
    assert f"name:ocds:ntechlab-llc: same normalized name 'ntehlab' as {NTECHLAB_INN}" in reason
    assert warehouse.count("entities") == 3


def test_two_registry_numbers_never_merge_by_name(warehouse):
    add_orgs(warehouse, [
        ("RU-INN:7700000033", "ООО «Вокорд Телеком»", None, "RU"),
        ("RU-INN:7700000041", 'Общество с ограниченной ответственностью "ВОКОРД ТЕЛЕКОМ"', None,
         "RU"),
        ("name:ocds:vocord-telecom", "Vocord Telecom LLC", None, None),
    ])
    result = resolve_entities(warehouse)
    mapping = entity_of(warehouse)
    assert len(set(mapping.values())) == 3
    assert result.ambiguous == [(
        "name:ocds:vocord-telecom: name matches 2 registered organizations"
        " (RU-INN:7700000033, RU-INN:7700000041); left apart")]


def test_the_same_number_in_two_schemes_of_one_registry_is_one_entity(warehouse, load, shared):
    load("eis", shared / "eis" / "fz223_purchaseNotice_rosneft_31603913641.xml")
    add_orgs(warehouse, [("INN:7706107510", "Rosneft Oil Company", None, "RU")])
    resolve_entities(warehouse)
    mapping = entity_of(warehouse)
    assert mapping["INN:7706107510"] == mapping["RU-INN:7706107510"] == \
        "ent:RU-INN:7706107510"
    reason = warehouse.scalar("SELECT reason FROM entities WHERE entity_id = ?",
                              ["ent:RU-INN:7706107510"])
    assert reason == "RU-INN:7706107510 and INN:7706107510: same RU-INN number 7706107510"


def test_fuzzy_match_attaches_a_misspelt_name_only_organization(warehouse):
    add_orgs(warehouse, [
        ("RU-INN:7700000058", "ООО «Технологии распознавания»", None, "RU"),
        ("name:eis:технологии-распознования", "ООО «Технологии распознования»", None, "RU"),
        ("name:ocds:tekhnologii-raspoznavaniya-kz", "Tekhnologii raspoznovaniya LLP", None, "KZ"),
    ])
    result = resolve_entities(warehouse)
    mapping = entity_of(warehouse)
    assert mapping["name:eis:технологии-распознования"] == "ent:RU-INN:7700000058"
    # a different country on both sides blocks a fuzzy merge
    assert mapping["name:ocds:tekhnologii-raspoznavaniya-kz"] == \
        "ent:name:ocds:tekhnologii-raspoznavaniya-kz"
    assert result.merges == {"fuzzy": 1}
    reason = warehouse.scalar("SELECT reason FROM entities WHERE entity_id = ?",
                              ["ent:RU-INN:7700000058"])
    assert reason == ("name:eis:технологии-распознования: fuzzy name match"
                      " 'tehnologiraspoznovania' ~ 'tehnologiraspoznavania' (ratio 95 >= 90)"
                      " with RU-INN:7700000058")


def test_countries_never_meet_through_an_organization_of_unknown_country(warehouse):
    add_orgs(warehouse, [
        ("name:eis:акме", "ООО «Акме»", None, "RU"),
        ("name:ocds:akme", "Akme LLC", None, None),
        ("name:ocds:akme-kz", "Akme LLP", None, "KZ"),
    ])
    resolve_entities(warehouse)
    mapping = entity_of(warehouse)
    assert mapping["name:ocds:akme"] == mapping["name:eis:акме"] == "ent:name:eis:акме"
    assert mapping["name:ocds:akme-kz"] == "ent:name:ocds:akme-kz"


def test_overrides_merge_split_and_name_win_over_the_rules(warehouse, tmp_path):
    add_orgs(warehouse, NTECHLAB + LOOKALIKES)
    overrides = tmp_path / "overrides" / "entities.csv"  # the default path beside the db
    overrides.parent.mkdir()
    overrides.write_text(
        "action,org_id,target,note\n"
        "# analyst decisions, one per line\n"
        f"merge,RU-INN:7700000025,{NTECHLAB_INN},same group per annual report (hypothetical)\n"
        "split,name:ted:n-tech-lab-ltd,,a UK company of that name\n"
        f"name,{NTECHLAB_INN},NtechLab,\n"
        "merge,name:nowhere:x,RU-INN:7700000025,not loaded yet\n", encoding="utf-8")
    result = resolve_entities(warehouse)
    mapping = entity_of(warehouse)
    assert mapping["RU-INN:7700000025"] == f"ent:{NTECHLAB_INN}"
    assert mapping["name:ted:n-tech-lab-ltd"] == "ent:name:ted:n-tech-lab-ltd"
    assert mapping["name:ocds:ntechlab-llc"] == f"ent:{NTECHLAB_INN}"
    assert result.warnings == ["override line 6: name:nowhere:x is not in organizations"]
    name, reason = warehouse.query("SELECT name, reason FROM entities WHERE entity_id = ?",
                                   [f"ent:{NTECHLAB_INN}"])[0]
    assert name == "NtechLab"
    assert ("override (line 3): RU-INN:7700000025 merged into RU-INN:7700000017: same group"
            " per annual report (hypothetical)") in reason
    assert warehouse.scalar("SELECT reason FROM entities WHERE entity_id = ?",
                            ["ent:name:ted:n-tech-lab-ltd"]) == \
        "override: name:ted:n-tech-lab-ltd split (kept apart)"


def test_a_malformed_override_names_file_line_and_field(warehouse, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("action,org_id,target,note\nmerge,RU-INN:1,,\n", encoding="utf-8")
    with pytest.raises(OverrideError) as err:
        resolve_entities(warehouse, overrides=bad)
    assert (err.value.line, err.value.field) == (2, "target")
    assert str(err.value) == f"{bad}:2: target: merge needs a target"
    bad.write_text("action,org_id,target,note\njoin,RU-INN:1,RU-INN:2,\n", encoding="utf-8")
    with pytest.raises(OverrideError, match="'join' is not one of merge, split, name"):
        resolve_entities(warehouse, overrides=bad)


def test_build_on_real_eis_documents_is_idempotent_and_ids_are_stable(warehouse, load, shared):
    load("eis", shared / "eis")
    orgs = warehouse.count("organizations")
    assert orgs == 20
    resolve_entities(warehouse)
    first = warehouse.query("SELECT * FROM entities ORDER BY entity_id")
    assert len(first) == 20  # the recorded documents name twenty distinct organizations
    assert warehouse.scalar("SELECT count(*) FROM organizations WHERE entity_id IS NULL") == 0
    rosneft = warehouse.query("SELECT name, aliases, identifiers FROM entities"
                              " WHERE entity_id = 'ent:RU-INN:7706107510'")[0]
    assert rosneft == ('ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО "НЕФТЯНАЯ КОМПАНИЯ "РОСНЕФТЬ"',
                       ['ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО "НЕФТЯНАЯ КОМПАНИЯ "РОСНЕФТЬ"',
                        'ПАО "НК "РОСНЕФТЬ"'], ["RU-INN:7706107510"])
    resolve_entities(warehouse)
    assert warehouse.query("SELECT * FROM entities ORDER BY entity_id") == first
    # a later name-only spelling joins without renaming the entity
    add_orgs(warehouse, [("name:ocds:r-lab", "R-Lab LLC", None, None)])
    resolve_entities(warehouse)
    assert entity_of(warehouse)["name:ocds:r-lab"] == "ent:RU-INN:6829057730"
    assert warehouse.count("entities") == 20
    assert warehouse.query("SELECT * FROM entities WHERE entity_id <> 'ent:RU-INN:6829057730'"
                           " ORDER BY entity_id") == \
        [r for r in first if r[0] != "ent:RU-INN:6829057730"]


def test_entities_as_analysts_count_them_on_the_curated_and_usaspending_documents(
        warehouse, load, shared):
    """ICE under six curated names is one buyer; the Air Force's curated name is USAspending's
    sub-tier agency, itself part of the Department of Defense; the two CEIEC-Huawei rows are one
    joint award with Huawei as a member; Moscow's bodies roll up (data/entity_links.csv)."""
    from survtrack.scrapers.curated import CSV

    load("curated", CSV)
    load("usaspending", shared / "outside" / "usaspending" / "awards__award_id__d654b573__r2.json")
    result = resolve_entities(warehouse)
    assert result.warnings == []  # project links never warn
    mapping = entity_of(warehouse)
    ice = {org: e for org, e in mapping.items() if "immigration-and-customs" in org
           or org == "name:curated:department-of-homeland-security-ice"}
    assert len(ice) == 6 and len(set(ice.values())) == 1
    name, aliases, reason = warehouse.query(
        "SELECT name, aliases, reason FROM entities WHERE entity_id = ?",
        [ice["name:curated:u-s-immigration-and-customs-enforcement"]])[0]
    assert name == "U.S. Immigration and Customs Enforcement (ICE)" and len(aliases) == 6
    assert "entity_links.csv (line " in reason and "HSI Division 3 is an ICE office" in reason
    # every curated contract ICE signed has one buyer now
    assert warehouse.scalar(
        "SELECT count(DISTINCT o.entity_id) FROM contracts c JOIN organizations o"
        " ON o.org_id = c.buyer_id WHERE c.buyer_id LIKE '%immigration-and-customs%'"
        " OR c.buyer_id LIKE '%homeland-security-ice'") == 1
    air_force = mapping["name:curated:u-s-air-force"]
    assert air_force == mapping["US-FED:097/5700"] == "ent:US-FED:097/5700"
    assert warehouse.scalar("SELECT parent_id FROM entities WHERE entity_id = ?",
                            [air_force]) == "ent:US-FED:097"
    joint = mapping["name:curated:huawei-technologies-and-ceiec-manufacturers"]
    assert mapping["name:curated:china-national-electronics-import-and-export-corporation-ceiec"
                   "-with-huawei"] == joint
    assert warehouse.query("SELECT name, members FROM entities WHERE entity_id = ?", [joint]) \
        == [("CEIEC and Huawei Technologies (joint)", ["ent:name:curated:huawei-technologies"])]
    # a consortium whose members no record names alone lists them by name, in the file's order
    assert warehouse.query(
        "SELECT members FROM entities WHERE entity_id ="
        " 'ent:name:curated:nec-bedroq-and-digital-barriers-framework'") \
        == [(["NEC", "Bedroq", "Digital Barriers"],)]
    parents = dict(warehouse.query("SELECT entity_id, parent_id FROM entities"
                                   " WHERE parent_id IS NOT NULL"))
    infogorod = "ent:name:curated:gku-infogorod-subordinate-to-moscow-dit"
    dit = "ent:name:curated:moscow-department-of-information-technology-dit"
    assert parents[infogorod] == dit and parents[dit] == "ent:name:curated:government-of-moscow"


def test_an_analysts_override_undoes_a_project_link(warehouse, tmp_path):
    add_orgs(warehouse, [
        ("name:curated:u-s-immigration-and-customs-enforcement",
         "U.S. Immigration and Customs Enforcement", None, "US"),
        ("name:curated:u-s-immigration-and-customs-enforcement-hsi",
         "U.S. Immigration and Customs Enforcement (HSI)", None, "US")])
    overrides = tmp_path / "mine.csv"
    overrides.write_text("action,org_id,target,note\nsplit,name:curated:u-s-immigration-and"
                         "-customs-enforcement-hsi,,count HSI apart\n", encoding="utf-8")
    resolve_entities(warehouse, overrides=overrides)
    assert len(set(entity_of(warehouse).values())) == 2
    resolve_entities(warehouse, overrides=tmp_path / "none.csv")
    assert len(set(entity_of(warehouse).values())) == 1


def test_the_build_step_resolves_again_only_when_what_it_reads_or_wrote_changed(
        warehouse, load, shared, tmp_path):
    """`build_entities` skips a resolution that would write the same rows: the organizations
    (recorded write or not), their entity ids, `entities` and the overrides as it left them.
    Each change below is seen, and the step's rows equal a resolution from scratch."""
    load("eis", shared / "eis")
    first = ent.build_entities(warehouse)
    assert "unchanged" not in first and first["organizations"] == 20
    rows = lambda: (warehouse.query("SELECT * FROM entities ORDER BY ALL"),  # noqa: E731
                    sorted(entity_of(warehouse).items()))
    built = rows()
    assert ent.build_entities(warehouse)["unchanged"] and rows() == built

    def rebuilt() -> None:
        summary = ent.build_entities(warehouse)
        assert "unchanged" not in summary
        after = rows()
        resolve_entities(warehouse)  # from scratch: the same rows
        assert rows() == after
        assert ent.build_entities(warehouse)["unchanged"]

    add_orgs(warehouse, [("name:ocds:r-lab", "R-Lab LLC", None, None)])  # no record kept
    rebuilt()
    assert entity_of(warehouse)["name:ocds:r-lab"] == "ent:RU-INN:6829057730"
    warehouse.execute("UPDATE organizations SET name = 'R-Lab Two' WHERE org_id = 'name:ocds:r-lab'")
    rebuilt()
    assert entity_of(warehouse)["name:ocds:r-lab"] == "ent:name:ocds:r-lab"
    # the step's own rows changed by someone else: written again
    warehouse.execute("UPDATE organizations SET entity_id = NULL")
    rebuilt()
    warehouse.execute("DELETE FROM entities WHERE entity_id = 'ent:RU-INN:6829057730'")
    rebuilt()
    overrides = tmp_path / "overrides" / "entities.csv"  # the default path beside the db
    overrides.parent.mkdir()
    overrides.write_text("action,org_id,target,note\nname,RU-INN:6829057730,R-Lab,\n",
                         encoding="utf-8")
    rebuilt()
    assert warehouse.scalar("SELECT name FROM entities"
                            " WHERE entity_id = 'ent:RU-INN:6829057730'") == "R-Lab"
    assert "unchanged" not in ent.build_entities(warehouse, full=True)
