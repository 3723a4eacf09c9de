"""Each kind of call event has one stored form: records go to JSON data and come back the same,
and rows stored by the previous version (plain dicts written by the webhooks) still read."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.engine import events
from ivr.engine.events import KINDS, from_data, stored_form, to_data

# (record, its key, the data the webhooks stored for it before events were typed: literally what
# ivr/web/voice.py wrote, key for key).
STORED = [
    pytest.param(
        events.Started(line="United States & Canada", region="amer", caller="+14155551234", to="+14155550100",
                       caller_name="ACME"),
        "started",
        {"line": "United States & Canada", "region": "amer", "from": "+14155551234", "to": "+14155550100",
         "caller_name": "ACME"},
        id="started",
    ),
    pytest.param(
        events.Started(line=None, region=None, caller="anonymous", to="+14155550199", caller_name=None),
        "started",
        {"line": None, "region": None, "from": "anonymous", "to": "+14155550199", "caller_name": None},
        id="started on no published line",
    ),
    pytest.param(
        events.Recognised(sen="SEN-1234567", customer="Acme Corporation", tier="priority"),
        "recognised",
        {"sen": "SEN-1234567", "customer": "Acme Corporation", "tier": "priority"},
        id="recognised",
    ),
    pytest.param(
        events.SenEntered(sen="1234567", attempt=1, miss=None),
        "sen:1",
        {"sen": "1234567", "attempt": 1, "miss": None},
        id="sen_entered",
    ),
    pytest.param(
        events.SenEntered(sen=None, attempt=3, miss="empty"),
        "sen:3",
        {"sen": None, "attempt": 3, "miss": "empty"},
        id="sen_entered missed",
    ),
    pytest.param(
        events.Entitlement(sen="SEN-2345678", customer="Globex", verdict="expired", tier="premier"),
        "entitlement",
        {"sen": "SEN-2345678", "customer": "Globex", "verdict": "expired", "tier": "premier"},
        id="entitlement",
    ),
    pytest.param(events.Deflected(reason="no-sen"), "deflected", {"reason": "no-sen"}, id="deflected"),
    pytest.param(events.Sms(reason="expired", to="+61412345678"), "sms", {"reason": "expired", "to": "+61412345678"},
                 id="sms"),
    pytest.param(events.Severity(severity=1), "severity", {"severity": 1}, id="severity"),
    pytest.param(
        events.Routed(action="connect", reason="on duty: san_francisco",
                      candidates=("san_francisco", "select", "fallback"), weekend=False),
        "routed",
        {"action": "connect", "reason": "on duty: san_francisco", "candidates": ["san_francisco", "select", "fallback"],
         "weekend": False},
        id="routed",
    ),
    pytest.param(
        events.Routed(action="deflect", reason="severity 3 is not connected", candidates=(), weekend=True),
        "routed",
        {"action": "deflect", "reason": "severity 3 is not connected", "candidates": [], "weekend": True},
        id="routed away",
    ),
    pytest.param(
        events.Dial(attempt=2, team="amsterdam", numbers=("+31205550101", "+31205550102"), status="completed",
                    duration=180, accepted_by=None, dial_call_sid="CA" + "d" * 32, bridged=True),
        "dial:2",
        {"attempt": 2, "team": "amsterdam", "numbers": ["+31205550101", "+31205550102"], "status": "completed",
         "duration": 180, "accepted_by": None, "dial_call_sid": "CA" + "d" * 32, "bridged": True},
        id="dial",
    ),
    pytest.param(
        events.Dial(attempt=1, team="san_francisco", numbers=("+14155550101",), status="no-answer", duration=None,
                    accepted_by=None, dial_call_sid=None, bridged=False),
        "dial:1",
        {"attempt": 1, "team": "san_francisco", "numbers": ["+14155550101"], "status": "no-answer",
         "duration": None, "accepted_by": None, "dial_call_sid": None, "bridged": False},
        id="dial unanswered",
    ),
    pytest.param(
        events.Screened(number="+14155550101", accepted=True, dial_call_sid="CA" + "e" * 32),
        "screened:CA" + "e" * 32,
        {"number": "+14155550101", "accepted": True, "dial_call_sid": "CA" + "e" * 32},
        id="screened",
    ),
    pytest.param(
        events.Voicemail(recording_url="https://api.twilio.com/RE1", recording_sid="RE1", duration=25,
                         status="completed"),
        "voicemail",
        {"recording_url": "https://api.twilio.com/RE1", "recording_sid": "RE1", "duration": 25,
         "status": "completed"},
        id="voicemail",
    ),
    # Stored under the key `status` before statuses were keyed by their value: the data reads the same.
    pytest.param(
        events.Joined(number="+31205550101", leg="CA" + "e" * 32, team="amsterdam"), "joined:CA" + "e" * 32,
        {"number": "+31205550101", "leg": "CA" + "e" * 32, "team": "amsterdam"}, id="joined",
    ),
    pytest.param(
        events.Left(number="+31205550101", leg="CA" + "e" * 32), "left:CA" + "e" * 32,
        {"number": "+31205550101", "leg": "CA" + "e" * 32}, id="left",
    ),
    pytest.param(
        events.HandoffAsked(attempt=1, by="+31205550101", team="san_francisco"), "handoff:1",
        {"attempt": 1, "by": "+31205550101", "team": "san_francisco", "own_team": False}, id="handoff_asked",
    ),
    pytest.param(
        events.HandoffDial(attempt=1, ring=1, team="san_francisco", numbers=("+14155550102",), status="completed",
                           joined=True),
        "handoff_dial:1:1",
        {"attempt": 1, "ring": 1, "team": "san_francisco", "numbers": ["+14155550102"], "status": "completed",
         "joined": True},
        id="handoff_dial",
    ),
    pytest.param(events.Status(call_status="completed", duration=313), "status:completed",
                 {"call_status": "completed", "duration": 313}, id="status"),
    pytest.param(
        events.Outbound(callback=7, engineer="+14155550101", who="ops"),
        "outbound",
        {"callback": 7, "engineer": "+14155550101", "who": "ops"},
        id="outbound",
    ),
    pytest.param(
        events.Error(message="RuntimeError: the engine is broken", step="voice.severity"),
        "error",
        {"message": "RuntimeError: the engine is broken", "step": "voice.severity"},
        id="error",
    ),
]


@pytest.mark.parametrize(("record", "key", "stored"), STORED)
def test_a_record_is_stored_as_the_webhooks_stored_it_before_and_reads_back_the_same(record, key, stored):
    assert (record.kind, record.key) == (from_data(record.kind, stored).kind, key)
    assert to_data(record) == stored
    assert from_data(record.kind, stored) == record
    # Through JSON and back, as the database and the log keep it.
    assert from_data(record.kind, json.loads(json.dumps(to_data(record)))) == record


def test_a_customer_recorded_before_tiers_were_reads_without_one():
    stored = {"sen": "SEN-2345678", "customer": "Globex", "verdict": "ok"}
    assert from_data("entitlement", stored) == events.Entitlement(sen="SEN-2345678", customer="Globex", verdict="ok")
    assert from_data("recognised", {"sen": "SEN-1"}).tier is None


def test_every_kind_the_webhooks_write_has_a_case_above():
    assert {p.values[0].kind for p in STORED} == set(KINDS) == {
        "started", "recognised", "sen_entered", "entitlement", "deflected", "sms", "severity", "routed", "dial",
        "screened", "joined", "left", "handoff_asked", "handoff_dial", "voicemail", "status", "error", "outbound",
    }


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_field_of_every_kind_survives_the_round_trip(kind):
    # Fields set to values unlike their defaults, so a field the conversion drops shows.
    samples = {"str | None": "x", "int | None": 7, "int": 7, "bool": True, "tuple[str, ...]": ("a", "b")}
    cls = KINDS[kind]
    record = cls(**{f.name: samples[f.type] for f in fields(cls)})
    assert from_data(kind, json.loads(json.dumps(to_data(record)))) == record


@pytest.mark.parametrize(
    ("record", "key"),
    [
        pytest.param(events.Dial(attempt=3), "dial:3", id="a dial by its attempt"),
        pytest.param(events.SenEntered(attempt=2), "sen:2", id="a SEN by its attempt"),
        pytest.param(events.Screened(dial_call_sid="CA9"), "screened:CA9", id="a screening by the engineer's leg"),
        pytest.param(events.Screened(), "screened", id="a screening without its leg by its kind"),
        pytest.param(events.Status(call_status="completed"), "status:completed", id="a status by its value"),
        pytest.param(events.Status(call_status="in-progress"), "status:in-progress",
                     id="so a final one follows another"),
        pytest.param(events.Status(call_status="x" * 80), "status:other", id="an undocumented status, kept short"),
        pytest.param(events.Voicemail(), "voicemail", id="one voicemail per call"),
        pytest.param(events.Deflected(), "deflected", id="others by their kind"),
    ],
)
def test_the_key_makes_a_repeated_callback_overwrite(record, key):
    assert record.key == key


@pytest.mark.parametrize(
    ("kind", "stored", "record"),
    [
        pytest.param("started", {"to": "+31205550100", "from": "+31612345678"},
                     events.Started(to="+31205550100", caller="+31612345678"), id="missing keys take the defaults"),
        pytest.param("dial", {}, events.Dial(attempt=0), id="a dial without its attempt sorts first"),
        pytest.param("status", {"call_status": "completed", "duration": "42", "extra": 1},
                     events.Status(call_status="completed", duration=42), id="numbers as text; unknown keys ignored"),
        pytest.param("severity", {"severity": "high"}, events.Severity(severity=None), id="a value that is no number"),
        pytest.param("status", {"duration": float("inf"), "call_status": "completed"},
                     events.Status(call_status="completed"), id="a number no whole number holds"),
        pytest.param("routed", {"action": "connect", "candidates": None},
                     events.Routed(action="connect", candidates=()), id="no candidates"),
        pytest.param("screened", {"number": "+14155550101", "accepted": 1},
                     events.Screened(number="+14155550101", accepted=True), id="a truthy acceptance"),
        pytest.param("deflected", None, events.Deflected(), id="data that is not an object"),
        pytest.param("transfer", {"to": "+1"}, events.Unrecognised("transfer", {"to": "+1"}),
                     id="a kind this version does not write"),
    ],
)
def test_reading_tolerates_rows_this_version_did_not_write(kind, stored, record):
    assert from_data(kind, stored) == record
    # The API's pages read the stored form the same way, without the record.
    assert stored_form(kind, stored) == to_data(record)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=8)
# Stored data as any version might have left it: this version's keys with values of any type, others.
_KEYS = sorted({f.metadata.get("json", f.name) for cls in KINDS.values() for f in fields(cls)} | {"extra"})


@given(kind=st.sampled_from([*sorted(KINDS), "transfer"]),
       stored=st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=6) | _JSON)
def test_the_stored_form_is_what_the_record_read_from_it_writes(kind, stored):
    assert stored_form(kind, stored) == to_data(from_data(kind, stored))


def test_an_unrecognised_event_is_written_back_as_it_was_stored():
    stored = {"to": "+1", "nested": {"a": [1, 2]}}
    event = from_data("transfer", stored)
    assert (event.kind, event.key, to_data(event)) == ("transfer", "transfer", stored)
