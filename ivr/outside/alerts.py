"""Alerts on missed L1 calls: an SMS to each `[alerts] sms` number and a Slack-style webhook. The
same way, ops hears once an hour of a number whose calls are ended for giving too many unknown SENs,
and once of each callback still open at its due time ("overdue", `ivr.store.callbacks`); and at
every handoff, each incoming team gets its digest (`ivr.engine.handoffs`), scheduled by the sweep.

The database is the source of truth. The call log stores each L1 call's alert state with the
event that decides it (`calllog.alerts`); every worker's alert thread sweeps for due alerts every
few seconds (and at once when one of its own calls turns out missed), claims each for a lease and
sends it, noting each destination as soon as it took the alert. A worker that dies mid-round
leaves a lease that runs out, and another worker takes the alert over; a destination that took
it is never sent it again. Sending never delays or breaks a call.

Every send has a total deadline (`ivr.outside.deadline`: a reply trickled in byte by byte is cut
off), and a round ends within half the lease, so a live worker never loses its claim. The sweep
does not wait for its rounds: a slow destination never holds back the next due alert.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextvars import copy_context
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import requests
from twilio.base.exceptions import TwilioRestException

from ivr.engine.callbacks import Callback, span
from ivr.engine.handoffs import (
    digest_destinations,
    digest_key,
    digest_sms,
    digest_text,
    digested,
    escalation_destinations,
    handoffs,
)
from ivr.engine.instants import iso
from ivr.engine.outcomes import SEN_WINDOW, SILENT_AFTER, Outcome, Summary
from ivr.engine.phonebook import Alerts, Phonebook
from ivr.engine.routing import Candidate, candidates
from ivr.logs import bind_call
from ivr.outside.deadline import deadline, deadline_session
from ivr.outside.sms import twilio_client
from ivr.store import journal
from ivr.store.alert_queue import NOTICE_PREFIX, AlertState
from ivr.store.callbacks import alerted_callback
from ivr.store.calllog import CallLog
from ivr.store.counters import Counters
from ivr.store.digests import read_digest
from ivr.store.reloading import PhonebookNotice
from ivr.store.writer import transient

logger = logging.getLogger(__name__)

# Within a round every destination is tried side by side, each at worst ATTEMPTS time-outs and two
# pauses (3 * 5 + 2 + 4 = 21 s), well inside the lease, so a live sender never loses its claim.
# TIMEOUT_SECONDS is each try's total deadline, however the destination trickles its reply.
ATTEMPTS = 3
TIMEOUT_SECONDS = 5.0
# A round (every destination, every try) ends within this share of the lease: a try that could not
# finish by then is left to the next round. Well inside the lease, so a live worker keeps its claim.
ROUND_SHARE = 0.5
# A try is not started with less time than this left in the round.
SHORTEST_TRY = 0.2
# Destinations that failed with an error worth retrying get this many rounds, this far apart.
ROUNDS = 3
ROUND_PAUSE = timedelta(seconds=30)
# An alert sent this long after its call ended says how late it is (the normal delay is the settle
# time and a sweep, well under this; a round retried after a failure stays under it too).
LATE_AFTER = timedelta(minutes=3)
# Alerts claimed per sweep; the rest wait for the next one.
BATCH = 20
CHANNELS = ("sms", "webhook")
# The sending process's alerts under way and last errors, for the /healthz of the processes that
# leave the sending to it (gunicorn's workers): a small file beside the journal, as of its last sweep.
HEALTH_FILE = "alerts.json"
# Alert delivery is failing (/healthz degraded) while an alert waits this long past its due time
# (a round normally starts within a sweep and ends within 21 s), and while the latest alert
# finished within RECENT_FAILURE did not reach every destination.
OVERDUE_AFTER = timedelta(minutes=2)
RECENT_FAILURE = timedelta(hours=24)
SMS_NEEDS_CREDENTIALS = "SMS alerts need TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"


def sms_credentials_missing(alerts: Alerts, account_sid: str | None, auth_token: str | None) -> bool:
    """`[alerts] sms` is set but no text can be sent: every SMS alert would be refused."""
    return bool(alerts.sms) and not (account_sid and auth_token)


class SendError(Exception):
    """A failed delivery; `retry` says whether trying again may help."""

    def __init__(self, message: str, retry: bool):
        super().__init__(message)
        self.retry = retry


def alert_text(call: Summary, phonebook: Phonebook, now: datetime, console_url: str | None = None) -> str:
    """What ops reads: who called, on which line, when, where the voicemail is, and how late the
    alert is when the call's events waited for the database."""
    line = phonebook.line(call.line) if call.line else None
    where = f"the {line.label} line {line.number}" if line else f"line {call.line or 'unknown'}"
    if call.sen_limited:
        text = (f"SEN guessing? Calls from {call.caller or 'unknown'} gave too many unknown SENs within "
                f"{SEN_WINDOW.seconds // 3600} hour; its call on {where} at {iso(call.started_at)} was ended with the "
                "portal address, and so are its calls until the count drops (one alert a number an hour).")
        return text + (f" Timeline: {console_url.rstrip('/')}/ops/calls/{call.sid}" if console_url else "")
    who = call.customer or "Unknown customer"
    sen = call.sen or "no SEN"
    text = f"Missed L1 call: {who} ({sen}) on {where} at {iso(call.started_at)}, from {call.caller or 'unknown'}."
    if call.no_candidates:
        text += " No team was on duty."
    if call.outcome is Outcome.VOICEMAIL:
        text += f" Voicemail: {call.voicemail_url}"
    elif call.outcome is None:
        text += (f" Twilio never told us how the call ended (nothing for {SILENT_AFTER.seconds // 60} minutes);"
                 " nobody is on record as having answered.")
    elif call.outcome is Outcome.FAILED:
        text += " The call failed before anyone answered; no voicemail."
    else:
        text += " The caller hung up before anyone answered; no voicemail."
    ended = call.started_at + timedelta(seconds=call.duration or 0)
    if call.outcome is not None and now - ended >= LATE_AFTER:
        text += f" This alert is {_span(now - ended)} late: the call log or its database was unavailable."
    if console_url:
        text += f" Timeline: {console_url.rstrip('/')}/ops/calls/{call.sid}"
    return text


