"""The wall clock. Only the edges read it (the web and CLI layers, and the stores they build,
which are given it at construction); the engine is always told the instant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock as an aware UTC instant."""
    return datetime.now(UTC)
