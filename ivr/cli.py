"""The `ivr` command line: the admin and ops edge. It reads the clock; the engine never does."""

from __future__ import annotations

import os

import click

DEFAULT_PHONEBOOK = "phonebook.toml"

phonebook_option = click.option(
    "--phonebook",
    "phonebook_path",
    type=click.Path(dir_okay=False),
    default=lambda: os.environ.get("IVR_PHONEBOOK", DEFAULT_PHONEBOOK),
    show_default="$IVR_PHONEBOOK or ./phonebook.toml",
    help="The phonebook file to read.",
)


@click.group()
def main() -> None:
    """Priority Support call router: check the phonebook, see who is on duty, route and replay calls."""


# --- the call log: `ivr init-db` (the Procfile's release step) and `ivr calls` -------------------

import json  # noqa: E402 - this block of commands is self-contained
from datetime import datetime, timezone  # noqa: E402

from flask import Flask  # noqa: E402

from ivr.calllog import CallFilter, CallLog, call_json  # noqa: E402
from ivr.outcomes import IN_PROGRESS, Outcome  # noqa: E402
from ivr.routing import iso  # noqa: E402


def _call_log() -> CallLog:
    # The service keeps its SQLite call log in the package's instance folder; so do we.
    return CallLog.from_settings(os.environ.get("DATABASE_URL"), Flask("ivr").instance_path)


@main.command("init-db")
def init_db() -> None:
    """Create the call log's tables and indexes if they are missing (safe to repeat)."""
    log = _call_log()
    try:
        log.create_tables()
    finally:
        log.close()
    click.echo(f"call log ready: {log.health()['database']}")


class _Instant(click.ParamType):
    name = "instant"

    def convert(self, value, param, ctx):
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 instant such as 2026-12-01T09:30:00+01:00", param, ctx)
        return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


@main.command("calls")
@click.option("--since", type=_Instant(), help="Only calls that started at or after this instant.")
@click.option("--outcome", type=click.Choice([o.value for o in Outcome] + [IN_PROGRESS]),
              help="Only calls with this outcome.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON, each call with its timeline.")
def list_calls(since, outcome, limit, as_json) -> None:
    """The most recent calls, newest first, as the ops console shows them."""
    log = _call_log()
    try:
        page = log.calls(CallFilter(outcome=outcome, since=since), limit=limit)
        timelines = log.timelines(c.sid for c in page.calls) if as_json else {}
    finally:
        log.close()
    if as_json:
        click.echo(json.dumps([call_json(c, timelines[c.sid]) for c in page.calls], indent=2))
        return
    if not page.calls:
        click.echo("no calls")
        return
    for call in page.calls:
        answered = f"{call.team} after {call.answer_seconds:g}s" if call.team else ""
        click.echo("  ".join([
            iso(call.started_at), call.sid, call.line or "-", call.caller or "-",
            call.customer or call.sen or "-", f"L{call.severity}" if call.severity else "L?",
            call.outcome.value if call.outcome else "in-progress", answered,
        ]).rstrip())
