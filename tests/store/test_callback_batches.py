"""The writer settles a batch's callbacks in a few statements, whatever the number of calls, with the
result of taking its calls one at a time; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from conftest import NOW, SETTLE, answered_call, migrated, missed_call, utc
from sqlalchemy import event

from ivr.engine.events import Dial, Entitlement, Recognised, Routed, Screened, Severity, Started, Status
from ivr.store.callbacks import CallbackFilter, alert_key
from ivr.store.calllog import CallLog
from ivr.store.database import database_url, make_engine

START = utc("2026-12-01T09:00:00Z")


def answered_by(store, sid, at, sen, caller):
    """An L1 call from `caller` about `sen`, taken by San Francisco 12 s after it began."""
    store.record(sid, Started(line="+14155550100", region="amer", caller=caller, to="+14155550100"), at)
    store.record(sid, Recognised(sen=sen, customer="Acme Corporation"), at + timedelta(seconds=1))
    store.record(sid, Entitlement(sen=sen, customer="Acme Corporation", verdict="ok"), at + timedelta(seconds=1))
    store.record(sid, Severity(severity=1), at + timedelta(seconds=5))
    store.record(sid, Routed(action="connect", candidates=("san_francisco",)), at + timedelta(seconds=5))
    store.record(sid, Screened(number="+14155550101", accepted=True), at + timedelta(seconds=12))
    store.record(sid, Dial(attempt=1, team="san_francisco", numbers=("+14155550101",), status="completed",
                           duration=300, accepted_by="+14155550101"), at + timedelta(seconds=312))
    store.record(sid, Status(call_status="completed", duration=313), at + timedelta(seconds=313))


@pytest.fixture
def twin(store, request, tmp_path, clock):
    """A second empty store on the same backend as `store`."""
    if store.engine.dialect.name == "sqlite":
        engine = make_engine(migrated(database_url(None, str(tmp_path / "twin"))))
        yield CallLog(engine, journal=tmp_path / "twin-journal", clock=clock, alert_settle_seconds=SETTLE)
        engine.dispose()
        return
    with request.getfixturevalue("migrated_schemas").lend() as url:
        engine = make_engine(url)
        other = CallLog(engine, journal=tmp_path / "twin-journal", clock=clock, alert_settle_seconds=SETTLE)
        yield other
        other.writer.close()
        engine.dispose()


def stored_before(store):
    """Open callbacks of the customers SEN-2345678 and SEN-4567890, and an answer to SEN-3456789 at 09:30."""
    missed_call(store, "CA-c0", at=START - timedelta(minutes=10), sen="SEN-2345678", caller="+31612345678")
    missed_call(store, "CA-e0", at=START - timedelta(minutes=9), sen="SEN-4567890", caller="+31612345679")
    answered_by(store, "CA-d0", START + timedelta(minutes=30), "SEN-3456789", "+447700900123")
    assert store.caught_up()


# Each call of the batch as the writer takes it in (a miss when it began, an answer when it was
# taken, 12 s in): same and different customers, misses that open, join, or are closed at once by an
# answer stored before, and an answer that closes two customers' callbacks.
BATCH = [
    (START, lambda s: missed_call(s, "CA-a1", at=START)),
    (START + timedelta(minutes=1), lambda s: missed_call(
        s, "CA-c1", at=START + timedelta(minutes=1), sen="SEN-2345678", caller="+31612345678", tier="premier")),
    (START + timedelta(minutes=2), lambda s: missed_call(
        s, "CA-e1", at=START + timedelta(minutes=2), sen="SEN-4567890", caller="+31612345679", voicemail=False)),
    (START + timedelta(minutes=5), lambda s: missed_call(s, "CA-b1", at=START + timedelta(minutes=5), sen=None)),
    (START + timedelta(minutes=10), lambda s: missed_call(s, "CA-a2", at=START + timedelta(minutes=10))),
    (START + timedelta(minutes=12), lambda s: missed_call(
        s, "CA-x1", at=START + timedelta(minutes=12), sen=None, caller="anonymous")),
    (START + timedelta(minutes=13), lambda s: missed_call(
        s, "CA-x2", at=START + timedelta(minutes=13), sen=None, caller="anonymous")),
    (START + timedelta(minutes=20, seconds=12), lambda s: answered_call(s, "CA-a3", at=START + timedelta(minutes=20))),
    (START + timedelta(minutes=25), lambda s: missed_call(
        s, "CA-d1", at=START + timedelta(minutes=25), sen="SEN-3456789", caller="+447700900123")),
    (START + timedelta(minutes=28), lambda s: missed_call(
        s, "CA-d2", at=START + timedelta(minutes=28), sen="SEN-3456789", caller="+447700900123")),
    (START + timedelta(minutes=40), lambda s: missed_call(s, "CA-a4", at=START + timedelta(minutes=40))),
    (START + timedelta(minutes=45), lambda s: missed_call(s, "CA-a5", at=START + timedelta(minutes=45))),
]


def settled(store):
    """Every callback with its history and the due time of its overdue alert."""
    return [(callback, store.callbacks.history(callback.id), store.alerts.get(alert_key(callback.id)).due_at)
            for callback in sorted(store.callbacks.find(NOW, CallbackFilter()), key=lambda c: c.id)]


def test_a_mixed_batch_settles_callbacks_as_its_calls_one_at_a_time_do(store, twin):
    stored_before(store)
    for _, call in reversed(BATCH):  # in any order: the writer orders them
        call(store)
    assert store.caught_up()
    stored_before(twin)
    for _, call in sorted(BATCH, key=lambda taken: taken[0]):
        call(twin)
        assert twin.caught_up()
    assert settled(store) == settled(twin)
    assert all(c.voicemail_url for c, _, _ in settled(store)[:2])  # joined without one, they keep theirs
    # All the ways a batch settles a callback are there.
    assert [(c.first_call, c.calls, c.closed_by_call) for c, _, _ in settled(store)] == [
        ("CA-c0", 2, None), ("CA-e0", 2, None), ("CA-a1", 2, "CA-a3"), ("CA-b1", 1, "CA-a3"), ("CA-x1", 1, None), ("CA-x2", 1, None),
        ("CA-d1", 1, "CA-d0"), ("CA-d2", 1, "CA-d0"), ("CA-a4", 2, None)]


def statements_of_a_batch(store, callers: list[str]) -> int:
    counted: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        counted.append(statement)

    for n, caller in enumerate(callers):
        missed_call(store, f"CA-{caller}", at=START + timedelta(seconds=n), sen=None, caller=caller)
    event.listen(store.engine, "before_cursor_execute", count)
    try:
        assert store.writer.ship() == 6 * len(callers)  # one batch: every line of these calls
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    return len(counted)


def numbers(count: int, first: int) -> list[str]:
    return [f"+1415555{n:04d}" for n in range(first, first + count)]


def test_a_batch_of_missed_calls_from_new_numbers_takes_as_many_statements_whatever_their_number(
        postgresql_store):
    store = postgresql_store
    statements_of_a_batch(store, numbers(1, 0))  # the writer's first batch reads what it keeps after
    few = statements_of_a_batch(store, numbers(3, 100))
    many = statements_of_a_batch(store, numbers(60, 200))
    assert few == many
    assert len(store.callbacks.find(NOW, CallbackFilter(), limit=100)) == 64


def test_each_callback_of_a_batch_keeps_its_own_calls(store):
    # The ids a batch's insert returns are the callbacks' in the order opened.
    opened: dict[str, datetime] = {}
    for n, caller in enumerate(numbers(20, 0)):
        opened[f"CA-{caller}"] = START + timedelta(seconds=n)
        missed_call(store, f"CA-{caller}", at=opened[f"CA-{caller}"], sen=None, caller=caller)
    found = store.callbacks.find(NOW, CallbackFilter(), limit=100)
    assert {c.first_call: (c.caller, c.opened_at) for c in found} == {
        sid: (sid.removeprefix("CA-"), at) for sid, at in opened.items()}
    assert all([step.call_sid for step in store.callbacks.history(c.id)] == [c.first_call] for c in found)
