"""The live warm handoff's webhooks: each signed, with Twilio's REST API mocked (`responses`)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
import responses
from calls import ACCOUNT, ACME_ADMIN, AMSTERDAM, NL_LINE, SF, call_params, pinned_app, post, twiml
from conftest import SAMPLE

from ivr.callflow import prompts
from ivr.callflow.twiml import HOLD_MUSIC
from ivr.engine.events import Dial, HandoffAsked, HandoffDial, Joined, Left, Screened
from ivr.web.services import services_of

CALLS = re.compile(rf"https://api\.twilio\.com/2010-04-01/Accounts/{ACCOUNT}/Calls/(CA[0-9a-f]{{32}})\.json")
CUSTOMER, ENGINEER, COLLEAGUE = "CA" + "a" * 32, "CA" + "b" * 32, "CA" + "c" * 32
ROOM = f"ivr-{CUSTOMER}"
# The call's state as the ringing plan left it when Amsterdam's first number pressed 1.
STATE = {"sv": "2", "sen": "1234567", "sev": "1", "plan": "amsterdam,san_francisco,select,fallback", "a": "1"}
OWNER = {"call": CUSTOMER, "line": NL_LINE, "team": "amsterdam", "me": AMSTERDAM[0], "role": "owner", "h": "0"}
TO_SF = {"to": "san_francisco", "own": "0", "r": "0"}
# One minute before Amsterdam (19:00 CET) hands over to San Francisco.
BEFORE_HANDOFF = "2026-12-01T17:59Z"


class Twilio:
    """Twilio's Calls API: `moved` lists each (CallSid, what it runs now); `up` are the calls in progress."""

    def __init__(self, mock: responses.RequestsMock, up: set[str], refuse: bool = False):
        self.up = up
        self.moved: list[tuple[str, dict]] = []
        self.refuse = refuse
        mock.add_callback(responses.POST, CALLS, callback=self._update)
        mock.add_callback(responses.GET, CALLS, callback=self._fetch)

    def _update(self, request):
        sid = CALLS.fullmatch(request.url).group(1)
        if self.refuse:
            return 500, {}, json.dumps({"code": 20500, "message": "Internal Server Error", "status": 500})
        self.moved.append((sid, dict(parse_qsl(request.body))))
        return 200, {}, json.dumps({"sid": sid, "status": "in-progress"})

    def _fetch(self, request):
        sid = CALLS.fullmatch(request.url).group(1)
        return 200, {}, json.dumps({"sid": sid, "status": "in-progress" if sid in self.up else "completed"})

    def runs(self, sid: str) -> ET.Element:
        """The TwiML `sid` was last moved to."""
        [twiml_text] = [body["Twiml"] for moved, body in self.moved if moved == sid][-1:]
        return ET.fromstring(twiml_text)


@pytest.fixture
def twilio():
    def start(up=(CUSTOMER, ENGINEER), refuse=False):
        return Twilio(mock, set(up), refuse)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield start


def app_at(tmp_path, at=BEFORE_HANDOFF, **config):
    return pinned_app(tmp_path, at, **config)


def events(app):
    return services_of(app).events


def url(path: str, *queries: dict) -> str:
    return f"{path}?{urlencode({k: v for q in queries for k, v in q.items()})}"


def query(address: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(address).query).items()}


def leg(sid=ENGINEER, to=AMSTERDAM[0], **more) -> dict:
    return {"CallSid": sid, "AccountSid": ACCOUNT, "From": NL_LINE, "To": to, "CallStatus": "in-progress",
            "Direction": "outbound-dial", **more}


def room_dial(root: ET.Element) -> tuple[ET.Element, ET.Element]:
    dial = root.find("Dial")
    return dial, dial.find("Conference")


def presses_1(client):
    """The Amsterdam engineer's screening answer to the customer's call: 1, they take it."""
    return twiml(post(client, url("/voice/screen", {"call": CUSTOMER, "line": NL_LINE}, STATE),
                      leg(ParentCallSid=CUSTOMER, Digits="1")))


