"""The Procfile's command serves real calls: gunicorn with ivr/web/gunicorn_conf.py, driven over HTTP."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import requests
from calls import ACCOUNT, ACME_ADMIN, TOKEN, US_LINE
from click.testing import CliRunner
from conftest import OPS_PASSWORD, ROOT, SAMPLE, is_digest, save, valid_at_any_date
from prometheus_client.parser import text_string_to_metric_families
from serving import serving
from twilio.request_validator import RequestValidator

from ivr.cli.commands import main
from ivr.engine.phonebook_loader import load_phonebook

# Real processes read the real clock: the suite's shifted-clock run leaves these out.
pytestmark = pytest.mark.process

STARTUP_SECONDS = 30


def _procfile_web_command() -> list[str]:
    [line] = [text for text in (ROOT / "Procfile").read_text().splitlines() if text.startswith("web:")]
    command = shlex.split(line.removeprefix("web:"))
    assert command[0] == "gunicorn"
    return [sys.executable, "-m", "gunicorn", *command[1:]]


# The ops user, for /healthz in detail and /metrics.
OPS = ("ops", OPS_PASSWORD)

# Loopback only, on a port the kernel picks as gunicorn binds it: no race with other processes.
LOOPBACK_ANY_PORT = ["--bind", "127.0.0.1:0"]
LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")


@dataclass
class Gunicorn:
    base: str
    process: subprocess.Popen
    log: Path


@contextmanager
def gunicorn(tmp_path: Path, phonebook: Path, **env: str):
    """The Procfile's web command with 2 workers; each access-log line starts with the pid of the
    worker that served it."""
    env = {
        **os.environ, "WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_PHONEBOOK": str(phonebook), "IVR_INSTANCE_PATH": str(tmp_path / "instance"),
        # As on Heroku: one proxy trusted, the host is the one requested (the loopback address here).
        "IVR_PUBLIC_URL": "", "IVR_TRUST_PROXY": "1", "IVR_OPS_PASSWORD": OPS_PASSWORD,
        "GUNICORN_CMD_ARGS": "--access-logformat 'served-by %(p)s %(r)s %(s)s'", **env,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "gunicorn.log"
    log = open(log_path, "w")  # noqa: SIM115 - gunicorn writes to it until the teardown below closes it
    process = subprocess.Popen(_procfile_web_command() + LOOPBACK_ANY_PORT, cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:
            listening = LISTENING.search(log_path.read_text())
            if listening:
                try:
                    requests.get(f"{listening[1]}/healthz", timeout=1)
                    break
                except (requests.ConnectionError, requests.Timeout):
                    pass  # a time-out while workers are still importing
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Gunicorn(listening[1], process, log_path)
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def dated_sample(folder: Path) -> Path:
    """The sample phonebook, its customers' agreements as valid under gunicorn's real clock on any date."""
    copy = folder / "phonebook.toml"
    copy.write_text(valid_at_any_date(SAMPLE.read_text(encoding="utf-8")), encoding="utf-8")
    return copy


@pytest.fixture
def book(tmp_path):
    """The dated sample alerting nobody: a missed call or a refused edit tries no outside address."""
    from webload import phonebook  # webload imports this module

    return phonebook(tmp_path)


@dataclass
class Served:
    base: str
    book: Path


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The service on a copy of the sample phonebook, which each worker checks on every request; one
    gunicorn for the tests that leave it as they found it (a test that edits the file puts it back)."""
    from webload import phonebook  # webload imports this module

    folder = tmp_path_factory.mktemp("service")
    book = phonebook(folder)
    with gunicorn(folder, book, IVR_RELOAD_SECONDS="0") as server:
        yield Served(server.base, book)


def _simulate_over_http(base: str, tmp_path: Path, *options: str):
    """`ivr simulate --url base` for an Acme admin's L1 call that every dialled number would answer."""
    everyone = [n for team in load_phonebook(SAMPLE).teams for n in team.dial] + ["+14155550142"]
    env = {"TWILIO_AUTH_TOKEN": TOKEN, "IVR_INSTANCE_PATH": str(tmp_path / "instance"), "IVR_PUBLIC_URL": None}
    args = ["simulate", "--url", base, *options, "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1"]
    for number in everyone:
        args += ["--answer", number]
    return CliRunner(env=env).invoke(main, args)


def test_a_simulated_call_over_http_reaches_an_engineer_under_gunicorn(service, tmp_path):
    health = requests.get(f"{service.base}/healthz", auth=OPS, timeout=5).json()
    assert health["phonebook"]["file"] == str(service.book)
    result = _simulate_over_http(service.base, tmp_path)
    assert result.exit_code == 0, result.output
    assert "caller hears  Welcome to Priority Support." in result.output
    assert "Hello, Acme Corporation." in result.output
    assert "connected  caller and +" in result.output


