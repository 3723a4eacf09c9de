"""Every bad input to the console, its API, /metrics and /healthz gets a 4xx, never a 5xx: arbitrary
query strings (known names with hostile values, and names of their own), call SIDs and login forms."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from conftest import OPS_PASSWORD, answered_call, make_app, utc
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ivr.web.services import services_of

GETS = ["/ops/", "/ops/calls", "/ops/calls/CA001", "/ops/week", "/ops/numbers", "/ops/calls.csv",
        "/ops/api/calls", "/ops/api/calls/CA001", "/ops/api/now", "/metrics", "/healthz", "/ops/login"]
NAMES = ["date", "before", "limit", "outcome", "severity", "line", "customer", "next", "details"]
# Values near the edges: dates at the ends of the calendar, cursors in odd offsets, huge numbers.
EDGES = ["9999-12-31", "0001-01-01", "9999-12-30", "2026-02-30", "0001-01-01T00:00:00+01:00~CA1",
         "9999-12-31T23:59:59-01:00~CA1", "1e400", "-1", "99999999999999999999", "\r\n", "\x00", "%", "//x",
         "in-progress", "answered", "+14155550100", "\ud800".encode("utf-8", "surrogatepass").decode("latin-1")]
FUZZ = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

values = st.one_of(st.sampled_from(EDGES), st.text(max_size=40),
                   st.dates().map(str), st.datetimes().map(lambda d: f"{d.isoformat()}~CA1"))
# Mostly the names the pages read, each with a hostile value; then a few names of their own.
queries = st.builds(
    lambda known, other: [*known.items(), *other],
    st.dictionaries(st.sampled_from(NAMES), values, max_size=4),
    st.lists(st.tuples(st.text(max_size=10), values), max_size=2),
)


def auth() -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"ops:{OPS_PASSWORD}".encode()).decode()}


@pytest.fixture
def client(tmp_path):
    app = make_app(tmp_path)
    answered_call(services_of(app).calllog, sid="CA001", at=utc("2026-12-01T09:00Z"))
    yield app.test_client()
    services_of(app).calllog.close()


def _query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)


def test_no_query_string_makes_a_page_or_the_api_fail(client):
    @FUZZ
    @given(path=st.sampled_from(GETS), pairs=queries, signed_in=st.booleans())
    @example(path="/ops/calls", pairs=[("date", "9999-12-31")], signed_in=True)
    @example(path="/ops/api/calls", pairs=[("before", "0001-01-01T00:00:00+01:00~CA1")], signed_in=True)
    @example(path="/ops/api/calls", pairs=[("customer", "\x00")], signed_in=True)
    def check(path, pairs, signed_in):
        reply = client.get(f"{path}?{_query(pairs)}", headers=auth() if signed_in else {})
        assert reply.status_code < 500, (path, pairs, reply.get_data(as_text=True)[:500])

    check()


def test_no_call_sid_makes_a_call_page_fail(client):
    @FUZZ
    @given(prefix=st.sampled_from(["/ops/calls/", "/ops/api/calls/"]), sid=st.text(min_size=1, max_size=80))
    def check(prefix, sid):
        reply = client.get(prefix + quote(sid, safe=""), headers=auth())
        assert reply.status_code < 500, (prefix, sid)

    check()


def test_no_login_form_makes_the_login_fail(client):
    @FUZZ
    @given(password=st.one_of(st.just(OPS_PASSWORD), values), target=values, address=st.integers(0, 255))
    @example(password=OPS_PASSWORD, target="/ops/calls\r\nSet-Cookie: x=1", address=1)
    def check(password, target, address):
        # Each example from one of many addresses, so most are checked rather than throttled.
        reply = client.post("/ops/login", data={"password": password, "next": target},
                            environ_base={"REMOTE_ADDR": f"10.1.2.{address}"})
        assert reply.status_code < 500, (password, target)
        if reply.status_code == 302:
            assert reply.headers["Location"].startswith("/ops/")

    check()
