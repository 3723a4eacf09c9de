"""`ivr init-db` prepares the call log; `ivr calls` lists it in the terminal."""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import SETTLE, answered_call, utc

from ivr.cli.commands import main
from ivr.engine.events import Deflected, Entitlement, Started, Status
from ivr.store.calllog import CallLog
from ivr.store.database import database_url


def test_init_db_then_calls_lists_newest_first_with_filters(tmp_path, monkeypatch, clock):
    url = database_url(None, str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()
    ready = runner.invoke(main, ["init-db"])
    assert ready.exit_code == 0 and "calllog.sqlite3" in ready.output
    assert runner.invoke(main, ["init-db"]).exit_code == 0

    log = CallLog.from_settings(url, str(tmp_path), clock=clock, alert_settle_seconds=SETTLE)
    answered_call(log, sid="CA801", at=utc("2026-11-30T09:00Z"))
    log.record("CA802", Started(to="+31205550100", caller="+31612345678"), utc("2026-12-01T09:00Z"))
    log.record("CA802", Status(call_status="completed", duration=4), utc("2026-12-01T09:00:04Z"))
    log.close()

    listed = runner.invoke(main, ["calls"])
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].split() == ["2026-12-01T09:00:00Z", "CA802", "+31205550100", "+31612345678", "-", "L?",
                                "abandoned"]
    assert lines[1].endswith("answered  san_francisco after 12s")

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


def test_init_db_fails_the_release_step_clearly_when_the_database_is_unreachable(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:1/calls")
    failed = CliRunner().invoke(main, ["init-db"])
    assert failed.exit_code == 1 and "Error: cannot prepare the call log postgresql+psycopg://" in failed.output


def test_calls_say_why_a_call_was_deflected(tmp_path, monkeypatch, clock):
    url = database_url(None, str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    log = CallLog.from_settings(url, str(tmp_path), clock=clock, alert_settle_seconds=SETTLE)
    log.create_tables()
    log.record("CA803", Started(to="+31205550100", caller="+31612345678"), utc("2026-12-01T10:00Z"))
    log.record("CA803", Entitlement(sen="SEN-2345678", customer="Globex", verdict="expired"), utc("2026-12-01T10:00:09Z"))
    log.record("CA803", Deflected(reason="expired"), utc("2026-12-01T10:00:09Z"))
    log.close()
    listed = CliRunner().invoke(main, ["calls"])
    assert listed.output.splitlines()[0].endswith("Globex  L?  deflected  maintenance expired")
    as_json = json.loads(CliRunner().invoke(main, ["calls", "--json"]).output)
    assert as_json[0]["deflection"] == "maintenance expired"
