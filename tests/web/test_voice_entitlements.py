"""Calls checked against a licensing service or a CSV file, fail-open for level 1, and the text
message offered to callers we do not connect. End to end through the simulator, in-process, with
the licensing API and Twilio's REST API mocked by `responses`, at pinned instants."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from calls import ACCOUNT, ACME_ADMIN, AU_LINE, SF, STRANGER, TOKEN, US_LINE, ListSink, call_params, post, twiml
from conftest import SAMPLE, migrated, sms_counts, utc
from flask import Flask

from ivr import create_app
from ivr.cli import simulate
from ivr.engine.entitlement import Failure
from ivr.engine.events import Deflected, Entitlement, Recognised, Sms
from ivr.outside.sms import SmsSender
from ivr.store.database import database_url
from ivr.web.services import services_of

LICENSING = "https://licensing.example.com/sen"
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
AT = "2026-12-01T20:00Z"  # a Tuesday: noon in San Francisco
AU_MOBILE = "+61491570156"
NL_FIXED = "+31201234567"
ACME = {
    "sen": "SEN-1234567", "name": "Acme Corporation", "tier": "priority",
    "maintenance_until": "2027-06-30", "admins": [ACME_ADMIN, AU_MOBILE],
}
GLOBEX = {"sen": "SEN-2345678", "name": "Globex", "tier": "premier", "maintenance_until": "2026-03-31", "admins": []}
INITECH = {"sen": "SEN-3456789", "name": "Initech", "tier": "select", "maintenance_until": "2027-12-31", "admins": []}
URL_SOURCE = f'[entitlements]\nurl = "{LICENSING}/{{sen}}"\n'
RENEWALS = 'renewals = "renewals@example.com"\n'


@dataclass
class Call:
    turns: list[simulate.Turn]
    events: ListSink
    app: Flask

    def said(self, who: str) -> list[str]:
        return [t.what for t in self.turns if t.who == who]

    def heard(self) -> str:
        return " ".join(self.said("caller hears"))


def phonebook(tmp_path: Path, extra: str = URL_SOURCE, service: str = "") -> Path:
    path = tmp_path / "phonebook.toml"
    text = SAMPLE.read_text(encoding="utf-8").replace("[service]\n", f"[service]\n{service}")
    path.write_text(text + "\n" + extra, encoding="utf-8")
    return path


def play(tmp_path: Path, *, caller: str = STRANGER, to: str = US_LINE, press: str = "", answer=(),
         book: Path | None = None, **config) -> Call:
    """One simulated call at AT; texts queued during the call have been tried when it returns."""
    sink = ListSink()
    migrated(database_url(None, str(tmp_path / "instance")))  # as the service's master leaves it
    simulator = simulate.in_process(
        str(book or phonebook(tmp_path)), simulate_at(),
        {
            "IVR_INSTANCE_PATH": str(tmp_path / "instance"), "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_ACCOUNT_SID": ACCOUNT, "IVR_ENTITLEMENTS_TOKEN": "s3cret", "EVENT_SINK": sink,
            # These calls follow each text to Twilio's (mocked) API, as the service sends it.
            "SMS_SENDER": SmsSender, **config,
        },
    )
    app = simulator.transport.client.application
    turns = simulator.call(to, caller, simulate.parse_presses(press), answer)
    services_of(app).sms.drain()
    return Call(turns, sink, app)


def simulate_at():
    return utc(AT)


def sms_sent(mock: responses.RequestsMock, to: str = AU_MOBILE) -> list[dict[str, str]]:
    """The texts sent to the caller `to`: the app's own sweep may text ops meanwhile (a digest)."""
    texts = [{k: v[0] for k, v in parse_qs(c.request.body).items()} for c in mock.calls if c.request.url == MESSAGES]
    return [text for text in texts if text["To"] == to]


def created(request):
    return 201, {}, '{"sid": "SM' + "1" * 32 + '", "status": "queued"}'


def licensing_failures(call: Call) -> dict:
    return services_of(call.app).entitlements.stats["url"].snapshot()["failures"]


