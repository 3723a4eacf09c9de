"""`ivr db upgrade` and `ivr db current` (and `ivr init-db`, the same as upgrade) prepare the call log;
`ivr release` checks the phonebook and migrates; `ivr calls` lists the log in the terminal."""

from __future__ import annotations

import json
import re

import time_machine
from click.testing import CliRunner
from conftest import SAMPLE, SETTLE, answered_call, migrated, utc

from ivr.cli.commands import main
from ivr.engine.events import Deflected, Entitlement, Started, Status
from ivr.store.calllog import CallLog
from ivr.store.database import database_url
from ivr.store.migrate import head


def test_db_upgrade_then_calls_lists_newest_first_with_filters(tmp_path, monkeypatch, clock):
    url = database_url(None, str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()
    behind = runner.invoke(main, ["db", "current"])
    assert (behind.exit_code, behind.stderr) == (1, "Error: the call log's database is empty: run `ivr db upgrade`\n")
    with time_machine.travel(utc("2026-12-01T08:30Z"), tick=False):
        ready = runner.invoke(main, ["db", "upgrade"])
    assert ready.exit_code == 0 and ready.output == f"call log {url}: upgraded from nothing to {head()}\n"
    again = runner.invoke(main, ["init-db"])
    assert again.exit_code == 0 and again.stderr == "init-db is `ivr db upgrade` now\n"
    assert again.stdout == f"call log {url}: at {head()}, nothing to do\n"
    # The first upgrade marked the call log's first start: digests are owed from then, not from the second.
    log = CallLog.from_settings(url, str(tmp_path), clock=clock, alert_settle_seconds=SETTLE)
    assert log.alerts.digests_owed_from() == utc("2026-12-01T08:30Z")
    log.close()
    current = runner.invoke(main, ["db", "current"])
    assert (current.exit_code, current.output) == (0, f"call log {url}: at {head()} (this release's head)\n")

    log = CallLog.from_settings(url, str(tmp_path), clock=clock, alert_settle_seconds=SETTLE)
    answered_call(log, sid="CA801", at=utc("2026-11-30T09:00Z"))
    log.record("CA802", Started(to="+31205550100", caller="+31612345678"), utc("2026-12-01T09:00Z"))
    log.record("CA802", Status(call_status="completed", duration=4), utc("2026-12-01T09:00:04Z"))
    log.close()

    listed = runner.invoke(main, ["calls"])
    assert listed.exit_code == 0
    header, *lines = listed.output.splitlines()
    assert header.split() == ["started", "call", "line", "caller", "customer", "severity", "outcome", "answered,", "or",
                              "why", "deflected"]
    assert lines[0].split() == ["2026-12-01T09:00:00Z", "CA802", "+31205550100", "+31612345678", "-", "L?",
                                "abandoned"]
    assert lines[1].split()[-5:] == ["L1", "answered", "san_francisco", "after", "12s"]
    # Columns line up under the header: each value starts where its heading does.
    for line in lines:
        assert [line[header.index(title)] != " " for title in ("call", "caller", "outcome")] == [True] * 3, line

    answered = runner.invoke(main, ["calls", "--outcome", "answered", "--json"])
    calls = json.loads(answered.output)
    assert [c["sid"] for c in calls] == ["CA801"]
    assert calls[0]["customer"] == "Acme Corporation" and len(calls[0]["events"]) == 8

    recent = runner.invoke(main, ["calls", "--since", "2026-12-01", "--json"])
    assert [c["sid"] for c in json.loads(recent.output)] == ["CA802"]

    bad = runner.invoke(main, ["calls", "--since", "yesterday"])
    assert bad.exit_code == 2 and "not an ISO 8601 instant" in bad.output


def test_calls_on_a_fresh_or_unreachable_call_log_say_so_without_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url(None, str(tmp_path)))
    fresh = CliRunner().invoke(main, ["calls"])
    assert (fresh.exit_code, fresh.output) == (0, "no calls\n")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/calls")
    down = CliRunner().invoke(main, ["calls", "--json"])
    assert down.exit_code == 1 and down.output.startswith(
        "Error: cannot read the call log postgresql+psycopg://postgres@127.0.0.1:1/calls: ")


def test_the_release_phase_fails_in_one_line_when_the_database_is_unreachable(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:1/calls")
    monkeypatch.setenv("IVR_INSTANCE_PATH", str(tmp_path))
    failed = CliRunner().invoke(main, ["release", "--phonebook", str(SAMPLE)])
    assert failed.exit_code == 1 and failed.stdout.startswith(f"{SAMPLE}: OK (")
    # After the phonebook's warnings, as `ivr check` prints them, one line: the driver's first.
    line = failed.stderr.splitlines()[-1]
    assert "Connection refused" in line and line.startswith("Error: release refused: cannot migrate the call log postgresql+psycopg://postgres@127.0.0.1:1/calls: ")


def test_the_release_phase_refuses_a_broken_phonebook_before_touching_the_database(tmp_path, monkeypatch):
    url = database_url(None, str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    book = tmp_path / "phonebook.toml"
    book.write_text(SAMPLE.read_text().replace('tz = "America/Los_Angeles"', 'tz = "Mars/Olympus"', 1))
    failed = CliRunner().invoke(main, ["release", "--phonebook", str(book)])
    assert failed.exit_code == 1 and failed.stdout == ""
    assert failed.stderr.splitlines()[-1] == f"Error: release refused: {book} is not valid: 1 error(s)"
    assert not (tmp_path / "calllog.sqlite3").exists()


def test_the_release_phase_checks_the_phonebook_and_migrates(tmp_path, monkeypatch):
    url = database_url(None, str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    done = CliRunner().invoke(main, ["release", "--phonebook", str(SAMPLE)])
    assert done.exit_code == 0, done.output
    checked, migrated = done.stdout.splitlines()
    assert checked.startswith(f"{SAMPLE}: OK (") and migrated == f"call log {url}: upgraded from nothing to {head()}"


def test_calls_say_why_a_call_was_deflected(tmp_path, monkeypatch, clock):
    url = database_url(None, str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    log = CallLog.from_settings(migrated(url), str(tmp_path), clock=clock, alert_settle_seconds=SETTLE)
    log.record("CA803", Started(to="+31205550100", caller="+31612345678"), utc("2026-12-01T10:00Z"))
    log.record("CA803", Entitlement(sen="SEN-2345678", customer="Globex", verdict="expired"), utc("2026-12-01T10:00:09Z"))
    log.record("CA803", Deflected(reason="expired"), utc("2026-12-01T10:00:09Z"))
    log.close()
    listed = CliRunner().invoke(main, ["calls"])
    header, row = listed.output.splitlines()
    assert re.split(r"\s{2,}", header)[-1] == "answered, or why deflected"
    assert re.split(r"\s{2,}", row)[-4:] == ["Globex", "L?", "deflected", "maintenance expired"]
    as_json = json.loads(CliRunner().invoke(main, ["calls", "--json"]).output)
    assert as_json[0]["deflection"] == "maintenance expired"
