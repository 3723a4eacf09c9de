"""The text message with the way forward: who can get one, what it says, how it is sent."""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import parse_qs

import pytest
import requests
import responses
from conftest import sms_counts
from slow_http import slow_server

from ivr.engine.phonebook import Service
from ivr.outside.sms import Deflection, PerNumberLimit, SmsSender, can_receive_sms, link_text

ACCOUNT = "AC" + "0" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
SAMPLE_SERVICE = Service("Priority Support", "https://support.example.com")


def created(request):
    form = parse_qs(request.body)
    return 201, {}, (
        '{"sid": "SM' + "1" * 32 + '", "status": "queued", '
        f'"to": "{form["To"][0]}", "from": "{form["From"][0]}", "body": "..."}}'
    )


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+61491570156", True),  # Australian mobile
        ("+31612345678", True),  # Dutch mobile
        ("+447911123456", True),  # UK mobile
        ("+14155551234", True),  # North America: fixed line or mobile, cannot tell apart
        ("+31205550100", False),  # Amsterdam fixed line
        ("+442079460100", False),  # London fixed line
        ("anonymous", False),
        ("unknown", False),
        ("", False),
        (None, False),
        ("0612345678", False),  # not E.164
    ],
)
def test_only_mobile_e164_numbers_are_offered_a_text(number, expected):
    assert can_receive_sms(number) is expected


def test_an_expired_sen_gets_the_renewals_contact_when_there_is_one():
    service = Service("Priority Support", "https://support.example.com", "renewals@example.com")
    assert link_text(Deflection.EXPIRED, service, "2345678") == (
        "Priority Support: maintenance for SEN 2345678 has expired. "
        "To renew, contact renewals@example.com. Requests: https://support.example.com"
    )
    assert link_text(Deflection.EXPIRED, SAMPLE_SERVICE, "2345678") == (
        "Priority Support: maintenance for SEN 2345678 has expired. "
        "To renew, see the portal. Requests: https://support.example.com"
    )


def test_every_deflection_text_carries_the_portal_and_fits_one_sms():
    service = Service("Priority Support", "https://support.example.com", "renewals@example.com")
    for reason in Deflection:
        text = link_text(reason, service, "12345678901234567890")
        assert "https://support.example.com" in text
        assert len(text) <= 160, text


def test_the_text_is_sent_from_the_number_they_called():
    sender = SmsSender(ACCOUNT, "token")
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, MESSAGES, callback=created)
        sender.send("+61491570156", "+61255501000", "Priority Support: raise it at https://support.example.com")
        sender.drain()
        form = parse_qs(mock.calls[0].request.body)
    assert form == {
        "To": ["+61491570156"],
        "From": ["+61255501000"],
        "Body": ["Priority Support: raise it at https://support.example.com"],
    }
    assert sms_counts(sender) == {"sent": 1, "failures": {}}


def test_twilio_sms_from_overrides_the_called_number():
    sender = SmsSender(ACCOUNT, "token", from_number="+14155550199")
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, MESSAGES, callback=created)
        sender.send("+61491570156", "+61255501000", "hello")
        sender.drain()
        assert parse_qs(mock.calls[0].request.body)["From"] == ["+14155550199"]


def test_a_twilio_error_reply_is_logged_and_counted(caplog):
    sender = SmsSender(ACCOUNT, "token")
    with responses.RequestsMock() as mock:
        mock.post(
            MESSAGES,
            status=400,
            json={
                "code": 21606,
                "message": "The From phone number is not a valid, SMS-capable inbound phone number",
                "more_info": "https://www.twilio.com/docs/errors/21606",
                "status": 400,
            },
        )
        sender.send("+61491570156", "+61255501000", "hello")
        sender.drain()
    assert sms_counts(sender) == {"sent": 0, "failures": {"rejected": 1}}
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("21606" in message and "+61491570156" in message for message in errors)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (requests.exceptions.ReadTimeout("read timed out"), "timeout"),
        (requests.exceptions.ConnectionError("connection refused"), "connection"),
    ],
)
def test_a_twilio_time_out_or_outage_is_logged_and_counted(error, reason, caplog):
    sender = SmsSender(ACCOUNT, "token")
    with responses.RequestsMock() as mock:
        mock.post(MESSAGES, body=error)
        sender.send("+61491570156", "+61255501000", "hello")
        sender.drain()
    assert sms_counts(sender) == {"sent": 0, "failures": {reason: 1}}
    assert any("+61491570156" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_sending_never_waits_for_twilio():
    release = threading.Event()

    def stuck(request):
        release.wait(10)
        return created(request)

    sender = SmsSender(ACCOUNT, "token")
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, MESSAGES, callback=stuck)
        try:
            sender.send("+61491570156", "+61255501000", "first")
            sender.send("+31612345678", "+31205550100", "second")
            assert sms_counts(sender)["sent"] == 0
        finally:
            release.set()
        sender.drain()
    assert sms_counts(sender) == {"sent": 2, "failures": {}}


