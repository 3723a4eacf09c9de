"""A text message with the way forward for a caller we could not connect.

The call flow only queues the message; a worker thread owned by the app sends it through
Twilio's REST API, so a slow or failing API never delays the call. Nothing here knows about Flask.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import phonenumbers
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ivr.callflow import prompts
from ivr.config import default
from ivr.engine.phonebook import Service, is_e164
from ivr.outside.deadline import DeadlineAdapter
from ivr.store.counters import Counters

log = logging.getLogger(__name__)

# The worker is alone with the API; a time-out only bounds how long a stuck send holds the queue.
# It is a total deadline: a reply that trickles in is cut off at it (ivr.outside.deadline).
SEND_TIMEOUT_SECONDS = 10
# The window of the per-number limit (IVR_SMS_PER_NUMBER_HOUR).
RATE_WINDOW_SECONDS = 3600.0
# Beyond this many waiting messages something is badly wrong; further ones are dropped and counted.
QUEUE_SIZE = 1000

SMS_NUMBER_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


class Deflection(StrEnum):
    """Why a caller was not connected; picks the text they are sent."""

    SEVERITY = "severity"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    TIER = "tier"
    UNVERIFIED = "unverified"


def can_receive_sms(number: str | None) -> bool:
    """A valid E.164 mobile number; not 'anonymous', 'unknown' or a fixed line."""
    if not number or not is_e164(number):
        return False
    return phonenumbers.number_type(phonenumbers.parse(number, None)) in SMS_NUMBER_TYPES


@dataclass(frozen=True)
class Text:
    to: str
    from_: str
    body: str


def link_text(reason: Deflection, service: Service, sen: str) -> str:
    """The message body for a deflection. An expired SEN gets the renewals contact from
    [service] renewals when it is set."""
    renew = (
        prompts.SMS_RENEW_CONTACT.format(renewals=service.renewals) if service.renewals else prompts.SMS_RENEW_PORTAL
    )
    return prompts.SMS_LINK[reason].format(service=service.name, portal=service.portal, sen=sen, renew=renew)


class SmsFailure(StrEnum):
    """Why a text was not sent; the label of the failure counter."""

    QUEUE_FULL = "queue_full"
    NOT_CONFIGURED = "not_configured"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    ERROR = "error"
    RATE_LIMITED = "rate_limited"


def twilio_client(account_sid: str, auth_token: str, seconds: float) -> Client:
    """A Twilio REST client whose every request, reply included, ends within `seconds`: twilio's
    own http client only passes requests a per-read time-out."""
    http = TwilioHttpClient(timeout=seconds)
    assert http.session is not None  # pool_connections, the default
    adapter = DeadlineAdapter(seconds)
    http.session.mount("https://", adapter)
    http.session.mount("http://", adapter)
    return Client(account_sid, auth_token, http_client=http)


class PerNumberLimit:
    """At most `limit` texts to one number in any `window` seconds, shared by a process's threads.
    Numbers with nothing in the window are forgotten, so memory follows the recent traffic."""

    def __init__(self, limit: int, window: float = RATE_WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = {}
        self._checks = 0

    def allow(self, number: str) -> bool:
        """Whether one more text may go to `number` now; if so, it is counted."""
        with self._lock:
            now = self.clock()
            self._checks += 1
            if self._checks % 1000 == 0:
                self._forget(now)
            recent = self._sent.setdefault(number, deque())
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if len(recent) >= self.limit:
                return False
            recent.append(now)
            return True

    def _forget(self, now: float) -> None:
        for number in [n for n, times in self._sent.items() if not times or times[-1] <= now - self.window]:
            del self._sent[number]


class SmsSender:
    """Sends texts on a background thread, started on first use (so after gunicorn forks).
    `send` never blocks; `drain` waits until everything queued so far has been tried."""

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        from_number: str | None = None,
        counters: Counters | None = None,
        *,
        per_number_hour: int = default("IVR_SMS_PER_NUMBER_HOUR"),
        send_seconds: float = SEND_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.counters = counters or Counters.create()
        # Every series exists from the start at 0, so the first failure shows as a rise.
        self._failures = {reason: self.counters.sms_failures.labels(reason.value) for reason in SmsFailure}
        self._queue: queue.Queue[Text] = queue.Queue(QUEUE_SIZE)
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._client: Client | None = None
        self.send_seconds = send_seconds
        self._limit = PerNumberLimit(per_number_hour, clock=clock)

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    def send(self, to: str, called: str, body: str) -> None:
        """Queue a text to `to`, from TWILIO_SMS_FROM when set, else from the number they called;
        refused (counted and logged) beyond the per-number limit, so one number calling again and
        again cannot run up texts."""
        if not self._limit.allow(to):
            self._failures[SmsFailure.RATE_LIMITED].inc()
            log.warning("SMS to %s refused: %d already sent to that number in the last hour (IVR_SMS_PER_NUMBER_HOUR)",
                        to, self._limit.limit)
            return
        self._submit(Text(to, self.from_number or called, body))

    def _submit(self, text: Text) -> None:
        try:
            self._queue.put_nowait(text)
        except queue.Full:
            self._failures[SmsFailure.QUEUE_FULL].inc()
            log.error("SMS to %s dropped: %d messages already waiting", text.to, QUEUE_SIZE)
            return
        self._start()

    def drain(self) -> None:
        self._queue.join()

    def _start(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="sms-sender", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        while True:
            text = self._queue.get()
            try:
                self._deliver(text)
            finally:
                self._queue.task_done()

    def _deliver(self, text: Text) -> None:
        if not self.configured:
            self._failures[SmsFailure.NOT_CONFIGURED].inc()
            log.error("SMS to %s not sent: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set", text.to)
            return
        try:
            message = self._twilio().messages.create(to=text.to, from_=text.from_, body=text.body)
        except TwilioRestException as exc:
            self._failures[SmsFailure.REJECTED].inc()
            log.error("SMS to %s from %s refused by Twilio: %s %s", text.to, text.from_, exc.code, exc.msg)
        except requests.Timeout:
            self._failures[SmsFailure.TIMEOUT].inc()
            log.error("SMS to %s: no complete answer from Twilio within %g s", text.to, self.send_seconds)
        except requests.RequestException as exc:
            self._failures[SmsFailure.CONNECTION].inc()
            log.error("SMS to %s: cannot reach Twilio: %s", text.to, exc)
        except Exception:
            # The worker must outlive any surprise, or every later text would wait forever.
            self._failures[SmsFailure.ERROR].inc()
            log.exception("SMS to %s failed", text.to)
        else:
            self.counters.sms_sent.inc()
            log.info("SMS %s queued by Twilio for %s", message.sid, text.to)

    def _twilio(self) -> Client:
        if self._client is None:
            assert self.account_sid and self.auth_token  # `configured`, checked before
            self._client = twilio_client(self.account_sid, self.auth_token, self.send_seconds)
        return self._client


class TextRecorder(SmsSender):
    """Keeps texts instead of sending them, for `ivr simulate`: texts are offered exactly when
    the service would offer them (Twilio configured), but nothing leaves the process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: list[Text] = []

    def _submit(self, text: Text) -> None:
        self._kept.append(text)

    def take(self) -> list[Text]:
        """The texts kept since the last take."""
        texts, self._kept = self._kept, []
        return texts
