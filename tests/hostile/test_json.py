"""Hostile JSON for the JSON sources (OCDS packages, JSON Lines, USAspending API responses):
deep nesting, long numbers, huge amounts, over-long strings and lines. Each case sits beside
a good document in one folder; one bounded `survtrack ingest` reads them all."""

from __future__ import annotations

import json

import pytest

from hostile.harness import survtrack

GOOD = {"ocid": "ocds-good-1", "id": "1", "date": "2020-01-01T00:00:00Z", "tag": ["contract"],
        "buyer": {"name": "Good Buyer"},
        "contracts": [{"id": "c1", "value": {"amount": 100, "currency": "USD"}}]}


def release(n: int, **extra) -> bytes:
    return json.dumps({**GOOD, "ocid": f"ocds-case-{n}", **extra}).encode()


def package(*releases: bytes) -> bytes:
    return b'{"uri":"https://example.org/p","releases":[' + b",".join(releases) + b"]}"


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


# file name -> (bytes, what the reject must say, ocids that must load)
CASES = {
    # issue 11 finding 1: 100,000 levels drove ijson to 16 GB
    "deep_package.json": (package(release(1), b'{"ocid":"x","n":' + deep(100_000) + b"}",
                                  release(2)),
                          "nested deeper than 64 levels", ["ocds-case-1", "ocds-case-2"]),
    "deep_bare.json": (deep(100_000), "nested deeper than 64 levels", []),
    # finding 2: an integer of 4,301+ digits crashed the process (SIGSEGV in yajl2_c)
    "long_number.json": (package(release(3), b'{"ocid":"x","n":' + b"7" * 5000 + b"}",
                                 release(4)),
                         "a number longer than 100 characters", ["ocds-case-3", "ocds-case-4"]),
    "huge_exponent.json": (package(b'{"ocid":"x","n":1e99999999999999999999}', release(5)),
                           "exponent of more than 6 digits", ["ocds-case-5"]),
    # finding 8: one release with amount 1e308 cost the whole file (DuckDB cast error)
    "amount_1e308.json": (package(
        release(6, contracts=[{"id": "c1", "value": {"amount": "AMOUNT", "currency": "USD"}}]
                ).replace(b'"AMOUNT"', b"1e308"), release(7)),
        "amount out of range", ["ocds-case-7"]),
    # finding 8: a 100k-deep line (RecursionError) cost the whole JSON Lines file
    "deep_line.jsonl": (release(8) + b"\n" + b'{"ocid":"x","n":' + deep(100_000) + b"}\n"
                        + release(9) + b"\n", "nested deeper than 64 levels",
                        ["ocds-case-8", "ocds-case-9"]),
    "long_string.json": (package(b'{"ocid":"x","s":"' + b"a" * (17 * 1024**2) + b'"}',
                                 release(10)),
                         "a string longer than", ["ocds-case-10"]),
}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-json")
    inbox = root / "ocds"
    inbox.mkdir()
    for name, (data, _, _) in CASES.items():
        (inbox / name).write_bytes(data)
    (inbox / "good.json").write_bytes(package(json.dumps(GOOD).encode()))
    return survtrack(root / "w.duckdb", "ingest", "ocds", str(inbox))


def test_the_run_ends_by_itself_within_bounds_and_finishes(ingested):
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    assert ingested.query("SELECT status FROM runs") == [("finished",)]
    assert ingested.query("SELECT count(*) FROM contracts WHERE contract_id = ?",
                          ["ocds:ocds-good-1/c1"]) == [(1,)]


@pytest.mark.parametrize("name", CASES)
def test_each_case_is_rejected_with_its_reason_and_the_good_parts_load(ingested, name):
    _, reason, loads = CASES[name]
    reasons = ingested.rejects().get(name, [])
    assert any(reason in r for r in reasons), reasons
    held = {o for (o,) in ingested.query("SELECT split_part(substr(contract_id, 6), '/', 1)"
                                         " FROM contracts")}
    assert set(loads) <= held
