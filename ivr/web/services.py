"""The app's services in one typed registry, built by `create_app` in one visible order and reached
through one accessor, `services()`, instead of string keys scattered over the modules."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from flask import Flask, current_app, g
from prometheus_client import CollectorRegistry

from ivr.clock import Clock, utc_now
from ivr.engine.events import EventSink
from ivr.engine.phonebook import ResponseTimes
from ivr.outside.alerts import Alerter, sms_credentials_missing
from ivr.outside.calls import CallControl, TwilioCalls
from ivr.outside.licensing import Sources
from ivr.outside.sms import SmsSender
from ivr.store.calllog import CallLog
from ivr.store.counters import Counters
from ivr.store.reloading import LAST_GOOD_NAME, ReloadingPhonebook
from ivr.web.throttle import LoginThrottle

logger = logging.getLogger(__name__)

EXTENSION = "ivr"


@dataclass(frozen=True)
class Services:
    # The instant a call's decisions happen at: the wall clock, or the simulator's pinned instant.
    clock: Clock
    # Counted where things happen, read by /metrics and /healthz (across workers under gunicorn).
    counters: Counters
    phonebook: ReloadingPhonebook
    entitlements: Sources
    sms: SmsSender
    # Moves live legs between TwiML documents (the conference room, hold) and asks whether one is up.
    calls: CallControl
    calllog: CallLog
    alerts: Alerter
    # Where the webhooks report call events: the call log, or (the simulator) the log only.
    events: EventSink
    metrics: CollectorRegistry
    # Wrong ops passwords by client address (this worker's memory).
    login_throttle: LoginThrottle


def build(app: Flask) -> Services:
    """Every service from the app's settings, each given what it needs, in the order they need it."""
    config = app.config
    # Each version accepted is kept in the instance folder. A worker (re)started on a broken file
    # starts from that copy, degraded; with no copy it raises PhonebookError: refuse to start.
    phonebook = ReloadingPhonebook(
        config["IVR_PHONEBOOK"], interval=config["IVR_RELOAD_SECONDS"],
        last_good=Path(app.instance_path) / LAST_GOOD_NAME,
    )
    counters = Counters.create()
    entitlements = Sources(
        token=config["IVR_ENTITLEMENTS_TOKEN"], counters=counters,
        breaker_failures=config["IVR_LICENSING_FAILURES"],
        cool_down_seconds=config["IVR_LICENSING_COOL_DOWN_SECONDS"],
        budget_seconds=config["IVR_LICENSING_BUDGET_SECONDS"],
    )
    # Made before signature.init_app resolves a development token: that token signs local calls
    # but cannot send texts.
    sms = (config.get("SMS_SENDER") or SmsSender)(
        config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], config["TWILIO_SMS_FROM"], counters,
        per_number_hour=config["IVR_SMS_PER_NUMBER_HOUR"],
    )
    calls = config.get("CALL_CONTROL") or TwilioCalls(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"])
    # One clock for the requests, the call log and its alert sweep (the wall clock, or a test's or the
    # simulator's pinned one): a digest falls due, and an alert is claimed, by the instant the pages show.
    clock = config.get("CLOCK") or utc_now
    calllog = open_calllog(app, counters, clock, lambda: phonebook.current().response_times)
    alerts = Alerter(
        calllog,
        phonebook.current,
        config["TWILIO_ACCOUNT_SID"],
        config["TWILIO_AUTH_TOKEN"],
        console_url=config["IVR_PUBLIC_URL"],
        backoff_seconds=config["IVR_ALERT_BACKOFF_SECONDS"],
        counters=counters,
        lease_seconds=config["IVR_ALERT_LEASE_SECONDS"],
        sweep_seconds=config["IVR_ALERT_SWEEP_SECONDS"],
    )
    calllog.subscribe(alerts.notice)
    events = config.get("EVENT_SINK") or calllog
    if events is calllog:
        # Calls are recorded in this call log. (An app whose events go elsewhere, an in-process
        # `ivr simulate`, leaves storing them and alerting to the service, and has no alert to warn of.)
        if sms_credentials_missing(phonebook.last_good().alerts, config["TWILIO_ACCOUNT_SID"],
                                   config["TWILIO_AUTH_TOKEN"]):
            logger.warning("[alerts] sms is set but TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not: "
                           "no alert will be texted (/healthz says degraded)")
        if calllog.writes:
            # The process that stores the journal also sweeps for due alerts and sends them. A
            # gunicorn worker (IVR_WRITER=process) leaves both to the writer process, like the
            # storing: its core and its interpreter lock serve the calls alone.
            calllog.start()
            # Ops hears of a phonebook version refused (this process may have started on one) and
            # of one accepted again, as of a missed call; the writer reads the same file as the workers.
            phonebook.subscribe(alerts.phonebook_notice)
            alerts.start()
    metrics = CollectorRegistry()
    return Services(
        clock=clock,
        counters=counters,
        phonebook=phonebook,
        entitlements=entitlements,
        sms=sms,
        calls=calls,
        calllog=calllog,
        alerts=alerts,
        events=events,
        metrics=metrics,
        login_throttle=LoginThrottle(),
    )


def open_calllog(app: Flask, counters: Counters, clock: Clock = utc_now,
                 response_times: Callable[[], ResponseTimes] = ResponseTimes) -> CallLog:
    """The call log named by DATABASE_URL (default: SQLite in the instance folder), journaling in
    IVR_JOURNAL_DIR (stored by this process, or by a writer process: IVR_WRITER), its alerts due by
    `clock`, its callbacks due by `response_times` (the phonebook's in force). A worker never creates
    or migrates tables (`ivr.store.migrate` says who does); a database that is down, or not at this
    release's schema, leaves the service answering calls, its events waiting in the journal until the
    database is back and migrated."""
    log = CallLog.from_settings(
        app.config["DATABASE_URL"], app.instance_path, clock=clock, counters=counters,
        response_times=response_times, writes=app.config["IVR_WRITER"] == "thread",
        alert_settle_seconds=app.config["IVR_ALERT_SETTLE_SECONDS"],
        journal_dir=app.config["IVR_JOURNAL_DIR"],
    )
    try:
        problem = log.schema().problem
    except Exception as exc:  # noqa: BLE001 - the service answers calls even without its database
        logger.error("call log database unavailable at start (%s); events wait in the journal", exc)
    else:
        if problem:
            logger.error("%s; events wait in the journal meanwhile", problem)
    # No connection opened here may be shared with processes forked later (gunicorn --preload).
    log.engine.dispose()
    return log


def install(app: Flask, registry: Services) -> None:
    app.extensions[EXTENSION] = registry


def services_of(app: Flask) -> Services:
    return cast(Services, app.extensions[EXTENSION])


def services() -> Services:
    """The current app's services."""
    return services_of(current_app)


def request_instant() -> datetime:
    """This request's instant, read once: its decisions, its events and its pages all happen at it."""
    if "ivr_now" not in g:
        g.ivr_now = services().clock()
    return cast(datetime, g.ivr_now)
