"""The simulator plays Twilio's part faithfully, and notices a service Twilio would reject."""

import re

import pytest
import responses
from calls import ACCOUNT, ACME_ADMIN, SF, TOKEN, US_LINE, play
from conftest import SAMPLE, migrated, utc
from flask import Flask, request
from twilio.request_validator import RequestValidator

from ivr.cli import simulate
from ivr.cli.simulate import (
    InProcess,
    SimulationError,
    Simulator,
    Turn,
    heard_before_ringing,
    parse_presses,
    transcript,
)
from ivr.engine.events import Dial, Started, Status
from ivr.engine.outcomes import Outcome, summarise
from ivr.store.database import database_url
from ivr.web.services import services_of
from ivr.web.signature import SIGNATURE_HEADER

TWILIO_API = re.compile(r"https://api\.twilio\.com/.*")


def test_presses_are_one_group_per_gather_and_an_empty_group_times_out():
    assert parse_presses("1234567#,1") == ["1234567#", "1"]
    assert parse_presses(",1") == ["", "1"]
    assert parse_presses("") == []


def test_the_transcript_says_who_hears_presses_rings_and_answers(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, caller=ACME_ADMIN, press="1", answer=[SF[1]])
    whos = [t.who for t in call.turns]
    assert whos[0] == "call" and whos[-1] == "ends"
    for who in ("caller hears", "caller presses", "rings", "no answer", "answers", "engineer hears",
                "engineer presses", "connected", "hangs up"):
        assert who in whos, who


def test_a_voicemail_picks_up_hears_the_whisper_presses_nothing_and_is_not_put_through(tmp_path):
    # San Francisco rings its numbers one after the other.
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, caller=ACME_ADMIN, press="1", voicemail=[SF[0]],
                answer=[SF[1]])
    assert call.said("answers") == [f"{SF[0]} (voicemail)", SF[1]]
    assert call.said("voicemail hears")[0].endswith("Press 1 to accept.")
    assert call.said("voicemail waits") == ["no key is pressed: the whisper times out"]
    assert call.said("not put through") == [SF[0]]
    assert call.said("connected") == [f"caller and {SF[1]}"]
    first, second = call.events.of(Dial)
    assert (first.status, first.bridged) == ("completed", False)
    assert (second.status, second.bridged, second.accepted_by) == ("completed", True, SF[1])


def _fake_service(documents: dict[str, str], statuses: dict[str, int] | None = None,
                  seen: list | None = None) -> Flask:
    """A service answering each path with its document (200 unless `statuses` says otherwise);
    `seen` collects the URL, form and signature of every request."""
    app = Flask("fake")

    def answer():
        if seen is not None:
            seen.append((request.url, request.form.to_dict(), request.headers[SIGNATURE_HEADER]))
        return documents[request.path], (statuses or {}).get(request.path, 200), {"Content-Type": "text/xml"}

    for path in documents:
        app.add_url_rule(path, path, answer, methods=["POST"])
    return app


def _screening_app(whisper: str) -> Flask:
    """A service whose every call rings +15550001 with the given whisper TwiML."""
    return _fake_service({
        "/voice": '<Response><Dial action="/dialed"><Number url="/whisper">+15550001</Number></Dial></Response>',
        "/whisper": whisper,
        "/dialed": "<Response><Hangup/></Response>",
        "/voice/status": "",
    })


def test_a_whisper_without_a_hangup_after_its_gather_lets_a_voicemail_take_the_call_as_twilio_would():
    app = _screening_app('<Response><Gather action="/screen"><Say>Press 1.</Say></Gather></Response>')
    turns = Simulator(InProcess(app), TOKEN).call(US_LINE, ACME_ADMIN, voicemails=["+15550001"])
    assert Turn("connected", "caller and +15550001") in turns


def test_a_whisper_that_hangs_up_after_its_gather_keeps_a_voicemail_out():
    app = _screening_app('<Response><Gather action="/screen"><Say>Press 1.</Say></Gather><Hangup/></Response>')
    turns = Simulator(InProcess(app), TOKEN).call(US_LINE, ACME_ADMIN, voicemails=["+15550001"])
    assert Turn("not put through", "+15550001") in turns
    assert not [t for t in turns if t.who == "connected"]


