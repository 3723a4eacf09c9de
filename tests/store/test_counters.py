"""The counters behind /metrics and /healthz, in one process (no PROMETHEUS_MULTIPROC_DIR): each app
counts on its own, every series is there from the start, and /metrics and /healthz read the same
numbers. Across gunicorn workers: tests/test_gunicorn.py."""

from __future__ import annotations

import responses
from conftest import SAMPLE, make_app, utc
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ivr.engine.entitlement import check
from ivr.engine.phonebook_loader import parse_phonebook
from ivr.outside.licensing import Sources
from ivr.outside.sms import SmsSender
from ivr.store.counters import Counters
from ivr.web.services import services_of

LICENSING = "https://licensing.example.com/sen"
URL_SOURCE = f'\n[entitlements]\nurl = "{LICENSING}/{{sen}}"\nadmin_lookup = true\n'


def scrape(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@responses.activate
def test_licensing_failures_and_sms_failures_are_exported_by_reason():
    responses.get(f"{LICENSING}/1234567", status=503)
    responses.get(f"{LICENSING}/2345678", body="not json")
    counters = Counters.create()
    sources = Sources(counters=counters)
    source = sources.for_phonebook(parse_phonebook(SAMPLE.read_text(encoding="utf-8") + URL_SOURCE))
    for sen in ("1234567", "2345678", "1234567"):
        check(source, sen, utc("2026-12-01T09:00Z"))
    sms = SmsSender(None, None, counters=counters)
    sms.send("+61491570156", "+61255501000", "hello")
    sms.drain()

    metrics = scrape(generate_latest(counters.registry).decode())
    assert metrics[("ivr_entitlement_lookups_total", (("source", "url"),))] == 3
    assert metrics[("ivr_entitlement_failures_total", (("reason", "status"), ("source", "url")))] == 2
    assert metrics[("ivr_entitlement_failures_total", (("reason", "malformed"), ("source", "url")))] == 1
    assert metrics[("ivr_entitlement_failures_total", (("reason", "timeout"), ("source", "url")))] == 0
    assert metrics[("ivr_entitlement_lookups_total", (("source", "file"),))] == 0
    assert metrics[("ivr_sms_sent_total", ())] == 0
    assert metrics[("ivr_sms_failures_total", (("reason", "not_configured"),))] == 1
    assert metrics[("ivr_sms_failures_total", (("reason", "rejected"),))] == 0


def test_every_series_is_exported_at_zero_before_anything_happens(tmp_path, ops_auth):
    app = make_app(tmp_path)
    metrics = scrape(app.test_client().get("/metrics", headers=ops_auth).get_data(as_text=True))
    services_of(app).calllog.close()
    for channel in ("sms", "webhook"):
        assert metrics[("ivr_alerts_sent_total", (("channel", channel),))] == 0
        assert metrics[("ivr_alert_failures_total", (("channel", channel),))] == 0
    for reason in ("timeout", "connection", "status", "malformed", "no_data"):
        for source in ("file", "url"):
            assert metrics[("ivr_entitlement_failures_total", (("reason", reason), ("source", source)))] == 0
    for reason in ("queue_full", "not_configured", "rejected", "timeout", "connection", "error"):
        assert metrics[("ivr_sms_failures_total", (("reason", reason),))] == 0
    assert metrics[("ivr_calllog_failures_total", ())] == 0


@responses.activate
def test_two_apps_in_one_process_count_apart_and_healthz_reads_what_metrics_exports(tmp_path, ops_auth):
    responses.get(f"{LICENSING}/1234567", status=500)
    book = tmp_path / "phonebook.toml"
    book.write_text(SAMPLE.read_text(encoding="utf-8") + URL_SOURCE, encoding="utf-8")
    failing = make_app(tmp_path / "a", book)
    quiet = make_app(tmp_path / "b", book)
    phonebook = services_of(failing).phonebook.current()
    source = services_of(failing).entitlements.for_phonebook(phonebook)
    for _ in range(2):
        check(source, "1234567", utc("2026-12-01T09:00Z"))
    failing_metrics = scrape(failing.test_client().get("/metrics", headers=ops_auth).get_data(as_text=True))
    quiet_metrics = scrape(quiet.test_client().get("/metrics", headers=ops_auth).get_data(as_text=True))
    failing_health = failing.test_client().get("/healthz", headers=ops_auth).get_json()
    quiet_health = quiet.test_client().get("/healthz", headers=ops_auth).get_json()
    for app in (failing, quiet):
        services_of(app).calllog.close()

    status = ("ivr_entitlement_failures_total", (("reason", "status"), ("source", "url")))
    assert failing_metrics[status] == 2 and quiet_metrics[status] == 0
    assert failing_health["entitlements"]["failures"]["status"] == 2
    assert failing_health["entitlements"]["lookups"] == 2
    assert quiet_health["entitlements"]["failures"]["status"] == 0
