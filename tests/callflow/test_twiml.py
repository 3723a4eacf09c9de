"""The TwiML builders: each document is safe on its own (actions everywhere, fall-throughs)."""

import xml.etree.ElementTree as ET

from ivr.callflow import twiml
from ivr.callflow.twiml import Ringing, Voice
from ivr.web.voice import twiml_response

VOICE = Voice("alice", "en-US")


def _xml(response) -> ET.Element:
    return ET.fromstring(str(response))


def test_ask_gathers_with_barge_in_and_falls_through_to_the_same_action():
    root = _xml(twiml.ask(["Hello.", "Press 1."], "/voice/severity", VOICE, num_digits=1))
    gather, redirect = list(root)
    assert (gather.tag, redirect.tag) == ("Gather", "Redirect")
    assert gather.get("action") == redirect.text == "/voice/severity"
    assert gather.get("input") == "dtmf" and gather.get("numDigits") == "1"
    assert [(s.tag, s.text, s.get("voice")) for s in gather] == [("Say", "Hello.", "alice"), ("Say", "Press 1.", "alice")]


def test_ask_says_what_follows_the_question_after_a_pause_inside_the_gather_so_a_key_cuts_it_short():
    root = _xml(twiml.ask(["Press 1."], "/voice/severity", VOICE, after_pause=["Or 2.", "Or 3."], num_digits=1))
    gather, redirect = list(root)
    assert [(v.tag, v.text, v.get("length")) for v in gather] == [
        ("Say", "Press 1.", None), ("Pause", None, str(twiml.PAUSE_SECONDS)), ("Say", "Or 2.", None),
        ("Say", "Or 3.", None),
    ]
    assert redirect.text == "/voice/severity"


def test_ask_for_speech_listens_for_digits_too():
    gather = _xml(twiml.ask(["Your number?"], "/voice/sen", VOICE, speech=True)).find("Gather")
    assert gather.get("input") == "dtmf speech"
    assert gather.get("speechModel") == "numbers_and_commands"
    # A speech model takes a whole number of seconds ("auto" would also cut the SEN at a pause).
    assert gather.get("speechTimeout").isdigit()
    assert gather.get("finishOnKey") == "#"


def test_connect_rings_every_number_screened_by_the_whisper():
    ringing = Ringing(("+14155550101", "+14155550102"), 15, "+14155551234", "/voice/dialed?a=1", "/voice/whisper?sev=1")
    _say, dial = list(_xml(twiml.connect(["Connecting."], ringing, VOICE)))
    assert dial.attrib == {
        "action": "/voice/dialed?a=1", "method": "POST", "answerOnBridge": "true",
        "callerId": "+14155551234", "timeout": "15",
    }
    assert [(n.text, n.get("url"), n.get("method")) for n in dial] == [
        ("+14155550101", "/voice/whisper?sev=1", "POST"), ("+14155550102", "/voice/whisper?sev=1", "POST"),
    ]


def test_a_rendered_ringing_is_the_document_connect_builds_whatever_the_call_sends():
    # The caller ID and the whisper URL are the call's own (From, To, CallSid): put into the kept
    # document, they are escaped exactly as twilio's serialiser escapes them.
    numbers = ("+14155550101", "+14155550102")
    for caller, whisper in [
        ("+14155551234", "/voice/whisper?sev=1&line=%2B14155550100&call=CA1"),
        ('+1 "<&>"\n\t\r', "/voice/whisper?call=é&x=\"<b>\"&amp;"),
        ("", "/voice/whisper?call=CA2"),
    ]:
        ringing = Ringing(numbers, 15, caller, "/voice/dialed?a=1", whisper)
        assert twiml.rendered_connect(("Connecting.", "A & B <x>"), ringing, VOICE) == str(
            twiml.connect(["Connecting.", "A & B <x>"], ringing, VOICE)
        )


def test_screen_hangs_up_unless_a_key_is_pressed():
    gather, hangup = list(_xml(twiml.screen("Press 1.", "/voice/screen", VOICE)))
    assert gather.get("numDigits") == "1" and gather.get("action") == "/voice/screen"
    assert hangup.tag == "Hangup"


def test_voicemail_has_an_action_a_callback_and_a_goodbye_after_it():
    _say, record, thanks, hangup = list(_xml(twiml.voicemail("Leave a message.", "Thanks.", "/r", "/cb", VOICE)))
    assert record.attrib == {
        "action": "/r", "method": "POST", "maxLength": "120", "playBeep": "true",
        "recordingStatusCallback": "/cb", "recordingStatusCallbackMethod": "POST",
    }
    assert (thanks.text, hangup.tag) == ("Thanks.", "Hangup")


def test_bridge_is_an_empty_response_and_the_response_is_xml():
    response = twiml_response(twiml.bridge())
    assert response.mimetype == "text/xml"
    assert list(ET.fromstring(response.get_data(as_text=True))) == []


def test_a_rendered_question_is_the_document_ask_builds_for_the_same_inputs():
    texts, after = ("Press 1.",), ("Or 2.",)
    first = twiml.rendered_ask(texts, "/voice/severity?s=1", VOICE, after_pause=after, num_digits=1)
    assert first == str(twiml.ask(texts, "/voice/severity?s=1", VOICE, after_pause=after, num_digits=1))
    assert twiml.rendered_ask(texts, "/voice/severity?s=1", VOICE, after_pause=after, num_digits=1) is first
    other = twiml.rendered_ask(texts, "/voice/severity?s=2", VOICE, after_pause=after, num_digits=1)
    assert _xml(other).find("Gather").get("action") == "/voice/severity?s=2"
