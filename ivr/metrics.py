"""GET /metrics in Prometheus text format, from a registry owned by the app (not the global one).

Call counts and answer times are read from the call log at scrape time, so every worker and
instance reports the same figures. Webhook latency is measured in this process around each
/voice request; alert, entitlement-source and SMS counts come from this process's workers.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from ivr.alerts import CHANNELS
from ivr.counters import CountersCollector
from ivr.ops import basic_auth

logger = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

ANSWER_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0)
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class CallLogCollector:
    """Calls by outcome and severity, time to answer, and the health of the log and alerts."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        calllog = self.app.extensions["ivr_calllog"]
        health = calllog.health()
        failures = CounterMetricFamily("ivr_calllog_failures", "Call events the database could not store")
        failures.add_metric([], health["failures"])
        yield failures
        try:
            counts = calllog.outcome_counts()
            buckets, count, total = calllog.answer_histogram(ANSWER_BUCKETS)
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the database did
            logger.warning("metrics: call log unavailable: %s", exc)
        else:
            calls = GaugeMetricFamily("ivr_calls", "Calls in the call log", labels=["outcome", "severity"])
            for outcome, severity, number in counts:
                calls.add_metric([outcome, str(severity) if severity else "none"], number)
            yield calls
            answer = HistogramMetricFamily("ivr_answer_seconds", "From the call's start to an engineer accepting it")
            answer.add_metric(
                [], [(str(b), n) for b, n in zip(ANSWER_BUCKETS, buckets)] + [("+Inf", count)], total
            )
            yield answer
        state = self.app.extensions["ivr_alerts"].health()
        sent = CounterMetricFamily("ivr_alerts_sent", "Missed-call alerts delivered", labels=["channel"])
        failed = CounterMetricFamily("ivr_alert_failures", "Missed-call alerts that could not be delivered",
                                     labels=["channel"])
        for channel in CHANNELS:
            sent.add_metric([channel], state[channel]["sent"])
            failed.add_metric([channel], state[channel]["failures"])
        yield sent
        yield failed


def _start_timer() -> None:
    if request.path.startswith("/voice"):
        g.ivr_webhook_started = time.perf_counter()


def _observe(response):
    started = g.pop("ivr_webhook_started", None)
    if started is not None:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        current_app.extensions["ivr_metrics"]["webhook"].labels(endpoint).observe(time.perf_counter() - started)
    return response


@bp.get("/metrics")
@basic_auth
def metrics():
    registry = current_app.extensions["ivr_metrics"]["registry"]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_app(app) -> CollectorRegistry:
    registry = CollectorRegistry()
    webhook = Histogram("ivr_webhook_seconds", "Time to answer a Twilio webhook", ["endpoint"],
                        registry=registry, buckets=WEBHOOK_BUCKETS)
    registry.register(CallLogCollector(app))
    registry.register(CountersCollector(app.extensions["ivr_entitlements"], app.extensions["ivr_sms"]))
    app.extensions["ivr_metrics"] = {"registry": registry, "webhook": webhook}
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)
    return registry