@responses.activate
def test_without_twilio_credentials_nothing_is_sent_and_it_is_counted():
    sender = SmsSender(None, None)
    sender.send("+61491570156", "+61255501000", "hello")
    sender.drain()
    assert len(responses.calls) == 0
    assert sms_counts(sender) == {"sent": 0, "failures": {"not_configured": 1}}


# --- a total deadline on every text ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["trickle", "trickle_head", "silent"])
def test_a_twilio_reply_that_drags_is_cut_at_the_deadline_and_the_next_text_goes_out(mode, caplog):
    with slow_server() as server:
        server.mode = mode
        server.gap = 0.05
        sender = SmsSender(ACCOUNT, "token", send_seconds=0.25)
        sender._twilio().api.base_url = server.base  # Twilio's API, played by the loopback server
        start = time.monotonic()
        sender.send("+61491570156", "+61255501000", "first")
        sender.send("+31612345678", "+31205550100", "second")
        sender.drain()
        # One after the other on the sender's thread, each cut at 0.25 s; generous for a loaded machine.
        assert time.monotonic() - start < 2 * 0.25 + 1.0
        assert sms_counts(sender) == {"sent": 0, "failures": {"timeout": 2}}
        assert server.wait_for(lambda: len(server.hits) == 2), server.hits  # the server may count a cut one late
        server.mode = "ok"
        sender.send("+447911123456", "+442079460100", "third")
        sender.drain()
        assert len(server.hits) == 3 and sms_counts(sender)["failures"] == {"timeout": 2}
    assert any("no complete answer from Twilio within 0.25 s" in r.getMessage() for r in caplog.records)


# --- at most a few texts to one number --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_hundred_calls_from_one_number_get_three_texts_and_the_rest_are_refused_counted_and_logged(caplog):
    clock = Clock()
    sender = SmsSender(ACCOUNT, "token", per_number_hour=3, clock=clock)
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, MESSAGES, callback=created)
        for _ in range(100):
            sender.send("+61491570156", "+61255501000", "hello")
        sender.send("+31612345678", "+31205550100", "another caller")
        sender.drain()
        assert [parse_qs(call.request.body)["To"][0] for call in mock.calls] == ["+61491570156"] * 3 + ["+31612345678"]
    assert sms_counts(sender) == {"sent": 4, "failures": {"rate_limited": 97}}
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 97 and "+61491570156" in refused[0] and "IVR_SMS_PER_NUMBER_HOUR" in refused[0]


def test_the_per_number_limit_is_a_sliding_hour():
    clock = Clock()
    sender = SmsSender(ACCOUNT, "token", per_number_hour=2, clock=clock)
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, MESSAGES, callback=created)
        sender.send("+61491570156", "+61255501000", "at 0 min")
        clock.now += 1800
        sender.send("+61491570156", "+61255501000", "at 30 min")
        sender.send("+61491570156", "+61255501000", "at 30 min, refused")
        clock.now += 1800  # the first has left the hour
        sender.send("+61491570156", "+61255501000", "at 60 min")
        sender.send("+61491570156", "+61255501000", "at 60 min, refused")
        sender.drain()
        assert [parse_qs(call.request.body)["Body"][0] for call in mock.calls] == ["at 0 min", "at 30 min", "at 60 min"]
    assert sms_counts(sender) == {"sent": 3, "failures": {"rate_limited": 2}}


def test_the_limit_holds_across_the_threads_of_a_worker():
    sender = SmsSender(ACCOUNT, "token", per_number_hour=3)
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, MESSAGES, callback=created)
        webhooks = [threading.Thread(target=sender.send, args=("+61491570156", "+61255501000", "hello"))
                    for _ in range(50)]
        for thread in webhooks:
            thread.start()
        for thread in webhooks:
            thread.join()
        sender.drain()
        assert len(mock.calls) == 3
    assert sms_counts(sender) == {"sent": 3, "failures": {"rate_limited": 47}}


def test_numbers_that_went_quiet_are_forgotten():
    clock = Clock()
    limit = PerNumberLimit(1, window=60, clock=clock)
    for n in range(999):
        assert limit.allow(f"+614915{n:05d}")
    clock.now += 61
    assert limit.allow("+61491570156")  # the thousandth check sweeps the quiet numbers away
    assert len(limit._sent) == 1
