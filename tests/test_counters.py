"""The counters /metrics exports for entitlement sources and texts."""

from __future__ import annotations

import responses
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ivr.counters import CountersCollector
from ivr.entitlements import Sources, check
from ivr.phonebook import parse_phonebook
from ivr.sms import SmsSender

from conftest import SAMPLE, utc


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@responses.activate
def test_licensing_failures_and_sms_failures_are_exported_by_reason():
    responses.get("https://licensing.example.com/sen/1234567", status=503)
    responses.get("https://licensing.example.com/sen/2345678", body="not json")
    phonebook = parse_phonebook(
        SAMPLE.read_text(encoding="utf-8") + '\n[entitlements]\nurl = "https://licensing.example.com/sen/{sen}"\n'
    )
    sources = Sources()
    source = sources.for_phonebook(phonebook)
    for sen in ("1234567", "2345678", "1234567"):
        check(source, sen, utc("2026-12-01T09:00Z"))
    sms = SmsSender(None, None)
    sms.send("+61491570156", "+61255501000", "hello")
    sms.drain()

    registry = CollectorRegistry()
    registry.register(CountersCollector(sources, sms))
    metrics = scrape(registry)
    assert metrics[("ivr_entitlement_lookups_total", (("source", "url"),))] == 3
    assert metrics[("ivr_entitlement_failures_total", (("reason", "status"), ("source", "url")))] == 2
    assert metrics[("ivr_entitlement_failures_total", (("reason", "malformed"), ("source", "url")))] == 1
    assert metrics[("ivr_entitlement_failures_total", (("reason", "timeout"), ("source", "url")))] == 0
    assert metrics[("ivr_sms_sent_total", ())] == 0
    assert metrics[("ivr_sms_failures_total", (("reason", "not_configured"),))] == 1