def owner_in_the_room(tmp_path, twilio, at: str):
    """The service at `at`, its Amsterdam engineer just in the room with the customer: the test client,
    Twilio's API, and the engineer's <Dial> into the room."""
    app, api = app_at(tmp_path, at), twilio()
    client = app.test_client()
    presses_1(client)
    dial, _ = room_dial(api.runs(ENGINEER))
    return client, api, dial


def at_time_limit(client, dial, seconds: str):
    """What the service answers when the engineer's `dial` in the room reaches its time limit."""
    return twiml(post(client, dial.get("action").removeprefix("http://localhost"),
                      leg(DialCallStatus="completed", DialCallDuration=seconds)))


# --- slice 1: the accepted call is a conference room, the screening as before ---------------------


def test_the_engineer_who_presses_1_is_moved_into_the_room_and_the_caller_follows_there(tmp_path, twilio):
    app, api = app_at(tmp_path), twilio()
    client = app.test_client()
    screened = presses_1(client)
    assert list(screened) == []
    dial, room = room_dial(api.runs(ENGINEER))
    assert room.text == ROOM
    assert (room.get("startConferenceOnEnter"), room.get("endConferenceOnExit"), room.get("beep")) == (
        "true", "false", "false")
    # The owner may press * for the menu; its action is absolute (inline TwiML has no base) and signed.
    assert dial.get("hangupOnStar") == "true" and dial.get("timeLimit") is None
    assert dial.get("action").startswith("http://localhost/voice/engineer?")
    assert {k: query(dial.get("action"))[k] for k in OWNER} == OWNER
    assert events(app).of(Screened) == [Screened(number=AMSTERDAM[0], accepted=True, dial_call_sid=ENGINEER)]
    assert events(app).of(Joined) == [Joined(number=AMSTERDAM[0], leg=ENGINEER, team="amsterdam")]

    # Twilio ends the caller's <Dial> unbridged, the leg up: the caller joins the room.
    params = call_params(NL_LINE, ACME_ADMIN, DialCallStatus="completed", DialBridged="false", DialCallSid=ENGINEER)
    root = twiml(post(client, url("/voice/dialed", STATE), params))
    dial, room = room_dial(root)
    assert room.text == ROOM and room.get("endConferenceOnExit") == "true" and room.get("participantLabel") == "customer"
    assert dial.get("action") == "http://localhost/voice/left" and dial.get("hangupOnStar") is None
    [dialled] = events(app).of(Dial)
    assert dialled.bridged is True and dialled.dial_call_sid == ENGINEER


def test_when_twilio_does_not_take_the_move_the_engineer_is_bridged_as_before(tmp_path, twilio):
    app, api = app_at(tmp_path), twilio(refuse=True)
    root = presses_1(app.test_client())
    assert list(root) == [] and api.moved == []
    assert events(app).of(Joined) == []
    assert events(app).of(Screened)[0].accepted is True


def test_a_leg_screened_out_is_not_mistaken_for_one_in_the_room(tmp_path, twilio):
    app, _ = app_at(tmp_path), twilio(up=(CUSTOMER,))
    params = call_params(NL_LINE, ACME_ADMIN, DialCallStatus="completed", DialBridged="false", DialCallSid=ENGINEER)
    root = twiml(post(app.test_client(), url("/voice/dialed", STATE), params))
    # The next candidate rings: San Francisco, whose first number rings alone (in order).
    assert [n.text for n in root.iter("Number")] == [SF[0]]
    assert events(app).of(Dial)[0].bridged is False


def test_a_rescued_call_without_a_plan_is_bridged_without_a_room(tmp_path, twilio):
    app, api = app_at(tmp_path), twilio()
    root = twiml(post(app.test_client(), f"/voice/screen?call={CUSTOMER}", leg(ParentCallSid=CUSTOMER, Digits="1")))
    assert list(root) == [] and api.moved == []


# --- slice 2: * and the menu, the colleague, back to the customer --------------------------------


