"""Every event the service accepts is journaled before the webhook answers, and stored exactly once
from there, whatever happens to the process that accepted it or to the values it carries."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from conftest import ROOT, SETTLE, answered_call, utc
from sqlalchemy import func, select

from ivr.engine.events import Dial, Started, Status
from ivr.engine.outcomes import IN_PROGRESS, Outcome, Summary
from ivr.outside.alerts import alert_text
from ivr.store import calllog
from ivr.store.calllog import CallLog
from ivr.store.journal import REJECTED
from ivr.store.schema import calls, events, journal_progress

START = utc("2026-12-01T09:00:00Z")


def stored_events(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(events)).scalar_one()


def journal_files(folder):
    return sorted(folder.glob("events-*.jsonl"))


def test_an_accepted_event_is_in_the_journal_before_record_returns_and_the_database_is_untouched(store):
    store.record("CA100", Started(to="+14155550100", caller="+14155551234"), START)
    [path] = journal_files(store.journal.folder)
    [line] = [json.loads(raw) for raw in path.read_text().splitlines()]
    assert (line["sid"], line["kind"], line["key"], line["data"]["from"]) == ("CA100", "started", "started",
                                                                            "+14155551234")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert stored_events(store) == 0
    assert store.caught_up() and stored_events(store) == 1


def test_a_new_writer_on_the_same_journal_stores_nothing_twice(store, clock):
    answered_call(store, sid="CA101")
    assert store.caught_up()
    store.writer.close()  # the writer's process goes away; another takes over from the database's positions
    successor = CallLog(store.engine, journal=store.journal.folder, clock=clock, alert_settle_seconds=SETTLE)
    answered_call(store, sid="CA102")  # still accepted by the first process's journal
    assert successor.writer.catch_up(5)
    assert stored_events(store) == 16
    assert [c.sid for c in successor.calls().calls] == ["CA102", "CA101"]


def test_one_writer_per_journal_folder(store, clock):
    other = CallLog(store.engine, journal=store.journal.folder, clock=clock, alert_settle_seconds=SETTLE)
    assert store.writer.elect() is True
    assert other.writer.elect() is False
    store.writer.close()
    assert other.writer.elect() is True


def test_a_process_that_leaves_the_writing_to_a_writer_process_only_appends_to_the_journal(
        store, clock, monkeypatch):
    """A gunicorn worker (IVR_WRITER=process): its reads never store the journal, and it never
    takes writer.lock, even with no writer alive (its health then says so); the writer process
    stores what it accepted."""
    monkeypatch.setattr(calllog, "WRITER_MISSING_S", 0.0)
    worker = CallLog(store.engine, journal=store.journal.folder, clock=clock, alert_settle_seconds=SETTLE,
                     writes=False)
    worker.start()
    answered_call(worker, sid="CA130")
    assert worker.caught_up() is False
    assert worker.call("CA130") is None and stored_events(store) == 0
    health = worker.health()
    assert (health["ok"], health["writer"]) == (False, False)
    assert health["last_error"].startswith("no call-log writer for ")
    assert store.writer.elect() is True  # the lock was free for the writer process
    assert store.writer.catch_up(5) and stored_events(store) == 8
    health = worker.health()
    assert (health["ok"], health["writer"], health["last_error"]) == (True, True, None)
    worker.close()
    assert stored_events(store) == 8


def killed_worker(folder: Path, does: str) -> None:
    """Another worker, a process of its own with a journal on `folder` and `at` = 2026-12-01T09:00Z:
    it runs the Python `does` (the event records at hand) and is killed (kill -9)."""
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from datetime import datetime, UTC
from pathlib import Path
from ivr.engine.events import Started, Severity, Status
from ivr.store.journal import Journal
journal = Journal(Path({str(folder)!r}))
at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
{does}
os.kill(os.getpid(), signal.SIGKILL)
"""
    assert subprocess.run([sys.executable, "-c", script], timeout=60).returncode == -signal.SIGKILL


def test_the_journal_of_a_process_killed_mid_call_is_stored_to_its_end_and_then_deleted(store):
    folder = store.journal.folder
    # Another worker accepts three events and is killed before any of them is stored.
    killed_worker(folder, """
for event in (Started(to="+14155550100"), Severity(severity=1), Status(call_status="completed", duration=5)):
    journal.append("CA103", event, at, at)
""")
    [orphan] = journal_files(folder)
    assert store.writer.catch_up(5)
    assert store.call("CA103").outcome is Outcome.ABANDONED
    assert not orphan.exists()
    with store.engine.connect() as conn:
        assert conn.execute(select(journal_progress.c.name)).scalars().all() == []