# --- the licensing service decides ---------------------------------------------------------


def test_a_sen_the_licensing_service_knows_is_put_through_with_the_bearer_token(tmp_path):
    with responses.RequestsMock() as mock:
        lookup = mock.get(
            f"{LICENSING}/1234567", json=ACME,
            match=[responses.matchers.header_matcher({"Authorization": "Bearer s3cret"})],
        )
        call = play(tmp_path, press="1234567#,1", answer=[SF[0]])
    assert call.said("connected") == [f"caller and {SF[0]}"]
    assert call.said("engineer hears") == [
        "Priority Support, level 1 call from Acme Corporation, SEN 1 2 3 4 5 6 7, "
        "on the United States & Canada line. Press 1 to accept."
    ]
    assert call.events.of(Entitlement) == [Entitlement(sen="SEN-1234567", customer="Acme Corporation", verdict="ok",
                                                         tier="priority")]
    # The engineer's whisper found the name in the cache: one request for the whole call.
    assert lookup.call_count == 1


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ({"status": 500}, Failure.STATUS),
        ({"body": requests.exceptions.ReadTimeout("read timed out")}, Failure.TIMEOUT),
        ({"body": "{not json"}, Failure.MALFORMED),
    ],
    ids=["500", "timeout", "malformed"],
)
def test_when_the_licensing_service_fails_a_level_1_call_is_still_put_through_as_not_verified(tmp_path, reply, reason):
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/1234567", **reply)
        call = play(tmp_path, press="1234567#,1", answer=[SF[0]])
    assert call.said("connected") == [f"caller and {SF[0]}"]
    assert call.said("engineer hears") == [
        "Priority Support, level 1 call from an unknown customer, SEN 1 2 3 4 5 6 7, SEN not verified, "
        "on the United States & Canada line. Press 1 to accept."
    ]
    assert call.events.of(Entitlement) == [Entitlement(sen="1234567", customer=None, verdict="unverified")]
    assert licensing_failures(call)[reason.value] == 1


def test_the_call_log_keeps_an_unverified_level_1_call_as_unverified(tmp_path):
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/1234567", status=500)
        call = play(tmp_path, press="1234567#,1", answer=[SF[0]], EVENT_SINK=None, IVR_OPS_PASSWORD="ops-secret")
    basic = "Basic " + base64.b64encode(b"ops:ops-secret").decode()
    [logged] = call.app.test_client().get("/ops/api/calls", headers={"Authorization": basic}).get_json()["calls"]
    assert (logged["outcome"], logged["sen"], logged["customer"]) == ("answered", "1234567", None)
    assert [e["data"] for e in logged["events"] if e["kind"] == "entitlement"] == [
        {"sen": "1234567", "customer": None, "verdict": "unverified", "tier": None}
    ]


def test_licensing_failures_and_texts_are_counted_in_metrics(tmp_path):
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/1234567", body=requests.exceptions.ReadTimeout("read timed out"))
        mock.add_callback(responses.POST, MESSAGES, callback=created)
        call = play(tmp_path, caller=AU_MOBILE, press="1234567#,2,1", IVR_OPS_PASSWORD="ops-secret")
    basic = "Basic " + base64.b64encode(b"ops:ops-secret").decode()
    metrics = call.app.test_client().get("/metrics", headers={"Authorization": basic}).get_data(as_text=True)
    assert 'ivr_entitlement_failures_total{reason="timeout",source="url"} 1.0' in metrics
    assert 'ivr_entitlement_lookups_total{source="url"} 1.0' in metrics
    assert "ivr_sms_sent_total 1.0" in metrics


def test_when_the_licensing_service_fails_other_severities_get_the_portal_and_may_get_a_text(tmp_path):
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/1234567", status=503)
        mock.add_callback(responses.POST, MESSAGES, callback=created)
        call = play(tmp_path, caller=AU_MOBILE, to=AU_LINE, press="1234567#,2,1")
        texts = sms_sent(mock)
    assert (
        "We cannot check support entitlement numbers right now, so only critical calls are put through. "
        "Please raise a request at support.example.com. Press 1 and we will text you the link."
    ) in call.heard()
    assert call.said("rings") == []
    assert call.events.of(Deflected) == [Deflected(reason="unverified")]
    assert texts == [{
        "To": AU_MOBILE, "From": AU_LINE,
        "Body": "Priority Support: we could not check your SEN just now. "
                "Please raise your request at https://support.example.com",
    }]


