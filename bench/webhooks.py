"""How fast each webhook answers under real gunicorn, and how long an L1 caller listens.

Run: python bench/webhooks.py [--requests N] [--prompts-only]

1. Starts the Procfile's gunicorn command on loopback (a port the kernel picks) with the sample
   phonebook, sends N signed requests to each webhook one after the other (keep-alive, like Twilio), and
   prints p50/p99 latency per webhook next to GET /healthz measured in the same run (the cost of
   HTTP and gunicorn alone). Each request is for a new call, so its events are stored in the call
   log as a real call's are (a repeated CallSid would only hit the repeat check). Target: p99 well
   under 50 ms.
2. Plays L1 calls in-process with the simulator and adds up the seconds of every word the caller
   hears before the first engineer's phone rings (the whisper, on the engineer's leg, is not
   counted), at 150 words a minute (ivr.callflow.prompts), on each path: recognised by caller ID,
   SEN typed, and the paths with a miss or a caller who waits for the severity levels. A caller
   presses when asked, interrupting the rest of the prompt (`ivr.cli.simulate`'s barge-in).
   Targets: at most 10 s recognised, at most 16 s with the SEN typed (tests/web/test_voice.py
   asserts both).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import requests
from twilio.request_validator import RequestValidator

from ivr.callflow.prompts import WORDS_PER_MINUTE, speaking_seconds
from ivr.cli import simulate

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "phonebook.toml"
US_LINE = "+14155550100"
ACME_ADMIN = "+14155551234"
WARMUP = 20
PLAN = "sen=1234567&sev=1&plan=san_francisco,amsterdam,select,fallback"


Request = tuple[str, str, dict | None, dict[str, str] | None]  # method, url, form, headers


def _webhooks(call_sid: str) -> list[tuple[str, str, dict]]:
    """(name, path, form) of a representative request to each webhook."""
    call = {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "From": simulate.UNKNOWN_CALLER,
            "To": US_LINE, "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01"}
    leg = {**call, "CallSid": "CA" + "e" * 32, "ParentCallSid": call_sid, "To": "+14155550101",
           "Direction": "outbound-dial"}
    no_answer = {**call, "DialCallStatus": "no-answer", "DialBridged": "false", "DialCallDuration": "0"}
    return [
        ("POST /voice (unknown caller)", "/voice", call),
        ("POST /voice (recognised caller)", "/voice", {**call, "From": ACME_ADMIN, "StirVerstat": simulate.ATTESTED}),
        ("POST /voice/sen", "/voice/sen", {**call, "Digits": "1234567"}),
        ("POST /voice/severity (route, dial)", "/voice/severity?sen=1234567", {**call, "Digits": "1"}),
        ("POST /voice/dialed (next candidate)", f"/voice/dialed?{PLAN}&a=1", no_answer),
        ("POST /voice/whisper", f"/voice/whisper?sen=1234567&sev=1&line=%2B14155550100&call={call_sid}", leg),
        ("POST /voice/screen", f"/voice/screen?call={call_sid}", {**leg, "Digits": "1"}),
        ("POST /voice/recording", "/voice/recording", {
            "CallSid": call_sid, "RecordingSid": "RE1", "RecordingUrl": "https://api.twilio.com/r/RE1",
            "RecordingStatus": "completed", "RecordingDuration": "20"}),
        ("POST /voice/status", "/voice/status", {**call, "CallStatus": "completed", "CallDuration": "60"}),
    ]


# Loopback only, on a port the kernel picks as gunicorn binds it.
LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")


def _start(token: str, instance: str, log: IO[str]) -> subprocess.Popen:
    [line] = [text for text in (ROOT / "Procfile").read_text().splitlines() if text.startswith("web:")]
    command = [sys.executable, "-m", "gunicorn", *shlex.split(line.removeprefix("web:"))[1:]]
    env = {**os.environ, "TWILIO_AUTH_TOKEN": token, "IVR_PHONEBOOK": str(SAMPLE),
           "IVR_INSTANCE_PATH": instance, "IVR_LOG_LEVEL": "WARNING"}
    env.setdefault("WEB_CONCURRENCY", "2")
    command += ["--bind", "127.0.0.1:0", "--access-logfile", "/dev/null"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)


def _wait(log_path: Path, process: subprocess.Popen) -> str:
    """The base URL of the started service."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        listening = LISTENING.search(log_path.read_text())
        if listening:
            try:
                requests.get(f"{listening[1]}/healthz", timeout=1)
                return listening[1]
            except requests.ConnectionError:
                pass
        time.sleep(0.1)
    raise SystemExit(f"gunicorn did not start:\n{log_path.read_text()}")


