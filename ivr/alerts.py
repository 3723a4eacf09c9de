"""Alerts on missed L1 calls: an SMS to each `[alerts] sms` number and a Slack-style webhook.

The call log tells us (as a listener) about every stored event; when a call turns out to be a
missed L1 call, a job is queued for a background thread owned by the app, so sending never
delays or breaks a call. Each call alerts once, across workers and instances (the call log's
`claim_alert`), however often Twilio repeats its callbacks.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ivr.calllog import CallLog
from ivr.counters import Counters
from ivr.instants import iso
from ivr.outcomes import Outcome, Summary
from ivr.phonebook import Phonebook

logger = logging.getLogger(__name__)

# The caller may still be leaving a voicemail when the status callback says the call ended;
# waiting this long lets the alert carry the recording link. Ops still hears within a minute:
# the destinations are tried side by side, each at worst ATTEMPTS time-outs and two pauses
# (10 + 3 * 5 + 2 + 4 = 31 s).
SETTLE_SECONDS = 10.0
ATTEMPTS = 3
BACKOFF_SECONDS = 2.0
TIMEOUT_SECONDS = 5.0
CHANNELS = ("sms", "webhook")


class SendError(Exception):
    """A failed delivery; `retry` says whether trying again may help."""

    def __init__(self, message: str, retry: bool):
        super().__init__(message)
        self.retry = retry


def alert_text(call: Summary, phonebook: Phonebook, console_url: str | None = None) -> str:
    """What ops reads: who called, on which line, when, and where the voicemail is."""
    line = phonebook.line(call.line) if call.line else None
    where = f"the {line.label} line {line.number}" if line else f"line {call.line or 'unknown'}"
    who = call.customer or "Unknown customer"
    sen = call.sen or "no SEN"
    text = f"Missed L1 call: {who} ({sen}) on {where} at {iso(call.started_at)}, from {call.caller or 'unknown'}."
    if call.no_candidates:
        text += " No team was on duty."
    if call.outcome is Outcome.VOICEMAIL:
        text += f" Voicemail: {call.voicemail_url}"
    elif call.outcome is Outcome.FAILED:
        text += " The call failed before anyone answered; no voicemail."
    else:
        text += " The caller hung up before anyone answered; no voicemail."
    if console_url:
        text += f" Timeline: {console_url.rstrip('/')}/ops/calls/{call.sid}"
    return text


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions; escape them so a caller's data cannot inject one.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class _LastError:
    """The last failure on a channel, in this process (the counts are in `Counters`)."""

    message: str | None = None
    at: datetime | None = None


class Alerter:
    """Turns missed L1 calls into SMS and webhook posts, on its own thread."""

    def __init__(
        self,
        calllog: CallLog,
        phonebook: Callable[[], Phonebook],
        account_sid: str | None,
        auth_token: str | None,
        console_url: str | None = None,
        settle_seconds: float = SETTLE_SECONDS,
        backoff_seconds: float = BACKOFF_SECONDS,
        counters: Counters | None = None,
    ):
        self.calllog = calllog
        self.phonebook = phonebook
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.console_url = console_url
        self.settle_seconds = settle_seconds
        self.backoff_seconds = backoff_seconds
        self.counters = counters or Counters.create()
        # Every series exists from the start at 0, so the first failure shows as a rise.
        for channel in CHANNELS:
            self.counters.alerts_sent.labels(channel)
            self.counters.alert_failures.labels(channel)
        self.last_errors = {channel: _LastError() for channel in CHANNELS}
        self._jobs: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._busy = 0
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    # --- the queue --------------------------------------------------------------------

    def notice(self, call: Summary) -> None:
        """Call-log listener: queue an alert when a call is a missed L1 call. Cheap, never blocks."""
        if not call.missed_l1:
            return
        delay = 0.0 if call.outcome is Outcome.VOICEMAIL else self.settle_seconds
        with self._changed:
            heapq.heappush(self._jobs, (time.monotonic() + delay, next(self._order), call.sid))
            if self._thread is None or not self._thread.is_alive():
                # Started on first use, so it lives in the process (gunicorn worker) that uses it.
                self._thread = threading.Thread(target=self._run, name="ivr-alerts", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._jobs or self._jobs[0][0] > time.monotonic():
                    self._changed.wait(None if not self._jobs else self._jobs[0][0] - time.monotonic())
                _, _, sid = heapq.heappop(self._jobs)
                self._busy += 1
            try:
                self.deliver(sid)
            except Exception:  # noqa: BLE001 - the worker must outlive any one alert
                logger.exception("alert for call %s failed", sid)
            finally:
                with self._changed:
                    self._busy -= 1
                    self._changed.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until every queued alert has been handled; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._jobs or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    # --- sending ----------------------------------------------------------------------

    def deliver(self, sid: str) -> None:
        """Send the alert for one call, unless it is no longer missed or already alerted."""
        call = self.calllog.call(sid)
        if call is None or not call.missed_l1:
            return
        if not self.calllog.claim_alert(sid, datetime.now(timezone.utc)):
            return
        phonebook = self.phonebook()
        text = alert_text(call, phonebook, self.console_url)
        settings = phonebook.alerts
        logger.warning("missed L1 call %s: %s", sid, text)
        sender = settings.sms_from or call.line
        sends = [("sms", lambda number=number: self._sms(number, sender, text)) for number in settings.sms]
        if settings.webhook:
            sends.append(("webhook", lambda: self._webhook(settings.webhook, text)))
        # Side by side, so one slow destination's retries cannot hold the others past the minute.
        threads = [threading.Thread(target=self._attempt, args=send, name="ivr-alert-send", daemon=True)
                   for send in sends]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _attempt(self, channel: str, send: Callable[[], None]) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                send()
            except SendError as exc:
                if exc.retry and attempt < ATTEMPTS:
                    logger.warning("%s alert attempt %d failed, retrying: %s", channel, attempt, exc)
                    time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                    continue
                logger.error("%s alert failed after %d attempt(s): %s", channel, attempt, exc)
                self.counters.alert_failures.labels(channel).inc()
                with self._changed:
                    self.last_errors[channel] = _LastError(str(exc), datetime.now(timezone.utc))
                return
            self.counters.alerts_sent.labels(channel).inc()
            return

    def _sms(self, to: str, sender: str | None, text: str) -> None:
        if not (self.account_sid and self.auth_token):
            raise SendError("SMS alerts need TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN", retry=False)
        if not sender:
            raise SendError("no number to send the SMS from: set [alerts] sms_from", retry=False)
        client = Client(self.account_sid, self.auth_token, http_client=TwilioHttpClient(timeout=TIMEOUT_SECONDS))
        try:
            client.messages.create(to=to, from_=sender, body=text)
        except TwilioRestException as exc:
            raise SendError(f"Twilio error {exc.code} ({exc.status}) sending to {to}: {exc.msg}",
                            retry=exc.status >= 500 or exc.status == 429) from None
        except requests.RequestException as exc:
            raise SendError(f"Twilio unreachable sending to {to}: {type(exc).__name__}: {exc}", retry=True) from None

    def _webhook(self, url: str, text: str) -> None:
        try:
            reply = requests.post(url, json={"text": _slack_escape(text)}, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise SendError(f"webhook unreachable: {type(exc).__name__}: {exc}", retry=True) from None
        if reply.status_code >= 300:
            raise SendError(f"webhook answered {reply.status_code}: {reply.text[:200]}",
                            retry=reply.status_code >= 500 or reply.status_code == 429)

    def health(self) -> dict:
        """Pending alerts and last errors of this process; sent and failed counts (in multiprocess
        mode) of every worker."""
        totals = self.counters.totals()
        with self._changed:
            return {
                "pending": len(self._jobs) + self._busy,
                **{
                    channel: {
                        "sent": totals.count("ivr_alerts_sent_total", channel=channel),
                        "failures": totals.count("ivr_alert_failures_total", channel=channel),
                        "last_error": last.message,
                        "last_error_at": None if last.at is None else iso(last.at),
                    }
                    for channel, last in self.last_errors.items()
                },
            }


def init_app(app) -> Alerter:
    """Alert on missed L1 calls stored in the app's call log (calllog.init_app comes first)."""
    alerter = Alerter(
        app.extensions["ivr_calllog"],
        app.extensions["ivr_phonebook"].current,
        app.config.get("TWILIO_ACCOUNT_SID"),
        app.config.get("TWILIO_AUTH_TOKEN"),
        console_url=app.config.get("IVR_PUBLIC_URL"),
        settle_seconds=float(app.config.get("IVR_ALERT_SETTLE_SECONDS", SETTLE_SECONDS)),
        backoff_seconds=float(app.config.get("IVR_ALERT_BACKOFF_SECONDS", BACKOFF_SECONDS)),
        counters=app.extensions["ivr_counters"],
    )
    app.extensions["ivr_calllog"].subscribe(alerter.notice)
    app.extensions["ivr_alerts"] = alerter
    return alerter
