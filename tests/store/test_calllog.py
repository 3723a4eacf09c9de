"""The call log keeps every call's timeline once, in any order, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import sqlite3
import time
from dataclasses import fields
from datetime import timedelta

import pytest
from conftest import SETTLE, answered_call, utc
from sqlalchemy import insert, select

from ivr.engine.events import Deflected, Dial, Entitlement, SenEntered, Severity, Started, Status, Voicemail
from ivr.engine.outcomes import SHOWN_FIELDS, SILENT_AFTER, Outcome, Summary
from ivr.store.alert_queue import due_alerts_query, trouble_queries
from ivr.store.calllog import CallFilter, CallLog, StoreUnavailable, page_query
from ivr.store.database import database_url, make_engine
from ivr.store.schema import alerts, calls, events
from ivr.store.writer import Status as WriterStatus

START = utc("2026-12-01T09:00:00Z")
NOW = utc("2026-12-01T09:00:30Z")  # the call log's wall clock


def seconds(n: float):
    return START + timedelta(seconds=n)


def test_a_call_is_summarised_with_who_answered_and_how_fast(store):
    answered_call(store)
    call = store.call("CA001")
    assert call.outcome is Outcome.ANSWERED
    assert (call.team, call.answer_seconds, call.duration) == ("san_francisco", 12.0, 313)
    assert (call.line, call.caller, call.sen, call.customer, call.severity) == (
        "+14155550100", "+14155551234", "SEN-1234567", "Acme Corporation", 1)
    assert call.started_at == START
    assert [e.kind for e in store.timelines(["CA001"])["CA001"]] == [
        "started", "recognised", "entitlement", "severity", "routed", "screened", "dial", "status"]


def test_a_repeated_callback_is_stored_once(store):
    answered_call(store)
    answered_call(store)
    store.record("CA001", Status(call_status="completed", duration=313), seconds(320))
    assert len(store.timelines(["CA001"])["CA001"]) == 8
    assert len(store.calls().calls) == 1


def test_callbacks_out_of_order_give_the_same_summary(store):
    store.record("CA002", Status(call_status="completed", duration=90), seconds(90))
    store.record("CA002", Voicemail(recording_url="https://api.twilio.com/RE1", recording_sid="RE1", duration=30), seconds(91))
    assert store.call("CA002").outcome is Outcome.VOICEMAIL
    store.record("CA002", Severity(severity=1), seconds(8))
    store.record("CA002", Started(line="+31205550100", region="emea", caller="+31612345678", to="+31205550100", caller_name=None), START)
    call = store.call("CA002")
    assert (call.outcome, call.started_at, call.line, call.voicemail_url) == (
        Outcome.VOICEMAIL, START, "+31205550100", "https://api.twilio.com/RE1")
    assert call.missed_l1


def test_a_caller_who_hangs_up_while_ringing_abandoned_the_call(store):
    store.record("CA003", Started(to="+14155550100", caller="+14155551234"), START)
    store.record("CA003", Severity(severity=1), seconds(5))
    store.record("CA003", Dial(attempt=1, team="san_francisco", numbers=("+14155550101",), status="canceled", duration=0, accepted_by=None), seconds(20))
    assert store.call("CA003").outcome is None
    store.record("CA003", Status(call_status="completed", duration=20), seconds(20))
    call = store.call("CA003")
    assert call.outcome is Outcome.ABANDONED and call.team is None and call.missed_l1


def test_an_expired_customer_is_deflected(store):
    store.record("CA004", Started(to="+31205550100", caller="+31612345678"), START)
    store.record("CA004", Entitlement(sen="SEN-2345678", customer="Globex", verdict="expired"), seconds(9))
    store.record("CA004", Status(call_status="completed", duration=25), seconds(25))
    call = store.call("CA004")
    assert call.outcome is Outcome.DEFLECTED and not call.missed_l1


def test_a_call_twilio_could_not_carry_failed(store):
    store.record("CA005", Started(to="+14155550100", caller="+14155551234"), START)
    store.record("CA005", Status(call_status="failed", duration=0), seconds(1))
    assert store.call("CA005").outcome is Outcome.FAILED


def test_a_final_status_after_an_in_progress_one_decides_the_outcome_and_duration(store):
    store.record("CA006", Started(to="+14155550100", caller="+14155551234"), START)
    store.record("CA006", Status(call_status="in-progress", duration=1), seconds(1))
    assert store.call("CA006").outcome is None  # the call is still going
    store.record("CA006", Status(call_status="completed", duration=95), seconds(95))
    call = store.call("CA006")
    assert (call.outcome, call.duration) == (Outcome.ABANDONED, 95)
    # An in-progress callback that arrives after the final one changes nothing.
    store.record("CA006", Status(call_status="in-progress", duration=2), seconds(96))
    assert (store.call("CA006").outcome, store.call("CA006").duration) == (Outcome.ABANDONED, 95)


def test_newest_calls_come_first_and_pages_follow_on(store):
    for n in range(7):
        answered_call(store, sid=f"CA1{n:02d}", at=START + timedelta(minutes=n))
    # Two calls at the same instant are still ordered, and neither is lost between pages.
    answered_call(store, sid="CA199", at=START + timedelta(minutes=6))
    first = store.calls(limit=3)
    assert [c.sid for c in first.calls] == ["CA199", "CA106", "CA105"]
    second = store.calls(limit=3, before=first.next_cursor)
    assert [c.sid for c in second.calls] == ["CA104", "CA103", "CA102"]
    last = store.calls(limit=3, before=second.next_cursor)
    assert [c.sid for c in last.calls] == ["CA101", "CA100"] and last.next_cursor is None


def test_calls_filter_by_outcome_severity_line_customer_and_date(store):
    answered_call(store, sid="CA201", at=utc("2026-12-01T09:00Z"))
    answered_call(store, sid="CA202", at=utc("2026-12-02T09:00Z"), customer="Initech", line="+31205550100")
    store.record("CA203", Started(to="+14155550100", caller="+14155550000"), utc("2026-12-02T10:00Z"))
    store.record("CA203", Status(call_status="completed", duration=3), utc("2026-12-02T10:00:03Z"))

    def sids(**where):
        return [c.sid for c in store.calls(CallFilter(**where)).calls]

    assert sids(outcome="answered") == ["CA202", "CA201"]
    assert sids(outcome="abandoned") == ["CA203"]
    assert sids(severity=1) == ["CA202", "CA201"]
    assert sids(line="+31205550100") == ["CA202"]
    assert sids(customer="Initech") == ["CA202"]
    assert sids(customer="SEN-1234567") == ["CA202", "CA201"]
    assert sids(since=utc("2026-12-02T00:00Z"), until=utc("2026-12-03T00:00Z")) == ["CA203", "CA202"]
    with pytest.raises(ValueError):
        store.calls(CallFilter(outcome="maybe"))
    with pytest.raises(ValueError):
        store.calls(before="not-a-cursor")


def test_calls_in_progress_have_no_outcome_yet(store):
    store.record("CA301", Started(to="+14155550100", caller="+14155551234"), START)
    assert [c.sid for c in store.calls(CallFilter(outcome="in-progress")).calls] == ["CA301"]


def test_counts_and_answer_times_for_metrics(store):
    answered_call(store, sid="CA401")
    store.record("CA402", Severity(severity=1), START)
    store.record("CA402", Status(call_status="completed", duration=3), seconds(3))
    assert sorted(store.outcome_counts()) == [("abandoned", 1, 1), ("answered", 1, 1)]
    # ANSWER_BUCKETS: 5, 10, 15, 20, 30, 45, 60, 90 and 120 s; answered after 12 s.
    assert store.answer_histogram() == ([0, 0, 1, 1, 1, 1, 1, 1, 1], 1, 12.0)


def test_a_missed_l1_calls_alert_is_stored_with_its_event_and_claimed_once(store, clock):
    clock.now = NOW
    store.record("CA010", Severity(severity=1), START)
    assert store.alerts.get("CA010").due_at == NOW + SILENT_AFTER  # in progress: watched, not due
    store.record("CA010", Status(call_status="completed", duration=20), seconds(20))
    assert store.alerts.get("CA010").due_at == NOW + timedelta(seconds=SETTLE)
    store.record("CA010", Voicemail(recording_url="https://api.twilio.com/RE1", duration=9), seconds(21))
    assert store.alerts.due(NOW, 10) == ["CA010"]
    lease = timedelta(seconds=60)
    assert store.alerts.claim("CA010", NOW, lease).attempts == 1
    assert store.alerts.claim("CA010", NOW + timedelta(seconds=59), lease) is None
    assert store.alerts.due(NOW + timedelta(seconds=59), 10) == []
    # Calls below L1 have no alert row at all.
    store.record("CA011", Severity(severity=2), START)
    assert store.alerts.get("CA011") is None


def plan(store, query) -> str:
    """The database's plan for `query`, as one line of text."""
    compiled = query.compile(dialect=store.engine.dialect)
    # Instants as stored (naive UTC); the limit and offset as they are.
    params = {name: value.replace(tzinfo=None) if hasattr(value, "tzinfo") else value
              for name, value in compiled.params.items()}
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "sqlite":
            positional = tuple(params[name] for name in compiled.positiontup)
            return " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", positional))
        # A handful of rows would be read whole; what matters is that the index can answer.
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", params))