def test_a_missing_press_group_lets_the_prompt_time_out(tmp_path):
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, caller=ACME_ADMIN)
    assert call.said("caller waits") == ["no input: the prompt times out"] * 3


def test_every_request_carries_twilios_parameter_names_and_a_valid_signature(tmp_path):
    """The app refuses unsigned requests, so a completed call proves each one was signed right."""
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, caller=ACME_ADMIN, press="1", answer=[SF[0]])
    assert call.events.of(Status) == [Status(call_status="completed", duration=call.events.of(Status)[0].duration)]
    assert call.events.of(Started)[0].caller == ACME_ADMIN


def _app_answering(body: str, status: int = 200) -> Flask:
    return _fake_service({"/voice": body}, {"/voice": status})


ERROR_PAGE = "<!doctype html>\n<html><title>Oops</title><body><h1>Something broke</h1></body></html>"


def test_an_error_status_stops_the_simulation_with_one_line_and_not_the_error_page():
    with pytest.raises(SimulationError) as failure:
        Simulator(InProcess(_app_answering(ERROR_PAGE, 500)), TOKEN).call(US_LINE, ACME_ADMIN)
    assert str(failure.value) == (
        "step 1 (the call comes in): POST http://localhost/voice answered 500 Internal Server Error"
    )


def test_a_refusal_says_which_step_and_url_and_what_to_check():
    app = _fake_service({"/voice": '<Response><Gather action="/voice/sen"/></Response>', "/voice/sen": ERROR_PAGE},
                        {"/voice/sen": 403})
    with pytest.raises(SimulationError) as failure:
        Simulator(InProcess(app), TOKEN, public_url="https://ivr.example.com").call(US_LINE, ACME_ADMIN, ["1#"])
    assert str(failure.value) == (
        "step 2 (the caller's answer to a prompt): POST http://localhost/voice/sen signed for "
        "https://ivr.example.com/voice/sen answered 403 Forbidden: the signature did not match: is "
        "TWILIO_AUTH_TOKEN the service's token, and does --public-url match the service's IVR_PUBLIC_URL?"
    )


def test_an_answer_that_is_not_twiml_stops_the_simulation():
    with pytest.raises(SimulationError, match="did not answer TwiML") as failure:
        Simulator(InProcess(_app_answering(ERROR_PAGE)), TOKEN).call(US_LINE, ACME_ADMIN)
    assert "\n" not in str(failure.value) and "Something broke" not in str(failure.value)


def test_behind_a_public_url_every_request_is_signed_for_it_as_twilio_would_sign_it(tmp_path):
    """The app checks signatures against its IVR_PUBLIC_URL: a completed call proves each one was."""
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, caller=ACME_ADMIN, press="1", answer=[SF[0]],
                IVR_PUBLIC_URL="https://ivr.example.com")
    assert Turn("connected", f"caller and {SF[0]}") in call.turns
    assert call.events.of(Status)[0].call_status == "completed"


def test_absolute_action_urls_are_signed_as_written_and_sent_to_the_service_under_the_public_base():
    """Relative action URLs resolve against the public URL Twilio requested; an absolute one under
    the public base reaches the service at its own address; any other is requested where it points."""
    seen = []
    app = _fake_service({
        "/voice": "<Response><Redirect>https://ivr.example.com/first?n=1</Redirect></Response>",
        "/first": "<Response><Redirect>second</Redirect></Response>",
        "/second": "<Response><Redirect>http://elsewhere.example/third</Redirect></Response>",
        "/third": "<Response><Hangup/></Response>",
        "/voice/status": "",
    }, seen=seen)
    Simulator(InProcess(app), TOKEN, public_url="https://ivr.example.com/").call(US_LINE, ACME_ADMIN)

    requested = [url for url, _, _ in seen]
    assert requested == ["http://localhost/voice", "http://localhost/first?n=1", "http://localhost/second",
                         "http://elsewhere.example/third", "http://localhost/voice/status"]
    signed_for = ["https://ivr.example.com/voice", "https://ivr.example.com/first?n=1",
                  "https://ivr.example.com/second", "http://elsewhere.example/third",
                  "https://ivr.example.com/voice/status"]
    validator = RequestValidator(TOKEN)
    assert [validator.validate(url, form, signature) for url, (_, form, signature) in zip(signed_for, seen, strict=True)] == [True] * 5


