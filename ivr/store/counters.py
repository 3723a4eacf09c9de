"""The service's event counters: prometheus_client metrics incremented where things happen (alerts,
the call log, entitlement sources, texts, webhooks) and read by /metrics and /healthz.

gunicorn runs several worker processes, each counting its own events. With PROMETHEUS_MULTIPROC_DIR
set (ivr/web/gunicorn_conf.py sets it up), prometheus_client keeps each process's values in files
there, and reading sums them over every worker, live or gone. Without it (tests, `ivr simulate`,
the Flask development server) the values stay in memory, in a registry owned by one app, so several
apps in one process never share a count.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Totals:
    """Counter values read at one moment; a series never counted reads 0."""

    def __init__(self, registry: CollectorRegistry):
        self._samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in registry.collect()
            for sample in family.samples
        }

    def count(self, name: str, **labels: str) -> int:
        """The value of the sample `name` (with its `_total` suffix) with exactly these labels."""
        return int(self._samples.get((name, frozenset(labels.items())), 0))


@dataclass(frozen=True)
class Counters:
    """The metrics, and `registry`, where their values are read: this app's own registry, or in
    multiprocess mode a MultiProcessCollector over every process's files. Make them with `create()`."""

    webhook_seconds: Histogram
    alerts_sent: Counter
    alert_failures: Counter
    calllog_failures: Counter
    entitlement_lookups: Counter
    entitlement_cache_hits: Counter
    entitlement_failures: Counter
    sms_sent: Counter
    sms_failures: Counter
    registry: CollectorRegistry

    @classmethod
    def create(cls) -> Counters:
        """New counters for an app, or in multiprocess mode the process's one set: there, two metric
        objects for the same series in one process would overwrite each other's value in the file."""
        directory = os.environ.get(MULTIPROC_DIR)
        if directory:
            return _process_counters(directory)
        registry = CollectorRegistry()
        return _build(registry, registry)

    def collect(self):
        """So /metrics' registry can register the counters and export what `registry` reads
        (in multiprocess mode, every worker's values)."""
        yield from self.registry.collect()

    def totals(self) -> Totals:
        return Totals(self.registry)


def _build(metrics_registry: CollectorRegistry | None, read_from: CollectorRegistry) -> Counters:
    return Counters(
        webhook_seconds=Histogram("ivr_webhook_seconds", "Time to answer a Twilio webhook", ["endpoint"],
                                  registry=metrics_registry, buckets=WEBHOOK_BUCKETS),
        alerts_sent=Counter("ivr_alerts_sent", "Missed-call alerts delivered", ["channel"],
                            registry=metrics_registry),
        alert_failures=Counter("ivr_alert_failures", "Missed-call alerts that could not be delivered",
                               ["channel"], registry=metrics_registry),
        calllog_failures=Counter("ivr_calllog_failures", "Call events the database could not store",
                                 registry=metrics_registry),
        entitlement_lookups=Counter("ivr_entitlement_lookups", "Entitlement lookups by source (file, url).",
                                    ["source"], registry=metrics_registry),
        entitlement_cache_hits=Counter("ivr_entitlement_cache_hits", "Licensing lookups answered from the cache.",
                                       ["source"], registry=metrics_registry),
        entitlement_failures=Counter(
            "ivr_entitlement_failures",
            "Entitlement lookups that failed (the SEN was not verified), by source and reason.",
            ["source", "reason"], registry=metrics_registry,
        ),
        sms_sent=Counter("ivr_sms_sent", "Texts with the way forward accepted by Twilio.",
                         registry=metrics_registry),
        sms_failures=Counter("ivr_sms_failures", "Texts with the way forward that could not be sent, by reason.",
                             ["reason"], registry=metrics_registry),
        registry=read_from,
    )


@functools.cache
def _process_counters(directory: str) -> Counters:
    # The metrics write to files in `directory` (prometheus_client chose that at import, from the
    # same variable) and are registered nowhere; reading goes through the files of all processes.
    read_from = CollectorRegistry()
    MultiProcessCollector(read_from, path=directory)
    return _build(None, read_from)