def test_the_sweep_reads_the_due_alerts_through_their_index(store):
    text = plan(store, due_alerts_query(NOW, 20))
    assert "alerts_due" in text, text
    assert "SCAN alerts" not in text and "Seq Scan" not in text, text


@pytest.mark.parametrize("digests", [False, True], ids=["alerts", "digests"])
def test_health_reads_the_alerts_through_their_indexes_however_many_are_on_record(store, digests):
    """Health answers in milliseconds at a million calls: each of its reads of the alerts (the overdue,
    the retrying, the one finished last) is a range of an index, never a scan of the table."""
    overdue, retrying, latest = trouble_queries(NOW, timedelta(minutes=2), timedelta(days=1), digests)
    for query, index in ((overdue, "alerts_due"), (retrying, "alerts_due"), (latest, "alerts_finished")):
        text = plan(store, query)
        assert index in text, text
        assert "SCAN alerts" not in text and "Seq Scan" not in text and "TEMP B-TREE" not in text, text


def test_a_page_filtered_by_outcome_and_severity_walks_their_index_newest_first(sqlite_store):
    """However rare the combination (failed L1 calls among a million answered ones), the page reads
    only its own rows, in the order shown: no scan of either column's calls, no sort."""
    text = plan(sqlite_store, page_query(CallFilter(outcome="failed", severity=1), 51))
    assert text == "SEARCH calls USING INDEX calls_by_outcome_severity (outcome=? AND severity=?)", text


