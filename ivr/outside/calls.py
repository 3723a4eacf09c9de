"""Live calls through Twilio's REST API: move a leg to new TwiML, ask whether a leg is still up.

The warm handoff needs both (README, "The call", live warm handoff): an engineer who presses 1 is
moved from the screening whisper into the call's conference room (a `<Number url>` document may not
`<Dial>`), and a webhook asks whether that leg, or the customer, is still on the line. Each request
ends within REQUEST_SECONDS, so the webhook that makes it still answers Twilio in time; a failure is
logged and reported as False or None, and the call flow falls back (a plain two-party bridge, or
"the customer is gone").
"""

from __future__ import annotations

import logging
from typing import Protocol

from twilio.rest import Client

from ivr.outside.sms import twilio_client

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
