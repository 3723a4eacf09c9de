"""The `ivr` command line: the admin and ops edge. It reads the clock; the engine never does."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import click
import requests

from ivr import simulate
from ivr.phonebook import PhonebookError

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


class Instant(click.ParamType):
    """ISO 8601 with an offset ('2026-12-01T09:30:00+01:00', 'Z' for UTC); a bare date is 00:00 UTC."""

    name = "instant"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 instant like 2026-12-01T09:30:00+01:00", param, ctx)
        if at.tzinfo is None:
            if len(value) != len("2026-12-01"):
                self.fail(f"{value!r} needs an offset, like 2026-12-01T09:30:00Z", param, ctx)
            at = at.replace(tzinfo=timezone.utc)
        return at


@main.command("simulate")
@phonebook_option
@click.option("--to", "to", required=True, help="The support number the caller dials.")
@click.option("--from", "caller", default=simulate.UNKNOWN_CALLER, show_default=True, help="The caller's number.")
@click.option("--press", default="", help='Keys for each prompt in turn, comma-separated ("1234567#,1"); '
              'an empty group lets the prompt time out; "say:one two" speaks instead.')
@click.option("--answer", multiple=True, help="A dialled number that picks up and accepts (repeatable).")
@click.option("--at", type=Instant(), help="Place the call at this instant (in-process only).")
@click.option("--url", help="Call a running service at this base URL instead of an in-process app.")
def simulate_call(phonebook_path, to, caller, press, answer, at, url):
    """Play one call as Twilio would, and print who hears, presses, rings and answers."""
    if url and at:
        raise click.UsageError(
            "--at works only in-process: a running service reads its own clock and never takes the "
            "time from a request"
        )
    try:
        simulator = simulate.over_http(url) if url else simulate.in_process(phonebook_path, at)
        turns = simulator.call(to, caller, simulate.parse_presses(press), answer)
    except (PhonebookError, simulate.SimulationError, requests.RequestException) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(simulate.transcript(turns))