def test_a_gather_without_an_action_is_reported():
    app = _app_answering("<Response><Gather><Say>Hi</Say></Gather></Response>")
    with pytest.raises(SimulationError, match="no action URL"):
        Simulator(InProcess(app), TOKEN).call(US_LINE, ACME_ADMIN, ["1"])


def test_a_flow_that_loops_is_reported():
    app = _app_answering('<Response><Redirect method="POST">/voice</Redirect></Response>')
    with pytest.raises(SimulationError, match="loops"):
        Simulator(InProcess(app), TOKEN).call(US_LINE, ACME_ADMIN)


def _menu() -> Flask:
    """A question, then after a pause more words for a caller who waits; 1 rings a number with a whisper."""
    return _fake_service({
        "/voice": '<Response><Gather action="/menu" numDigits="1"><Say>Press 1.</Say><Pause length="2"/>'
                  '<Say>Or wait for more.</Say></Gather><Say>Nothing pressed.</Say><Hangup/></Response>',
        "/menu": '<Response><Say>Ringing.</Say><Dial action="/dialed"><Number url="/whisper">+15550001</Number></Dial>'
                 '</Response>',
        "/whisper": '<Response><Gather action="/screen"><Say>A call for you.</Say></Gather><Hangup/></Response>',
        "/screen": "<Response/>",
        "/dialed": "<Response><Hangup/></Response>",
        "/voice/status": "",
    })


def _caller_hears(turns: list[Turn]) -> list[str]:
    return [t.what for t in turns if t.who == "caller hears"]


def test_a_caller_who_presses_does_so_at_the_prompts_pause_and_never_hears_what_follows_it():
    turns = Simulator(InProcess(_menu()), TOKEN).call(US_LINE, ACME_ADMIN, ["1"], answers=["+15550001"])
    assert _caller_hears(turns) == ["Press 1.", "Ringing."]
    assert turns[2] == Turn("caller presses", "1")


def test_a_caller_who_waits_hears_the_whole_prompt_then_presses():
    turns = Simulator(InProcess(_menu()), TOKEN).call(US_LINE, ACME_ADMIN, ["wait:1"], answers=["+15550001"])
    assert _caller_hears(turns) == ["Press 1.", "Or wait for more.", "Ringing."]
    assert turns[3] == Turn("caller presses", "1")


def test_a_caller_who_presses_nothing_hears_the_whole_prompt_and_the_pause_counts_in_the_calls_length():
    turns = Simulator(InProcess(_menu()), TOKEN).call(US_LINE, ACME_ADMIN)
    assert _caller_hears(turns) == ["Press 1.", "Or wait for more.", "Nothing pressed."]
    # Eight words at 150 a minute, the 2 s pause and the Gather's time-out of 5 s.
    assert turns[-1] == Turn("ends", f"after {round(8 * 0.4 + 2 + 5)} s")


def test_what_the_caller_heard_before_the_first_ring_leaves_out_the_whisper_and_what_came_after():
    turns = Simulator(InProcess(_menu()), TOKEN).call(US_LINE, ACME_ADMIN, ["1"], answers=["+15550001"])
    assert "engineer hears" in [t.who for t in turns]
    assert heard_before_ringing(turns) == ["Press 1.", "Ringing."]
    assert heard_before_ringing(Simulator(InProcess(_menu()), TOKEN).call(US_LINE, ACME_ADMIN)) is None


def test_the_transcript_aligns_its_columns():
    assert transcript([Turn("rings", "+1"), Turn("caller hears", "Hi")]) == "       rings  +1\ncaller hears  Hi"


@pytest.fixture
def twilio_credentials(monkeypatch):
    """The credentials of a real account, as on a machine that also runs the service."""
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)


