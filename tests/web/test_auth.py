"""Password guessing against the console, its API, /metrics and /healthz is slowed down: after a few
wrong passwords a client (and, for a botnet, everyone) gets 429 with Retry-After for a wait that
doubles, whatever it sends meanwhile; a right password clears the count; a signed-in cookie is
never throttled."""

from __future__ import annotations

import base64

import pytest
from conftest import OPS_PASSWORD, make_app

from ivr.web.services import services_of
from ivr.web.throttle import MAX_CLIENTS, OVERALL, PER_CLIENT


class Ticks:
    """The throttle's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks(app) -> Ticks:
    clock = Ticks()
    services_of(app).login_throttle.clock = clock
    return clock


def basic(password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()}


def login(client, password: str, client_address: str = "198.51.100.7"):
    return client.post("/ops/login", data={"password": password, "next": "/ops/calls"},
                       environ_base={"REMOTE_ADDR": client_address})


def test_after_five_wrong_passwords_the_login_answers_429_with_retry_after_even_to_the_right_one(app, ticks):
    client = app.test_client()
    assert [login(client, f"guess {n}").status_code for n in range(PER_CLIENT.free)] == [401] * PER_CLIENT.free
    assert login(client, "guess 5").status_code == 401  # the sixth is checked, then the waits begin
    refused = login(client, OPS_PASSWORD)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "Too many wrong passwords: try again in 1 s." in refused.get_data(as_text=True)
    ticks.now += 1
    assert login(client, "guess 6").status_code == 401
    assert login(client, OPS_PASSWORD).headers["Retry-After"] == "2"  # doubled
    ticks.now += 2
    assert login(client, OPS_PASSWORD).status_code == 302
    # The right password cleared the count.
    assert login(client, "guess 7").status_code == 401


def test_the_wait_grows_to_fifteen_minutes_and_no_further(app, ticks):
    throttle = services_of(app).login_throttle
    for _ in range(40):
        throttle.failed("198.51.100.7")
    assert throttle.retry_after("198.51.100.7") == PER_CLIENT.longest == 900


def test_other_clients_are_not_held_up_by_one_guesser(app, ticks):
    client = app.test_client()
    for n in range(PER_CLIENT.free + 1):
        login(client, f"guess {n}")
    assert login(client, OPS_PASSWORD).status_code == 429
    assert login(client, OPS_PASSWORD, client_address="203.0.113.50").status_code == 302


def test_many_addresses_together_are_throttled_too(app, ticks):
    client = app.test_client()
    for n in range(OVERALL.free + 1):
        assert login(client, "guess", client_address=f"10.0.{n // 250}.{n % 250}").status_code == 401
    refused = login(client, OPS_PASSWORD, client_address="203.0.113.50")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"


@pytest.mark.parametrize("path", ["/ops/api/calls", "/metrics", "/healthz", "/ops/calls"])
def test_http_basic_guesses_count_and_are_refused_alike(app, ticks, path):
    client = app.test_client()
    for n in range(PER_CLIENT.free + 1):
        assert client.get(path, headers=basic(f"guess {n}")).status_code == 401
    refused = client.get(path, headers=basic(OPS_PASSWORD))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"


def test_a_signed_in_session_is_never_throttled(app, ticks):
    client = app.test_client()
    assert login(client, OPS_PASSWORD).status_code == 302
    for n in range(PER_CLIENT.free + 3):
        login(client, f"guess {n}")
    assert client.get("/ops/calls", environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 200


def test_behind_a_trusted_proxy_clients_are_told_apart_by_x_forwarded_for(tmp_path):
    app = make_app(tmp_path, IVR_TRUST_PROXY=1)
    client = app.test_client()
    for n in range(PER_CLIENT.free + 1):
        client.get("/metrics", headers={**basic(f"guess {n}"), "X-Forwarded-For": "198.51.100.7"})
    assert client.get("/metrics", headers={**basic(OPS_PASSWORD), "X-Forwarded-For": "198.51.100.7"}).status_code == 429
    assert client.get("/metrics", headers={**basic(OPS_PASSWORD), "X-Forwarded-For": "203.0.113.50"}).status_code == 200
    services_of(app).calllog.close()


def test_without_a_trusted_proxy_x_forwarded_for_does_not_escape_the_throttle(app, ticks):
    client = app.test_client()
    for n in range(PER_CLIENT.free + 1):
        client.get("/metrics", headers={**basic(f"guess {n}"), "X-Forwarded-For": f"198.51.100.{n}"})
    assert client.get("/metrics", headers={**basic(OPS_PASSWORD), "X-Forwarded-For": "203.0.113.50"}).status_code == 429


def test_a_client_quiet_for_an_hour_starts_again_and_the_memory_is_bounded(app, ticks):
    throttle = services_of(app).login_throttle
    for _ in range(PER_CLIENT.free + 1):
        throttle.failed("198.51.100.7")
    assert throttle.retry_after("198.51.100.7") == 1
    ticks.now += PER_CLIENT.forget + 1
    throttle.failed("198.51.100.7")
    assert throttle.retry_after("198.51.100.7") == 0
    for n in range(MAX_CLIENTS + 10):
        throttle.failed(f"client {n}")
    assert len(throttle._clients) == MAX_CLIENTS
