"""`ivr callbacks`: the callbacks owed, as the call log holds them, at an instant."""

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from conftest import NOW, SETTLE, FakeClock, answered_call, migrated, missed_call, utc

from ivr.cli.commands import main
from ivr.store.calllog import CallLog
from ivr.store.database import database_url, make_engine

START = utc("2026-12-01T09:00:00Z")


@pytest.fixture
def logged(tmp_path, monkeypatch):
    """The service's call log (SQLite, as DATABASE_URL names it) after three missed L1 calls from
    two customers, one of whom was then reached."""
    url = database_url(None, str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    log = CallLog(make_engine(migrated(url)), journal=tmp_path / "journal", clock=FakeClock(NOW),
                  alert_settle_seconds=SETTLE)
    missed_call(log, "CA1", tier="premier")  # due 09:30
    missed_call(log, "CA2", at=START + timedelta(minutes=10), sen="SEN-2345678", caller="+31612345678")  # due 10:10
    missed_call(log, "CA3", at=START + timedelta(minutes=20), sen="SEN-3456789", caller="+61491570156")
    answered_call(log, "CA4", at=START + timedelta(minutes=40))  # Acme reached: CA1 closed
    log.calls()  # stored
    log.close()


def run(*args):
    return CliRunner().invoke(main, ["callbacks", *args])


def test_open_callbacks_soonest_due_first_with_due_in_and_overdue_by(logged):
    result = run("--at", "2026-12-01T09:45:00Z")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "#2  open  due 2026-12-01T10:10:00Z  due in 25 min  Acme Corporation  SEN-2345678  +31612345678  "
        "+14155550100  1 call(s)  CA2",
        "#3  open  due 2026-12-01T10:20:00Z  due in 35 min  Acme Corporation  SEN-3456789  +61491570156  "
        "+14155550100  1 call(s)  CA3",
    ]


def test_overdue_and_closed_callbacks(logged):
    overdue = run("--state", "overdue", "--at", "2026-12-01T11:15:00Z")
    assert [line.split("  ")[:4] for line in overdue.stdout.splitlines()] == [
        ["#2", "overdue", "due 2026-12-01T10:10:00Z", "overdue by 1 h 05 min"],
        ["#3", "overdue", "due 2026-12-01T10:20:00Z", "overdue by 55 min"],
    ]
    closed = run("--state", "closed", "--at", "2026-12-01T11:15:00Z")
    assert closed.stdout.splitlines()[0].split("  ")[:4] == [
        "#1", "closed", "due 2026-12-01T09:30:00Z", "closed 2026-12-01T09:40:12Z answered CA4"]


def test_json_carries_the_due_time_and_seconds_left_and_a_window_on_when_they_opened(logged):
    result = run("--state", "all", "--since", "2026-12-01T09:05:00Z", "--until", "2026-12-01T09:15:00Z",
                 "--at", "2026-12-01T10:00:00Z", "--json")
    [callback] = json.loads(result.stdout)
    assert {k: callback[k] for k in ("id", "state", "sen", "due_at", "due_in_seconds", "first_call", "calls")} == {
        "id": 2, "state": "open", "sen": "SEN-2345678", "due_at": "2026-12-01T10:10:00Z", "due_in_seconds": 600,
        "first_call": "CA2", "calls": 1}


def test_nothing_owed_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url(None, str(tmp_path)))
    result = run()
    assert (result.exit_code, result.stdout) == (0, "no callbacks\n")
