"""Shared fixtures: the sample phonebook and literal instants."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import textwrap
import uuid
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import responses
import time_machine
from flask import Flask
from phonebooks import toml_table, toml_team
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ivr import create_app
from ivr.config import default
from ivr.engine.events import (
    Dial,
    Entitlement,
    Recognised,
    Routed,
    Screened,
    Severity,
    Started,
    Status,
    Voicemail,
)
from ivr.engine.handoffs import digested
from ivr.engine.phonebook import Phonebook
from ivr.engine.phonebook_loader import load_phonebook, parse_phonebook
from ivr.outside.sms import SmsFailure, SmsSender
from ivr.store.calllog import CallLog
from ivr.store.database import database_url, make_engine
from ivr.store.migrate import new_sqlite, schema_state, upgrade
from ivr.store.schema import metadata
from ivr.web.services import services_of

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "phonebook.toml"


def utc(text: str) -> datetime:
    """A literal instant: '2026-12-01T09:00Z' or with an explicit offset."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- the whole suite on another day ---------------------------------------------------------------
# IVR_TEST_CLOCK=2029-06-15T12:00:00Z starts every in-process clock at that instant (ticking on), so
# a test that reads today's date against fixed data fails now rather than on that day. Processes the
# tests start (gunicorn) keep the real clock: their data must be valid at any date.
_TRAVEL = pytest.StashKey[time_machine.travel]()


def pytest_configure(config: pytest.Config) -> None:
    shifted = os.environ.get("IVR_TEST_CLOCK")
    if shifted:
        travel = time_machine.travel(utc(shifted), tick=True)
        travel.start()
        config.stash[_TRAVEL] = travel


def pytest_unconfigure(config: pytest.Config) -> None:
    travel = config.stash.get(_TRAVEL, None)
    if travel is not None:
        travel.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    shifted = os.environ.get("IVR_TEST_CLOCK")
    return f"IVR_TEST_CLOCK: the clock starts at {shifted}" if shifted else None


def valid_at_any_date(phonebook_text: str) -> str:
    """The phonebook with each maintenance agreement valid or ended on any date the suite may run:
    the ones running on 2026-12-01 (the day the sample speaks of) until 2099, the others ended in
    2020. For a process the tests start, which reads the real clock."""

    def pinned(match: re.Match) -> str:
        running = date.fromisoformat(match[1]) >= date(2026, 12, 1)
        return f"maintenance_until = {'2099-12-31' if running else '2020-12-31'}"

    return re.sub(r"maintenance_until = (\d{4}-\d{2}-\d{2})", pinned, phonebook_text)


def save(path: Path, text: str) -> None:
    """Write `text` to `path` at once, as an editor that saves atomically does: a service watching the
    file (a request's check, or its alert sweep's) never reads half of it."""
    partial = path.with_name(f".{path.name}.saving")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def without_tables(phonebook_text: str, *headers: str) -> str:
    """The phonebook without the named tables (`teams.select`, `fallback`), each up to the next one."""
    for header in headers:
        table = re.compile(rf"^\[{re.escape(header)}\]\n.*?(?=^\[)", re.MULTILINE | re.DOTALL)
        phonebook_text, found = table.subn("", phonebook_text)
        assert found == 1, header
    return phonebook_text


