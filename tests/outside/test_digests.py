"""At each handoff the incoming team gets its digest once, whatever the number of workers sharing
the call log, at the handoff's instant, or late after an outage and saying so."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
from conftest import RECORDING, SAMPLE, SETTLE, answered_call, missed_call, utc

from ivr.config import default
from ivr.engine.events import Dial, Recognised, Screened, Severity, Started, Status
from ivr.engine.handoffs import AS_AT_HANDOFF
from ivr.engine.instants import epoch
from ivr.engine.phonebook_loader import parse_phonebook
from ivr.outside.alerts import Alerter
from ivr.store.alert_queue import owe_digests_from
from ivr.store.calllog import CallLog

ACCOUNT = "AC" + "0" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
ALERTS_HOOK = "https://hooks.example.com/services/T000/B000/priority-support"
AMSTERDAM_HOOK = "https://hooks.example.com/amsterdam-digest"
HANDOFF = utc("2026-12-01T08:00:00Z")  # Sydney hands over to Amsterdam
LEASE = timedelta(seconds=default("IVR_ALERT_LEASE_SECONDS"))


@pytest.fixture(scope="module")
def book():
    """The sample (digests on by default, looking back 12 h), Amsterdam's digest to a webhook of its own."""
    text = SAMPLE.read_text()
    return parse_phonebook(text.replace('dial = ["+31205550101", "+31205550102"]',
                                        f'dial = ["+31205550101", "+31205550102"]\ndigest_webhook = "{AMSTERDAM_HOOK}"'))


def worker(store, clock, journal, book) -> Alerter:
    """A worker's alerter on its own view of `store`'s database; it sends only when the test sweeps."""
    log = CallLog(store.engine, journal=journal, clock=clock, alert_settle_seconds=SETTLE)
    return Alerter(log, lambda: book, ACCOUNT, "token", console_url="https://ivr.example.com",
                   backoff_seconds=0, lease_seconds=LEASE.total_seconds(),
                   sweep_seconds=default("IVR_ALERT_SWEEP_SECONDS"))


