"""GET /metrics in Prometheus text format, from a registry owned by the app (not the global one).

Call counts and answer times are read from the call log at scrape time, so every worker and
instance reports the same figures. Webhook latency is measured around each /voice request and,
like the alert, call-log, entitlement-source and SMS counts, kept in `ivr.store.counters`: under
gunicorn a scrape sees the sum over all workers, whichever worker answers it.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from ivr.store.schema import ANSWER_BUCKETS
from ivr.web.auth import basic_auth
from ivr.web.services import services, services_of

logger = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)



class CallLogCollector:
    """Calls by outcome and severity, time to answer, and callbacks open and overdue, from the call log."""

    def __init__(self, calllog, clock):
        self.calllog = calllog
        # The service's clock (a pinned one in the simulator and tests): what "overdue" is counted at.
        self.clock = clock

    def collect(self):
        try:
            counts = self.calllog.outcome_counts()
            buckets, count, total = self.calllog.answer_histogram()
            owed, overdue = self.calllog.callbacks.counts(self.clock())
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the database did
            logger.warning("metrics: call log unavailable: %s", exc)
        else:
            calls = GaugeMetricFamily("ivr_calls", "Calls in the call log", labels=["outcome", "severity"])
            for outcome, severity, number in counts:
                calls.add_metric([outcome, str(severity) if severity else "none"], number)
            yield calls
            answer = HistogramMetricFamily("ivr_answer_seconds", "From the call's start to an engineer accepting it")
            answer.add_metric(
                [], [(str(b), n) for b, n in zip(ANSWER_BUCKETS, buckets, strict=True)] + [("+Inf", count)], total
            )
            yield answer
            callbacks = GaugeMetricFamily("ivr_callbacks", "Callbacks not closed yet (open includes overdue)",
                                          labels=["state"])
            callbacks.add_metric(["open"], owed)
            callbacks.add_metric(["overdue"], overdue)
            yield callbacks


def _start_timer() -> None:
    if request.path.startswith("/voice"):
        g.ivr_webhook_started = time.perf_counter()


def _observe(response):
    started = g.pop("ivr_webhook_started", None)
    if started is not None:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        webhook_seconds = services().counters.webhook_seconds
        webhook_seconds.labels(endpoint).observe(time.perf_counter() - started)
    return response


@bp.get("/metrics")
@basic_auth
def metrics():
    return Response(generate_latest(services().metrics), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    registry = services_of(app)
    registry.metrics.register(registry.counters)
    registry.metrics.register(CallLogCollector(registry.calllog, registry.clock))
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)