def _measure(session: requests.Session, next_request: Callable[[], Request], count: int) -> list[float]:
    """Milliseconds per request; `next_request()` gives (method, url, form, headers), made before the timer starts."""
    for _ in range(WARMUP):
        session.request(*next_request())
    times = []
    for _ in range(count):
        method, url, form, headers = next_request()
        start = time.perf_counter()
        response = session.request(method, url, data=form, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code >= 300:
            raise SystemExit(f"{response.request.url} answered {response.status_code}")
    return times


def _signed(validator: RequestValidator, base: str, webhook: int) -> Callable[[], Request]:
    """Requests to the `webhook`th of `_webhooks`, each for a new call, signed as Twilio signs them."""

    def next_request() -> Request:
        _, path, form = _webhooks(simulate.sid("CA"))[webhook]
        url = base + path
        return "POST", url, form, {"X-Twilio-Signature": validator.compute_signature(url, form)}

    return next_request


def _percentile(times: list[float], q: int) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[q - 1]


def latency(count: int) -> None:
    token = secrets.token_hex(16)
    validator = RequestValidator(token)
    with tempfile.TemporaryDirectory() as instance:
        log_path = Path(instance) / "gunicorn.log"
        log = open(log_path, "w")  # noqa: SIM115 - gunicorn writes to it until the finally below stops it
        process = _start(token, instance, log)
        try:
            base = _wait(log_path, process)
            session = requests.Session()
            baseline = _measure(session, lambda: ("GET", f"{base}/healthz", None, None), count)
            rows = [("GET /healthz (baseline)", baseline)]
            for webhook, (name, _, _) in enumerate(_webhooks("")):
                rows.append((name, _measure(session, _signed(validator, base, webhook), count)))
        finally:
            process.terminate()
            process.wait(timeout=15)
            log.close()
    base_p50 = statistics.median(baseline)
    workers = os.environ.get("WEB_CONCURRENCY", "2")
    print(f"Webhook latency under gunicorn ({workers} workers), {count} sequential requests each:")
    print(f"{'webhook':40} {'p50 ms':>8} {'p99 ms':>8} {'p50 / baseline':>15}")
    for name, times in rows:
        p50, p99 = statistics.median(times), _percentile(times, 99)
        print(f"{name:40} {p50:8.2f} {p99:8.2f} {p50 / base_p50:15.2f}")
    worst = max(_percentile(t, 99) for _, t in rows[1:])
    print(f"worst webhook p99: {worst:.2f} ms (target: well under 50 ms)")


# The L1 paths timed: (name, caller, press groups, target seconds or None).
PATHS = [
    ("recognised by caller ID", ACME_ADMIN, ["1"], 10.0),
    ("with SEN entry", simulate.UNKNOWN_CALLER, ["1234567#", "1"], 16.0),
    ("recognised, waits for the levels", ACME_ADMIN, [f"{simulate.WAIT}1"], None),
    ("SEN of the wrong length first", simulate.UNKNOWN_CALLER, ["123#", "1234567#", "1"], None),
    ("a wrong severity key first", simulate.UNKNOWN_CALLER, ["1234567#", "9", "1"], None),
    ("severity timed out first", simulate.UNKNOWN_CALLER, ["1234567#", "", "1"], None),
]


def _seconds_before_ringing(turns: list[simulate.Turn]) -> float:
    heard = simulate.heard_before_ringing(turns)
    if heard is None:
        raise SystemExit("the simulated call never rang anyone")
    return speaking_seconds(*heard)


def prompt_seconds() -> None:
    with tempfile.TemporaryDirectory() as instance:
        config = {"IVR_INSTANCE_PATH": instance, "TWILIO_AUTH_TOKEN": "bench"}
        at = datetime(2026, 12, 1, 20, tzinfo=UTC)  # a weekday: San Francisco on duty
        simulator = simulate.in_process(str(SAMPLE), at, config)
        timed = [(name, _seconds_before_ringing(simulator.call(US_LINE, caller, presses)), target)
                 for name, caller, presses, target in PATHS]
    print(f"Words an L1 caller hears before the first engineer's phone rings, at {WORDS_PER_MINUTE} words/min:")
    for name, seconds, target in timed:
        met = target is None or seconds <= target
        verdict = "" if target is None else f" (target: at most {target:.0f} s: {'met' if met else 'MISSED'})"
        print(f"  {name + ':':36} {seconds:5.1f} s{verdict}")
    print("  (a key pressed while a prompt plays interrupts it; the severity levels come after a pause)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per webhook")
    parser.add_argument("--prompts-only", action="store_true", help="only count the words before the first ring")
    args = parser.parse_args()
    if not args.prompts_only:
        latency(args.requests)
        print()
    prompt_seconds()


if __name__ == "__main__":
    main()