def notice_text(notice: PhonebookNotice) -> str:
    """What ops reads of a phonebook version refused, or accepted again."""
    if not notice.refused:
        return (f"Phonebook accepted again: {notice.path} is valid and in force since {iso(notice.at)}; "
                "calls are routed by it.")
    first = "; ".join(notice.problems)
    kept = f" (accepted {iso(notice.kept_since)})" if notice.kept_since else ""
    return (f"Phonebook edit refused at {iso(notice.at)}: {notice.path}: {first}. Calls go on with the last good "
            f"version{kept}. Fix the file (`ivr check` lists every problem).")


def overdue_text(callback: Callback, phonebook: Phonebook, now: datetime, on_duty: Candidate | None,
                 console_url: str | None = None) -> str:
    """What ops reads when a callback is still open at its due time: whom to call back, since when,
    and `on_duty`, the first a call on the customer's line reaches now."""
    line = phonebook.line(callback.line) if callback.line else None
    where = f"the {line.label} line {line.number}" if line else f"line {callback.line or 'unknown'}"
    missed = "a missed L1 call" if callback.calls == 1 else f"{callback.calls} missed L1 calls"
    text = (f"Overdue callback: {callback.customer or 'Unknown customer'} ({callback.sen or 'no SEN'}, "
            f"from {callback.caller or 'unknown'}) after {missed} on {where} from {iso(callback.opened_at)}; "
            f"the call back was due at {iso(callback.due_at)} ({span(now - callback.due_at)} ago) and nobody has "
            "reached them.")
    text += f" On duty now: {on_duty.spoken_name}." if on_duty else " Nobody is on duty now."
    if callback.voicemail_url:
        text += f" Voicemail: {callback.voicemail_url}"
    if console_url:
        text += f" Callback: {console_url.rstrip('/')}/ops/callbacks/{callback.id}"
    return text