PUBLIC_URL = "https://ivr.example.com"


@pytest.fixture(scope="module")
def behind_a_proxy(tmp_path_factory):
    """The service with IVR_PUBLIC_URL set, as behind a proxy: Twilio calls (and signs) the https
    URL, while the service itself listens on loopback."""
    tmp_path = tmp_path_factory.mktemp("behind_a_proxy")
    with gunicorn(tmp_path, dated_sample(tmp_path), IVR_PUBLIC_URL=PUBLIC_URL) as server:
        yield server.base, tmp_path


def test_a_simulated_call_to_the_local_address_of_a_service_behind_a_proxy_signs_its_public_url(behind_a_proxy):
    base, tmp_path = behind_a_proxy
    result = _simulate_over_http(base, tmp_path, "--public-url", PUBLIC_URL)
    assert result.exit_code == 0, result.output
    assert "Hello, Acme Corporation." in result.output
    assert "connected  caller and +" in result.output


def test_signing_the_local_address_instead_is_refused_in_one_line_that_says_what_to_check(behind_a_proxy):
    base, tmp_path = behind_a_proxy
    result = _simulate_over_http(base, tmp_path)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: step 1 (the call comes in): POST {base}/voice answered 403 Forbidden: the signature did not "
        "match: is TWILIO_AUTH_TOKEN the service's token, and does --public-url match the service's "
        "IVR_PUBLIC_URL?\n"
    )


def test_every_worker_refuses_a_broken_edit_and_takes_the_fixed_file(service):
    # Several requests on fresh connections, so both workers answer.
    def states():
        return [requests.get(f"{service.base}/healthz", auth=OPS, timeout=5).json()["phonebook"] for _ in range(8)]

    good = service.book.read_text()
    try:
        save(service.book, good.replace('tz = "Europe/Amsterdam"', 'tz = "Europe/Amsterdm"'))
        assert all("Europe/Amsterdm" in state["last_error"] for state in states())
    finally:
        save(service.book, good)
    assert all(state["last_error"] is None and state["last_reload"] for state in states())


def test_unsigned_requests_are_refused_under_gunicorn(service):
    assert requests.post(f"{service.base}/voice", data={"CallSid": "CA1"}, timeout=5).status_code == 403


def test_the_gunicorn_config_reads_port_and_workers_and_gives_up_well_before_twilio(monkeypatch):
    import runpy

    monkeypatch.setenv("PORT", "5123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    conf = runpy.run_path(str(ROOT / "ivr" / "web" / "gunicorn_conf.py"))
    assert conf["bind"] == "0.0.0.0:5123"
    assert conf["workers"] == 3
    assert conf["timeout"] < 15
    assert conf["keepalive"] <= 5
    # Several servers on one machine (tests, benchmarks) must not share a control socket.
    assert conf["control_socket_disable"] is True


def test_a_worker_that_loaded_the_app_leaves_its_objects_out_of_garbage_collections():
    import gc
    import runpy

    conf = runpy.run_path(str(ROOT / "ivr" / "web" / "gunicorn_conf.py"))
    assert gc.get_freeze_count() == 0
    try:
        conf["post_worker_init"](None)
        assert gc.get_freeze_count() > 10_000  # this test process's objects, as a worker's app
    finally:
        gc.unfreeze()


# --- /metrics adds up every worker's counts -------------------------------------------------------


class FailingLicensing(BaseHTTPRequestHandler):
    """A licensing API that answers 500 after a pause: each lookup holds its worker a while, so
    concurrent calls are spread over both workers."""

    requests: ClassVar[list[str]] = []

    def do_GET(self):
        time.sleep(0.3)
        FailingLicensing.requests.append(self.path)
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def licensing():
    FailingLicensing.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingLicensing)
    with serving(server, "licensing"):
        yield f"http://127.0.0.1:{server.server_address[1]}/sen/{{sen}}"


def _signed_call(base: str, number: int) -> requests.Response:
    # Fully attested caller IDs, so each caller is looked up as an admin (`trust_caller_id`).
    params = {"CallSid": f"CA{number:032d}", "AccountSid": ACCOUNT, "From": f"+1415555{number:04d}",
              "To": US_LINE, "CallStatus": "ringing", "Direction": "inbound", "StirVerstat": "TN-Validation-Passed-A"}
    signature = RequestValidator(TOKEN).compute_signature(f"{base}/voice", params)
    return requests.post(f"{base}/voice", data=params, headers={"X-Twilio-Signature": signature}, timeout=10)


