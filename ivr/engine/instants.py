"""Instants as the project writes them: aware UTC datetimes, epoch seconds inside the engine, and
ISO 8601 with a Z in every JSON output and log line."""

from __future__ import annotations

from datetime import UTC, datetime


def epoch(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return int(at.timestamp())


def instant(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def iso(at: datetime) -> str:
    """UTC ISO 8601 with a Z, the form every JSON output uses."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
