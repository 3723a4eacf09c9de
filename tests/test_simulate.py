"""The simulator plays Twilio's part faithfully, and notices a service Twilio would reject."""

import re

import pytest
import responses
from flask import Flask

from calls import ACCOUNT, ACME_ADMIN, SF, TOKEN, US_LINE, play
from conftest import SAMPLE, utc
from ivr import simulate
from ivr.simulate import InProcess, SimulationError, Simulator, Turn, parse_presses, transcript

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
    first, second = call.events.of("dial")
    assert (first["status"], first["bridged"]) == ("completed", False)
    assert (second["status"], second["bridged"], second["accepted_by"]) == ("completed", True, SF[1])


def _screening_app(whisper: str) -> Flask:
    """A service whose every call rings +15550001 with the given whisper TwiML."""
    app = Flask("fake")
    documents = {
        "/voice": '<Response><Dial action="/dialed"><Number url="/whisper">+15550001</Number></Dial></Response>',
        "/whisper": whisper,
        "/dialed": "<Response><Hangup/></Response>",
        "/voice/status": "",
    }
    for path, body in documents.items():
        app.add_url_rule(path, path, lambda body=body: (body, 200, {"Content-Type": "text/xml"}), methods=["POST"])
    return app


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
    assert call.events.of("status") == [{"call_status": "completed", "duration": call.events.of("status")[0]["duration"]}]
    assert call.events.of("started")[0]["from"] == ACME_ADMIN


def _app_answering(body: str, status: int = 200) -> Flask:
    app = Flask("fake")
    app.post("/voice")(lambda: (body, status, {"Content-Type": "text/xml"}))
    return app


def test_an_error_status_stops_the_simulation():
    with pytest.raises(SimulationError, match="answered 500"):
        Simulator(InProcess(_app_answering("oops", 500)), TOKEN).call(US_LINE, ACME_ADMIN)


def test_an_answer_that_is_not_twiml_stops_the_simulation():
    with pytest.raises(SimulationError, match="did not answer TwiML"):
        Simulator(InProcess(_app_answering("<html")), TOKEN).call(US_LINE, ACME_ADMIN)


def test_a_gather_without_an_action_is_reported():
    app = _app_answering("<Response><Gather><Say>Hi</Say></Gather></Response>")
    with pytest.raises(SimulationError, match="no action URL"):
        Simulator(InProcess(app), TOKEN).call(US_LINE, ACME_ADMIN, ["1"])


def test_a_flow_that_loops_is_reported():
    app = _app_answering('<Response><Redirect method="POST">/voice</Redirect></Response>')
    with pytest.raises(SimulationError, match="loops"):
        Simulator(InProcess(app), TOKEN).call(US_LINE, ACME_ADMIN)


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
        simulator.transport.client.application.extensions["ivr_sms"].drain()
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
        simulator = simulate.in_process(str(SAMPLE), utc("2026-12-01T20:00Z"), {"IVR_INSTANCE_PATH": str(tmp_path)})
        turns = simulator.call(US_LINE, ACME_ADMIN, ["1"])
        alerter = simulator.transport.client.application.extensions["ivr_alerts"]
        assert alerter.drain(timeout=5)
    assert any(t.who == "caller records" for t in turns)  # nobody answered: a missed L1 call
    assert twilio.call_count == 0 and webhook.call_count == 0 and len(mock.calls) == 0
    assert alerter.health()["pending"] == 0