def test_an_unknown_sen_from_the_service_is_asked_again_then_told_the_portal(tmp_path):
    with responses.RequestsMock() as mock:
        unknown = mock.get(f"{LICENSING}/9999999", status=404)
        mock.add_callback(responses.POST, MESSAGES, callback=created)
        call = play(tmp_path, caller=AU_MOBILE, press="9999999#,9999999#,9999999#,1")
        texts = sms_sent(mock)
    assert call.said("caller hears").count("We could not find SEN 9 9 9 9 9 9 9.") == 2
    assert call.events.of(Deflected) == [Deflected(reason="unknown")]
    assert texts[0]["Body"] == (
        "Priority Support: we could not find your support entitlement number (SEN). "
        "Please check it and raise a request at https://support.example.com"
    )
    # An unknown SEN is an answer, and cached like one.
    assert unknown.call_count == 1
    assert sum(licensing_failures(call).values()) == 0


# --- caller-ID recognition ---------------------------------------------------------------


def test_with_admin_lookup_an_admin_is_recognised_by_the_licensing_service(tmp_path):
    book = phonebook(tmp_path, URL_SOURCE + "admin_lookup = true\n")
    with responses.RequestsMock() as mock:
        mock.get(LICENSING, json=[ACME], match=[responses.matchers.query_param_matcher({"admin": ACME_ADMIN})])
        call = play(tmp_path, caller=ACME_ADMIN, press="1", answer=[SF[0]], book=book)
    assert call.said("caller hears")[:2] == ["Welcome to Priority Support.", "Hello, Acme Corporation."]
    assert call.events.of(Recognised) == [Recognised(sen="SEN-1234567", customer="Acme Corporation", tier="priority")]
    assert call.said("connected") == [f"caller and {SF[0]}"]
    # The whisper's name came from the admin lookup: one request for the whole call.
    assert "level 1 call from Acme Corporation" in call.said("engineer hears")[0]


def test_without_admin_lookup_every_caller_is_asked_for_the_sen(tmp_path):
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/1234567", json=ACME)
        call = play(tmp_path, caller=ACME_ADMIN, press="1234567#,1", answer=[SF[0]])
        # The licensing API's requests only: the app's alert sweep may send a handoff digest meanwhile.
        paths = [urlsplit(c.request.url).path for c in mock.calls if c.request.url.startswith(LICENSING)]
    assert "Enter your support entitlement number, then hash." in call.said("caller hears")
    assert paths == ["/sen/1234567"]
    assert call.said("connected")


def test_a_failed_admin_lookup_only_means_the_caller_is_asked_for_the_sen(tmp_path):
    book = phonebook(tmp_path, URL_SOURCE + "admin_lookup = true\n")
    with responses.RequestsMock() as mock:
        mock.get(LICENSING, body=requests.exceptions.ConnectTimeout("connect timed out"))
        mock.get(f"{LICENSING}/1234567", json=ACME)
        call = play(tmp_path, caller=ACME_ADMIN, press="1234567#,1", answer=[SF[0]], book=book)
    assert call.events.of(Recognised) == []
    assert call.events.of(Entitlement)[0].verdict == "ok"
    assert licensing_failures(call)["timeout"] == 1


# --- the CSV file ---------------------------------------------------------------------------


