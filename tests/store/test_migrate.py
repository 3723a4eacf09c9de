"""The call log's schema moves only through the shipped migrations: a migrated database is exactly
`schema.metadata` (so a table or index added to schema.py without its migration fails here), and a
database made by the last release before the migrations is adopted and upgraded with its rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import NOW, SETTLE, in_schema
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, insert, select, text

from ivr.engine.events import Started, Status
from ivr.engine.outcomes import Outcome
from ivr.store import migrate, schema
from ivr.store.calllog import CallLog
from ivr.store.database import database_url, make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path) -> Iterator[Engine]:
    """An empty database: a fresh SQLite file, or a fresh PostgreSQL schema (dropped afterwards)."""
    if request.param == "sqlite":
        engine = make_engine(database_url(None, str(tmp_path)))
        yield engine
        engine.dispose()
        return
    postgres_url = request.getfixturevalue("postgres_url")
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine = make_engine(in_schema(postgres_url, name))
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


def differences(engine: Engine, metadata: MetaData = schema.metadata) -> list:
    """What Alembic's autogenerate would write to bring the database to `metadata` (empty: equal)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, metadata) if not _is_version_table(d)]


def _is_version_table(difference) -> bool:
    return difference[0] == "remove_table" and difference[1].name == "alembic_version"


def test_a_migrated_database_is_exactly_the_schema_the_code_declares(empty_database):
    assert migrate.current(empty_database).problem == "the call log's database is empty: run `ivr db upgrade`"
    done = migrate.upgrade(empty_database)
    assert (done.before, done.after, done.adopted) == (None, migrate.head(), False)
    assert differences(empty_database) == []
    assert migrate.current(empty_database).ready
    again = migrate.upgrade(empty_database)
    assert (again.before, again.after, again.describe()) == (migrate.head(), migrate.head(),
                                                            f"at {migrate.head()}, nothing to do")


def test_upgrades_started_at_once_take_turns_and_the_later_finds_nothing_to_do(empty_database):
    # Two engines, as two masters or release phases would have: each its own connections and lock.
    other = make_engine(empty_database.url.render_as_string(hide_password=False))
    try:
        with ThreadPoolExecutor(2) as pool:
            done = sorted(pool.map(migrate.upgrade, [empty_database, other]), key=lambda u: u.before or "")
    finally:
        other.dispose()
    assert [(u.before, u.after) for u in done] == [(None, migrate.head()), (migrate.head(), migrate.head())]
    assert differences(empty_database) == []


def test_a_table_declared_without_its_migration_is_caught(empty_database):
    migrate.upgrade(empty_database)
    declared = MetaData()
    for table in schema.metadata.tables.values():
        table.to_metadata(declared)
    Table("handoffs", declared, Column("id", Integer, primary_key=True))
    [(change, table)] = differences(empty_database, declared)
    assert (change, table.name) == ("add_table", "handoffs")


def made_by_the_release_before_migrations(engine: Engine) -> None:
    """The tables that release's workers made with create_all: exactly the baseline migration's (the
    same DDL on SQLite and PostgreSQL), with no Alembic version."""
    with engine.connect() as conn:
        command.upgrade(migrate.alembic_config(conn), migrate.BASELINE)
        conn.execute(text("DROP TABLE alembic_version"))
        conn.commit()


def test_a_database_made_by_the_release_before_migrations_is_adopted_with_its_rows(empty_database, clock, tmp_path):
    # What that release's workers did at start: create_all, and mark the counts as filled. The
    # baseline's tables have the same columns today, so today's table objects write its rows.
    made_by_the_release_before_migrations(empty_database)
    started = NOW - timedelta(minutes=5)
    with empty_database.begin() as conn:
        conn.execute(insert(schema.store_meta).values(key="counts_filled", value="yes"))
        conn.execute(insert(schema.calls).values(sid="CA900", started_at=started, line="+14155550100",
                                                 outcome="answered", severity=1, team="san_francisco",
                                                 answer_seconds=12.0, no_candidates=False, event_count=1))
        conn.execute(insert(schema.events).values(call_sid="CA900", key="started", kind="started", at=started,
                                                  data={"to": "+14155550100"}))
        conn.execute(insert(schema.call_counts).values(outcome="answered", severity=1, calls=1))
    assert migrate.current(empty_database).problem == (
        "the call log's database was made before the migrations: run `ivr db upgrade`")

    done = migrate.upgrade(empty_database)
    assert (done.before, done.after, done.adopted) == (None, migrate.head(), True)
    assert differences(empty_database) == []
    with empty_database.connect() as conn:
        assert conn.execute(select(schema.calls.c.sid, schema.calls.c.team)).all() == [("CA900", "san_francisco")]
        assert conn.execute(select(schema.events.c.key)).scalars().all() == ["started"]

    # The service goes on with it: the old call reads back, and a new one is stored.
    log = CallLog(empty_database, journal=tmp_path / "journal", clock=clock, alert_settle_seconds=SETTLE)
    log.record("CA901", Started(to="+14155550100"), NOW)
    log.record("CA901", Status(call_status="completed", duration=3), NOW + timedelta(seconds=3))
    assert log.caught_up()
    assert log.call("CA900").team == "san_francisco"
    assert log.call("CA901").outcome is Outcome.ABANDONED
    assert ("answered", 1, 1) in log.outcome_counts()
    log.close()


def test_events_wait_in_the_journal_until_the_database_is_migrated_then_are_stored_once(empty_database, clock,
                                                                                         tmp_path):
    log = CallLog(empty_database, journal=tmp_path / "journal", clock=clock, alert_settle_seconds=SETTLE)
    log.record("CA950", Started(to="+14155550100"), NOW)
    assert log.caught_up(0.5) is False
    held = log.health()
    assert held["ok"] is False and held["schema"] == "the call log's database is empty: run `ivr db upgrade`"
    assert held["pending_bytes"] > 0 and held["rejected"] == 0
    assert migrate.current(empty_database).revision is None  # the writer made nothing

    migrate.upgrade(empty_database)
    assert log.caught_up() is True
    assert (log.call("CA950").line, log.call("CA950").started_at) == ("+14155550100", NOW)
    stored = log.health()
    assert stored["ok"] is True and stored["schema"] is None and stored["pending_bytes"] == 0
    log.close()
