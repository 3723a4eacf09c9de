"""The customers' CSV file: every bad row with its line number, and what `ivr check` lists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import SAMPLE

from ivr.engine.phonebook import InvalidFile, PhonebookError, Problem
from ivr.engine.phonebook_loader import load_phonebook
from ivr.outside.customers_csv import CustomersFileError, check_source, load_customers_csv, parse_customers_csv

CSV = """sen,name,tier,maintenance_until,admins
SEN-1234567,Acme Corporation,priority,2027-06-30,+14155551234 +61491570156
SEN-2345678,Globex,premier,2026-03-31,+31612345678
SEN-3456789,Initech,select,2027-12-31,+14155559876
SEN-4567890,Acme Europe,priority,2027-06-30,+61491570156
"""


def write(path: Path, text: str, mtime: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))


def phonebook_with(tmp_path: Path, extra: str):
    path = tmp_path / "phonebook.toml"
    path.write_text(SAMPLE.read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")
    return load_phonebook(path)


def test_bad_csv_rows_are_reported_with_their_line_numbers():
    text = (
        "sen,name,tier,maintenance_until,admins\n"
        "SEN-1234567,Acme Corporation,priority,2027-06-30,+14155551234\n"
        "\n"
        "SEN-12,Shorty,priority,2027-06-30,\n"
        "SEN-2345678,Globex,gold,2026-31-03,+31612345678\n"
        "SEN-3456789,,select,2027-12-31,0612345678\n"
        "SEN-1234567,Acme again,priority,2027-06-30,\n"
        'SEN-4567890,"Acme, Europe",priority,2027-06-30,+61491570156,extra\n'
        "SEN-5678901,Hooli,priority\n"
    )
    customers, problems = parse_customers_csv(text)
    assert [c.name for c in customers] == ["Acme Corporation"]
    assert [str(p) for p in problems] == [
        "error: line 4: sen: 'SEN-12' is not a SEN like 'SEN-1234567'",
        "error: line 5: tier: 'gold' is not one of premier, priority, select",
        "error: line 5: maintenance_until: '2026-31-03' is not a date like 2026-12-25",
        "error: line 6: name: is required",
        "error: line 6: admins[0]: '0612345678' is not a valid E.164 phone number like '+14155550100'",
        "error: line 7: sen: SEN-1234567 is already used on line 2",
        "error: line 8: has 6 cells, the header 5",
        "error: line 9: maintenance_until: is required",
    ]


def test_a_csv_header_with_a_typo_is_reported_on_line_1():
    _, problems = parse_customers_csv("sen,name,teir,maintenance_until\n")
    assert [str(p) for p in problems] == [
        "error: line 1: column 'tier' is missing",
        "error: line 1: unknown column 'teir' (did you mean 'tier'?)",
    ]


def test_ivr_check_gets_the_bad_csv_rows_from_check_source(tmp_path):
    phonebook = phonebook_with(tmp_path, '[entitlements]\nfile = "customers.csv"\n')
    assert [str(p) for p in check_source(phonebook)] == [
        "error: cannot read the file: No such file or directory"
    ]
    write(tmp_path / "customers.csv", CSV + "SEN-5678901,Hooli,gold,2027-01-31,\n", 1_800_000_000)
    assert [str(p) for p in check_source(phonebook)] == [
        "error: line 6: tier: 'gold' is not one of premier, priority, select"
    ]
    write(tmp_path / "customers.csv", CSV, 1_800_000_060)
    assert check_source(phonebook) == []


def test_the_phonebook_customers_need_no_check(sample):
    assert check_source(sample) == []


def test_a_csv_file_with_bad_rows_is_refused_with_its_own_error_not_a_phonebook_error(tmp_path):
    path = tmp_path / "customers.csv"
    write(path, CSV + "SEN-5678901,Hooli,gold,2027-01-31,\n", 1_800_000_000)
    with pytest.raises(CustomersFileError) as refused:
        load_customers_csv(path)
    assert not isinstance(refused.value, PhonebookError)
    # WatchedFile refuses any InvalidFile and keeps the last good version.
    assert isinstance(refused.value, InvalidFile)
    assert refused.value.problems == [Problem("line 6", "tier: 'gold' is not one of premier, priority, select")]
    assert str(refused.value) == "1 problem(s), first: error: line 6: tier: 'gold' is not one of premier, priority, select"