def _span(late: timedelta) -> str:
    minutes = int(late.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions; escape them so a caller's data cannot inject one.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class _Message:
    """What an alert says (`sms_text`: its SMS form, when shorter) and to whom; `line` is the
    published number its SMS comes from unless `[alerts] sms_from` says."""

    text: str
    line: str | None
    destinations: Alerts
    sms_text: str | None = None


@dataclass(frozen=True)
class _LastError:
    """The last failure on a channel, in this process (the counts are in `Counters`)."""

    message: str | None = None
    at: datetime | None = None


class Alerter:
    """Sends the due alerts of the call log's missed L1 calls, from its own thread."""

    def __init__(
        self,
        calllog: CallLog,
        phonebook: Callable[[], Phonebook],
        account_sid: str | None,
        auth_token: str | None,
        *,
        backoff_seconds: float,
        lease_seconds: float,
        sweep_seconds: float,
        console_url: str | None = None,
        counters: Counters | None = None,
        send_seconds: float = TIMEOUT_SECONDS,
    ):
        self.calllog = calllog
        self.phonebook = phonebook
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.console_url = console_url
        self.backoff_seconds = backoff_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.sweep_seconds = sweep_seconds
        self.send_seconds = send_seconds
        self.counters = counters or Counters.create()
        # Every series exists from the start at 0, so the first failure shows as a rise.
        for channel in CHANNELS:
            self.counters.alerts_sent.labels(channel)
            self.counters.alert_failures.labels(channel)
        self.last_errors = {channel: _LastError() for channel in CHANNELS}
        self._busy = 0
        # Whether this process sweeps and sends (else its health is the sending process's: HEALTH_FILE).
        self._sending = False
        # What HEALTH_FILE says as this process last wrote it; its sweep and its rounds' threads both
        # share their health, one at a time, and only when it changed.
        self._shared: dict[str, object] | None = None
        self._sharing = threading.Lock()
        self._sweeping = False
        self._woken = False
        self._stopped = False
        self._sweep_error: str | None = None
        # Notices heard in a request, stored in the call log by the alert thread (a request never
        # waits on the database); kept until stored.
        self._notices: list[tuple[str, str, datetime]] = []
        # The digest keys this process knows are in the alert queue (those in the look-back).
        self._scheduled: frozenset[str] = frozenset()
        self._owed_from: datetime | None = None
        self._changed = threading.Condition()
        self._writing = threading.Lock()

    # --- the thread -------------------------------------------------------------------

    def start(self) -> None:
        """Sweep every `sweep_seconds` from a thread of this process: the one that stores the call
        log (under gunicorn the writer process; the app is never preloaded in the master)."""
        threading.Thread(target=self._run, name="ivr-alerts", daemon=True).start()

    def close(self) -> None:
        """Stop sweeping (a round under way finishes; its lease covers it if the process ends)."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no sweep or round of this process is under way; False if `timeout` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._busy == 0 and not self._sweeping, timeout)

    def notice(self, call: Summary) -> None:
        """Call-log listener: sweep now when a call turns out missed. Cheap, never blocks."""
        if not (call.missed_l1 or call.sen_limited):
            return
        with self._changed:
            self._woken = True
            self._changed.notify_all()

    def phonebook_notice(self, notice: PhonebookNotice) -> None:
        """ReloadingPhonebook listener: alert ops of a version refused, or accepted again. Cheap,
        never blocks; every worker that sees it adds the same key, and ops hears of it once."""
        with self._changed:
            self._notices.append((notice.key, notice_text(notice), notice.at))
            self._woken = True
            self._changed.notify_all()

    def _store_notices(self) -> None:
        with self._changed:
            waiting = list(self._notices)
        for key, text, at in waiting:
            self.calllog.alerts.add_notice(key, text, at)
            with self._changed:
                self._notices.remove((key, text, at))

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._stopped:
                    return
                self._woken = False
                # Until its rounds count themselves in `_busy`: wait_idle after close never returns
                # between this check and their start.
                self._sweeping = True
            try:
                # Rounds go on in their own threads: the next sweep does not wait for a slow one.
                self._launch(self.calllog.clock(), [])
                self._sweep_error = None
            except Exception as exc:  # noqa: BLE001 - the thread must outlive a database outage
                error = f"{type(exc).__name__}: {exc}"
                if error != self._sweep_error:  # once per outage, not every few seconds
                    logger.error("alert sweep failed, retrying every %g s: %s", self.sweep_seconds, error)
                self._sweep_error = error
            with self._changed:
                self._sweeping = False
                self._changed.notify_all()
            self._share_health()
            with self._changed:
                self._changed.wait_for(lambda: self._woken or self._stopped, self.sweep_seconds)

    def drain(self, timeout: float) -> bool:
        """Wait until no alert is due, nor being sent by this process; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        # The database first: an alert it no longer shows as due was claimed, and so counted in
        # `_busy` already (sweep counts before it claims).
        while self._notices or self.calllog.alerts.due(self.calllog.clock(), 1) or self._busy:
            if time.monotonic() >= deadline:
                return False
            with self._changed:
                self._woken = True
                self._changed.notify_all()
                self._changed.wait(0.05)
        return True

    # --- sending ----------------------------------------------------------------------

    def sweep(self, now: datetime) -> list[str]:
        """Claim the alerts due at `now`, send them side by side and wait for the rounds; the keys
        claimed (calls, notices, callbacks, digests), sorted."""
        claimed: list[str] = []
        for thread in self._launch(now, claimed):
            thread.join()
        return sorted(claimed)

    def _launch(self, now: datetime, claimed: list[str]) -> list[threading.Thread]:
        """Store the notices heard, then start a round for each alert due at `now` (each claimed in
        its thread); the threads."""
        self._sending = True
        self._store_notices()
        self._schedule_digests(now)
        due = self.calllog.alerts.due(now, BATCH)
        with self._changed:
            self._busy += len(due)
        rounds = [threading.Thread(target=self._round, args=(sid, now, claimed), name="ivr-alert", daemon=True)
                  for sid in due]
        for thread in rounds:
            thread.start()
        return rounds

    def _schedule_digests(self, now: datetime) -> None:
        """Add the digest of each handoff within the phonebook's look-back, due at its instant,
        unless there already: every worker does, and the queue keeps one of each."""
        phonebook = self.phonebook()
        if not phonebook.digests.enabled:
            return
        if self._owed_from is None:  # read until a service marks it; it never changes after
            self._owed_from = self.calllog.alerts.digests_owed_from()
        start = now - phonebook.digests.lookback
        if self._owed_from is not None:
            start = max(start, self._owed_from)
        due = [(digest_key(team, handoff.at), handoff.at)
               for handoff in handoffs(phonebook, start, now) for team in handoff.incoming]
        self.calllog.alerts.add_due((key, at) for key, at in due if key not in self._scheduled)
        self._scheduled = frozenset(key for key, _ in due)

    def _round(self, sid: str, now: datetime, claimed: list[str]) -> None:
        # Every line of the round names its call (its sends copy this context into their threads).
        bind_call(None if sid.startswith(NOTICE_PREFIX) or digested(sid) else sid)
        try:
            # The lease runs from `now`, read before this round began: the round's end is counted from here.
            ends = time.monotonic() + self.lease.total_seconds() * ROUND_SHARE
            claim = self.calllog.alerts.claim(sid, now, self.lease)
            if claim is not None:  # else another worker took it first
                claimed.append(sid)
                self.deliver(claim, ends)
        except Exception as exc:  # the lease runs out (or was never taken) and another round tries again
            if transient(exc):  # a busy or unreachable database: no bug to show a traceback of
                logger.warning("alert for call %s: this round is put off, the database failed: %s", sid,
                               f"{type(exc).__name__}: {exc}".splitlines()[0])
            else:
                logger.exception("alert for call %s failed", sid)
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify_all()

    def deliver(self, claim: AlertState, ends: float | None = None) -> None:
        """One round of a claimed alert: send it to every destination that has not had it, by
        `ends` (time.monotonic; by default ROUND_SHARE of the lease from now)."""
        if ends is None:
            ends = time.monotonic() + self.lease.total_seconds() * ROUND_SHARE
        phonebook = self.phonebook()
        said = self._what_to_say(claim.sid, phonebook)
        if said is None:
            self.calllog.alerts.release(claim, self.calllog.clock(), None, None)
            return
        text = said.text
        settings = said.destinations
        sender = settings.sms_from or said.line
        sends: dict[str, Callable[[], None]] = {
            f"sms:{number}": partial(self._sms, number, sender, said.sms_text or text) for number in settings.sms
        }
        webhook = settings.webhook
        if webhook:
            sends["webhook"] = lambda: self._webhook(webhook, text)
        sends = {destination: send for destination, send in sends.items() if destination not in claim.done}
        logger.warning("alert for call %s (round %d, to %s): %s", claim.sid, claim.attempts,
                       ", ".join(sends) or "nobody", text)
        done = dict(claim.done)
        retry: list[str] = []
        # Side by side, so one slow destination's retries cannot hold the others past the minute.
        threads = {destination: threading.Thread(target=copy_context().run,
                                                 args=(self._attempt, claim, destination, send, done, retry, ends),
                                                 name="ivr-alert-send", daemon=True)
                   for destination, send in sends.items()}
        for thread in threads.values():
            thread.start()
        for destination, thread in threads.items():
            # Each try ends by its deadline; only a stall no socket sees (a name lookup) outlives the round.
            thread.join(max(0.0, ends - time.monotonic()) + SHORTEST_TRY)
            if thread.is_alive():
                logger.error("alert for call %s: %s still sending at the end of the round", claim.sid, destination)
                retry.append(f"{destination}: still sending at the end of the round")
        again = bool(retry) and claim.attempts < ROUNDS
        now = self.calllog.clock()
        self.calllog.alerts.release(claim, now, now + ROUND_PAUSE if again else None, "; ".join(retry) or None)

    def _what_to_say(self, key: str, phonebook: Phonebook) -> _Message | None:
        """The alert's text and destinations; None when there is nothing to tell any more."""
        now = self.calllog.clock()
        # About the service, not a call: texted from the first published line unless sms_from says.
        first_line = phonebook.lines[0].number if phonebook.lines else None
        notice = self.calllog.alerts.notice(key)
        if notice is not None:
            return _Message(notice, first_line, phonebook.alerts)
        handoff = digested(key)
        if handoff is not None:
            digest = read_digest(self.calllog, phonebook, *handoff, now)
            if digest is None:
                return None  # the phonebook was edited: no such handoff any more
            return _Message(digest_text(digest, now, self.console_url, LATE_AFTER), first_line,
                            digest_destinations(phonebook, digest.team),
                            digest_sms(digest, now, self.console_url, LATE_AFTER))
        callback_id = alerted_callback(key)
        if callback_id is not None:
            callback = self.calllog.callbacks.get(callback_id)
            if callback is None or callback.closed_at is not None:
                return None  # the customer was reached in time
            line = phonebook.line(callback.line) if callback.line else None
            first = next(iter(candidates(phonebook, line.region if line else None, now)), None)
            return _Message(overdue_text(callback, phonebook, now, first, self.console_url), callback.line,
                            escalation_destinations(phonebook, first.team if first else None))
        call = self.calllog.call(key)
        if call is None or not (call.missed_l1 or call.unfinished_l1 or call.sen_limited):
            return None  # answered after all (callbacks come out of order)
        if call.unfinished_l1:
            self.calllog.callbacks.open_unfinished(call, self.calllog.timelines([key])[key])
        return _Message(alert_text(call, phonebook, now, self.console_url), call.line, phonebook.alerts)

    def _attempt(self, claim: AlertState, destination: str, send: Callable[[], None], done: dict,
                 retry: list[str], ends: float) -> None:
        channel = destination.partition(":")[0]
        error = SendError("no time left in this round", retry=True)
        tries = 0
        while tries < ATTEMPTS:
            if tries:
                pause = self.backoff_seconds * 2 ** (tries - 1)
                if time.monotonic() + pause + SHORTEST_TRY > ends:
                    break  # no room for another try inside the lease: the next round tries again
                logger.warning("%s alert attempt %d failed, retrying: %s", channel, tries, error)
                time.sleep(pause)
            left = ends - time.monotonic()
            if left < SHORTEST_TRY:
                break
            tries += 1
            try:
                with deadline(min(self.send_seconds, left)):
                    send()
            except SendError as exc:
                error = exc
                if exc.retry:
                    continue
                break
            self.counters.alerts_sent.labels(channel).inc()
            self._done(claim, done, destination, {"sent_at": iso(self.calllog.clock())})
            return
        logger.error("%s alert failed after %d attempt(s): %s", channel, tries, error)
        self.counters.alert_failures.labels(channel).inc()
        with self._changed:
            self.last_errors[channel] = _LastError(str(error), self.calllog.clock())
        self._share_health()
        if error.retry:
            retry.append(f"{destination}: {error}")
        else:
            self._done(claim, done, destination, {"refused": str(error)})

    def _done(self, claim: AlertState, done: dict, destination: str, result: dict) -> None:
        # Each write stores the round's whole `done`, so a round's destinations are written one at a
        # time: an earlier, shorter `done` never lands after a later one.
        with self._writing:
            done[destination] = result
            noted = self.calllog.alerts.delivered(claim, done)
        if not noted:
            logger.error("alert for call %s: the lease ran out before %s was noted", claim.sid, destination)

    def _sms(self, to: str, sender: str | None, text: str) -> None:
        if not (self.account_sid and self.auth_token):
            raise SendError(SMS_NEEDS_CREDENTIALS, retry=False)
        if not sender:
            raise SendError("no number to send the SMS from: set [alerts] sms_from", retry=False)
        client = twilio_client(self.account_sid, self.auth_token, self.send_seconds)
        try:
            client.messages.create(to=to, from_=sender, body=text)
        except TwilioRestException as exc:
            raise SendError(f"Twilio error {exc.code} ({exc.status}) sending to {to}: {exc.msg}",
                            retry=exc.status >= 500 or exc.status == 429) from None
        except requests.RequestException as exc:
            raise SendError(f"Twilio unreachable sending to {to}: {type(exc).__name__}: {exc}", retry=True) from None

    def _webhook(self, url: str, text: str) -> None:
        try:
            with deadline_session(self.send_seconds) as session:
                reply = session.post(url, json={"text": _slack_escape(text)}, timeout=self.send_seconds)
        except requests.Timeout as exc:
            raise SendError(f"webhook too slow: {type(exc).__name__}: {exc}", retry=True) from None
        except requests.RequestException as exc:
            raise SendError(f"webhook unreachable: {type(exc).__name__}: {exc}", retry=True) from None
        if reply.status_code >= 300:
            raise SendError(f"webhook answered {reply.status_code}: {reply.text[:200]}",
                            retry=reply.status_code >= 500 or reply.status_code == 429)

    def problems(self, now: datetime, read_database: bool = True) -> list[str]:
        """Why alert delivery is failing now, in words for anyone (no number, URL or error text);
        empty when it is not. `read_database` False (the call log's database is failing, which
        /healthz says already) leaves out what only the database knows."""
        problems = []
        if sms_credentials_missing(self.phonebook().alerts, self.account_sid, self.auth_token):
            problems.append(f"alerts: {SMS_NEEDS_CREDENTIALS}, which are not set: no alert is texted")
        if not read_database:
            return problems
        late = OVERDUE_AFTER.seconds // 60
        kinds = ((False, "alerts: an alert", "alerts: the last alert"),
                 (True, "digests: a handoff digest", "digests: the last handoff digest"))
        for digests, what, last in kinds:
            try:
                trouble = self.calllog.alerts.trouble(now, OVERDUE_AFTER, RECENT_FAILURE, digests)
            except Exception as exc:  # noqa: BLE001 - health answers whatever the database does
                logger.warning("alert delivery state unreadable: %s", exc)
                return [*problems, "alerts: the delivery state cannot be read from the call log"]
            if trouble.overdue:
                problems.append(f"{what} is more than {late} minutes past due and not sent")
            if trouble.retrying:
                problems.append(f"{what} failed to reach a destination and is being retried")
            if trouble.last_finished_failed:
                problems.append(f"{last} did not reach every destination")
        return problems

    def health(self) -> dict:
        """Alerts under way and the last error of each channel, in the process that sends them (this
        one, or the one whose HEALTH_FILE says so); sent and failed counts (in multiprocess mode) of
        every process."""
        totals = self.counters.totals()
        pending, last_errors = self._state() if self._sending else self._shared_state()
        return {
            "pending": pending,
            **{
                channel: {
                    "sent": totals.count("ivr_alerts_sent_total", channel=channel),
                    "failures": totals.count("ivr_alert_failures_total", channel=channel),
                    "last_error": last.message,
                    "last_error_at": None if last.at is None else iso(last.at),
                }
                for channel, last in last_errors.items()
            },
        }

    def _state(self) -> tuple[int, dict[str, _LastError]]:
        with self._changed:
            return self._busy, dict(self.last_errors)

    def _share_health(self) -> None:
        with self._sharing:
            pending, last_errors = self._state()
            shared: dict[str, object] = {
                "pending": pending,
                "last_errors": {channel: [last.message, None if last.at is None else iso(last.at)]
                                for channel, last in last_errors.items()},
            }
            if shared != self._shared and journal.share(self.calllog.journal.folder, HEALTH_FILE, shared):
                self._shared = shared

    def _shared_state(self) -> tuple[int, dict[str, _LastError]]:
        try:
            shared = journal.shared(self.calllog.journal.folder, HEALTH_FILE)
            last_errors = {}
            for channel in CHANNELS:
                message, at = shared["last_errors"][channel]
                last_errors[channel] = _LastError(message, None if at is None else datetime.fromisoformat(at))
            return int(shared["pending"]), last_errors
        except (OSError, ValueError, TypeError, KeyError):  # no sender yet, or a file from another release
            return 0, {channel: _LastError() for channel in CHANNELS}