def test_star_puts_the_caller_on_hold_with_music_and_plays_the_menu_to_the_engineer_alone(tmp_path, twilio):
    app, api = app_at(tmp_path), twilio()
    root = twiml(post(app.test_client(), url("/voice/engineer", STATE, OWNER),
                      leg(DialCallStatus="completed", DialCallDuration="0")))
    hold = api.runs(CUSTOMER)
    assert [(v.tag, v.text) for v in hold][:2] == [("Say", prompts.HOLD), ("Play", HOLD_MUSIC)]
    # After the music, the caller's own leg asks whether the engineer is still there.
    held = hold.find("Redirect").text
    assert held.startswith("http://localhost/voice/held?") and query(held)["leg"] == ENGINEER
    gather = root.find("Gather")
    assert [s.text for s in gather.iter("Say")] == [
        "Press 1 to bring in the next office, San Francisco Priority Support.",
        "Press 2 to bring in another number of your team.",
        "Press 0 to go back to the customer.",
    ]
    assert gather.get("numDigits") == "1" and urlsplit(gather.get("action")).path == "/voice/menu"
    # No key: back to the customer, by the same action.
    assert root.find("Redirect").text == gather.get("action")


def test_1_in_the_menu_rings_the_next_office_from_the_engineer_s_leg_with_the_handoff_whisper(tmp_path, twilio):
    app, _ = app_at(tmp_path), twilio()
    root = twiml(post(app.test_client(), url("/voice/menu", STATE, OWNER), leg(Digits="1")))
    assert root.find("Say").text == "Ringing San Francisco Priority Support."
    dial = root.find("Dial")
    assert dial.get("callerId") == NL_LINE and dial.get("timeout") == "15"
    # San Francisco rings in order: its first number.
    [number] = dial.iter("Number")
    assert number.text == SF[0]
    whisper = query(number.get("url"))
    assert urlsplit(number.get("url")).path == "/voice/handoff/whisper"
    assert (whisper["to"], whisper["r"], whisper["me"], whisper["team"]) == ("san_francisco", "0", AMSTERDAM[0], "amsterdam")
    assert urlsplit(dial.get("action")).path == "/voice/handoff"
    assert events(app).of(HandoffAsked) == [HandoffAsked(attempt=1, by=AMSTERDAM[0], team="san_francisco")]


def test_2_in_the_menu_rings_the_other_numbers_of_the_engineer_s_own_team_together(tmp_path, twilio):
    app, _ = app_at(tmp_path), twilio()
    root = twiml(post(app.test_client(), url("/voice/menu", STATE, OWNER), leg(Digits="2")))
    assert root.find("Say").text == prompts.HANDOFF_RINGING_OWN
    assert [n.text for n in root.iter("Number")] == [AMSTERDAM[1]]
    assert events(app).of(HandoffAsked) == [HandoffAsked(attempt=1, by=AMSTERDAM[0], team="amsterdam", own_team=True)]


@pytest.mark.parametrize("digits", ["0", "9", ""])
def test_any_other_key_or_none_takes_the_engineer_and_the_caller_back_to_the_room(tmp_path, twilio, digits):
    app, api = app_at(tmp_path), twilio()
    root = twiml(post(app.test_client(), url("/voice/menu", STATE, OWNER), leg(Digits=digits)))
    assert room_dial(root)[1].text == ROOM and room_dial(root)[0].get("hangupOnStar") == "true"
    customer = room_dial(api.runs(CUSTOMER))[1]
    assert customer.text == ROOM and customer.get("endConferenceOnExit") == "true"
    assert events(app).of(HandoffAsked) == []


def test_the_colleague_hears_whose_call_from_which_team_and_presses_1_to_join(tmp_path, twilio):
    app, _ = app_at(tmp_path), twilio()
    address = url("/voice/handoff/whisper", STATE, OWNER, TO_SF)
    root = twiml(post(app.test_client(), address, leg(COLLEAGUE, SF[0], ParentCallSid=ENGINEER)))
    gather, hangup = list(root)
    assert gather.find("Say").text == (
        "Handoff of a level 1 call from Acme Corporation, SEN 1 2 3 4 5 6 7, from the Amsterdam team. Press 1 to join."
    )
    assert hangup.tag == "Hangup" and gather.get("numDigits") == "1"
    assert urlsplit(gather.get("action")).path == "/voice/handoff/screen"
    assert query(gather.get("action")) == query(address)