def test_a_csv_file_next_to_the_phonebook_recognises_admins_and_checks_sens(tmp_path):
    (tmp_path / "customers.csv").write_text(
        "sen,name,tier,maintenance_until,admins\n"
        f"SEN-7654321,Umbrella,premier,2027-01-31,{AU_MOBILE}\n",
        encoding="utf-8",
    )
    book = phonebook(tmp_path, '[entitlements]\nfile = "customers.csv"\n')
    recognised = play(tmp_path, caller=AU_MOBILE, to=AU_LINE, press="1", answer=[SF[0]], book=book)
    assert "Hello, Umbrella." in recognised.said("caller hears")
    assert "level 1 call from Umbrella" in recognised.said("engineer hears")[0]
    # [[customers]] of the phonebook no longer count.
    acme = play(tmp_path, press="1234567#,1234567#,1234567#", book=book)
    assert acme.events.of(Deflected) == [Deflected(reason="unknown")]


def test_a_csv_file_that_cannot_be_read_fails_open_for_level_1(tmp_path):
    book = phonebook(tmp_path, '[entitlements]\nfile = "missing.csv"\n')
    call = play(tmp_path, press="1234567#,1", answer=[SF[0]], book=book)
    assert call.said("connected") == [f"caller and {SF[0]}"]
    assert "SEN not verified" in call.said("engineer hears")[0]


# --- the text message ----------------------------------------------------------------------


def test_an_expired_customer_on_a_mobile_gets_the_renewals_contact_by_text_from_the_line_they_called(tmp_path):
    book = phonebook(tmp_path, service=RENEWALS)
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/2345678", json=GLOBEX)
        mock.add_callback(responses.POST, MESSAGES, callback=created)
        call = play(tmp_path, caller=AU_MOBILE, to=AU_LINE, press="2345678#,1", book=book)
        texts = sms_sent(mock)
    assert call.said("caller hears")[-4:] == [
        "The maintenance for this support entitlement number has expired, so we cannot connect this call. "
        "Please renew, or raise a request at support.example.com.",
        "Press 1 and we will text you the link.",
        "We are sending you a text message with the link.",
        "Thank you for calling. Goodbye.",
    ]
    assert texts == [{
        "To": AU_MOBILE, "From": AU_LINE,
        "Body": "Priority Support: maintenance for SEN 2345678 has expired. "
                "To renew, contact renewals@example.com. Requests: https://support.example.com",
    }]
    assert call.events.of(Sms) == [Sms(reason="expired", to=AU_MOBILE)]
    assert sms_counts(services_of(call.app).sms) == {"sent": 1, "failures": {}}


def test_twilio_sms_from_sends_every_text_from_one_number(tmp_path):
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/3456789", json=INITECH)
        mock.add_callback(responses.POST, MESSAGES, callback=created)
        play(tmp_path, caller=AU_MOBILE, to=AU_LINE, press="3456789#,1", TWILIO_SMS_FROM="+14155550199")
        texts = sms_sent(mock)
    assert texts[0]["From"] == "+14155550199"
    assert texts[0]["Body"] == (
        "Priority Support: your support plan (SEN 3456789) does not include phone support. "
        "Please raise your request at https://support.example.com"
    )


def test_a_severity_not_taken_by_phone_offers_the_link(tmp_path):
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/1234567", json=ACME)
        mock.add_callback(responses.POST, MESSAGES, callback=created)
        call = play(tmp_path, caller=AU_MOBILE, press="1234567#,3,1")
        texts = sms_sent(mock)
    assert call.events.of(Deflected) == [Deflected(reason="severity")]
    assert texts[0]["Body"] == (
        "Priority Support: please raise your request at https://support.example.com and we will pick it up there."
    )


def test_a_caller_who_does_not_press_1_hears_goodbye_and_gets_no_text(tmp_path):
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/3456789", json=INITECH)
        call = play(tmp_path, caller=AU_MOBILE, press="3456789#")
        assert sms_sent(mock) == []
    assert call.said("caller hears")[-2:] == ["Press 1 and we will text you the link.", "Thank you for calling. Goodbye."]
    assert call.said("caller waits")[-1] == "no input: the prompt times out"
    assert call.events.of(Sms) == []