def test_the_writer_keeps_sqlites_planner_statistics_so_a_filter_walks_its_narrowest_index(sqlite_store):
    """Once caught up, the writer refreshes SQLite's statistics: a customer's L1 calls are then read
    from that customer's few calls, not from every L1 call of the log."""
    with sqlite_store.engine.begin() as conn:
        conn.execute(insert(calls), [
            {"sid": f"CA{n:032d}", "started_at": START + timedelta(seconds=n), "customer": f"Customer {n % 500}",
             "sen": f"SEN-{1000000 + n % 500}", "severity": 1 if n % 5 else 2, "outcome": "answered", "no_candidates": False, "event_count": 1}
            for n in range(5000)])
        # A table with no rows leaves no statistics: the writer may analyse before CA700's events are in.
        conn.execute(insert(alerts), [{"sid": "CA699", "due_at": None, "attempts": 1, "done": {},
                                       "finished_at": START}])
    customers_l1 = page_query(CallFilter(customer="Customer 7", severity=1), 51)
    sqlite_store.writer.start()
    answered_call(sqlite_store, sid="CA700")
    deadline = time.monotonic() + 10
    with sqlite_store.engine.connect() as conn:
        while not conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
            assert time.monotonic() < deadline, "no statistics"
            time.sleep(0.05)
            conn.rollback()
        analysed = {row[0] for row in conn.exec_driver_sql("SELECT tbl FROM sqlite_stat1")}
    assert {"calls", "alerts"} <= analysed
    # On a connection opened since (the pool reopens every one within STATISTICS_RELOAD_S).
    sqlite_store.engine.dispose()
    assert "calls_by_customer" in plan(sqlite_store, customers_l1)