def test_an_in_process_call_never_sends_a_text_but_the_transcript_shows_it(tmp_path, twilio_credentials):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        twilio = mock.post(TWILIO_API, status=201, json={"sid": "SM" + "1" * 32})
        simulator = simulate.in_process(str(SAMPLE), utc("2026-12-01T20:00Z"), {"IVR_INSTANCE_PATH": str(tmp_path)})
        turns = simulator.call(US_LINE, ACME_ADMIN, ["3", "1"])
        services_of(simulator.transport.client.application).sms.drain()
    assert twilio.call_count == 0 and len(mock.calls) == 0
    # Offered as the service offers it with Twilio configured; written down instead of sent.
    assert [t.what for t in turns if t.who == "caller hears"][-4:] == [
        "Severity 3 issues are handled at support.example.com, not by phone. Please raise a request there.",
        "Press 1 and we will text you the link.",
        "We are sending you a text message with the link.",
        "Thank you for calling. Goodbye.",
    ]
    assert [t.what for t in turns if t.who == "would text"] == [
        f"{ACME_ADMIN} from {US_LINE}: Priority Support: please raise your request at "
        "https://support.example.com and we will pick it up there."
    ]


def test_a_missed_level_1_call_in_process_alerts_nobody(tmp_path, twilio_credentials):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        twilio = mock.post(TWILIO_API, status=201, json={"sid": "SM" + "1" * 32})
        webhook = mock.post("https://hooks.example.com/services/T000/B000/priority-support")
        migrated(database_url(None, str(tmp_path)))  # the service's call log, as its master leaves it
        simulator = simulate.in_process(str(SAMPLE), utc("2026-12-01T20:00Z"), {"IVR_INSTANCE_PATH": str(tmp_path)})
        turns = simulator.call(US_LINE, ACME_ADMIN, ["1"])
        alerter = services_of(simulator.transport.client.application).alerts
        assert alerter.drain(timeout=5)
    assert any(t.who == "caller records" for t in turns)  # nobody answered: a missed L1 call
    assert twilio.call_count == 0 and webhook.call_count == 0 and len(mock.calls) == 0
    assert alerter.health()["pending"] == 0


def test_a_caller_who_hangs_up_while_it_rings_is_an_abandoned_call(tmp_path):
    # San Francisco rings its numbers one after the other; the caller gives up during the second.
    call = play(tmp_path, "2026-12-01T20:00Z", US_LINE, caller=ACME_ADMIN, press="1", answer=[SF[1]],
                hang_up_ringing=2)
    assert [t.who for t in call.turns][-4:] == ["no answer", "rings", "caller hangs up", "ends"]
    assert call.said("rings") == [SF[0], SF[1]]
    assert call.said("caller hangs up") == ["after 7 s of ringing, before anyone answers"]
    assert "connected" not in [t.who for t in call.turns] and "hangs up" not in [t.who for t in call.turns]
    first, second = call.events.of(Dial)
    assert (first.status, second.status, second.accepted_by) == ("no-answer", "canceled", None)
    [sid] = {event.call_sid for event in call.events.events}
    assert summarise(sid, call.events.events).outcome is Outcome.ABANDONED


def test_numbers_that_were_never_dialled_and_a_hang_up_that_never_came_are_noted_last(tmp_path):
    # Amsterdam's hours: the call at 09:00 local goes to Amsterdam, whose second number answers.
    call = play(tmp_path, "2026-12-01T08:00Z", "+31205550100", caller=ACME_ADMIN, press="1",
                answer=["+31205550102", SF[0]], voicemail=[SF[1]], hang_up_ringing=3)
    assert call.said("connected") == ["caller and +31205550102"]
    assert [t.who for t in call.turns][-4:] == ["ends", "note", "note", "note"]
    assert call.said("note") == [
        f"{SF[0]} (--answer) was never dialled",
        f"{SF[1]} (--voicemail) was never dialled",
        "the caller would have hung up at ringing round 3, but the call rang 1 round(s)",
    ]


def test_nothing_listening_at_the_url_is_one_line_naming_the_step_and_the_address():
    simulator = simulate.Simulator(simulate.OverHttp("http://127.0.0.1:9"), TOKEN)
    with pytest.raises(SimulationError) as raised:
        simulator.call(US_LINE, ACME_ADMIN)
    assert str(raised.value) == (
        "step 1 (the call comes in): POST http://127.0.0.1:9/voice: nothing answers at http://127.0.0.1:9 "
        "(connection refused): is the service running, and is --url its address?"
    )