@pytest.mark.parametrize("caller", [NL_FIXED, "anonymous", "unknown"])
def test_a_caller_who_cannot_get_a_text_is_not_offered_one(tmp_path, caller):
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/3456789", json=INITECH)
        call = play(tmp_path, caller=caller, press="3456789#")
    assert "Press 1 and we will text you the link." not in call.heard()
    assert call.said("caller hears")[-1] == "Thank you for calling. Goodbye."


def test_without_twilio_credentials_no_text_is_offered(tmp_path):
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/3456789", json=INITECH)
        call = play(tmp_path, caller=AU_MOBILE, press="3456789#", TWILIO_ACCOUNT_SID=None)
    assert "Press 1 and we will text you the link." not in call.heard()


def test_a_text_twilio_refuses_is_logged_and_counted_and_the_call_ends_normally(tmp_path, caplog):
    with responses.RequestsMock() as mock:
        mock.get(f"{LICENSING}/3456789", json=INITECH)
        mock.post(MESSAGES, status=400, json={"code": 21606, "message": "not SMS-capable", "status": 400})
        call = play(tmp_path, caller=AU_MOBILE, press="3456789#,1")
    assert call.said("caller hears")[-1] == "Thank you for calling. Goodbye."
    assert call.said("hangs up")
    assert sms_counts(services_of(call.app).sms) == {"sent": 0, "failures": {"rejected": 1}}
    assert any("21606" in r.getMessage() for r in caplog.records)


# --- the TwiML of the offer ----------------------------------------------------------------


def test_the_offer_is_a_one_key_gather_with_an_action_and_a_goodbye_after_it(tmp_path):
    app = create_app({
        "IVR_PHONEBOOK": str(SAMPLE), "IVR_INSTANCE_PATH": str(tmp_path / "instance"),
        "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT, "EVENT_SINK": ListSink(),
        "CLOCK": simulate_at,
    })
    response = post(app.test_client(), "/voice/sen", call_params(caller=AU_MOBILE, Digits="2345678"))
    verbs = list(twiml(response))
    assert [v.tag for v in verbs] == ["Gather", "Say", "Hangup"]
    gather = verbs[0]
    assert gather.get("numDigits") == "1"
    assert gather.get("method") == "POST"
    action = urlsplit(gather.get("action"))
    assert action.path == "/voice/text"
    assert parse_qs(action.query) == {"sv": ["2"], "sen": ["2345678"], "why": ["expired"]}
    assert [s.text for s in gather.iter("Say")][-1] == "Press 1 and we will text you the link."
    assert verbs[1].text == "Thank you for calling. Goodbye."


def test_pressing_1_answers_the_call_before_twilio_has_taken_the_text(tmp_path):
    app = create_app({
        "IVR_PHONEBOOK": str(SAMPLE), "IVR_INSTANCE_PATH": str(tmp_path / "instance"),
        "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT, "EVENT_SINK": ListSink(),
    })
    release = threading.Event()

    def stuck(request):
        release.wait(10)
        return created(request)

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, MESSAGES, callback=stuck)
        try:
            response = post(
                app.test_client(), "/voice/text?sen=2345678&why=expired",
                call_params(to=AU_LINE, caller=AU_MOBILE, Digits="1"),
            )
            # The caller's goodbye is out while the message still waits on Twilio.
            assert [s.text for s in twiml(response).iter("Say")] == [
                "We are sending you a text message with the link.", "Thank you for calling. Goodbye.",
            ]
            assert sms_counts(services_of(app).sms)["sent"] == 0
        finally:
            release.set()
        services_of(app).sms.drain()
        assert sms_sent(mock)[0]["To"] == AU_MOBILE
    assert sms_counts(services_of(app).sms)["sent"] == 1


def test_a_text_request_with_a_reason_this_service_never_wrote_is_a_400(tmp_path):
    app = create_app({
        "IVR_PHONEBOOK": str(SAMPLE), "IVR_INSTANCE_PATH": str(tmp_path / "instance"),
        "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT, "EVENT_SINK": ListSink(),
    })
    response = post(app.test_client(), "/voice/text?why=lottery", call_params(caller=AU_MOBILE, Digits="1"))
    assert response.status_code == 400
