"""The suite's own promises: a database it was told to test is tested, or the run fails."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

# Real processes read the real clock: the suite's shifted-clock run leaves these out.
pytestmark = pytest.mark.process


def test_postgresql_tests_fail_rather_than_skip_when_the_configured_server_does_not_answer():
    env = {**os.environ, "IVR_TEST_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    env.pop("IVR_TEST_CLOCK", None)
    run = subprocess.run(
        # Without the plugins the test does not use (Hypothesis's alone takes most of pytest's start).
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:random_order",
         "-p", "no:hypothesispytest", "tests/store/test_calllog.py::test_counts_and_answer_times_for_metrics"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 1, run.stdout
    assert "1 passed, 1 error" in run.stdout
    assert "IVR_TEST_DATABASE_URL is set but PostgreSQL at postgresql://postgres@127.0.0.1:1/none does not answer" \
        in run.stdout