def sweep_together(workers, clock, at) -> list[list[str]]:
    """Each worker sweeps at `at`, side by side: the keys each claimed, fewest first."""
    clock.now = at
    claimed: list[list[str]] = []
    threads = [threading.Thread(target=lambda w=w: claimed.append(w.sweep(at))) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(claimed, key=len)


def accept_everything():
    responses.add(responses.POST, MESSAGES, status=201, json={"sid": "SM1", "status": "queued"})
    responses.add(responses.POST, ALERTS_HOOK, status=200, body="ok")
    responses.add(responses.POST, AMSTERDAM_HOOK, status=200, body="ok")


def posted(url) -> list[str]:
    return [json.loads(c.request.body)["text"] for c in responses.calls if c.request.url == url]


def texted() -> list[dict]:
    return [{k: v[0] for k, v in parse_qs(c.request.body).items()} for c in responses.calls
            if c.request.url == MESSAGES]


# The full digest's lines for `sydney_shift`, read at or after the 08:00 handoff.
SYDNEY_SHIFT = [
    "Open callbacks:",
    "- Acme Corporation (SEN-1234567, from +14155551234): due 2026-12-01T06:00:00Z, overdue by 2 h 00 min",
    "L1 calls of the outgoing shift:",
    "- 2026-12-01T04:00:00Z Acme Corporation (SEN-1234567, from +14155551234): answered by san_francisco,"
    " 5 min 13 s",
    "- 2026-12-01T05:00:00Z Acme Corporation (SEN-1234567, from +14155551234): missed (voicemail),"
    f" voicemail {RECORDING}; callback 1 overdue by 2 h 00 min",
]


def sydney_shift(store, clock):
    """Sydney's shift before the 08:00 handoff: one L1 call answered, one missed (a callback due 06:00)."""
    clock.now = utc("2026-12-01T05:02:00Z")  # when the worker that took the calls stored them
    answered_call(store, "CA100", at=utc("2026-12-01T04:00:00Z"))
    missed_call(store, "CA101", at=utc("2026-12-01T05:00:00Z"))
    assert store.caught_up()


@responses.activate
def test_two_workers_send_amsterdam_its_digest_once_at_the_handoff(store, clock, tmp_path, book):
    accept_everything()
    sydney_shift(store, clock)
    workers = [worker(store, clock, tmp_path / f"worker{n}", book) for n in range(2)]
    # Before the handoff: the missed call's alert and the callback's overdue alert, and the
    # digest of the 03:00 handoff (Sydney's, to [alerts]: Sydney has no digest destinations).
    assert sum(len(keys) for keys in sweep_together(workers, clock, utc("2026-12-01T07:59:59Z"))) == 3
    assert posted(AMSTERDAM_HOOK) == []
    sent_before = len(responses.calls)
    assert sweep_together(workers, clock, HANDOFF) == [[], ["digest:amsterdam:1796112000"]]
    assert sweep_together(workers, clock, HANDOFF + 2 * LEASE) == [[], []]
    [digest] = posted(AMSTERDAM_HOOK)
    assert len(responses.calls) == sent_before + 1  # to Amsterdam's webhook only, not to [alerts]
    assert digest.splitlines() == [
        "Handoff 2026-12-01T08:00:00Z: Sydney Priority Support to Amsterdam Priority Support. Open callbacks: 1;"
        " L1 calls since 2026-12-01T03:00:00Z: 1 answered, 1 missed, 0 in progress.",
        *SYDNEY_SHIFT,
        "Digest: https://ivr.example.com/ops/handoffs/amsterdam/1796112000",
    ]
    state = store.alerts.get("digest:amsterdam:1796112000")
    assert state.due_at is None and state.finished_at == HANDOFF and set(state.done) == {"webhook"}


@responses.activate
def test_after_an_outage_the_digests_of_the_look_back_go_out_late_and_say_so(store, clock, tmp_path, book):
    accept_everything()
    sydney_shift(store, clock)
    # Nobody swept from before 03:00 until 10:30: both handoffs since are within the 12 h look-back.
    [alerter] = [worker(store, clock, tmp_path / "back", book)]
    clock.now = utc("2026-12-01T10:30:00Z")
    assert alerter.sweep(clock.now) == ["CA101", "callback:1", "digest:amsterdam:1796112000", "digest:sydney:1796094000"]
    [digest] = posted(AMSTERDAM_HOOK)
    assert digest.splitlines()[0].endswith(
        " This digest is 2 h 30 min late: the service or its call log was unavailable at the handoff;"
        " it shows the shift as it stood at the handoff.")
    # Sydney's digest of 03:00 went to [alerts]: the SMS short, linking the full digest.
    sydney = [m["Body"] for m in texted() if m["Body"].startswith("Handoff ")]
    assert sydney == [
        "Handoff 2026-12-01T03:00:00Z: San Francisco Priority Support to Sydney Priority Support. Open callbacks: 0;"
        " L1 calls since 2026-11-30T18:00:00Z: 0 answered, 0 missed, 0 in progress. This digest is 7 h 30 min late:"
        " the service or its call log was unavailable at the handoff; it shows the shift as it stood at the handoff."
        " Digest: https://ivr.example.com/ops/handoffs/sydney/1796094000"
    ]
    assert [t.startswith("Handoff 2026-12-01T03:00:00Z") for t in posted(ALERTS_HOOK)].count(True) == 1


@responses.activate
def test_a_late_digest_shows_the_shift_as_it_stood_at_the_handoff(store, clock, tmp_path, book):
    accept_everything()
    sydney_shift(store, clock)
    # Globex's call, taken at 07:58:12, goes on until 08:08: in progress at the handoff.
    clock.now = utc("2026-12-01T08:08:00Z")
    began = utc("2026-12-01T07:58:00Z")
    store.record("CA102", Started(line="+31205550100", to="+31205550100", caller="+31612345678"), began)
    store.record("CA102", Recognised(sen="SEN-2345678", customer="Globex"), began + timedelta(seconds=1))
    store.record("CA102", Severity(severity=1), began + timedelta(seconds=5))
    store.record("CA102", Screened(number="+31205550101", accepted=True), began + timedelta(seconds=12))
    store.record("CA102", Dial(attempt=1, team="amsterdam", numbers=("+31205550101",), status="completed",
                               duration=588, accepted_by="+31205550101"), began + timedelta(seconds=600))
    store.record("CA102", Status(call_status="completed", duration=600), began + timedelta(seconds=600))
    # After the handoff: a missed call from Initech's admin opens a callback, Acme's is closed by hand.
    clock.now = utc("2026-12-01T08:32:00Z")
    missed_call(store, "CA103", at=utc("2026-12-01T08:30:00Z"), sen="SEN-3456789", caller="+14155559876")
    assert store.caught_up()
    [acme] = store.callbacks.open_at(HANDOFF, 10)
    assert store.callbacks.close(acme.id, utc("2026-12-01T09:00:00Z"), "ops", "reached by e-mail")
    clock.now = utc("2026-12-01T10:30:00Z")
    worker(store, clock, tmp_path / "back", book).sweep(clock.now)
    [digest] = posted(AMSTERDAM_HOOK)
    # As at 08:00: Acme's callback open (closed at 09:00), overdue by 2 h; Globex's call in progress.
    assert digest.splitlines()[1:-1] == [
        AS_AT_HANDOFF,
        *SYDNEY_SHIFT,
        "- 2026-12-01T07:58:00Z Globex (SEN-2345678, from +31612345678): in progress",
    ]
    assert " Open callbacks: 1; L1 calls since 2026-12-01T03:00:00Z: 1 answered, 1 missed, 1 in progress." in digest


@responses.activate
def test_a_handoff_older_than_the_look_back_is_never_sent(store, clock, tmp_path, book):
    accept_everything()
    alerter = worker(store, clock, tmp_path / "back", book)
    clock.now = HANDOFF + timedelta(hours=12, seconds=1)
    alerter.sweep(clock.now)
    assert store.alerts.get("digest:amsterdam:1796112000") is None
    assert store.alerts.get("digest:san_francisco:1796148000") is not None  # 18:00, within it


@responses.activate
def test_digests_turned_off_are_never_scheduled(store, clock, tmp_path):
    alerter = worker(store, clock, tmp_path / "w", parse_phonebook(SAMPLE.read_text() + "\n[digests]\nenabled = false\n"))
    clock.now = HANDOFF
    assert alerter.sweep(HANDOFF) == []
    assert store.alerts.get("digest:amsterdam:1796112000") is None


@pytest.mark.parametrize(("before", "key", "headline"), [
    # Amsterdam on winter time since the day before: its handoff is at 18:00 UTC, not 17:00.
    ("2026-10-26T17:59:59Z", "digest:san_francisco:1793037600",
     "Handoff 2026-10-26T18:00:00Z: Amsterdam Priority Support to San Francisco Priority Support."),
    # Sydney's day off: San Francisco hands the line to Select, to [alerts] (Select has no digest keys).
    ("2026-12-24T02:59:59Z", "digest:select:1798081200",
     "Handoff 2026-12-24T03:00:00Z: San Francisco Priority Support to Global Select Support."),
])
@responses.activate
def test_a_digest_falls_due_at_its_handoff_in_a_dst_week_and_on_a_holiday(sqlite_store, clock, tmp_path, book,
                                                                          before, key, headline):
    accept_everything()
    alerter = worker(sqlite_store, clock, tmp_path / "w", book)
    clock.now = utc(before)
    alerter.sweep(clock.now)
    assert sqlite_store.alerts.get(key) is None  # not yet scheduled: its handoff is a second away
    sent = len(responses.calls)
    clock.now = utc(before) + timedelta(seconds=1)
    assert alerter.sweep(clock.now) == [key]
    texts = [json.loads(c.request.body)["text"] for c in responses.calls[sent:] if "hooks" in c.request.url]
    assert len(texts) == 1 and texts[0].startswith(headline)


# The sample's handoffs, as `ivr handoffs` lists them: a weekday, and the week Amsterdam leaves summer
# time (25 October 2026) while San Francisco keeps it, with a weekend between.
WEEKDAY = ("2026-12-01T03:00:00Z sydney", "2026-12-01T08:00:00Z amsterdam", "2026-12-01T18:00:00Z san_francisco")
DST_WEEK = ("2026-10-23T17:00:00Z san_francisco", "2026-10-24T00:00:00Z select", "2026-10-25T23:00:00Z sydney",
            "2026-10-26T08:00:00Z amsterdam", "2026-10-26T18:00:00Z san_francisco", "2026-10-27T02:00:00Z sydney",
            "2026-10-27T08:00:00Z amsterdam")


@pytest.mark.parametrize(("handoffs", "before"), [
    # Each first sweep also finds the handoff within the 12 h before it, late.
    (WEEKDAY, "2026-11-30T18:00:00Z san_francisco"),
    (DST_WEEK, "2026-10-23T08:00:00Z amsterdam"),
])
@responses.activate
def test_the_sample_sends_each_handoff_one_digest_with_two_workers_sharing_the_call_log(store, clock, tmp_path,
                                                                                       sample, handoffs, before):
    accept_everything()
    workers = [worker(store, clock, tmp_path / f"worker{n}", sample) for n in range(2)]
    claimed: list[str] = []
    for handoff in handoffs:
        at = utc(handoff.split()[0])
        for sweep_at in (at - timedelta(seconds=1), at, at + 2 * LEASE):
            claimed += [key for keys in sweep_together(workers, clock, sweep_at) for key in keys]
    expected = [f"digest:{team}:{epoch(utc(at))}" for at, team in (h.split() for h in (before, *handoffs))]
    assert sorted(claimed) == sorted(expected)  # each once, by one of the two workers
    # To [alerts] (the sample's teams have no digest keys of their own), each by SMS and webhook once.
    sent = sorted(text.split()[1].removesuffix(":") for text in posted(ALERTS_HOOK))
    assert sent == sorted(h.split()[0] for h in (before, *handoffs))
    assert sorted(m["Body"].split()[1].removesuffix(":") for m in texted()) == sent
    # Swept at its instant, each digest is on time; the one found by the first sweep is late, saying so.
    late = [text.split()[1].removesuffix(":") for text in posted(ALERTS_HOOK) if " late: " in text]
    assert late == [before.split()[0]]


@responses.activate
def test_a_new_install_owes_no_digest_of_a_handoff_before_its_first_start(store, clock, tmp_path, book):
    accept_everything()
    first_start = HANDOFF + timedelta(hours=1)  # 09:00: the 03:00 and 08:00 handoffs are in the look-back
    owe_digests_from(store.engine, first_start)
    owe_digests_from(store.engine, first_start + timedelta(days=1))  # a restart: the first start stays
    alerter = worker(store, clock, tmp_path / "new", book)
    clock.now = utc("2026-12-01T18:30:00Z")
    assert alerter.sweep(clock.now) == ["digest:san_francisco:1796148000"]  # 18:00, after the first start
    assert store.alerts.get("digest:amsterdam:1796112000") is None
    assert store.alerts.get("digest:sydney:1796094000") is None