class FakeClock:
    """A clock a test sets: given to a store or an app at construction, moved by setting `now`."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# The wall clock of the stores' alerts (call events carry the instants of their calls).
NOW = utc("2026-12-01T09:02:00Z")
# How long the stores' missed-call alerts wait for a recording: the service's default.
SETTLE = default("IVR_ALERT_SETTLE_SECONDS")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def answered_call(store, sid="CA001", at=None, customer="Acme Corporation", line="+14155550100"):
    """Record an L1 call from Acme on a line, taken by San Francisco 12 s after it began."""
    at = at or utc("2026-12-01T09:00:00Z")
    store.record(sid, Started(line=line, region="amer", caller="+14155551234", to=line, caller_name="ACME"), at)
    store.record(sid, Recognised(sen="SEN-1234567", customer=customer), at + timedelta(seconds=1))
    store.record(sid, Entitlement(sen="SEN-1234567", customer=customer, verdict="ok"), at + timedelta(seconds=1))
    store.record(sid, Severity(severity=1), at + timedelta(seconds=5))
    store.record(sid, Routed(action="connect", reason="on duty: san_francisco",
                             candidates=("san_francisco", "select", "fallback"), weekend=False),
                 at + timedelta(seconds=5))
    store.record(sid, Screened(number="+14155550101", accepted=True), at + timedelta(seconds=12))
    store.record(sid, Dial(attempt=1, team="san_francisco", numbers=("+14155550101",), status="completed",
                           duration=300, accepted_by="+14155550101"), at + timedelta(seconds=312))
    store.record(sid, Status(call_status="completed", duration=313), at + timedelta(seconds=313))


RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1"


def missed_call(store, sid, at=None, sen="SEN-1234567", caller="+14155551234", tier="priority", voicemail=True,
                severity=1):
    """A call on the US line nobody took (by default at 09:00 on 2026-12-01, L1, from Acme's admin): a
    voicemail, or the caller hung up while it rang."""
    at = at or utc("2026-12-01T09:00:00Z")
    store.record(sid, Started(line="+14155550100", to="+14155550100", caller=caller, region="amer"), at)
    if sen:
        store.record(sid, Entitlement(sen=sen, customer="Acme Corporation", verdict="ok", tier=tier),
                     at + timedelta(seconds=1))
    store.record(sid, Severity(severity=severity), at + timedelta(seconds=5))
    store.record(sid, Routed(action="connect", candidates=("san_francisco",)), at + timedelta(seconds=5))
    store.record(sid, Dial(attempt=1, team="san_francisco", numbers=("+14155550101",), status="no-answer"),
                 at + timedelta(seconds=25))
    if voicemail:
        store.record(sid, Voicemail(recording_url=RECORDING, recording_sid="RE1", duration=30),
                     at + timedelta(seconds=60))
    store.record(sid, Status(call_status="completed", duration=61), at + timedelta(seconds=61))


def voicemail_call(store, sid="CA002", at=None, severity=1):
    """An L1 call on the US line with no SEN (no entitlement was checked) that nobody took: a voicemail."""
    missed_call(store, sid, at, sen=None, severity=severity)



def calls_alerts(keys: Iterable[str]) -> list[str]:
    """The alert keys but the handoff digests': a sweep also sends the digest of every handoff in
    its look-back, whatever a test is about."""
    return [key for key in keys if digested(key) is None]


def is_digest(text: str) -> bool:
    """An alert's text that is a handoff digest (its headline), not a call's, a notice's or a callback's."""
    return text.startswith("Handoff ")


def sms_counts(sender: SmsSender) -> dict:
    """Texts sent, and the failures that happened by reason, as the sender counted them."""
    totals = sender.counters.totals()
    failures = {reason.value: totals.count("ivr_sms_failures_total", reason=reason.value) for reason in SmsFailure}
    return {"sent": totals.count("ivr_sms_sent_total"), "failures": {r: n for r, n in failures.items() if n}}


@pytest.fixture(scope="session")
def sample() -> Phonebook:
    return load_phonebook(SAMPLE)


def globex_current(folder: Path) -> Path:
    """The sample phonebook with Globex's maintenance (expired in the sample) running to 2030, in `folder`."""
    phonebook = folder / "phonebook.toml"
    phonebook.write_text(SAMPLE.read_text().replace("maintenance_until = 2026-03-31", "maintenance_until = 2030-12-31"))
    return phonebook


# --- the call log on both backends -----------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL from IVR_TEST_DATABASE_URL, or skip saying why."""
    configured = os.environ.get("IVR_TEST_DATABASE_URL")
    if not configured:
        pytest.skip("IVR_TEST_DATABASE_URL is not set (CI sets postgresql://postgres@127.0.0.1:5432/test)")
    url = database_url(configured, "")
    probe = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with probe.connect():
            pass
    except Exception as exc:  # noqa: BLE001 - whatever the failure, it is the same verdict
        # Asked for and absent is a failure, never a skip: a green run must mean the store was tested.
        pytest.fail(f"IVR_TEST_DATABASE_URL is set but PostgreSQL at {configured} does not answer: {exc}")
    finally:
        probe.dispose()
    return url


def in_schema(postgres_url: str, schema: str) -> str:
    """The URL with `schema` first on its search_path (a DATABASE_URL's `?options=` are kept)."""
    return make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


@contextlib.contextmanager
def fresh_schema(postgres_url: str):
    """The URL of a new, empty schema (first on its search_path), dropped afterwards, so runs never collide."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield in_schema(postgres_url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class MigratedSchemas:
    """PostgreSQL schemas migrated as the service's are, each lent to one test at a time and given
    back empty: deleting a test's few rows (and restarting the sequences, so ids start at 1 again)
    takes a hundredth of the time of migrating a new schema, which is most of a store test's time.
    A schema a test changed (a table renamed, dropped or added) is dropped rather than lent again."""

    def __init__(self, postgres_url: str):
        self.postgres_url = postgres_url
        self._admin = create_engine(postgres_url)
        self._free: list[str] = []
        self._made: list[str] = []

    @contextlib.contextmanager
    def lend(self) -> Iterator[str]:
        """The URL of an empty schema at this release's head (first on its search_path)."""
        schema = self._free.pop() if self._free else self._new()
        url = in_schema(self.postgres_url, schema)
        yield url
        if self._emptied(url):
            self._free.append(schema)
        else:
            self._drop(schema)

    def _new(self) -> str:
        schema = f"test_{uuid.uuid4().hex[:12]}"
        with self._admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        self._made.append(schema)
        migrated(in_schema(self.postgres_url, schema))
        return schema

    def _emptied(self, url: str) -> bool:
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                if not (schema_state(conn).ready and set(inspect(conn).get_table_names()) == MIGRATED_TABLES):
                    return False
                for table in reversed(metadata.sorted_tables):
                    conn.execute(table.delete())
                for sequence in inspect(conn).get_sequence_names():
                    conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
            return True
        except SQLAlchemyError:  # a lock a test left held, say: this schema is not lent again
            return False
        finally:
            engine.dispose()

    def _drop(self, schema: str) -> None:
        with self._admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        self._made.remove(schema)

    def close(self) -> None:
        for schema in list(self._made):
            self._drop(schema)
        self._admin.dispose()


# The call log's tables, and Alembic's record of the revision.
MIGRATED_TABLES = {table.name for table in metadata.sorted_tables} | {"alembic_version"}


@pytest.fixture(scope="session")
def migrated_schemas(postgres_url) -> Iterator[MigratedSchemas]:
    schemas = MigratedSchemas(postgres_url)
    yield schemas
    schemas.close()


@pytest.fixture
def postgresql_store(migrated_schemas, clock, tmp_path):
    """A CallLog in an empty schema of its own, migrated as the service's is."""
    with migrated_schemas.lend() as url:
        engine = make_engine(url)
        store = CallLog(engine, journal=tmp_path / "journal", clock=clock, alert_settle_seconds=SETTLE)
        yield store
        store.writer.close()  # nothing of this test goes on writing to the schema the next one is lent
        engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path, clock):
    store = CallLog(make_engine(migrated(database_url(None, str(tmp_path)))), journal=tmp_path / "journal",
                    clock=clock, alert_settle_seconds=SETTLE)
    yield store
    store.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request) -> CallLog:
    """The same store tests run on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_store")


# --- no test reaches the internet ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Outside HTTP (alerts to the sample phonebook's webhook, Twilio) is refused at once.

    Calls placed by any test may be missed L1 calls that alert; alerts then run without delay or
    backoff, so a round finishes (failing) inside the test, and the app's sweeps stop with the test
    before any later round. Local servers stay reachable.
    """
    monkeypatch.setenv("IVR_ALERT_SETTLE_SECONDS", "0")
    monkeypatch.setenv("IVR_ALERT_BACKOFF_SECONDS", "0")
    # The test client's own base: a service with a real auth token must know the URL Twilio signs.
    monkeypatch.setenv("IVR_PUBLIC_URL", "http://localhost")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(re.compile(r"https?://(127\.0\.0\.1|localhost)[:/]"))
        yield


