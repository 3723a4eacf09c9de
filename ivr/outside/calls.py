"""Calls we place through Twilio's REST API: a callback from the console rings the engineer first
(`Calls.json`, `To` the engineer, `Url` the TwiML that then dials the customer)."""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioRestException

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