def test_listeners_hear_each_stored_change_of_a_call_once_and_never_a_repeat(store):
    heard = []
    store.subscribe(lambda summary: heard.append(summary.outcome))
    store.record("CA501", Started(to="+14155550100"), START)
    assert store.caught_up()
    store.record("CA501", Status(call_status="completed", duration=3), seconds(3))
    store.record("CA501", Status(call_status="completed", duration=3), seconds(3))  # Twilio repeats itself
    assert store.caught_up()
    store.record("CA501", Status(call_status="completed", duration=3), seconds(3))
    assert store.caught_up()
    assert heard == [None, Outcome.ABANDONED]


# --- unknown SENs by calling number ------------------------------------------------------------


GUESSER = "+12025550143"


def _sen_call(store, sid, caller, at, *misses):
    store.record(sid, Started(to="+14155550100", caller=caller), at)
    for attempt, miss in enumerate(misses, start=1):
        store.record(sid, SenEntered(sen="7654321", attempt=attempt, miss=miss), at + timedelta(seconds=10 * attempt))


def test_unknown_sens_are_counted_by_calling_number_over_the_calls_of_the_last_hour(store):
    _sen_call(store, "CA601", GUESSER, START, "unknown", "unknown", "unknown")
    _sen_call(store, "CA602", GUESSER, seconds(600), "unknown", "length", "empty")  # typos are no guesses
    _sen_call(store, "CA603", GUESSER, seconds(900), None)  # the right SEN at last
    _sen_call(store, "CA604", "+14155551234", seconds(600), "unknown")  # another number
    _sen_call(store, "CA605", GUESSER, START - timedelta(minutes=61), "unknown", "unknown")  # too long ago
    assert store.caught_up()
    assert store.failed_sens(GUESSER, START - timedelta(minutes=1)) == 4
    assert store.failed_sens(GUESSER, START - timedelta(hours=2)) == 6
    assert store.failed_sens(GUESSER, seconds(1)) == 1
    assert store.failed_sens("+14155551234", START) == 1
    assert store.failed_sens("+19995550000", START) == 0


def test_unknown_sens_are_not_counted_from_a_database_the_writer_finds_failing(tmp_path, clock):
    log = CallLog(make_engine(database_url(None, str(tmp_path))), journal=tmp_path / "journal", clock=clock,
                  alert_settle_seconds=SETTLE)
    log.upgrade_schema()
    log.writer.status = lambda: WriterStatus(ok=False, last_error="OperationalError: down")  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        log.failed_sens(GUESSER, START)
    log.close()


def _sen_limited(store, sid, caller, at):
    store.record(sid, Started(to="+14155550100", caller=caller), at)
    store.record(sid, Deflected(reason="sen-limit"), at + timedelta(seconds=5))


def test_ops_hears_once_an_hour_of_a_number_whose_calls_are_ended_for_unknown_sens(store, clock):
    _sen_limited(store, "CA701", GUESSER, START)
    _sen_limited(store, "CA702", GUESSER, seconds(600))
    _sen_limited(store, "CA703", "+14155551234", seconds(600))  # another number: its own alert
    store.record("CA701", Status(call_status="completed", duration=9), seconds(9))  # a later event: still one
    _sen_limited(store, "CA704", GUESSER, START + timedelta(minutes=61))  # an hour on: again
    assert store.caught_up()
    assert store.call("CA701").sen_limited and store.call("CA701").outcome is Outcome.DEFLECTED
    alerted = {sid for sid in ("CA701", "CA702", "CA703", "CA704") if store.alerts.get(sid) is not None}
    assert alerted == {"CA701", "CA703", "CA704"}
    assert set(store.alerts.due(clock(), 10)) == alerted  # at once, when their events were accepted


def test_postgres_urls_as_heroku_writes_them_use_psycopg_3():
    assert database_url("postgres://u:p@db:5432/calls", "/x") == "postgresql+psycopg://u:p@db:5432/calls"
    assert database_url("postgresql://u@db/calls", "/x") == "postgresql+psycopg://u@db/calls"
    assert database_url(None, "/srv/instance") == "sqlite:////srv/instance/calllog.sqlite3"


def log_at(url, tmp_path, clock, **engine):
    return CallLog(make_engine(url, **engine), journal=tmp_path / "journal", clock=clock, alert_settle_seconds=SETTLE)


