"""The entitlement sources' and the SMS sender's counters in Prometheus form, for /metrics.

The counters live in plain objects (`SourceStats`, `SmsStats`) so the sources stay free of any
framework; this collector reads them when Prometheus scrapes.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily

from ivr.entitlements import Failure, Sources
from ivr.sms import SmsSender


class CountersCollector:
    """Register with a prometheus_client registry: `registry.register(CountersCollector(sources, sms))`."""

    def __init__(self, sources: Sources, sms: SmsSender):
        self.sources = sources
        self.sms = sms

    def collect(self):
        lookups = CounterMetricFamily(
            "ivr_entitlement_lookups", "Entitlement lookups by source (file, url).", labels=["source"]
        )
        hits = CounterMetricFamily(
            "ivr_entitlement_cache_hits", "Licensing lookups answered from the cache.", labels=["source"]
        )
        failures = CounterMetricFamily(
            "ivr_entitlement_failures",
            "Entitlement lookups that failed (the SEN was not verified), by source and reason.",
            labels=["source", "reason"],
        )
        for kind, stats in self.sources.stats.items():
            snapshot = stats.snapshot()
            lookups.add_metric([kind], snapshot["lookups"])
            hits.add_metric([kind], snapshot["cache_hits"])
            for reason in Failure:
                failures.add_metric([kind, reason.value], snapshot["failures"][reason.value])
        sms = self.sms.stats.snapshot()
        sent = CounterMetricFamily("ivr_sms_sent", "Texts with the way forward accepted by Twilio.")
        sent.add_metric([], sms["sent"])
        sms_failures = CounterMetricFamily(
            "ivr_sms_failures", "Texts with the way forward that could not be sent, by reason.", labels=["reason"]
        )
        for reason, count in sorted(sms["failures"].items()):
            sms_failures.add_metric([reason], count)
        yield from (lookups, hits, failures, sent, sms_failures)
