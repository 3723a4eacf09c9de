"""The simulator plays Twilio's part faithfully, and notices a service Twilio would reject."""

import pytest
from flask import Flask

from calls import ACME_ADMIN, SF, TOKEN, US_LINE, play
from ivr.simulate import InProcess, SimulationError, Simulator, Turn, parse_presses, transcript


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