# --- the service, with the call log, alerts, ops console and metrics -------------------------

OPS_PASSWORD = "correct horse battery staple"
TWILIO_TOKEN = "test-auth-token-0123456789abcdef"
TWILIO_ACCOUNT = "AC" + "1" * 32


_apps: list[Flask] = []


# Rounds in tests run without backoff; a round still going after this is left to its lease.
ROUNDS_END_SECONDS = 10.0


@pytest.fixture(autouse=True)
def stop_alert_sweeps():
    """Each app's alert thread stops with its test, and the rounds it started end too (while
    `no_internet` still refuses), so no later test sees its sends and none reaches the network."""
    yield
    stopping = [services_of(_apps.pop()).alerts for _ in range(len(_apps))]
    for alerts in stopping:
        alerts.close()
    for alerts in stopping:
        alerts.wait_idle(ROUNDS_END_SECONDS)


def migrated(url: str) -> str:
    """The call log at `url`, migrated by the code the service's master and `ivr db upgrade` run. A
    new SQLite file is a copy of one such migration (`ivr.store.migrate.new_sqlite`)."""
    path = make_url(url).database if make_url(url).get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not os.path.exists(path):
        new_sqlite(path)
        return url
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


def make_app(tmp_path: Path, phonebook: Path = SAMPLE, *, migrate_first: bool = True, **config) -> Flask:
    """The real service on a fresh instance folder (so a fresh SQLite call log); its alert thread
    sweeps until the test ends. Its call log is migrated first, as gunicorn's master does, unless
    `migrate_first` is False."""
    # As the master: a database it cannot reach is left alone (the workers report it).
    with contextlib.suppress(OperationalError):
        if migrate_first:
            migrated(database_url(config.get("DATABASE_URL"), str(tmp_path / "instance")))
    app = create_app({
        "IVR_PHONEBOOK": str(phonebook),
        "IVR_INSTANCE_PATH": str(tmp_path / "instance"),
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT,
        "IVR_OPS_PASSWORD": OPS_PASSWORD,
        "IVR_ALERT_SETTLE_SECONDS": 0,
        "IVR_ALERT_BACKOFF_SECONDS": 0,
        **config,
    })
    _apps.append(app)
    return app


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    yield app
    services_of(app).calllog.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ops_auth() -> dict:
    """HTTP Basic headers for user ops."""
    token = base64.b64encode(f"ops:{OPS_PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def phonebook_from(text: str) -> Phonebook:
    """A phonebook from literal TOML (indentation removed)."""
    return parse_phonebook(textwrap.dedent(text), "test.toml")


# A phonebook with the awkward cases: shifts across midnight and across a DST change, a start in
# a DST gap, listed and calendar holidays, an extra shift on a holiday, split hours, and teams in
# zones whose clocks change on different dates.
TRICKY = (
    toml_table("weekend", starts="fri 17:00 America/Los_Angeles", ends="mon 10:00 Australia/Sydney")
    + toml_table("[lines]", number="+14155550100", region="amer")
    + toml_table("[lines]", number="+31205550100", region="emea")
    + toml_team("night", "priority", ["mon-fri 20:00-04:00", "sun 02:30-06:00"], ["+14155550101"],
                tz="America/Los_Angeles", region="amer", holidays=[date(2026, 7, 3)], calendar="US-CA")
    + toml_team("day", "priority", ["mon-fri 08:30-12:00", "mon-fri 13:00-17:30"], ["+31205550101"],
                tz="Europe/Amsterdam", region="emea", holidays=[date(2026, 12, 24), date(2026, 12, 31)],
                extra=["2026-12-24 10:00-12:00", "2026-03-29 01:00-05:00"])
    + toml_team("weekend", "select", ["fri-mon 00:00-24:00", "wed 23:00-01:00"], ["+61255501001"],
                tz="Australia/Sydney", region="emea", calendar="AU-NSW")
    + toml_table("fallback", dial=["+14155550142"])
)


@pytest.fixture(scope="session")
def tricky() -> Phonebook:
    return phonebook_from(TRICKY)


# One office's day in UTC, in three shifts, with a holiday and a Saturday select shift: what the
# coverage arithmetic and its picture are checked against.
OFFICE = (
    toml_table("weekend", starts="sat 00:00 UTC", ends="mon 00:00 UTC")
    + toml_team("morning", "priority", ["mon-fri 09:00-13:00"], ["+14155550101"], holidays=[date(2026, 12, 2)])
    + toml_team("afternoon", "priority", ["mon-fri 13:00-17:00"], ["+14155550102"])
    + toml_team("evening", "select", ["mon-fri 17:00-20:00", "sat 10:00-12:00"], ["+14155550103"])
    + toml_table("fallback", dial=["+14155550142"])
)
