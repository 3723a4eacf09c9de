"""A mistyped name in an admin's file gets the closest known one, or nothing."""

from __future__ import annotations

import pytest

from ivr.engine.suggest import did_you_mean


@pytest.mark.parametrize(
    ("value", "choices", "hint"),
    [
        pytest.param("priorty", ("priority", "select"), " (did you mean 'priority'?)", id="typo"),
        pytest.param("gold", ("priority", "select"), "", id="nothing-close"),
        pytest.param(3, ("priority", "select"), "", id="not-text"),
    ],
)
def test_did_you_mean_names_the_closest_choice_or_nothing(value, choices, hint):
    assert did_you_mean(value, choices) == hint