def _scrape(base: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"{base}/metrics", auth=("ops", OPS_PASSWORD), timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _workers_that_served(log: Path, path: str) -> set[str]:
    return set(re.findall(rf"served-by <(\d+)> POST {re.escape(path)} ", log.read_text()))


STATUS_FAILURES = ("ivr_entitlement_failures_total", (("reason", "status"), ("source", "url")))
URL_LOOKUPS = ("ivr_entitlement_lookups_total", (("source", "url"),))
VOICE_WEBHOOKS = ("ivr_webhook_seconds_count", (("endpoint", "/voice"),))


def test_metrics_and_healthz_add_up_licensing_failures_from_every_worker_even_a_dead_one(tmp_path, licensing):
    book = dated_sample(tmp_path)
    book.write_text(
        book.read_text(encoding="utf-8") + f'\n[entitlements]\nurl = "{licensing}"\nadmin_lookup = true\n',
        encoding="utf-8",
    )
    calls = 12
    # Every lookup reaches the API and fails (no breaker opening after a few): each is counted.
    with gunicorn(tmp_path, book, IVR_OPS_PASSWORD=OPS_PASSWORD, IVR_LICENSING_FAILURES="100") as server:
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda n: _signed_call(server.base, n), range(calls)))
        assert [r.status_code for r in replies] == [200] * calls
        assert len(FailingLicensing.requests) == calls
        workers = _workers_that_served(server.log, "/voice")
        assert len(workers) == 2, server.log.read_text()

        # Each scrape is served by either worker; every one sees all the failures.
        for _ in range(6):
            metrics = _scrape(server.base)
            assert metrics[STATUS_FAILURES] == calls
            assert metrics[URL_LOOKUPS] == calls
            assert metrics[VOICE_WEBHOOKS] == calls
        health = requests.get(f"{server.base}/healthz", auth=OPS, timeout=5).json()
        assert health["entitlements"]["failures"]["status"] == calls
        assert health["entitlements"]["lookups"] == calls

        # A worker that dies (gunicorn replaces it) takes none of its counts with it.
        gone = int(min(workers))
        os.kill(gone, signal.SIGTERM)
        deadline = time.monotonic() + STARTUP_SECONDS
        while f"Worker exiting (pid: {gone})" not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(4):
            assert _scrape(server.base)[STATUS_FAILURES] == calls
        metrics_dir = re.search(r"workers' metrics in (\S+)", server.log.read_text()).group(1)
        assert os.path.isdir(metrics_dir)
    # The temporary directory the server made for its workers' files goes with it.
    assert not os.path.exists(metrics_dir)


def test_the_server_starts_from_an_empty_metrics_directory(tmp_path, monkeypatch):
    import runpy
    from types import SimpleNamespace

    stale = tmp_path / "metrics" / "counter_4242.db"
    stale.parent.mkdir()
    stale.write_bytes(b"left by the previous run")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(stale.parent))
    conf = runpy.run_path(str(ROOT / "ivr" / "web" / "gunicorn_conf.py"))
    conf["on_starting"](SimpleNamespace(log=SimpleNamespace(info=lambda *args: None)))
    conf["on_exit"](None)
    assert stale.parent.is_dir() and list(stale.parent.iterdir()) == []


def refused_start(tmp_path, phonebook, **settings: str) -> str:
    """What gunicorn (the Procfile's command) printed when it refused to start on `phonebook` with
    these settings: it must stop at once."""
    env = {**os.environ, "IVR_PHONEBOOK": str(phonebook), "IVR_INSTANCE_PATH": str(tmp_path / "instance"),
           **settings}
    run = subprocess.run(_procfile_web_command() + LOOPBACK_ANY_PORT, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=STARTUP_SECONDS)
    assert run.returncode != 0
    return run.stdout + run.stderr


def test_a_bad_setting_stops_gunicorn_at_once_with_one_line_and_no_traceback(tmp_path):
    log = refused_start(tmp_path, dated_sample(tmp_path), IVR_RELOAD_SECONDS="abc")
    assert "cannot start: IVR_RELOAD_SECONDS='abc' is not valid: use a number of seconds from 0 to 86400" in log
    assert "Traceback" not in log and "Booting worker" not in log


def test_a_real_auth_token_without_a_public_url_stops_gunicorn_at_once_with_one_line(tmp_path):
    log = refused_start(tmp_path, dated_sample(tmp_path), TWILIO_AUTH_TOKEN=TOKEN, IVR_PUBLIC_URL="",
                        IVR_TRUST_PROXY="0")
    assert "cannot start: IVR_PUBLIC_URL is not set: with TWILIO_AUTH_TOKEN set" in log
    assert "Traceback" not in log and "Booting worker" not in log


