"""Calls through Twilio's REST API: placing one (a callback from the console rings the engineer
first: `Calls.json`, `To` the engineer, `Url` the TwiML that then dials the customer), and moving or
asking about live ones.

The warm handoff needs the latter (README, "The call", live warm handoff): an engineer who presses 1
is moved from the screening whisper into the call's conference room (a `<Number url>` document may
not `<Dial>`), and a webhook asks whether that leg, or the customer, is still on the line. Each such
request ends within REQUEST_SECONDS, so the webhook that makes it still answers Twilio in time; a
failure is logged and reported as False or None, and the call flow falls back (a plain two-party
bridge, or "the customer is gone").
"""

from __future__ import annotations

import logging
from typing import Protocol

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from ivr.outside.sms import twilio_client

# The whole request, reply included: the console waits for it.
TIMEOUT_SECONDS = 10.0
# How long the engineer's phone rings before Twilio gives up.
RING_SECONDS = 30


class CallFailed(Exception):
    """Twilio did not take the call (refused, unreachable, too slow); the message says why."""


def place_call(account_sid: str, auth_token: str, *, to: str, caller_id: str, url: str, status_callback: str,
               seconds: float = TIMEOUT_SECONDS) -> str:
    """Ask Twilio to ring `to` from `caller_id` and run the TwiML at `url` when it answers; its
    status goes to `status_callback`. The new call's SID."""
    client = twilio_client(account_sid, auth_token, seconds)
    try:
        call = client.calls.create(to=to, from_=caller_id, url=url, status_callback=status_callback,
                                   timeout=RING_SECONDS)
    except TwilioRestException as exc:
        raise CallFailed(f"Twilio refused the call to {to}: error {exc.code} ({exc.status}): {exc.msg}") from None
    except requests.RequestException as exc:
        raise CallFailed(f"Twilio unreachable calling {to}: {type(exc).__name__}: {exc}") from None
    return str(call.sid)


log = logging.getLogger(__name__)

# A webhook makes at most two of these before answering; Twilio waits 15 s for the answer.
REQUEST_SECONDS = 3.0
# The CallStatus of a leg that is up (Twilio's Call resource).
IN_PROGRESS = "in-progress"


class CallControl(Protocol):
    """What the webhooks ask of Twilio about calls in progress."""

    @property
    def configured(self) -> bool:
        """Whether calls can be moved at all (the account SID and a real token are set)."""

    def redirect(self, call_sid: str, twiml: str) -> bool:
        """Run `twiml` on the call now, instead of what it runs; False when Twilio did not take it."""

    def redirect_url(self, call_sid: str, url: str) -> bool:
        """Fetch and run the TwiML at `url` (an absolute URL Twilio signs) on the call now."""

    def status(self, call_sid: str) -> str | None:
        """The call's CallStatus (`in-progress`, `completed`...), None when Twilio could not tell."""


class TwilioCalls:
    """CallControl through Twilio's REST client (`calls(sid).update`, `calls(sid).fetch`)."""

    def __init__(self, account_sid: str | None, auth_token: str | None, seconds: float = REQUEST_SECONDS):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.seconds = seconds
        self._client: Client | None = None

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    def _twilio(self) -> Client:
        if self._client is None:
            assert self.account_sid and self.auth_token  # `configured`, checked by every caller
            self._client = twilio_client(self.account_sid, self.auth_token, self.seconds)
        return self._client

    def redirect(self, call_sid: str, twiml: str) -> bool:
        return self._update(call_sid, twiml=twiml)

    def redirect_url(self, call_sid: str, url: str) -> bool:
        return self._update(call_sid, url=url, method="POST")

    def _update(self, call_sid: str, **changes: str) -> bool:
        if not self.configured:
            return False
        try:
            self._twilio().calls(call_sid).update(**changes)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the call as it is, and says so
            log.warning("call %s could not be moved (%s)", call_sid, exc)
            return False
        return True

    def status(self, call_sid: str) -> str | None:
        if not self.configured:
            return None
        try:
            return str(self._twilio().calls(call_sid).fetch().status)
        except Exception as exc:  # noqa: BLE001 - unknown is an answer the call flow handles
            log.warning("call %s: status not known (%s)", call_sid, exc)
            return None