def test_values_no_database_would_take_are_cleaned_and_never_take_the_batch_down(store):
    sip_caller = "sip:" + "x" * 10_000 + "@carrier.example.com"
    store.record("CA104", Started(to="+14155550100", caller=sip_caller, caller_name="Ann\x00Bob",
                                  region="r" * 300, line="L" * 300), START)
    store.record("CA104", Status(call_status="completed", duration=10**30), START + timedelta(seconds=3))
    store.record("CA105", Started(to="+14155550100"), START)
    store.record("C" * 100, Started(to="+14155550100"), START)  # no CallSid is this long: set aside alone
    assert store.caught_up()
    call = store.call("CA104")
    assert call.caller_name == "Ann\ufffdBob" and call.caller.startswith("sip:xxx") and len(call.caller) == 64
    assert call.duration == 2**31 - 1 and call.outcome is Outcome.ABANDONED
    # The event itself keeps the whole number it was given.
    [started] = [e for e in store.timelines(["CA104"])["CA104"] if e.kind == "started"]
    assert started.record.caller == sip_caller and started.record.caller_name == "Ann\ufffdBob"
    assert store.call("CA105") is not None
    [rejected] = [json.loads(line) for line in (store.journal.folder / REJECTED).read_text().splitlines()]
    assert rejected["reason"].startswith("CallSid must be 1 to 64 characters")
    assert store.health()["rejected"] == 1


def test_a_torn_line_in_a_journal_is_set_aside_and_the_lines_after_it_are_stored(store):
    store.record("CA106", Started(to="+14155550100"), START)
    [path] = journal_files(store.journal.folder)
    with open(path, "ab") as journal:
        journal.write(b'{"sid": "CA107", "kind": "sta\n')
    store.record("CA108", Started(to="+14155550100"), START)
    assert store.caught_up()
    assert store.call("CA106") is not None and store.call("CA108") is not None
    [rejected] = (store.journal.folder / REJECTED).read_text().splitlines()
    assert json.loads(rejected)["reason"].startswith("not a call event")


def test_the_counts_for_metrics_always_equal_a_recount_of_the_calls(store):
    answered_call(store, sid="CA110")
    store.record("CA111", Started(to="+14155550100"), START)  # in progress
    store.record("CA112", Started(to="+14155550100"), START)
    assert store.caught_up()
    store.record("CA112", Status(call_status="completed", duration=4), START)  # in progress, then abandoned
    store.record("CA111", Dial(attempt=1, team="san_francisco", numbers=("+14155550101",), status="completed",
                               duration=30, accepted_by="+14155550101", bridged=True), START)
    assert store.caught_up()
    with store.engine.connect() as conn:
        recount = {(o or IN_PROGRESS, s or None, n) for o, s, n in conn.execute(
            select(calls.c.outcome, calls.c.severity, func.count()).group_by(calls.c.outcome, calls.c.severity))}
    assert set(store.outcome_counts()) == recount


def test_the_alert_of_a_call_whose_events_waited_says_how_late_it_is(sample):
    missed = Summary(sid="CA115", started_at=START, severity=1, outcome=Outcome.ABANDONED, duration=20)
    assert "late" not in alert_text(missed, sample, START + timedelta(minutes=1))
    late = alert_text(missed, sample, START + timedelta(seconds=20, minutes=47))
    assert late.endswith("This alert is 47 min late: the call log or its database was unavailable.")
    assert "2 h 5 min late" in alert_text(missed, sample, START + timedelta(seconds=20, minutes=125))


def test_the_unfinished_last_line_of_a_dead_worker_is_set_aside_and_its_file_deleted(store):
    folder = store.journal.folder
    killed_worker(folder, """
journal.append("CA120", Started(to="+14155550100"), at, at)
os.write(journal._fd, b'{"sid": "CA121", "kind": "sta')  # killed in the middle of its next line
""")
    assert store.writer.catch_up(5) and store.writer.catch_up(5)
    assert store.call("CA120") is not None and journal_files(folder) == []
    [rejected] = (folder / REJECTED).read_text().splitlines()
    assert "the line its worker was writing when it died" in json.loads(rejected)["reason"]