# --- the last good phonebook survives restarts ----------------------------------------------------

BOOTED = re.compile(r"Booting worker with pid: (\d+)")
FROM_THE_COPY = "phonebook: the file is broken; the last good version, kept from before a restart, is in force"


def _break(book: Path) -> None:
    """Two errors, and a service name no caller may hear while the file is broken."""
    save(
        book,
        book.read_text()
        .replace('tz = "Europe/Amsterdam"', 'tz = "Europe/Amsterdm"')
        .replace("ring_seconds = 25", "ring_seconds = 2")
        .replace('name = "Priority Support"', 'name = "Broken Support"')
    )


def _booted(server: Gunicorn, count: int) -> list[int]:
    """The pids of the workers booted so far, once there are `count` of them (gunicorn still running)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while len(pids := [int(p) for p in BOOTED.findall(server.log.read_text())]) < count:
        assert server.process.poll() is None, server.log.read_text()
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.1)
    return pids


def _exited(server: Gunicorn, pid: int) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while f"Worker exiting (pid: {pid})" not in server.log.read_text():
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.1)


def _answers_with_the_last_good_version(server: Gunicorn, calls: int = 6) -> None:
    for number in range(calls):
        reply = _signed_call(server.base, number)
        assert reply.status_code == 200, reply.text
        assert "Welcome to Priority Support." in reply.text
        health = requests.get(f"{server.base}/healthz", timeout=5).json()
        assert health == {"status": "degraded", "problems": [FROM_THE_COPY]}


def test_workers_restarted_on_a_broken_phonebook_keep_answering_with_the_last_good_version(tmp_path, book):
    with gunicorn(tmp_path, book, IVR_RELOAD_SECONDS="0") as server:
        first, second = _booted(server, 2)
        _break(book)
        # A worker killed (a time-out, the OOM killer): its replacement boots on the broken file.
        os.kill(first, signal.SIGKILL)
        _booted(server, 3)
        # HUP: every worker is replaced, each booting on the broken file.
        os.kill(server.process.pid, signal.SIGHUP)
        _booted(server, 5)
        for old in (second, _booted(server, 3)[2]):
            _exited(server, old)
        _answers_with_the_last_good_version(server)
        details = requests.get(f"{server.base}/healthz", auth=OPS, timeout=5).json()["phonebook"]
        assert "Europe/Amsterdm" in details["last_error"] and details["from_last_good_copy"]
        assert server.process.poll() is None
        log = server.log.read_text()
        assert "Worker failed to boot" not in log
        assert "phonebook file refused at start, the last good version (accepted " in log
        assert (tmp_path / "instance" / "phonebook.last-good.toml").stat().st_mode & 0o777 == 0o600
    # The whole service restarted (a deploy, a reboot): it starts from the copy too.
    with gunicorn(tmp_path, book) as server:
        _answers_with_the_last_good_version(server)


def test_a_first_start_on_a_broken_phonebook_stops_gunicorn_with_one_line_per_problem(tmp_path, book):
    _break(book)
    log = refused_start(tmp_path, book)
    refusals = [line.split(" ERROR gunicorn.error: ", 1)[1] for line in log.splitlines() if "cannot start" in line]
    assert refusals == [
        f"cannot start: {book}: teams.amsterdam.tz: unknown time zone 'Europe/Amsterdm' "
        "(did you mean 'Europe/Amsterdam'?)",
        f"cannot start: {book}: teams.select.ring_seconds: 2 must be a whole number of seconds from 5 to 600",
    ]
    assert "Traceback" not in log and "Booting worker" not in log


# --- one log format, text or JSON lines -------------------------------------------------------------

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
# A line's message (a traceback, an SQL statement) may go on over the next lines, up to the next time.
TEXT_LINE = re.compile(TIME + r" \[(\d+)\] (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+)(?: call=(CA\w+))?: (.*)",
                       re.DOTALL)


def _licensing_book(tmp_path: Path, licensing: str) -> Path:
    book = dated_sample(tmp_path)
    book.write_text(book.read_text(encoding="utf-8") + f'\n[entitlements]\nurl = "{licensing}"\nadmin_lookup = true\n',
                    encoding="utf-8")
    return book


def test_json_log_lines_from_gunicorn_its_access_log_and_the_service_carry_each_webhooks_call_sid(
        tmp_path, licensing):
    # The deployment's access-log format (the fixture's own is for counting workers).
    with gunicorn(tmp_path, _licensing_book(tmp_path, licensing), IVR_LOG_FORMAT="json",
                  GUNICORN_CMD_ARGS="") as server:
        assert [_signed_call(server.base, n).status_code for n in (1, 2)] == [200, 200]
        requests.get(f"{server.base}/healthz", timeout=5)
    lines = [json.loads(line) for line in server.log.read_text().splitlines()]
    assert {line["logger"] for line in lines} >= {"gunicorn.error", "gunicorn.access", "ivr.entitlements"}
    assert all({"time", "level", "logger", "pid", "message"} <= set(line) for line in lines)
    voice = [line for line in lines if line["logger"] == "gunicorn.access" and '"POST /voice ' in line["message"]]
    assert [line["call_sid"] for line in voice] == [f"CA{1:032d}", f"CA{2:032d}"]
    lookups = [line for line in lines if line["logger"] == "ivr.entitlements"]
    assert lookups and {line["call_sid"] for line in lookups} == {f"CA{1:032d}", f"CA{2:032d}"}
    health = [line for line in lines if line["logger"] == "gunicorn.access" and "/healthz" in line["message"]]
    assert health and all("call_sid" not in line for line in health)
    booted = [line for line in lines if line["message"].startswith("Booting worker with pid: ")]
    assert len(booted) == 2 and all("call_sid" not in line for line in booted)


def test_text_log_lines_share_one_format_and_name_the_call(tmp_path, licensing):
    with gunicorn(tmp_path, _licensing_book(tmp_path, licensing), GUNICORN_CMD_ARGS="") as server:
        assert _signed_call(server.base, 7).status_code == 200
    lines = re.split(rf"\n(?={TIME} )", server.log.read_text().rstrip("\n"))
    parsed = [TEXT_LINE.fullmatch(line) for line in lines]
    assert all(parsed), [line for line, match in zip(lines, parsed, strict=True) if not match]
    [access] = [m for m in parsed if m[3] == "gunicorn.access" and '"POST /voice ' in m[5]]
    assert access[4] == f"CA{7:032d}" and access[5].startswith('127.0.0.1 "POST /voice HTTP/1.1" 200 ')
    assert {m[4] for m in parsed if m[3] == "ivr.entitlements"} == {f"CA{7:032d}"}


def test_a_refused_edit_alerts_ops_once_whichever_workers_see_it_and_its_fix_once_more(tmp_path):
    from webload import alert_webhook, phonebook

    def notices(webhook) -> list[str]:
        # The digests of the handoffs of the last 12 hours (the real clock's) go to ops too.
        return [text for text in webhook.posts if not is_digest(text)]

    def wait_for_posts(webhook, count: int) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while len(notices(webhook)) < count:
            assert time.monotonic() < deadline, webhook.posts
            time.sleep(0.1)

    def every_worker_looks(server: Gunicorn) -> None:
        # Fresh connections, so each worker answers some and looks at the file.
        for _ in range(8):
            requests.get(f"{server.base}/healthz", timeout=5)

    with alert_webhook(tmp_path) as webhook:
        book = phonebook(tmp_path, webhook.url)
        env = {"IVR_RELOAD_SECONDS": "0", "IVR_ALERT_SWEEP_SECONDS": "0.5", "REQUESTS_CA_BUNDLE": str(webhook.ca_bundle)}
        with gunicorn(tmp_path, book, **env) as server:
            first, _second = _booted(server, 2)
            good = book.read_text()
            _break(book)
            every_worker_looks(server)
            wait_for_posts(webhook, 1)
            # A worker replaced while the file is broken starts on that same version.
            os.kill(first, signal.SIGKILL)
            _booted(server, 3)
            every_worker_looks(server)
            save(book, good)
            every_worker_looks(server)
            wait_for_posts(webhook, 2)
            # Each worker's notices are stored in the order it heard them, and ops heard each version once.
            every_worker_looks(server)
            refused, fixed = notices(webhook)
    assert refused.startswith("Phonebook edit refused at ") and "teams.amsterdam.tz: unknown time zone" in refused
    assert fixed.startswith(f"Phonebook accepted again: {book} is valid and in force since ")


def test_an_unknown_log_format_stops_gunicorn_in_one_text_line(tmp_path):
    log = refused_start(tmp_path, dated_sample(tmp_path), IVR_LOG_FORMAT="xml")
    [refusal] = [line for line in log.splitlines() if "cannot start" in line]
    assert TEXT_LINE.fullmatch(refusal)[5] == "cannot start: IVR_LOG_FORMAT='xml' is not valid: use one of text, json"