def test_the_colleague_who_presses_1_owns_the_call_in_the_room_and_the_caller_comes_back_from_hold(tmp_path, twilio):
    app, api = app_at(tmp_path), twilio(up=(CUSTOMER, ENGINEER, COLLEAGUE))
    root = twiml(post(app.test_client(), url("/voice/handoff/screen", STATE, OWNER, TO_SF),
                      leg(COLLEAGUE, SF[0], ParentCallSid=ENGINEER, Digits="1")))
    assert list(root) == []
    dial, room = room_dial(api.runs(COLLEAGUE))
    assert room.text == ROOM and dial.get("hangupOnStar") == "true"
    owner = query(dial.get("action"))
    assert (owner["team"], owner["me"], owner["role"], owner["h"]) == ("san_francisco", SF[0], "owner", "1")
    assert room_dial(api.runs(CUSTOMER))[1].text == ROOM
    assert events(app).of(Joined) == [Joined(number=SF[0], leg=COLLEAGUE, team="san_francisco")]
    assert events(app).of(Screened)[0].accepted is True


def test_a_colleague_who_presses_1_after_the_caller_hung_up_is_told_and_nothing_moves(tmp_path, twilio):
    app, api = app_at(tmp_path), twilio(up=(ENGINEER, COLLEAGUE))
    root = twiml(post(app.test_client(), url("/voice/handoff/screen", STATE, OWNER, TO_SF),
                      leg(COLLEAGUE, SF[0], ParentCallSid=ENGINEER, Digits="1")))
    assert [(v.tag, v.text) for v in root] == [("Say", prompts.CUSTOMER_GONE), ("Hangup", None)]
    assert api.moved == [] and events(app).of(Joined) == []


def test_once_the_colleague_is_in_the_engineer_follows_as_a_guest_who_may_hang_up(tmp_path, twilio):
    app, _ = app_at(tmp_path), twilio(up=(CUSTOMER, ENGINEER, COLLEAGUE))
    root = twiml(post(app.test_client(), url("/voice/handoff", STATE, OWNER, TO_SF),
                      leg(DialCallStatus="completed", DialBridged="false", DialCallSid=COLLEAGUE)))
    assert root.find("Say").text == prompts.HANDOFF_JOINED
    dial, room = room_dial(root)
    # A guest has no menu: only the owner may hand the call on.
    assert room.text == ROOM and dial.get("hangupOnStar") is None and query(dial.get("action"))["role"] == "guest"
    assert events(app).of(HandoffDial) == [HandoffDial(attempt=1, team="san_francisco", numbers=(SF[0],),
                                                       status="completed", joined=True)]


def test_when_nobody_joins_the_office_s_next_number_rings_then_the_engineer_is_told_and_back(tmp_path, twilio):
    app, api = app_at(tmp_path), twilio()
    client = app.test_client()
    missed = leg(DialCallStatus="no-answer", DialBridged="false", DialCallSid=COLLEAGUE)
    root = twiml(post(client, url("/voice/handoff", STATE, OWNER, TO_SF), missed))
    assert [n.text for n in root.iter("Number")] == [SF[1]] and api.moved == []
    root = twiml(post(client, url("/voice/handoff", STATE, OWNER, {**TO_SF, "r": "1"}), missed))
    assert root.find("Say").text == "Nobody at San Francisco Priority Support could join. Back to the customer."
    assert room_dial(root)[0].get("hangupOnStar") == "true"
    assert room_dial(api.runs(CUSTOMER))[1].text == ROOM
    assert [(d.ring, d.numbers, d.joined) for d in events(app).of(HandoffDial)] == [(0, (SF[0],), False),
                                                                                   (1, (SF[1],), False)]


