"""Callbacks open with the missed L1 call that decides them, join, close and escalate once, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from urllib.parse import parse_qs

import responses
from conftest import NOW, RECORDING, SAMPLE, SETTLE, answered_call, calls_alerts, is_digest, missed_call, utc

from ivr.config import default
from ivr.engine.callbacks import Closed, State, Step
from ivr.engine.events import Dial, Entitlement, Routed, Screened, Severity, Started, Status, Voicemail
from ivr.engine.phonebook_loader import parse_phonebook
from ivr.outside.alerts import Alerter
from ivr.store.callbacks import CallbackFilter, alert_key
from ivr.store.calllog import CallLog

START = utc("2026-12-01T09:00:00Z")
ACCOUNT = "AC" + "0" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
WEBHOOK = "https://hooks.example.com/services/T000/B000/priority-support"


def only_open(store, at=NOW):
    found = store.callbacks.find(at, CallbackFilter(State.OPEN))
    assert len(found) == 1, found
    return found[0]


def test_a_missed_l1_call_opens_a_callback_due_its_tiers_response_time_after_it_began(store):
    missed_call(store, "CA1", tier="premier")
    callback = only_open(store)
    assert (callback.sen, callback.customer, callback.caller, callback.line, callback.tier) == (
        "SEN-1234567", "Acme Corporation", "+14155551234", "+14155550100", "premier")
    assert (callback.opened_at, callback.due_at, callback.first_call, callback.calls) == (
        START, utc("2026-12-01T09:30:00Z"), "CA1", 1)
    assert callback.voicemail_url == RECORDING
    assert [(s.step, s.call_sid, s.at) for s in store.callbacks.history(callback.id)] == [(Step.OPENED, "CA1", START)]
    # Its overdue alert waits in the alert queue for the due time.
    assert store.alerts.get(alert_key(callback.id)).due_at == utc("2026-12-01T09:30:00Z")
    assert store.callbacks.of_call("CA1") == [callback.id]


def test_repeated_events_of_a_missed_call_neither_open_nor_join_again(store):
    missed_call(store, "CA1")
    missed_call(store, "CA1")
    store.record("CA1", Status(call_status="completed", duration=62), START + timedelta(seconds=62))
    assert only_open(store).calls == 1
    assert len(store.callbacks.find(NOW)) == 1


def test_a_second_missed_call_with_the_same_sen_joins_the_open_callback_and_keeps_its_due_time(store):
    missed_call(store, "CA1")
    missed_call(store, "CA2", at=START + timedelta(minutes=20), caller="+31612345678", sen="1234567")
    callback = only_open(store)
    assert (callback.calls, callback.due_at, callback.last_call_at) == (
        2, utc("2026-12-01T10:00:00Z"), START + timedelta(minutes=20))
    assert [(s.step, s.call_sid) for s in store.callbacks.history(callback.id)] == [
        (Step.OPENED, "CA1"), (Step.JOINED, "CA2")]


def test_without_a_sen_the_same_number_joins_and_another_customer_opens_its_own(store):
    missed_call(store, "CA1", sen=None)
    missed_call(store, "CA2", at=START + timedelta(minutes=5), sen=None)
    missed_call(store, "CA3", at=START + timedelta(minutes=6), sen="SEN-2345678", caller="+31612345678")
    open_now = store.callbacks.find(NOW, CallbackFilter(State.OPEN))
    assert [(c.caller, c.sen, c.calls) for c in open_now] == [
        # Tier unknown: the shortest response time any phone tier has, 30 minutes.
        ("+14155551234", None, 2), ("+31612345678", "SEN-2345678", 1)]
    assert [c.due_at for c in open_now] == [utc("2026-12-01T09:30:00Z"), utc("2026-12-01T10:06:00Z")]


def test_the_customer_calling_again_and_being_answered_closes_the_callback_linked_to_that_call(store):
    missed_call(store, "CA1", voicemail=False)
    answered_call(store, "CA2", at=START + timedelta(minutes=10))
    callback = store.callbacks.find(NOW, CallbackFilter(State.CLOSED))[0]
    assert (callback.closed_how, callback.closed_by_call, callback.closed_at) == (
        Closed.ANSWERED, "CA2", START + timedelta(minutes=10, seconds=12))
    assert store.callbacks.find(NOW, CallbackFilter(State.OPEN)) == []
    assert [(s.step, s.call_sid) for s in store.callbacks.history(callback.id)] == [
        (Step.OPENED, "CA1"), (Step.CLOSED, "CA2")]
    assert store.alerts.get(alert_key(callback.id)).due_at is None
    # A later missed call owes the customer a new callback.
    missed_call(store, "CA3", at=START + timedelta(minutes=30))
    assert only_open(store).first_call == "CA3"


def test_an_answer_stored_before_the_earlier_miss_closes_the_callback_the_miss_opens(store):
    # After an outage the writer takes one worker's journal, then the other's: the later answer first.
    answered_call(store, "CA2", at=START + timedelta(minutes=10))
    assert store.caught_up()
    missed_call(store, "CA1", voicemail=False)
    callback = store.callbacks.find(NOW, CallbackFilter(State.CLOSED))[0]
    assert (callback.first_call, callback.closed_how, callback.closed_by_call, callback.closed_at) == (
        "CA1", Closed.ANSWERED, "CA2", START + timedelta(minutes=10, seconds=12))
    assert store.alerts.get(alert_key(callback.id)).due_at is None


def test_a_call_answered_before_the_latest_missed_call_began_does_not_close_it(store):
    answered_call(store, "CA2", at=START)
    missed_call(store, "CA1", at=START + timedelta(minutes=1))
    assert only_open(store).first_call == "CA1"


def test_closed_by_hand_with_who_and_a_note_once(store, clock):
    missed_call(store, "CA1")
    callback = only_open(store)
    closed_at = NOW + timedelta(minutes=5)
    assert store.callbacks.close(callback.id, closed_at, "ops", "called back by e-mail, ticket PS-1") is True
    assert store.callbacks.close(callback.id, closed_at, "ops", "again") is False
    assert store.callbacks.close(999, closed_at, "ops", "no such callback") is False
    closed = store.callbacks.get(callback.id)
    assert (closed.state(closed_at), closed.closed_how, closed.closed_by, closed.note, closed.closed_at) == (
        State.CLOSED, Closed.BY_HAND, "ops", "called back by e-mail, ticket PS-1", closed_at)
    assert [(s.step, s.who, s.note) for s in store.callbacks.history(callback.id)][-1] == (
        Step.CLOSED, "ops", "called back by e-mail, ticket PS-1")
    assert store.alerts.get(alert_key(callback.id)).due_at is None


def test_open_and_overdue_counts_and_the_overdue_list(store):
    missed_call(store, "CA1", tier="premier")  # due 09:30
    missed_call(store, "CA2", sen="SEN-2345678", caller="+31612345678")  # due 10:00
    assert store.callbacks.counts(utc("2026-12-01T09:29:59Z")) == (2, 0)
    assert store.callbacks.counts(utc("2026-12-01T09:30:00Z")) == (2, 1)
    overdue = store.callbacks.find(utc("2026-12-01T09:45:00Z"), CallbackFilter(State.OVERDUE))
    assert [c.first_call for c in overdue] == ["CA1"]
    window = CallbackFilter(since=START, until=START + timedelta(seconds=1))
    assert [c.first_call for c in store.callbacks.find(NOW, window)] == ["CA2", "CA1"]
    assert store.callbacks.find(NOW, CallbackFilter(since=START + timedelta(seconds=1))) == []


def test_two_writers_storing_missed_calls_of_one_customer_at_once_open_one_callback(store, clock, tmp_path):
    workers = [CallLog(store.engine, journal=tmp_path / f"worker{n}", clock=clock, alert_settle_seconds=SETTLE)
               for n in range(2)]
    for n, worker in enumerate(workers):
        missed_call(worker, f"CA{n}", at=START + timedelta(seconds=n))
    stored = [threading.Thread(target=worker.caught_up) for worker in workers]
    for thread in stored:
        thread.start()
    for thread in stored:
        thread.join()
    # A writer the other kept waiting (SQLite's one writer at a time) stores its batch now.
    for worker in workers:
        assert worker.caught_up()
    callback = only_open(store)
    assert callback.calls == 2
    assert sorted(s.call_sid for s in store.callbacks.history(callback.id)) == ["CA0", "CA1"]


def make_alerter(store, sample) -> Alerter:
    """An alerter whose texts (Twilio) and webhook posts are answered: call under `responses.activate`."""
    responses.add(responses.POST, MESSAGES, status=201, json={"sid": "SM1", "status": "queued"})
    responses.add(responses.POST, WEBHOOK, status=200, body="ok")
    return Alerter(store, lambda: sample, ACCOUNT, "token", console_url="https://ivr.example.com",
                   backoff_seconds=0, lease_seconds=default("IVR_ALERT_LEASE_SECONDS"),
                   sweep_seconds=default("IVR_ALERT_SWEEP_SECONDS"))


def sweep(alerter, at) -> int:
    """Sweep at `at`: how many alerts were claimed, the handoffs' digests aside."""
    alerter.calllog.clock.now = at
    return len(calls_alerts(alerter.sweep(at)))