def test_sqlite_uses_wal_so_workers_share_it(tmp_path, clock):
    store = log_at(database_url(None, str(tmp_path)), tmp_path, clock)
    store.upgrade_schema()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_a_locked_database_delays_events_loses_none_and_shows_in_health(tmp_path, clock):
    store = log_at(database_url(None, str(tmp_path)), tmp_path, clock, busy_timeout_ms=50)
    store.upgrade_schema()
    blocker = sqlite3.connect(tmp_path / "calllog.sqlite3", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        store.record("CA601", Started(to="+14155550100", caller_name="Ann"), START)  # accepted at once
        assert store.caught_up(0.5) is False
        health = store.health()
        assert health["ok"] is False and health["failures"] >= 1 and "locked" in health["last_error"]
        assert health["pending_bytes"] > 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    # The database is back: the event waited in the journal and is stored, once.
    assert store.caught_up() is True
    assert store.call("CA601").caller_name == "Ann"
    health = store.health()
    assert health["ok"] is True and health["pending_bytes"] == 0
    store.close()


def test_a_database_that_is_down_accepts_events_into_the_journal_without_touching_it(tmp_path, clock):
    store = log_at(database_url("postgresql://postgres@127.0.0.1:1/none", ""), tmp_path, clock)
    store.record("CA701", Started(to="+14155550100"), START)
    store.record("CA701", Severity(severity=1), seconds(5))
    [journal] = (tmp_path / "journal").glob("events-*.jsonl")
    assert [line.split('"kind":')[1][:10] for line in journal.read_text().splitlines()] == ['"started",', '"severity"']
    assert store.caught_up(1.0) is False
    health = store.health()
    assert health["ok"] is False and health["failures"] >= 1 and health["backend"] == "postgresql"
    store.close()


def test_a_database_server_that_never_answers_holds_no_webhook(tmp_path, clock):
    # A socket that accepts connections and never speaks: what a hung or half-dead server looks like.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        store = log_at(database_url(f"postgresql://postgres@127.0.0.1:{port}/calls", ""), tmp_path, clock)
        try:
            store.start()  # the writer thread waits on the silent server, not the webhook
            for n in range(20):
                store.record(f"CA7{n:02d}", Started(to="+14155550100"), START)
            assert store.journal.written > 0
        finally:
            store.writer.close(timeout=0)
            store.journal.close()


def test_the_calls_table_has_a_column_for_each_summary_field():
    assert [c.name for c in calls.columns] == [f.name for f in fields(Summary)] + ["event_count"]


def test_the_api_shows_the_summary_fields_in_their_order():
    assert SHOWN_FIELDS == ("sid", "started_at", "line", "from", "caller_name", "sen", "customer", "severity",
                            "outcome", "team", "answer_seconds", "duration", "voicemail_url", "reason",
                            "deflection")


def test_events_stored_by_the_previous_version_read_as_records(store):
    """Rows as the webhooks wrote them before events were typed: plain dicts, key for key."""
    rows = [
        ("started", "started", {"line": "United States & Canada", "region": "amer", "from": "+14155551234",
                                "to": "+14155550100", "caller_name": None}),
        ("severity", "severity", {"severity": 1}),
        ("dial:1", "dial", {"attempt": 1, "team": "san_francisco", "numbers": ["+14155550101"], "status": "completed",
                            "duration": 300, "accepted_by": "+14155550101", "dial_call_sid": None, "bridged": True}),
        ("status", "status", {"call_status": "completed", "duration": 313}),
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(events), [{"call_sid": "CA050", "key": key, "kind": kind, "at": seconds(n), "data": data}
                                      for n, (key, kind, data) in enumerate(rows)])
    timeline = store.timelines(["CA050"])["CA050"]
    assert [e.record for e in timeline] == [
        Started(line="United States & Canada", region="amer", caller="+14155551234", to="+14155550100"),
        Severity(severity=1),
        Dial(attempt=1, team="san_francisco", numbers=("+14155550101",), status="completed", duration=300,
             accepted_by="+14155550101", bridged=True),
        Status(call_status="completed", duration=313),
    ]
    # A new event of the call is summarised with the old ones, and stored in the same form.
    store.record("CA050", Voicemail(recording_url=None), seconds(314))
    assert store.call("CA050").outcome is Outcome.ANSWERED
    with store.engine.connect() as conn:
        stored = conn.execute(select(events.c.data).where(events.c.key == "voicemail")).scalar_one()
    assert stored == {"recording_url": None, "recording_sid": None, "duration": None, "status": None}
