"""The call flow, end to end through the simulator at literal instants, and the TwiML it answers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
from calls import (
    ACCOUNT,
    ACME_ADMIN,
    AMSTERDAM,
    ATTESTED,
    AU_LINE,
    FALLBACK,
    INITECH_ADMIN,
    NL_LINE,
    SELECT,
    SF,
    STRANGER,
    SYDNEY,
    TOKEN,
    US_LINE,
    ListSink,
    call_params,
    pinned_app,
    play,
    post,
    twiml,
)
from conftest import SAMPLE, utc, without_tables

import ivr.callflow.conversation
import ivr.web.voice
from ivr.callflow import prompts
from ivr.callflow.prompts import speaking_seconds
from ivr.cli.simulate import InProcess, Simulator, heard_before_ringing, parse_presses
from ivr.engine.events import (
    Deflected,
    Dial,
    Entitlement,
    Error,
    Recognised,
    Routed,
    Screened,
    SenEntered,
    Status,
    Voicemail,
)
from ivr.store.reloading import ReloadingPhonebook
from ivr.web.services import services_of

ACME_SEN = "1234567#"
L1 = "1"


# --- who answers, at real instants ---------------------------------------------------------


def test_a_weekday_call_rings_the_local_office_and_the_engineer_who_presses_1_gets_it(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press=f"{ACME_SEN},{L1}", answer=[SF[1]])
    assert "Connecting you to our San Francisco Priority Support team." in call.said("caller hears")
    # San Francisco rings one number after the other.
    assert call.said("rings") == [SF[0], SF[1]]
    assert call.said("connected") == [f"caller and {SF[1]}"]
    assert call.said("engineer hears") == [
        "Priority Support, level 1 call from Acme Corporation, SEN 1 2 3 4 5 6 7, "
        "on the United States & Canada line. Press 1 to accept."
    ]
    assert call.events.of(Routed)[0].candidates == ("san_francisco", "select", "fallback")
    assert [d.status for d in call.events.of(Dial)] == ["no-answer", "completed"]
    assert call.events.of(Dial)[1].accepted_by == SF[1]
    assert call.events.of(Screened) == [Screened(number=SF[1], accepted=True, dial_call_sid=call.events.of(Dial)[1].dial_call_sid)]
    assert call.events.of(Status)[0].call_status == "completed"


def test_after_hours_in_sydney_the_australian_line_rings_amsterdam(tmp_path):
    # 23:00 in Sydney, 13:00 in Amsterdam.
    call = play(tmp_path, "2026-12-01T12:00Z", AU_LINE, press=f"{ACME_SEN},{L1}", answer=[AMSTERDAM[0]])
    assert call.said("rings") == [", ".join(AMSTERDAM)]
    assert "Connecting you to our Amsterdam Priority Support team." in call.said("caller hears")
    assert call.said("connected") == [f"caller and {AMSTERDAM[0]}"]
    assert "on the Australia line" in call.said("engineer hears")[0]


def test_in_a_handoff_overlap_the_team_that_stays_longest_rings_first_then_the_one_leaving(tmp_path):
    # 03:00 in Sydney: San Francisco (until 03:00Z) and Amsterdam (until 18:00Z) are both on duty.
    call = play(tmp_path, "2026-12-01T16:00Z", AU_LINE, press=f"{ACME_SEN},{L1}", answer=[AMSTERDAM[1]])
    assert call.said("rings") == [SF[0], SF[1], ", ".join(AMSTERDAM)]
    assert "Nobody at San Francisco Priority Support could take the call." in call.said("caller hears")
    assert call.said("connected") == [f"caller and {AMSTERDAM[1]}"]


def test_on_the_weekend_the_select_team_takes_level_1_calls(tmp_path):
    call = play(tmp_path, "2026-12-05T12:00Z", NL_LINE, press=f"{ACME_SEN},{L1}", answer=[SELECT[1]])
    assert call.events.of(Routed)[0].weekend is True
    assert "Connecting you to our Global Select Support team." in call.said("caller hears")
    assert call.said("connected") == [f"caller and {SELECT[1]}"]


def test_on_christmas_day_in_sydney_the_australian_line_rings_the_select_team(tmp_path):
    # Friday 15:00 in Sydney, a public holiday; the same hour a week earlier rings Sydney.
    holiday = play(tmp_path, "2026-12-25T04:00Z", AU_LINE, press=f"{ACME_SEN},{L1}", answer=[SELECT[0]])
    assert holiday.said("rings") == [", ".join(SELECT)]
    assert holiday.events.of(Routed)[0].weekend is False
    workday = play(tmp_path, "2026-12-18T04:00Z", AU_LINE, press=f"{ACME_SEN},{L1}", answer=[SYDNEY[0]])
    assert workday.said("rings") == [", ".join(SYDNEY)]


def test_in_the_week_between_european_and_american_dst_changes_san_francisco_starts_at_14_utc(tmp_path):
    # 2026-10-27: Amsterdam is back on CET, San Francisco still on PDT, so 07:30 there is 14:30Z.
    dst = play(tmp_path, "2026-10-27T14:30Z", US_LINE, press=f"{ACME_SEN},{L1}", answer=[SF[0]])
    assert dst.said("rings")[0] == SF[0]
    # A week later, on PST, 14:30Z is 06:30 in San Francisco: Amsterdam takes the call.
    winter = play(tmp_path, "2026-11-03T14:30Z", US_LINE, press=f"{ACME_SEN},{L1}", answer=[AMSTERDAM[0]])
    assert winter.said("rings")[0] == ", ".join(AMSTERDAM)


def test_nobody_answering_walks_every_candidate_to_the_fallback_then_takes_a_voicemail(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press=f"{ACME_SEN},{L1}")
    assert call.said("rings") == [SF[0], SF[1], ", ".join(SELECT), FALLBACK]
    heard = call.heard()
    assert "Nobody at Global Select Support could take the call." in heard
    assert "Connecting you to our Priority Support duty manager." in heard
    assert "Our Priority Support duty manager could not take the call." in heard
    assert "Nobody at Priority Support duty manager" not in heard
    assert "After the beep" in heard
    assert call.said("caller hears")[-1] == "Thank you. An engineer will call you back as soon as possible. Goodbye."
    dials = call.events.of(Dial)
    assert [(d.attempt, d.team, d.status) for d in dials] == [
        (1, "san_francisco", "no-answer"), (2, "san_francisco", "no-answer"),
        (3, "select", "no-answer"), (4, "fallback", "no-answer"),
    ]
    [voicemail] = call.events.of(Voicemail)
    assert voicemail.recording_url.startswith("https://api.twilio.com/")
    assert voicemail.duration == 25


def test_candidates_are_fixed_when_the_call_is_routed_not_when_each_dial_ends(tmp_path):
    """A shift change mid-call does not reshuffle the list: Amsterdam goes off at 18:00Z while it rings."""
    clock = {"now": utc("2026-12-01T17:59Z")}

    class ShiftChangeAfterRouting(ListSink):
        def record(self, call_sid, event, at):
            super().record(call_sid, event, at)
            if isinstance(event, Routed):
                clock["now"] = utc("2026-12-01T18:30Z")

    sink = ShiftChangeAfterRouting()
    call = play(tmp_path, "2026-12-01T17:59Z", NL_LINE, press=f"{ACME_SEN},{L1}", answer=[SELECT[0]],
                CLOCK=lambda: clock["now"], EVENT_SINK=sink)
    assert sink.of(Routed)[0].candidates == ("amsterdam", "san_francisco", "select", "fallback")
    assert call.said("rings") == [", ".join(AMSTERDAM), SF[0], SF[1], ", ".join(SELECT)]
    assert sink.events[-1].at == utc("2026-12-01T18:30Z")


# Twelve 24/7 select teams more than the sample, each named as long as a name may be: with the
# sample's four teams and the fallback, 16 candidates would be on duty at times.
LONG_NAMED = tuple(f"z{n:02d}" + "x" * 61 for n in range(12))
EXTRA_SELECT = tuple(f"+1415555{n + 300:04d}" for n in range(12))


@pytest.fixture
def sixteen_teams(tmp_path):
    path = tmp_path / "phonebook.toml"
    path.write_text(SAMPLE.read_text() + "".join(
        f'\n[teams.{name}]\nkind = "select"\ntz = "UTC"\nhours = ["24/7"]\ndial = ["{number}"]\n'
        for name, number in zip(LONG_NAMED, EXTRA_SELECT, strict=True)
    ))
    return path


def test_a_phonebook_with_sixteen_teams_rings_a_call_s_worth_of_them_then_takes_a_voicemail(tmp_path, sixteen_teams):
    # 16:00Z on a Tuesday: San Francisco and Amsterdam overlap, and every select team is on.
    call = play(tmp_path, "2026-12-01T16:00Z", US_LINE, press=f"{ACME_SEN},{L1}", phonebook=sixteen_teams)
    [routed] = call.events.of(Routed)
    assert routed.candidates == ("san_francisco", "amsterdam", "select", *LONG_NAMED[:8], "fallback")
    assert call.said("rings") == [SF[0], SF[1], ", ".join(AMSTERDAM), ", ".join(SELECT), *EXTRA_SELECT[:8], FALLBACK]
    assert "After the beep" in call.heard()
    assert call.events.of(Error) == []


def test_a_phonebook_with_sixteen_teams_puts_the_call_through_to_the_last_team_a_call_rings(tmp_path, sixteen_teams):
    call = play(tmp_path, "2026-12-01T16:00Z", US_LINE, press=f"{ACME_SEN},{L1}", phonebook=sixteen_teams,
                answer=[EXTRA_SELECT[7]])
    assert call.said("rings")[-1] == EXTRA_SELECT[7]
    assert call.events.of(Screened)[-1].accepted
    assert "After the beep" not in call.heard()
    assert call.events.of(Error) == []


def test_with_nobody_on_duty_and_no_fallback_a_call_ends_in_voicemail(tmp_path):
    book = tmp_path / "phonebook.toml"
    book.write_text(without_tables(SAMPLE.read_text(), "teams.select", "fallback"))
    call = play(tmp_path, "2026-12-05T12:00Z", US_LINE, press=f"{ACME_SEN},{L1}", phonebook=book)
    [routed] = call.events.of(Routed)
    assert (routed.action, routed.candidates) == ("connect", ())
    assert call.said("rings") == []
    assert "After the beep" in call.heard()
    assert "Please call again" not in call.heard()
    assert call.said("caller hears")[-1] == "Thank you. An engineer will call you back as soon as possible. Goodbye."


# --- who may call --------------------------------------------------------------------------


def test_a_recognised_admin_is_greeted_by_name_and_not_asked_for_the_sen(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, caller=ACME_ADMIN, press=L1, answer=[SF[0]])
    assert call.said("caller hears")[:2] == ["Welcome to Priority Support.", "Hello, Acme Corporation."]
    assert "support entitlement number" not in call.heard()
    assert call.events.of(Recognised) == [Recognised(sen="SEN-1234567", customer="Acme Corporation", tier="priority")]
    assert call.said("connected") == [f"caller and {SF[0]}"]


def test_an_unknown_sen_is_asked_again_and_the_right_one_is_accepted(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press=f"9999999#,{ACME_SEN},{L1}", answer=[SF[0]])
    assert "We could not find SEN 9 9 9 9 9 9 9." in call.said("caller hears")
    assert [e.attempt for e in call.events.of(SenEntered)] == [1, 2]
    assert call.said("connected")


def test_three_unknown_sens_end_with_the_portal_and_nothing_is_connected(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press="9999999#,8888888#,7777777#")
    assert call.said("caller hears")[-2:] == [
        "We could not find that support entitlement number. Please check it at support.example.com.",
        "Thank you for calling. Goodbye.",
    ]
    assert call.said("rings") == []
    assert call.events.of(Entitlement)[-1].verdict == "unknown"
    assert call.events.of(Deflected) == [Deflected(reason="unknown")]


def test_three_bad_tries_each_say_what_went_wrong(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press="12#,,1*3#")
    heard = call.said("caller hears")
    assert "That number has the wrong length." in heard
    assert "We did not get a number." in heard
    assert [e.miss for e in call.events.of(SenEntered)] == ["length", "empty", "unclear"]
    assert heard[-2] == "We could not get your support entitlement number. Please raise a request at support.example.com."
    assert call.events.of(Deflected) == [Deflected(reason="no-sen")]
    assert call.said("rings") == []


def test_a_spoken_sen_is_understood(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press="say:one two three four five six seven,1", answer=[SF[0]])
    assert call.events.of(SenEntered)[0].sen == "1234567"
    assert call.said("connected")


def test_expired_maintenance_is_told_with_the_portal_and_never_the_name_to_whoever_typed_the_sen(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press="2345678#")
    assert "The maintenance for this support entitlement number has expired, so we cannot connect" in call.heard()
    assert "support.example.com" in call.heard()
    assert "Globex" not in call.heard()
    assert call.events.of(Deflected) == [Deflected(reason="expired")]
    assert call.said("rings") == []


def test_maintenance_lasts_until_noon_utc_the_day_after_it_ends(tmp_path):
    last_minute = play(tmp_path, "2027-07-01T11:59Z", US_LINE, press=f"{ACME_SEN},{L1}", answer=[SF[0]])
    assert last_minute.events.of(Entitlement)[0].verdict == "ok"
    too_late = play(tmp_path, "2027-07-01T12:00Z", US_LINE, press=ACME_SEN)
    assert too_late.events.of(Entitlement)[0].verdict == "expired"


def test_a_select_tier_customer_is_told_phone_support_is_not_included(tmp_path):
    typed = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press="3456789#")
    assert "The support plan of this support entitlement number does not include phone support." in typed.heard()
    # Whoever typed the SEN may not be the customer's: neither the name nor the plan is said.
    assert "Initech" not in typed.heard() and "select" not in typed.heard()
    recognised = play(tmp_path, "2026-12-01T20:00Z", US_LINE, caller=INITECH_ADMIN)
    assert "Hello, Initech." in recognised.said("caller hears")
    assert "The select support plan of Initech does not include phone support." in recognised.heard()
    assert recognised.events.of(Deflected) == [Deflected(reason="tier")]


def test_severity_2_is_pointed_to_the_portal(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press=f"{ACME_SEN},2")
    assert "Severity 2 issues are handled at support.example.com, not by phone." in call.heard()
    assert call.events.of(Routed)[0].action == "deflect"
    assert call.events.of(Deflected) == [Deflected(reason="severity")]
    assert call.said("rings") == []


def test_a_wrong_severity_key_is_asked_again(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press=f"{ACME_SEN},9,{L1}", answer=[SF[0]])
    assert "Please press one key, 1 to 4." in call.said("caller hears")
    assert call.said("connected")


def test_no_severity_after_three_tries_ends_with_the_portal(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press=f"{ACME_SEN},9,,0")
    assert call.events.of(Deflected) == [Deflected(reason="no-severity")]
    assert call.said("rings") == []


# --- the TwiML, element by element ---------------------------------------------------------


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_the_greeting_asks_for_the_sen_inside_a_gather_with_a_time_out_after_it(tmp_path):
    client = pinned_app(tmp_path).test_client()
    root = twiml(post(client, "/voice", call_params()))
    gather, redirect = list(root)
    assert gather.tag == "Gather" and redirect.tag == "Redirect"
    assert gather.get("action") == "/voice/sen?sv=2" and redirect.text == "/voice/sen?sv=2"
    assert gather.get("method") == "POST" and redirect.get("method") == "POST"
    assert gather.get("input") == "dtmf speech"
    assert gather.get("finishOnKey") == "#"
    assert [s.tag for s in gather] == ["Say", "Say"]
    assert gather[0].text == "Welcome to Priority Support."
    assert gather[0].get("voice") == "Polly.Joanna-Neural" and gather[0].get("language") == "en-US"


def test_the_severity_question_takes_a_single_key(tmp_path):
    client = pinned_app(tmp_path).test_client()
    root = twiml(post(client, "/voice/sen", call_params(Digits="1234567")))
    gather, redirect = list(root)
    assert gather.get("numDigits") == "1"
    assert _query(gather.get("action")) == {"sv": "2", "sen": "1234567"}
    assert redirect.text == gather.get("action")
    # The question, then (for a caller who has not pressed yet) a pause and what each level means.
    ask, pause, levels = list(gather)
    assert (ask.tag, ask.text) == ("Say", "For a critical outage, press 1.")
    assert (pause.tag, pause.get("length")) == ("Pause", "2")
    assert levels.tag == "Say"
    assert levels.text.startswith("Critical means production down, data loss or corruption, or many users blocked")
    assert levels.text.endswith("Major, 2; medium, 3; low or a question, 4.")


def test_a_recognised_caller_who_presses_1_during_the_greeting_is_put_through_at_once(tmp_path):
    client = pinned_app(tmp_path).test_client()
    root = twiml(post(client, "/voice", call_params(caller=ACME_ADMIN, StirVerstat=ATTESTED)))
    gather = root[0]
    # The greeting is the Gather's own first words: a key pressed while it plays is the answer.
    assert gather.tag == "Gather" and gather.get("numDigits") == "1"
    assert gather[0].tag == "Say" and gather[0].text == "Welcome to Priority Support."
    root = twiml(post(client, gather.get("action"), call_params(caller=ACME_ADMIN, Digits=L1)))
    assert [verb.tag for verb in root] == ["Say", "Dial"]
    assert [number.text for number in root.find("Dial")] == [SF[0]]


def test_the_dial_screens_each_number_and_uses_the_callers_number(tmp_path):
    client = pinned_app(tmp_path, at="2026-12-01T12:00Z").test_client()
    root = twiml(post(client, "/voice/severity?sen=1234567", call_params(to=AU_LINE, caller=ACME_ADMIN, Digits="1")))
    say, dial = list(root)
    assert say.text == "Connecting you to our Amsterdam Priority Support team."
    assert dial.tag == "Dial"
    assert dial.get("answerOnBridge") == "true"
    assert dial.get("callerId") == ACME_ADMIN
    assert dial.get("timeout") == "20"
    assert _query(dial.get("action")) == {
        "sv": "2", "sen": "1234567", "sev": "1", "plan": "amsterdam,select,fallback", "a": "1",
    }
    numbers = list(dial)
    assert [n.tag for n in numbers] == ["Number", "Number"]
    assert [n.text for n in numbers] == list(AMSTERDAM)
    whisper = _query(numbers[0].get("url"))
    assert whisper["line"] == AU_LINE and whisper["call"] == call_params()["CallSid"]


def test_an_anonymous_caller_is_shown_to_engineers_as_the_support_line(tmp_path):
    client = pinned_app(tmp_path).test_client()
    root = twiml(post(client, "/voice/severity?sen=1234567", call_params(caller="anonymous", Digits="1")))
    assert root.find("Dial").get("callerId") == US_LINE


def test_the_whisper_needs_a_key_press_or_the_engineer_leg_hangs_up(tmp_path):
    client = pinned_app(tmp_path).test_client()
    leg = {"CallSid": "CA" + "b" * 32, "ParentCallSid": "CA" + "a" * 32, "From": ACME_ADMIN, "To": SF[0]}
    root = twiml(post(client, f"/voice/whisper?sen=1234567&sev=1&line=%2B14155550100&call={leg['ParentCallSid']}", leg))
    gather, hangup = list(root)
    assert gather.tag == "Gather" and hangup.tag == "Hangup"
    assert gather.get("numDigits") == "1"
    # The key press comes back with the parent call, its line and its state (what the room needs).
    action = _query(gather.get("action"))
    assert urlsplit(gather.get("action")).path == "/voice/screen"
    assert (action["call"], action["line"], action["sen"], action["sev"]) == (
        leg["ParentCallSid"], US_LINE, "1234567", "1"
    )
    assert gather[0].text.endswith("Press 1 to accept.")
    accepted = twiml(post(client, f"/voice/screen?call={leg['ParentCallSid']}", {**leg, "Digits": "1"}))
    assert list(accepted) == []
    refused = twiml(post(client, f"/voice/screen?call={leg['ParentCallSid']}", {**leg, "Digits": "7"}))
    assert [v.tag for v in refused] == ["Hangup"]


def test_a_bridged_call_ends_when_the_engineer_hangs_up(tmp_path):
    client = pinned_app(tmp_path).test_client()
    params = call_params(DialCallStatus="completed", DialBridged="true", DialCallDuration="300", DialCallSid="CA" + "c" * 32)
    root = twiml(post(client, "/voice/dialed?sen=1234567&sev=1&plan=san_francisco,select,fallback&a=1", params))
    assert [v.tag for v in root] == ["Hangup"]


def test_a_leg_answered_by_voicemail_and_screened_out_moves_on_to_the_next_number(tmp_path):
    client = pinned_app(tmp_path).test_client()
    params = call_params(DialCallStatus="completed", DialBridged="false", DialCallDuration="4")
    root = twiml(post(client, "/voice/dialed?sen=1234567&sev=1&plan=san_francisco,select,fallback&a=1", params))
    dial = root.find("Dial")
    assert [n.text for n in dial] == [SF[1]]
    assert _query(dial.get("action"))["n"] == "1"


def test_a_voicemail_that_picks_up_first_never_takes_the_call_the_next_candidate_rings(tmp_path):
    # Amsterdam rings both numbers together at 13:00 local; the first to pick up is a voicemail.
    call = play(tmp_path, "2026-12-01T12:00Z", AU_LINE, press=f"{ACME_SEN},{L1}", voicemail=[AMSTERDAM[0]],
                answer=[SELECT[0]])
    assert call.said("not put through") == [", ".join(AMSTERDAM)]
    assert [s.number for s in call.events.of(Screened)] == [SELECT[0]]
    assert "Nobody at Amsterdam Priority Support could take the call." in call.said("caller hears")
    assert call.said("connected") == [f"caller and {SELECT[0]}"]


def test_a_caller_who_hung_up_while_ringing_is_not_dialled_again(tmp_path):
    client = pinned_app(tmp_path).test_client()
    params = call_params(CallStatus="completed", DialCallStatus="canceled", DialBridged="false")
    root = twiml(post(client, "/voice/dialed?sen=1234567&sev=1&plan=select,fallback&a=1", params))
    assert [v.tag for v in root] == ["Hangup"]


def test_the_voicemail_records_with_a_beep_an_action_and_a_callback(tmp_path):
    client = pinned_app(tmp_path).test_client()
    params = call_params(DialCallStatus="no-answer", DialBridged="false")
    root = twiml(post(client, "/voice/dialed?sen=1234567&sev=1&plan=select,fallback&c=1&a=2", params))
    say, record, thanks, hangup = list(root)
    assert [say.tag, record.tag, thanks.tag, hangup.tag] == ["Say", "Record", "Say", "Hangup"]
    assert record.get("action") == "/voice/recorded"
    assert record.get("recordingStatusCallback") == "/voice/recording"
    assert record.get("maxLength") == "120"
    assert record.get("playBeep") == "true"


def test_status_and_recording_callbacks_answer_204_and_repeats_do_not_duplicate(tmp_path):
    app = pinned_app(tmp_path)
    client = app.test_client()
    status = call_params(CallStatus="completed", CallDuration="42")
    assert post(client, "/voice/status", status).status_code == 204
    assert post(client, "/voice/status", status).status_code == 204
    recording = {"CallSid": status["CallSid"], "RecordingSid": "RE1", "RecordingUrl": "https://api.twilio.com/r/RE1",
                 "RecordingStatus": "completed", "RecordingDuration": "17"}
    assert post(client, "/voice/recording", recording).status_code == 204
    sink = services_of(app).events
    assert sink.kinds() == ["status", "voicemail"]
    assert sink.of(Status) == [Status(call_status="completed", duration=42)]


# --- never strand a caller, never answer 500 -----------------------------------------------


def _broken_route(*args, **kwargs):
    raise RuntimeError("the engine is broken")


def test_an_exception_while_routing_still_connects_the_caller_to_the_fallback(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(ivr.callflow.conversation, "route", _broken_route)
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press=f"{ACME_SEN},{L1}", answer=[FALLBACK])
    assert "Connecting you to our support team." in call.said("caller hears")
    assert call.said("rings") == [FALLBACK]
    assert call.said("connected") == [f"caller and {FALLBACK}"]
    assert "put through after a system error" in call.said("engineer hears")[0]
    [error] = call.events.of(Error)
    assert error == Error(message="RuntimeError: the engine is broken", step="voice.severity")
    assert any("CA" in r.getMessage() and "voice.severity failed" in r.getMessage() for r in caplog.records)


def test_with_no_fallback_the_rescue_rings_the_select_teams(tmp_path, monkeypatch):
    text = SAMPLE.read_text()
    no_fallback = tmp_path / "phonebook.toml"
    no_fallback.write_text(text[: text.index("[fallback]")] + text[text.index("[[customers]]"):])
    monkeypatch.setattr(ivr.callflow.conversation, "route", _broken_route)
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press=f"{ACME_SEN},{L1}", answer=[SELECT[0]],
                phonebook=no_fallback)
    assert call.said("rings") == [", ".join(SELECT)]
    assert call.said("connected") == [f"caller and {SELECT[0]}"]


def test_a_rescue_nobody_answers_ends_in_voicemail(tmp_path, monkeypatch):
    monkeypatch.setattr(ivr.callflow.conversation, "route", _broken_route)
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, press=f"{ACME_SEN},{L1}")
    assert call.said("rings") == [FALLBACK]
    assert call.said("caller records")


def _broken_candidate(*args, **kwargs):
    raise RuntimeError("the phonebook holder is broken")


def test_an_exception_after_an_engineer_took_the_call_ends_it_instead_of_ringing_again(tmp_path, monkeypatch):
    monkeypatch.setattr(ivr.web.voice, "candidate", _broken_candidate)
    client = pinned_app(tmp_path).test_client()
    path = "/voice/dialed?sen=1234567&sev=1&plan=san_francisco,select,fallback&a=1"
    bridged = twiml(post(client, path, call_params(DialCallStatus="completed", DialBridged="true")))
    assert [v.tag for v in bridged] == ["Hangup"]
    missed = twiml(post(client, path, call_params(DialCallStatus="no-answer", DialBridged="false")))
    assert [n.text for n in missed.find("Dial")] == [FALLBACK]


def test_a_phonebook_holder_that_raises_still_rings_the_fallback_from_the_last_good_phonebook(tmp_path, monkeypatch):
    monkeypatch.setattr(ReloadingPhonebook, "current", _broken_candidate)
    client = pinned_app(tmp_path).test_client()
    root = twiml(post(client, "/voice", call_params()))
    assert [n.text for n in root.find("Dial")] == [FALLBACK]
    assert urlsplit(root.find("Dial").get("action")).path == "/voice/rescued"


def test_a_failing_event_sink_does_not_touch_the_call(tmp_path):
    class BrokenSink:
        def record(self, *args, **kwargs):
            raise OSError("database is down")

    client = pinned_app(tmp_path, EVENT_SINK=BrokenSink()).test_client()
    root = twiml(post(client, "/voice", call_params(caller=ACME_ADMIN, StirVerstat=ATTESTED)))
    assert root.find("Gather").get("action").startswith("/voice/severity")


@pytest.mark.parametrize("digits", ["abc", "1" * 500, "12.5", "#", " "])
def test_bad_sen_digits_get_a_retry_prompt(tmp_path, digits):
    client = pinned_app(tmp_path).test_client()
    root = twiml(post(client, "/voice/sen", call_params(Digits=digits)))
    assert root.find("Gather").get("action") == "/voice/sen?sv=2&try=1"


@pytest.mark.parametrize("digits", ["0", "5", "12", "x", "1#"])
def test_bad_severity_keys_get_a_retry_prompt(tmp_path, digits):
    client = pinned_app(tmp_path).test_client()
    root = twiml(post(client, "/voice/severity?sen=1234567", call_params(Digits=digits)))
    assert root.find("Gather").get("action") == "/voice/severity?sv=2&sen=1234567&try=1"


def test_a_dial_outcome_with_a_malformed_duration_is_still_read_not_rescued(tmp_path):
    client = pinned_app(tmp_path).test_client()
    params = call_params(DialCallStatus="completed", DialBridged="true", DialCallDuration="²")
    root = twiml(post(client, "/voice/dialed?sen=1234567&sev=1&plan=san_francisco,select,fallback&a=1", params))
    assert [v.tag for v in root] == ["Hangup"]
    assert services_of(client.application).events.of(Dial)[0].duration is None


def test_a_caller_id_in_other_digits_is_not_passed_on_to_engineers(tmp_path):
    client = pinned_app(tmp_path).test_client()
    root = twiml(post(client, "/voice/severity?sen=1234567", call_params(caller="+1٤١٥٥٥٥١٢٣٤", Digits="1")))  # noqa: RUF001 - Arabic-Indic digits on purpose
    assert root.find("Dial").get("callerId") == US_LINE


@pytest.mark.parametrize("query", ["try=9", "sev=7", "plan=", "sen=12ab", "r=yes", "plan=a,b&c=5", "a=-1"])
def test_a_state_this_service_never_wrote_is_a_400(tmp_path, query):
    client = pinned_app(tmp_path).test_client()
    response = post(client, f"/voice/dialed?{query}", call_params(DialCallStatus="no-answer"))
    assert response.status_code == 400


def test_an_oversized_body_is_refused_with_413(tmp_path):
    client = pinned_app(tmp_path).test_client()
    response = post(client, "/voice", call_params(Padding="x" * 100_000))
    assert response.status_code == 413


# --- no step loops back to the greeting ----------------------------------------------------


class RecordingTransport(InProcess):
    """The in-process transport, keeping every TwiML document the service answered."""

    def __init__(self, app):
        super().__init__(app)
        self.documents = []

    def post(self, url, params, headers):
        status, body = super().post(url, params, headers)
        if body.startswith("<?xml"):
            self.documents.append(ET.fromstring(body))
        return status, body


# Callers, their keys and who answers, through every kind of step.
CALLS = [
    (STRANGER, f"{ACME_SEN},{L1}", [SF[1]]),
    (STRANGER, f"{ACME_SEN},{L1}", []),
    (STRANGER, "12#,,9999999#", []),
    (ACME_ADMIN, "7,,2", []),
    (ACME_ADMIN, "wait:3,1", []),
    (INITECH_ADMIN, "", []),
]


def _documents(tmp_path, caller: str, press: str, answer: list[str]) -> list[ET.Element]:
    """Every TwiML document the service answers during one simulated call."""
    transport = RecordingTransport(pinned_app(tmp_path))
    Simulator(transport, TOKEN, ACCOUNT).call(US_LINE, caller, parse_presses(press), answer)
    assert transport.documents
    return transport.documents


@pytest.mark.parametrize("caller, press, answer", CALLS)
def test_every_gather_dial_and_record_has_an_action_and_none_leads_back_to_the_greeting(tmp_path, caller, press, answer):
    for document in _documents(tmp_path, caller, press, answer):
        verbs = list(document)
        for index, verb in enumerate(verbs):
            if verb.tag in ("Gather", "Dial", "Record"):
                assert verb.get("action"), ET.tostring(document)
                assert urlsplit(verb.get("action")).path != "/voice"
            if verb.tag == "Gather":
                assert index + 1 < len(verbs), f"nothing after the Gather: {ET.tostring(document)}"
            if verb.tag == "Redirect":
                assert urlsplit(verb.text).path != "/voice"


@pytest.mark.parametrize("caller, press, answer", CALLS)
def test_every_prompt_before_a_question_is_inside_its_gather_so_a_key_interrupts_it(tmp_path, caller, press, answer):
    for document in _documents(tmp_path, caller, press, answer):
        tags = [verb.tag for verb in document]
        if "Gather" in tags:
            assert "Say" not in tags[:tags.index("Gather")], ET.tostring(document)


# --- how long an L1 caller listens before a phone rings -------------------------------------
# Every word the caller hears until the first engineer's phone rings (the whisper is on the
# engineer's leg), from the TwiML the webhooks answer, at 150 words a minute. A caller presses
# when asked, which interrupts the rest of the prompt (`wait:` hears it all first).

WELCOME = "Welcome to Priority Support."
ASK_SEN = "Enter your support entitlement number, then hash."
ASK_L1 = "For a critical outage, press 1."
RINGING_SF = "Connecting you to our San Francisco Priority Support team."


def _heard_before_ringing(tmp_path, caller: str, press: str) -> list[str]:
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, caller=caller, press=press, answer=[SF[0]])
    heard = heard_before_ringing(call.turns)
    assert heard is not None, "no phone rang"
    return heard


def test_a_caller_recognised_by_caller_id_hears_at_most_10_seconds_before_the_first_phone_rings(tmp_path):
    assert speaking_seconds(*_heard_before_ringing(tmp_path, ACME_ADMIN, L1)) <= 10


def test_a_caller_who_types_the_sen_hears_at_most_16_seconds_before_the_first_phone_rings(tmp_path):
    assert speaking_seconds(*_heard_before_ringing(tmp_path, STRANGER, f"{ACME_SEN},{L1}")) <= 16


@pytest.mark.parametrize("caller, press, heard", [
    (ACME_ADMIN, L1, [WELCOME, "Hello, Acme Corporation.", ASK_L1, RINGING_SF]),
    (STRANGER, f"{ACME_SEN},{L1}", [WELCOME, ASK_SEN, ASK_L1, RINGING_SF]),
    (STRANGER, f"123#,{ACME_SEN},{L1}", [WELCOME, ASK_SEN, "That number has the wrong length.", ASK_SEN, ASK_L1,
                                          RINGING_SF]),
    (STRANGER, f"{ACME_SEN},9,{L1}", [WELCOME, ASK_SEN, ASK_L1, "Please press one key, 1 to 4.", ASK_L1, RINGING_SF]),
    (ACME_ADMIN, f"wait:{L1}", [WELCOME, "Hello, Acme Corporation.", ASK_L1, prompts.SEVERITY_LEVELS, RINGING_SF]),
    (ACME_ADMIN, f",{L1}", [WELCOME, "Hello, Acme Corporation.", ASK_L1, prompts.SEVERITY_LEVELS,
                            "We did not get a key.", ASK_L1, RINGING_SF]),
], ids=["recognised", "SEN typed", "SEN retried", "severity retried", "waits for the levels", "severity timed out"])
def test_every_word_before_the_first_ring_is_counted_and_the_levels_only_for_a_caller_who_waits(
    tmp_path, caller, press, heard,
):
    assert _heard_before_ringing(tmp_path, caller, press) == heard


# --- how far a caller ID is trusted ----------------------------------------------------------------


def _trusting(tmp_path, trust: str | None):
    """The service on the sample phonebook, with `[service] trust_caller_id` set (None: left out)."""
    text = SAMPLE.read_text(encoding="utf-8")
    if trust is not None:
        text = text.replace('portal = "https://support.example.com"\n',
                            f'portal = "https://support.example.com"\ntrust_caller_id = "{trust}"\n', 1)
    book = tmp_path / "phonebook.toml"
    book.write_text(text, encoding="utf-8")
    return pinned_app(tmp_path, IVR_PHONEBOOK=str(book)).test_client()


@pytest.mark.parametrize(("trust", "verstat", "recognised"), [
    (None, ATTESTED, True),
    (None, None, False),
    (None, "TN-Validation-Passed-B", False),
    (None, "TN-Validation-Failed-A", False),
    (None, "No-TN-Validation", False),
    ("attested", ATTESTED, True),
    ("attested", "TN-Validation-Passed-C", False),
    ("always", None, True),
    ("always", "TN-Validation-Failed-A", True),
    ("never", ATTESTED, False),
], ids=["default, attested", "default, no attestation (a spoofed number)", "default, partial", "default, failed",
        "default, not validated", "attested, attested", "attested, gateway", "always, none", "always, failed",
        "never, attested"])
def test_an_admins_caller_id_skips_the_sen_only_as_far_as_the_phonebook_trusts_it(tmp_path, trust, verstat,
                                                                                   recognised):
    client = _trusting(tmp_path, trust)
    params = call_params(caller=ACME_ADMIN, **({"StirVerstat": verstat} if verstat else {}))
    gather = twiml(post(client, "/voice", params)).find("Gather")
    sink = services_of(client.application).events
    if recognised:
        assert urlsplit(gather.get("action")).path == "/voice/severity"
        assert sink.of(Recognised) == [Recognised(sen="SEN-1234567", customer="Acme Corporation", tier="priority")]
    else:
        # Asked for the SEN as anyone else is, and never greeted by the customer's name.
        assert urlsplit(gather.get("action")).path == "/voice/sen"
        assert sink.of(Recognised) == []
        assert "Acme" not in ET.tostring(gather, encoding="unicode")


# --- requests that are not about a call, and action URLs of an earlier version --------------------


@pytest.mark.parametrize("path", ["/voice", "/voice/sen", "/voice/severity?sen=1234567", "/voice/status",
                                  "/voice/recording", "/voice/recorded"])
def test_a_request_without_a_callsid_is_refused_and_records_nothing(tmp_path, path):
    client = pinned_app(tmp_path).test_client()
    params = {k: v for k, v in call_params(Digits="1", CallStatus="completed").items() if k != "CallSid"}
    assert post(client, path, params).status_code == 400
    assert services_of(client.application).events.events == []


def test_an_unsigned_request_without_a_callsid_is_still_refused_as_unsigned(tmp_path):
    client = pinned_app(tmp_path).test_client()
    assert client.post("/voice", data={"From": STRANGER}).status_code == 403


def test_a_call_in_flight_during_a_deploy_goes_on_from_an_action_url_in_the_format_before(tmp_path):
    client = pinned_app(tmp_path).test_client()
    # As the service wrote the severity step's URL before its state carried a version.
    root = twiml(post(client, "/voice/severity?sen=1234567", call_params(Digits="9")))
    assert root.find("Gather").get("action") == "/voice/severity?sv=2&sen=1234567&try=1"
    root = twiml(post(client, "/voice/dialed?sen=1234567&sev=1&plan=san_francisco,select,fallback&a=1",
                      call_params(DialCallStatus="no-answer", DialBridged="false")))
    assert _query(root.find("Dial").get("action"))["sv"] == "2"


def test_an_action_url_of_a_state_version_this_service_does_not_read_is_refused(tmp_path):
    client = pinned_app(tmp_path).test_client()
    assert post(client, "/voice/severity?sv=3&sen=1234567", call_params(Digits="1")).status_code == 400
    assert post(client, "/voice/severity?sv=2&sen=1234567", call_params(Digits="1")).status_code == 200