def test_an_engineer_who_hangs_up_while_the_office_rings_leaves_the_caller_to_that_office(tmp_path, twilio):
    app, api = app_at(tmp_path), twilio(up=(CUSTOMER,))
    gone = leg(CallStatus="completed", DialCallStatus="no-answer", DialBridged="false", DialCallSid=COLLEAGUE)
    root = twiml(post(app.test_client(), url("/voice/handoff", STATE, OWNER, TO_SF), gone))
    assert [v.tag for v in root] == ["Hangup"]
    [(sid, body)] = api.moved
    assert sid == CUSTOMER and urlsplit(body["Url"]).path == "/voice/resume" and body["Method"] == "POST"
    assert query(body["Url"])["to"] == "san_francisco"
    assert events(app).of(Left) == [Left(number=AMSTERDAM[0], leg=ENGINEER)]
    # Twilio fetches it, signed, for the caller: told, and the office rings as a new plan.
    root = twiml(post(app.test_client(), body["Url"].removeprefix("http://localhost"), call_params(NL_LINE, ACME_ADMIN)))
    assert [s.text for s in root.iter("Say")] == [prompts.ENGINEER_GONE,
                                                  "Connecting you to our San Francisco Priority Support team."]
    assert [n.text for n in root.iter("Number")] == [SF[0]]
    assert query(root.find("Dial").get("action"))["plan"] == "san_francisco,select,fallback"


def test_the_owner_hanging_up_ends_the_call_for_the_caller_and_a_guest_hanging_up_does_not(tmp_path, twilio):
    app, api = app_at(tmp_path), twilio(up=(CUSTOMER,))
    client = app.test_client()
    hung_up = leg(CallStatus="completed", DialCallStatus="completed")
    assert [v.tag for v in twiml(post(client, url("/voice/engineer", STATE, {**OWNER, "role": "guest"}), hung_up))] == [
        "Hangup"]
    assert api.moved == []
    twiml(post(client, url("/voice/engineer", STATE, OWNER), hung_up))
    assert [(v.tag, v.text) for v in api.runs(CUSTOMER)] == [("Say", prompts.ENGINEER_LEFT), ("Hangup", None)]
    assert events(app).of(Left) == [Left(number=AMSTERDAM[0], leg=ENGINEER)]


def test_when_the_caller_hangs_up_the_room_ends_and_so_does_every_engineer_s_leg(tmp_path, twilio):
    app, api = app_at(tmp_path), twilio(up=(ENGINEER,))
    client = app.test_client()
    root = twiml(post(client, url("/voice/engineer", STATE, OWNER), leg(DialCallStatus="completed")))
    assert [v.tag for v in root] == ["Hangup"] and api.moved == []
    left = twiml(post(client, "/voice/left", call_params(NL_LINE, ACME_ADMIN, CallStatus="completed")))
    assert [v.tag for v in left] == ["Hangup"]


HELD = url("/voice/held", STATE, OWNER, {"leg": ENGINEER})


def test_after_the_music_the_caller_holds_on_while_the_engineer_is_still_there(tmp_path, twilio):
    app, api = app_at(tmp_path), twilio()
    root = twiml(post(app.test_client(), HELD, call_params(NL_LINE, ACME_ADMIN)))
    assert [(v.tag, v.text) for v in root][:2] == [("Say", prompts.HOLD), ("Play", HOLD_MUSIC)]
    again = root.find("Redirect").text
    assert urlsplit(again).path == "/voice/held" and query(again) == query(HELD)
    assert api.moved == [] and events(app).of(Left) == []


def test_an_engineer_who_hung_up_in_the_menu_leaves_the_caller_to_the_next_office(tmp_path, twilio):
    app, _ = app_at(tmp_path), twilio(up=(CUSTOMER,))
    root = twiml(post(app.test_client(), HELD, call_params(NL_LINE, ACME_ADMIN)))
    assert [s.text for s in root.iter("Say")] == [prompts.ENGINEER_GONE,
                                                  "Connecting you to our San Francisco Priority Support team."]
    assert [n.text for n in root.iter("Number")] == [SF[0]]
    assert events(app).of(Left) == [Left(number=AMSTERDAM[0], leg=ENGINEER)]


# --- slice 3: the reminder -----------------------------------------------------------------------


