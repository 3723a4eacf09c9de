"""Gunicorn masters migrate the call log before forking, under the migration's lock: two started at
once on a fresh PostgreSQL database both come up healthy (workers racing create_all used to fail)."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine
from test_gunicorn import gunicorn
from webload import fresh_database, health, phonebook

from ivr.store import migrate
from ivr.store.alert_queue import AlertQueue
from ivr.store.database import database_url


@pytest.mark.process
def test_two_masters_started_at_once_on_a_fresh_postgresql_never_report_degraded(tmp_path, postgres_url):
    book = phonebook(tmp_path)
    with fresh_database(postgres_url) as database, contextlib.ExitStack() as stack:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
        with ThreadPoolExecutor(2) as pool:
            servers = list(pool.map(lambda name: stack.enter_context(gunicorn(tmp_path / name, book,
                                                                              DATABASE_URL=database)), "ab"))
        # Several answers from each, so each worker of each master is likely asked.
        answers = [health(server.base) for server in servers for _ in range(6)]
        assert [a["status"] for a in answers] == ["ok"] * len(answers), answers
        assert all(a["calllog"]["schema"] is None for a in answers)
        engine = create_engine(database_url(database, ""))
        try:
            assert migrate.current(engine).ready
            # The first master to migrate marked the call log's first start; digests are owed from it.
            owed_from = AlertQueue(engine, caught_up=lambda: True).digests_owed_from()
            assert owed_from is not None and owed_from <= datetime.now(UTC)
        finally:
            engine.dispose()