def texted() -> list[tuple[str, str]]:
    """(to, text) of each SMS sent, the handoffs' digests aside."""
    sent = [parse_qs(c.request.body) for c in responses.calls if c.request.url == MESSAGES]
    return [(sms["To"][0], sms["Body"][0]) for sms in sent if not is_digest(sms["Body"][0])]


def posted() -> list[str]:
    """The text of each webhook post, the handoffs' digests aside."""
    sent = [json.loads(c.request.body)["text"] for c in responses.calls if c.request.url == WEBHOOK]
    return [text for text in sent if not is_digest(text)]


@responses.activate
def test_a_callback_still_open_at_its_due_time_alerts_once_as_overdue(store, sample):
    alerter = make_alerter(store, sample)
    missed_call(store, "CA1")
    assert sweep(alerter, NOW) == 1  # the missed call's own alert
    callback = only_open(store)
    assert sweep(alerter, callback.due_at - timedelta(seconds=1)) == 0
    assert sweep(alerter, callback.due_at + timedelta(minutes=5)) == 1
    assert sweep(alerter, callback.due_at + timedelta(hours=2)) == 0
    texts = [body for _, body in texted()]
    assert len(texts) == 2
    assert texts[1] == (
        "Overdue callback: Acme Corporation (SEN-1234567, from +14155551234) after a missed L1 call on the "
        "United States & Canada line +14155550100 from 2026-12-01T09:00:00Z; the call back was due at "
        "2026-12-01T10:00:00Z (5 min ago) and nobody has reached them. On duty now: Amsterdam Priority "
        f"Support. Voicemail: {RECORDING} Callback: https://ivr.example.com/ops/callbacks/{callback.id}")
    assert len(posted()) == 2


