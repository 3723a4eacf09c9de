"""Shared fixtures: the sample phonebook and literal instants."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ivr.calllog import CallLog, database_url, make_engine
from ivr.phonebook import Phonebook, load_phonebook

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "phonebook.toml"


def utc(text: str) -> datetime:
    """A literal instant: '2026-12-01T09:00Z' or with an explicit offset."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="session")
def sample() -> Phonebook:
    return load_phonebook(SAMPLE)


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
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL here
        pytest.skip(f"PostgreSQL at {configured} is unreachable: {exc}")
    finally:
        probe.dispose()
    return url


@pytest.fixture
def postgresql_store(postgres_url):
    """A CallLog in a schema of its own, dropped afterwards, so runs never collide."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(postgres_url).execution_options(schema_translate_map={None: schema})
    store = CallLog(engine)
    store.create_tables()
    yield store
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_store(tmp_path):
    store = CallLog(make_engine(database_url(None, str(tmp_path))))
    store.create_tables()
    yield store
    store.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request) -> CallLog:
    """The same store tests run on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_store")
