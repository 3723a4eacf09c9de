"""Suggestions for a mistyped name in an admin's file: a key, a choice, a column."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """' (did you mean 'priority'?)' for 'priorty' among the choices, else ''."""
    close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
    return f" (did you mean {close[0]!r}?)" if close else ""
