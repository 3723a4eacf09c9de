"""Moving live calls through Twilio's Calls API (mocked with `responses`): what is sent, and failures."""

import json
from urllib.parse import parse_qsl

import responses
from calls import ACCOUNT, TOKEN

from ivr.outside.calls import IN_PROGRESS, TwilioCalls

LEG = "CA" + "b" * 32
CALL_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls/{LEG}.json"


def test_a_move_posts_the_twiml_or_the_url_to_the_call_and_a_look_reads_its_status():
    calls = TwilioCalls(ACCOUNT, TOKEN)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, CALL_URL, json={"sid": LEG, "status": "in-progress"})
        mock.add(responses.GET, CALL_URL, json={"sid": LEG, "status": "in-progress"})
        assert calls.redirect(LEG, "<Response><Hangup/></Response>") is True
        assert calls.redirect_url(LEG, "https://ivr.example.com/voice/held?leg=x") is True
        assert calls.status(LEG) == IN_PROGRESS
        moves = [dict(parse_qsl(c.request.body)) for c in mock.calls if c.request.method == "POST"]
    assert moves == [{"Twiml": "<Response><Hangup/></Response>"},
                     {"Url": "https://ivr.example.com/voice/held?leg=x", "Method": "POST"}]


def test_a_refused_or_unreachable_api_is_false_or_unknown_never_an_exception():
    calls = TwilioCalls(ACCOUNT, TOKEN)
    with responses.RequestsMock() as mock:
        error = {"code": 21220, "message": "Call is not in-progress. Cannot redirect.", "status": 400}
        mock.add(responses.POST, CALL_URL, status=400, body=json.dumps(error))
        mock.add(responses.GET, CALL_URL, status=404, body=json.dumps({"code": 20404, "status": 404}))
        assert calls.redirect(LEG, "<Response/>") is False
        assert calls.status(LEG) is None
    # No route at all (the autouse mock refuses it): a connection error, the same answers.
    assert calls.redirect(LEG, "<Response/>") is False and calls.status(LEG) is None


def test_without_the_account_nothing_is_asked():
    calls = TwilioCalls(None, TOKEN)
    with responses.RequestsMock() as mock:
        assert calls.configured is False
        assert calls.redirect(LEG, "<Response/>") is False and calls.status(LEG) is None
        assert len(mock.calls) == 0
