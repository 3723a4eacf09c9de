"""Call log speed: what recording adds to a webhook, and the calls page over 100,000 calls.

    python bench/calllog.py [--calls 100000] [--runs 200]

1. The median time of a real signed webhook (`POST /voice/status`, the last of a call's eleven
   events) with the call log on SQLite, against the same request with the stdout LogSink.
   Target: under 2 ms added.
2. The median time to render the newest page of /ops/calls (and the JSON API, and a filtered
   page) with 100,000 calls stored, against an empty store. Target: under 100 ms.
"""

from __future__ import annotations

import argparse
import base64
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import insert, select
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.engine import events  # noqa: E402
from ivr.engine.outcomes import Outcome, Summary  # noqa: E402
from ivr.store.logsink import LogSink  # noqa: E402
from ivr.store.schema import calls  # noqa: E402
from ivr.store.schema import events as event_rows  # noqa: E402
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


def query_plan(app: Flask) -> list[str]:
    """SQLite's plan for the newest page: an index walk, not a scan and sort of the table."""
    query = (select(calls).order_by(calls.c.started_at.desc(), calls.c.sid.desc()).limit(51))
    engine = services_of(app).calllog.engine
    with engine.connect() as conn:
        sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
        return [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]


def fill(app: Flask, count: int) -> None:
    """`count` calls of every outcome over the last 90 days, written in bulk."""
    rng = random.Random(4)
    now = datetime.now(UTC)
    outcomes = ["answered"] * 6 + ["voicemail", "abandoned", "deflected", "failed"]
    customers = [("SEN-1234567", "Acme Corporation"), ("SEN-2345678", "Globex"), ("SEN-3456789", "Initech")]
    lines = ["+14155550100", "+442079460100", "+31205550100", "+61255501000"]
    engine = services_of(app).calllog.engine
    batch_calls, batch_events = [], []
    with engine.begin() as conn:
        for n in range(count):
            at = now - timedelta(seconds=rng.randrange(90 * 86400))
            outcome = rng.choice(outcomes)
            sen, customer = rng.choice(customers)
            sid = f"CA{n:032x}"
            summary = Summary(
                sid=sid, started_at=at, line=rng.choice(lines), caller="+14155551234", caller_name=None, sen=sen,
                customer=customer, severity=rng.choice([1, 1, 1, 2, 3]), outcome=Outcome(outcome),
                team="amsterdam" if outcome == "answered" else None,
                answer_seconds=rng.uniform(5, 40) if outcome == "answered" else None, duration=300,
                voicemail_url=None, no_candidates=False, reason="on duty: amsterdam",
            )
            batch_calls.append({**asdict(summary), "outcome": outcome, "event_count": 1})
            started = events.Started(to="+14155550100", caller="+14155551234")
            batch_events.append({"call_sid": sid, "key": started.key, "kind": started.kind, "at": at,
                                 "data": events.to_data(started)})
            if len(batch_calls) == 5000:
                conn.execute(insert(calls), batch_calls)
                conn.execute(insert(event_rows), batch_events)
                batch_calls, batch_events = [], []
        if batch_calls:
            conn.execute(insert(calls), batch_calls)
            conn.execute(insert(event_rows), batch_events)


def pages(app: Flask, runs: int) -> dict[str, float]:
    client = app.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()}

    def get(path):
        def fetch():
            reply = client.get(path, headers=auth)
            assert reply.status_code == 200, (path, reply.status_code)
        return fetch

    return {
        "/ops/calls": median_ms(get("/ops/calls"), runs),
        "/ops/calls?outcome=voicemail&customer=Globex":
            median_ms(get("/ops/calls?outcome=voicemail&customer=Globex"), runs),
        "/ops/api/calls (with timelines)": median_ms(get("/ops/api/calls"), runs),
        "/metrics": median_ms(get("/metrics"), max(5, runs // 10)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100_000)
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

        empty = app_with(Path(folder) / "empty")
        full = app_with(Path(folder) / "full")
        started = time.perf_counter()
        fill(full, args.calls)
        print(f"\nstored {args.calls:,} calls in {time.perf_counter() - started:.1f} s")
        runs = max(10, args.runs // 4)
        before, after = pages(empty, runs), pages(full, runs)
        print(f"median of {runs}:            empty store   {args.calls:,} calls")
        for path in before:
            print(f"  {path:44} {before[path]:7.2f} ms   {after[path]:7.2f} ms")
        print("  target: the newest page of /ops/calls under 100 ms")
        print("newest page query plan (SQLite): " + "; ".join(query_plan(full)))


if __name__ == "__main__":
    main()