@responses.activate
def test_an_overdue_callback_is_also_texted_to_the_team_on_duty_at_its_own_numbers(store):
    # Amsterdam, on duty at 10:05Z, keeps its own numbers for handoffs: the escalation reaches them too.
    book = parse_phonebook(SAMPLE.read_text().replace(
        'tz = "Europe/Amsterdam"', 'tz = "Europe/Amsterdam"\ndigest_sms = ["+31612345670"]', 1), "phonebook.toml")
    alerter = make_alerter(store, book)
    missed_call(store, "CA1")
    assert sweep(alerter, NOW) == 1
    callback = only_open(store)
    assert sweep(alerter, callback.due_at + timedelta(minutes=5)) == 1
    overdue = sorted(to for to, body in texted() if body.startswith("Overdue callback"))
    assert overdue == ["+14155550199", "+31612345670"]  # ops, and the team on duty
    assert [to for to, body in texted() if not body.startswith("Overdue")] == ["+14155550199"]  # the miss: ops only


@responses.activate
def test_a_callback_closed_before_its_due_time_never_alerts(store, sample):
    alerter = make_alerter(store, sample)
    missed_call(store, "CA1")
    callback = only_open(store)
    # Due, but closed by hand before any worker claimed its alert.
    store.callbacks.close(callback.id, callback.due_at, "ops", "reached by phone from a mobile")
    assert sweep(alerter, callback.due_at + timedelta(minutes=1)) == 1  # the missed call's alert only
    assert all("Overdue" not in body for _, body in texted())



def silent_call(store, alerter):
    """An L1 call from Acme (Premier here) that rang San Francisco and was never heard of again,
    swept when its silence falls due: the instant of that sweep."""
    store.record("CA1", Started(line="+14155550100", to="+14155550100", caller="+14155551234", region="amer"), START)
    store.record("CA1", Entitlement(sen="SEN-1234567", customer="Acme Corporation", verdict="ok", tier="premier"),
                 START + timedelta(seconds=1))
    store.record("CA1", Severity(severity=1), START + timedelta(seconds=5))
    store.record("CA1", Routed(action="connect", candidates=("san_francisco",)), START + timedelta(seconds=5))
    assert store.caught_up()
    silent = store.alerts.get("CA1").due_at
    assert sweep(alerter, silent - timedelta(seconds=1)) == 0
    assert store.callbacks.find(silent) == []
    assert sweep(alerter, silent) == 1  # "unfinished": nothing from Twilio for 15 minutes
    return silent