def test_ten_minutes_before_the_team_goes_off_the_owner_alone_hears_the_reminder_and_is_back_at_once(tmp_path, twilio):
    client, api, dial = owner_in_the_room(tmp_path, twilio, "2026-12-01T17:00Z")
    # Amsterdam goes off at 18:00Z: the owner's <Dial> ends at 17:50Z.
    assert dial.get("timeLimit") == "3000" and query(dial.get("action"))["tl"] == "3000"
    root = at_time_limit(client, dial, "3000")
    assert root.find("Say").text == prompts.HANDOFF_REMINDER
    again, room = room_dial(root)
    assert room.text == ROOM and again.get("timeLimit") is None and again.get("hangupOnStar") == "true"
    assert [sid for sid, _ in api.moved] == [ENGINEER]  # the caller stays in the room, never on hold


def test_a_phonebook_may_turn_the_reminder_off(tmp_path, twilio):
    book = tmp_path / "phonebook.toml"
    book.write_text(SAMPLE.read_text().replace('portal = "https://support.example.com"',
                                               'portal = "https://support.example.com"\nhandoff_reminder = false'))
    app, api = app_at(tmp_path, "2026-12-01T17:00Z", IVR_PHONEBOOK=str(book)), twilio()
    presses_1(app.test_client())
    assert room_dial(api.runs(ENGINEER))[0].get("timeLimit") is None


# --- every new webhook is Twilio's alone ---------------------------------------------------------

NEW_WEBHOOKS = [
    url("/voice/engineer", STATE, OWNER), url("/voice/menu", STATE, OWNER),
    url("/voice/handoff/whisper", STATE, OWNER, TO_SF), url("/voice/handoff/screen", STATE, OWNER, TO_SF),
    url("/voice/handoff", STATE, OWNER, TO_SF), url("/voice/held", STATE, OWNER, {"leg": ENGINEER}),
    url("/voice/resume", STATE, {"to": "san_francisco"}), "/voice/left",
]


@pytest.mark.parametrize("address", NEW_WEBHOOKS)
def test_every_handoff_webhook_refuses_a_request_not_signed_by_twilio(tmp_path, address):
    client = app_at(tmp_path).test_client()
    assert client.post(address, data=leg()).status_code == 403
    assert post(client, address, leg(), token="not-the-token").status_code == 403


@pytest.mark.parametrize("address", NEW_WEBHOOKS[:6])
def test_an_engineer_s_leg_with_a_forged_or_broken_query_is_a_400(tmp_path, address):
    client = app_at(tmp_path).test_client()
    broken = address.replace(f"me={AMSTERDAM[0].replace('+', '%2B')}", "me=someone")
    assert broken != address
    assert post(client, broken, leg()).status_code == 400


def test_an_engineer_s_step_that_fails_puts_engineer_and_caller_back_together_without_the_menu(tmp_path, twilio,
                                                                                                 monkeypatch):
    app, api = app_at(tmp_path), twilio()

    def broken(*args):
        raise RuntimeError("the engine is broken")

    monkeypatch.setattr("ivr.callflow.handoff.next_office", broken)
    root = twiml(post(app.test_client(), url("/voice/menu", STATE, OWNER), leg(Digits="1")))
    dial, room = room_dial(root)
    assert room.text == ROOM and dial.get("hangupOnStar") is None
    assert room_dial(api.runs(CUSTOMER))[1].text == ROOM


def test_a_reminder_further_off_than_twilio_s_longest_time_limit_is_reached_in_steps(tmp_path, twilio):
    # Answered at 07:00Z: Amsterdam goes off at 18:00Z, the reminder is 10 h 50 min away.
    client, _, dial = owner_in_the_room(tmp_path, twilio, "2026-12-01T07:00Z")
    assert dial.get("timeLimit") == "14400" and query(dial.get("action"))["early"] == "1"
    # At the limit the engineer only rejoins: no words, and a new limit from then on.
    root = at_time_limit(client, dial, "14400")
    assert root.find("Say") is None and room_dial(root)[1].text == ROOM
    assert room_dial(root)[0].get("timeLimit") is not None
