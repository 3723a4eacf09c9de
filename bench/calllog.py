"""Call log speed: what recording adds to a webhook.

    python bench/calllog.py [--runs 200]

The median time of a real signed webhook (`POST /voice/status`, the last of a call's eleven events)
with the call log on SQLite, against the same request with the stdout LogSink. Target: under 2 ms
added. (The pages as the log grows: bench/reads.py.)
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.engine import events  # noqa: E402
from ivr.store.logsink import LogSink  # noqa: E402
from ivr.web.app import create_app  # noqa: E402
from ivr.web.services import services_of  # noqa: E402

PASSWORD = "bench"
TOKEN = "0" * 32
BASE = "http://localhost"


def app_with(instance: Path, **config: object) -> Flask:
    return create_app({
        "IVR_PHONEBOOK": str(ROOT / "phonebook.toml"),
        "IVR_INSTANCE_PATH": str(instance),
        "IVR_OPS_PASSWORD": PASSWORD,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "IVR_PUBLIC_URL": BASE,
        "IVR_LOG_LEVEL": "WARNING",
        **config,
    })


def median_ms(action: Callable[[], object], runs: int, prepare: Callable[[], object] = lambda: None) -> float:
    """Median wall time of `action()`; `prepare()` runs untimed before each."""
    prepare()
    action()  # warm up
    samples = []
    for _ in range(runs):
        prepare()
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def status_callback(app: Flask, runs: int) -> float:
    """The final status callback of a call that already has its other events on record.

    It is the costliest event to store: the call's summary is recomputed from all of them.
    """
    client = app.test_client()
    validator = RequestValidator(TOKEN)
    sink: events.EventSink = services_of(app).events
    counter = iter(range(10**9))
    current = {}

    def prepare():
        sid = current["sid"] = f"CA{next(counter):032d}"
        at = datetime.now(UTC)
        sink.record(sid, events.Started(line="United States & Canada", region="amer", caller="+14155551234",
                                        to="+14155550100", caller_name=None), at)
        sink.record(sid, events.Recognised(sen="SEN-1234567", customer="Acme Corporation"), at)
        sink.record(sid, events.Entitlement(sen="SEN-1234567", customer="Acme Corporation", verdict="ok"), at)
        sink.record(sid, events.Severity(severity=1), at)
        sink.record(sid, events.Routed(action="connect", reason="on duty", weekend=False,
                                       candidates=("san_francisco", "amsterdam", "select", "fallback")), at)
        for attempt in (1, 2):
            sink.record(sid, events.Dial(attempt=attempt, team="san_francisco", numbers=("+14155550101",),
                                         status="no-answer", duration=0, accepted_by=None), at)
        sink.record(sid, events.Screened(number="+31205550101", accepted=True, dial_call_sid="CA1"), at)
        sink.record(sid, events.Dial(attempt=3, team="amsterdam", numbers=("+31205550101",), status="completed",
                                     duration=600, accepted_by="+31205550101", bridged=True), at)

    def post():
        form = {"CallSid": current["sid"], "AccountSid": "AC" + "0" * 32, "CallStatus": "completed",
                "CallDuration": "642", "From": "+14155551234", "To": "+14155550100", "Direction": "inbound"}
        url = f"{BASE}/voice/status"
        reply = client.post(url, data=form, headers={"X-Twilio-Signature": validator.compute_signature(url, form)})
        assert reply.status_code in (200, 204), reply.status_code

    return median_ms(post, runs, prepare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    logging.getLogger("ivr").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory() as folder:
        logged = app_with(Path(folder) / "logsink", EVENT_SINK=LogSink())
        stored = app_with(Path(folder) / "sqlite")
        baseline = status_callback(logged, args.runs)
        recorded = status_callback(stored, args.runs)
        print(f"webhook POST /voice/status (a call's 11th event), median of {args.runs}:")
        print(f"  LogSink (stdout)      {baseline:7.2f} ms")
        print(f"  call log on SQLite    {recorded:7.2f} ms")
        print(f"  added by recording    {recorded - baseline:7.2f} ms   (target < 2 ms)")


if __name__ == "__main__":
    main()