@responses.activate
def test_an_l1_call_whose_final_status_never_came_opens_a_callback_when_its_silence_is_alerted(store, sample):
    silent = silent_call(store, make_alerter(store, sample))
    callback = only_open(store, silent)
    assert (callback.first_call, callback.tier, callback.opened_at, callback.due_at, callback.calls) == (
        "CA1", "premier", START, utc("2026-12-01T09:30:00Z"), 1)
    # The final status, late after all, says voicemail: the same call, counted once, with its recording.
    store.record("CA1", Voicemail(recording_url=RECORDING, recording_sid="RE1", duration=30),
                 START + timedelta(seconds=60))
    store.record("CA1", Status(call_status="completed", duration=61), START + timedelta(seconds=61))
    callback = only_open(store, silent)
    assert (callback.calls, callback.voicemail_url) == (1, RECORDING)
    assert [s.step for s in store.callbacks.history(callback.id)] == [Step.OPENED]


@responses.activate
def test_an_unfinished_call_answered_after_all_closes_the_callback_its_silence_opened(store, sample):
    silent = silent_call(store, make_alerter(store, sample))
    callback = only_open(store, silent)
    store.record("CA1", Screened(number="+14155550101", accepted=True), START + timedelta(seconds=12))
    store.record("CA1", Dial(attempt=1, team="san_francisco", numbers=("+14155550101",), status="completed",
                             duration=300, accepted_by="+14155550101"), START + timedelta(seconds=312))
    store.record("CA1", Status(call_status="completed", duration=313), START + timedelta(seconds=313))
    closed = store.callbacks.get(callback.id)
    assert (closed.closed_how, closed.closed_by_call, closed.closed_at) == (
        Closed.ANSWERED, "CA1", START + timedelta(seconds=12))


def test_callbacks_page_on_after_a_callbacks_id_in_each_order(store):
    for minute, sid, sen in ((0, "CA1", "SEN-1111111"), (10, "CA2", "SEN-2222222"), (20, "CA3", "SEN-3333333")):
        missed_call(store, sid, at=START + timedelta(minutes=minute), sen=sen)
    ids = {c.first_call: c.id for c in store.callbacks.find(NOW)}

    def pages(where, at=NOW):
        listed, after = [], None
        while found := store.callbacks.find(at, where, limit=2, after=after):
            listed.append([c.first_call for c in found])
            after = found[-1].id
        return listed

    assert pages(CallbackFilter(State.OPEN)) == [["CA1", "CA2"], ["CA3"]]
    assert pages(CallbackFilter()) == [["CA3", "CA2"], ["CA1"]]
    # Closed in another order than they opened: newest closed first.
    for minute, sid in ((30, "CA2"), (40, "CA3"), (50, "CA1")):
        store.callbacks.close(ids[sid], START + timedelta(minutes=minute), "ops", "by e-mail")
    assert pages(CallbackFilter(State.CLOSED)) == [["CA1", "CA3"], ["CA2"]]


def test_a_miss_after_the_answer_in_the_same_batch_opens_a_callback_of_its_own(store):
    missed_call(store, "CA1")
    answered_call(store, "CA2", at=START + timedelta(minutes=20))
    missed_call(store, "CA3", at=START + timedelta(minutes=40))
    first, second = sorted(store.callbacks.find(NOW, CallbackFilter()), key=lambda c: c.opened_at)  # one batch
    assert (first.first_call, first.calls, first.closed_how, first.closed_by_call) == ("CA1", 1, Closed.ANSWERED, "CA2")
    assert (second.first_call, second.calls, second.closed_at) == ("CA3", 1, None)


def test_two_misses_and_the_answer_stored_in_one_batch_make_one_callback_joined_then_closed(store):
    missed_call(store, "CA1")
    missed_call(store, "CA2", at=START + timedelta(minutes=20))
    answered_call(store, "CA3", at=START + timedelta(minutes=40))
    [callback] = store.callbacks.find(NOW, CallbackFilter())  # the first read stores the three together
    assert (callback.calls, callback.closed_how, callback.closed_by_call) == (2, Closed.ANSWERED, "CA3")
    assert [(s.step, s.call_sid) for s in store.callbacks.history(callback.id)] == [
        (Step.OPENED, "CA1"), (Step.JOINED, "CA2"), (Step.CLOSED, "CA3")]
