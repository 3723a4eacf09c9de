"""The writer keeps the timelines of the calls it stored last, and reads back only the others: what it
keeps is always what the database holds, whatever other writers and failed batches do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import SETTLE, utc
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from ivr.engine.events import Dial, Routed, Screened, Severity, Started, Status
from ivr.engine.outcomes import Outcome, summarise
from ivr.store import writer
from ivr.store.calllog import CallLog
from ivr.store.schema import calls

START = utc("2026-12-01T09:00:00Z")


def seconds(n: float):
    return START + timedelta(seconds=n)


@pytest.fixture
def other_instance(store, tmp_path, clock):
    """A second instance on the same database: its own journal folder, its own writer."""
    other = CallLog(store.engine, journal=tmp_path / "other-journal", clock=clock, alert_settle_seconds=SETTLE)
    yield other
    other.writer.close()


def kept(store: CallLog, sid: str):
    """The timeline the store's writer keeps for the call, if it still counts as the call's."""
    with store.engine.connect() as conn:
        count = conn.execute(select(calls.c.event_count).where(calls.c.sid == sid)).scalar_one()
    return store.writer._recent.of(sid, count)


def test_a_kept_timeline_is_the_one_the_database_gives_and_so_is_its_summary(store):
    # Batch after batch: out of order, two events at one instant, an offset other than UTC, a NUL.
    store.record("CA900", Status(call_status="completed", duration=320), seconds(320))
    assert store.caught_up()
    store.record("CA900", Started(to="+14155550100", caller="+14155551234", caller_name="Ann\x00Bob"),
                 utc("2026-12-01T10:00:00+01:00"))
    store.record("CA900", Severity(severity=1), seconds(5))
    assert store.caught_up()
    store.record("CA900", Screened(number="+14155550101", accepted=True), seconds(12))
    store.record("CA900", Dial(attempt=1, team="san_francisco", numbers=("+14155550101",), status="completed",
                               duration=300, accepted_by="+14155550101"), seconds(5))
    store.record("CA900", Routed(action="connect", candidates=("san_francisco",)), seconds(5))
    assert store.caught_up()

    timeline = store.timelines(["CA900"])["CA900"]
    assert kept(store, "CA900") == timeline
    assert [e.kind for e in timeline] == ["started", "severity", "dial", "routed", "screened", "status"]
    call = store.call("CA900")
    assert call == summarise("CA900", timeline)
    assert (call.outcome, call.answer_seconds, call.caller_name) == (Outcome.ANSWERED, 12.0, "Ann\ufffdBob")


def test_an_event_another_writer_stored_is_read_back_not_missed(store, other_instance):
    store.record("CA901", Started(to="+14155550100", caller="+14155551234"), START)
    store.record("CA901", Severity(severity=1), seconds(5))
    assert store.caught_up()
    assert kept(store, "CA901") is not None
    other_instance.record("CA901", Dial(attempt=1, team="san_francisco", numbers=("+14155550101",),
                                        status="completed", duration=300, accepted_by="+14155550101"), seconds(312))
    assert other_instance.caught_up()
    assert kept(store, "CA901") is None  # one event short of the call's count now

    store.record("CA901", Status(call_status="completed", duration=313), seconds(313))
    assert store.caught_up()
    timeline = store.timelines(["CA901"])["CA901"]
    assert [e.kind for e in timeline] == ["started", "severity", "dial", "status"]
    assert kept(store, "CA901") == timeline
    assert store.call("CA901").outcome is Outcome.ANSWERED


def test_a_rolled_back_batch_leaves_nothing_kept_ahead_of_the_database(store, other_instance, monkeypatch):
    store.record("CA902", Started(to="+14155550100", caller="+14155551234"), START)
    assert store.caught_up()
    real_advance = writer._advance

    def database_gone(conn, ends):
        raise OperationalError("UPDATE journal_progress", {}, Exception("server closed the connection"))

    # The batch's events are stored and summarised, then the transaction fails before it commits.
    store.record("CA902", Severity(severity=1), seconds(5))
    monkeypatch.setattr(writer, "_advance", database_gone)
    with pytest.raises(OperationalError):
        store.writer.ship()
    monkeypatch.setattr(writer, "_advance", real_advance)
    # Another writer's event meanwhile: kept ahead, the timeline would have as many events as the call.
    other_instance.record("CA902", Dial(attempt=1, team="san_francisco", numbers=("+14155550101",),
                                        status="completed", duration=300, accepted_by="+14155550101"), seconds(312))
    assert other_instance.caught_up()

    assert store.caught_up()
    timeline = store.timelines(["CA902"])["CA902"]
    assert [e.kind for e in timeline] == ["started", "severity", "dial"]
    assert kept(store, "CA902") == timeline
    assert store.call("CA902") == summarise("CA902", timeline)


def test_lines_stored_one_by_one_after_a_batch_failed_keep_the_timeline_right(store):
    store.record("CA903", Started(to="+14155550100", caller="+14155551234"), START)
    assert store.caught_up()
    store.record("CA903", Severity(severity=1), seconds(5))
    # An instant whose UTC is before year 1: no database takes it, and the batch with it fails.
    store.record("CA904", Started(to="+14155550100"), utc("0001-01-01T00:30:00+01:00"))
    store.record("CA903", Status(call_status="completed", duration=30), seconds(30))
    assert store.caught_up()

    assert store.call("CA904") is None and store.health()["rejected"] == 1
    timeline = store.timelines(["CA903"])["CA903"]
    assert [e.kind for e in timeline] == ["started", "severity", "status"]
    assert kept(store, "CA903") == timeline
    assert store.call("CA903").outcome is Outcome.ABANDONED
