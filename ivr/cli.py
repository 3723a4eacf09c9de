"""The `ivr` command line: the admin and ops edge. It reads the clock; the engine never does."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timezone

import click
import requests

from ivr import simulate
from ivr.coverage import coverage as coverage_of
from ivr.coverage import week_by_week
from ivr.entitlements import check_source
from ivr.phonebook import SEVERITIES, Phonebook, PhonebookError, Problem, Ring, is_e164, load_phonebook
from ivr.routing import Candidate, iso
from ivr.routing import route as route_call
from ivr.schedule import Duty, is_weekend, on_duty

DEFAULT_PHONEBOOK = "phonebook.toml"

phonebook_option = click.option(
    "--phonebook",
    "phonebook_path",
    type=click.Path(dir_okay=False),
    default=lambda: os.environ.get("IVR_PHONEBOOK", DEFAULT_PHONEBOOK),
    show_default="$IVR_PHONEBOOK or ./phonebook.toml",
    help="The phonebook file to read.",
)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


class InstantType(click.ParamType):
    """An ISO 8601 instant with an offset ('2026-12-01T09:30+01:00', '...Z'); a bare date is 00:00 UTC.

    Converted to an aware datetime in UTC. A time without an offset is refused: it would mean
    a different instant on every machine.
    """

    name = "instant"

    def convert(self, value, param, ctx) -> datetime:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(timezone.utc)
        text = str(value).strip()
        try:
            if len(text) == 10:
                return datetime.combine(date.fromisoformat(text), datetime.min.time(), timezone.utc)
            at = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{text!r} is not an ISO 8601 instant like 2026-12-01T09:30:00+01:00 or 2026-12-01", param, ctx)
        if at.tzinfo is None:
            self.fail(f"{text!r} has no offset: add one, like {text}Z or {text}+01:00", param, ctx)
        return at.astimezone(timezone.utc)


INSTANT = InstantType()

at_option = click.option(
    "--at", type=INSTANT, default=None, help="The instant, ISO 8601 with an offset (default: now)."
)


def now() -> datetime:
    """The clock, read here at the edge and nowhere in the engine."""
    return datetime.now(timezone.utc)


def read_phonebook(path: str) -> Phonebook:
    """Load the phonebook, or print every problem on stderr and exit with status 1."""
    try:
        return load_phonebook(path)
    except PhonebookError as error:
        _print_problems(error.source, error.problems)
        errors = sum(not p.warning for p in error.problems)
        raise click.ClickException(f"{error.source} is not valid: {errors} error(s)") from None


def _print_problems(source: str, problems: list[Problem] | tuple[Problem, ...]) -> None:
    for problem in problems:
        click.echo(f"{source}: {problem}", err=True)


def _echo_json(data: dict) -> None:
    click.echo(json.dumps(data, indent=2))


@click.group()
def main() -> None:
    """Priority Support call router: check the phonebook, see who is on duty, route and replay calls."""


@main.command()
@phonebook_option
def check(phonebook_path: str) -> None:
    """Validate the phonebook: every error with its key path (exit 1), or OK with any warnings."""
    phonebook = read_phonebook(phonebook_path)
    _print_problems(phonebook_path, phonebook.warnings)
    source = phonebook.entitlements
    if source is not None and source.file is not None:
        problems = check_source(phonebook)
        _print_problems(str(source.file), problems)
        if problems:
            raise click.ClickException(f"{source.file} is not valid: {len(problems)} error(s)")
    customers = (
        f"{len(phonebook.customers)} customer(s)" if source is None
        else f"customers from {source.file.name if source.file else source.url}"
    )
    summary = (
        f"{len(phonebook.lines)} line(s), {len(phonebook.teams)} team(s), "
        f"{'a' if phonebook.fallback else 'no'} fallback, {customers}"
    )
    warnings = f", {len(phonebook.warnings)} warning(s)" if phonebook.warnings else ""
    click.echo(f"{phonebook_path}: OK ({summary}{warnings})")


def _local(at: datetime, tz) -> str:
    local = at.astimezone(tz)
    return f"{local:%a %H:%M} {local.tzname()}"


def _in(seconds: float) -> str:
    """'in 11h 05m' from now; the clock is only read at the edge, so `seconds` is given."""
    hours, minutes = divmod(int(seconds // 60), 60)
    return f"in {hours}h {minutes:02d}m" if hours else f"in {minutes}m"


def _until(duty: Duty, at: datetime) -> str:
    if duty.until is None:
        return "with no end in sight"
    return f"until {iso(duty.until)} ({_local(duty.until, duty.team.tz)}, {_in((duty.until - at).total_seconds())})"


@main.command()
@phonebook_option
@at_option
@json_option
def who(phonebook_path: str, at: datetime | None, as_json: bool) -> None:
    """Who is on duty at an instant, and until when."""
    phonebook = read_phonebook(phonebook_path)
    at = at or now()
    weekend = is_weekend(phonebook, at)
    duties = on_duty(phonebook, at)
    if as_json:
        _echo_json({
            "at": iso(at),
            "weekend": weekend,
            "on_duty": [
                {"team": d.team.name, "kind": d.team.kind.value, "until": None if d.until is None else iso(d.until)}
                for d in duties
            ],
        })
        return
    click.echo(f"{iso(at)}: {'the weekend' if weekend else 'the business week'}")
    if not duties:
        fallback = "the fallback rings" if phonebook.fallback else "callers leave a voicemail"
        click.echo(f"No team is on duty: {fallback}.")
        return
    width = max(len(d.team.name) for d in duties)
    for duty in duties:
        team = duty.team
        click.echo(f"  {team.name:<{width}}  {team.kind.value:<8}  {team.region or '-':<6}  "
                   f"local {_local(at, team.tz)}  {_until(duty, at)}")


def _phone_number(ctx, param, value: str) -> str:
    if not is_e164(value):
        raise click.BadParameter(f"{value!r} is not an E.164 phone number like +14155550100")
    return value


def _ringing(candidate: Candidate) -> str:
    numbers = ", ".join(candidate.dial)
    if candidate.ring is Ring.IN_ORDER and len(candidate.dial) > 1:
        return f"rings {numbers} in order, {candidate.ring_seconds}s each"
    return f"rings {numbers} for {candidate.ring_seconds}s"


@main.command()
@phonebook_option
@click.option("--to", "to", required=True, callback=_phone_number, metavar="NUMBER",
              help="The number called, E.164 (a published line, or any other number).")
@at_option
@click.option("--severity", type=click.IntRange(min(SEVERITIES), max(SEVERITIES)), default=1, show_default=True,
              help="The caller's severity.")
@json_option
def route(phonebook_path: str, to: str, at: datetime | None, severity: int, as_json: bool) -> None:
    """The routing decision for a call: connect or deflect, and who rings in what order."""
    phonebook = read_phonebook(phonebook_path)
    decision = route_call(phonebook, to, at or now(), severity)
    if as_json:
        _echo_json(decision.as_json())
        return
    line = decision.line
    called = f"{to} ({line.label}, region {line.region or 'none'})" if line else f"{to} (not a published line)"
    week = "the weekend" if decision.weekend else "the business week"
    click.echo(f"Call to {called} at {iso(decision.at)}, {week}, severity {severity}")
    click.echo(f"Action: {'connect' if decision.connect else 'deflect'}")
    for number, candidate in enumerate(decision.candidates, 1):
        until = "" if candidate.until is None else f", on duty until {iso(candidate.until)}"
        about = ", ".join(filter(None, (candidate.kind, candidate.region)))
        click.echo(f"  {number}. {candidate.team} ({about}): {_ringing(candidate)}{until}")
    click.echo(f"Reason: {decision.reason}")


@main.command()
@phonebook_option
@click.option("--from", "start", type=INSTANT, required=True, help="Start of the range (included).")
@click.option("--to", "end", type=INSTANT, required=True, help="End of the range (excluded).")
@json_option
def coverage(phonebook_path: str, start: datetime, end: datetime, as_json: bool) -> None:
    """Exact gaps over [from, to): no team on duty, or no Priority team outside the weekend."""
    if end <= start:
        raise click.BadParameter(f"must be after --from ({iso(start)})", param_hint="'--to'")
    phonebook = read_phonebook(phonebook_path)
    if as_json:
        _echo_json(coverage_of(phonebook, start, end).as_json())
    else:
        click.echo(week_by_week(phonebook, start, end))


@main.command("simulate")
@phonebook_option
@click.option("--to", "to", required=True, help="The support number the caller dials.")
@click.option("--from", "caller", default=simulate.UNKNOWN_CALLER, show_default=True, help="The caller's number.")
@click.option("--press", default="", help='Keys for each prompt in turn, comma-separated ("1234567#,1"); '
              'an empty group lets the prompt time out; "say:one two" speaks instead.')
@click.option("--answer", multiple=True, help="A dialled number that picks up and accepts (repeatable).")
@click.option("--voicemail", multiple=True,
              help="A dialled number whose voicemail picks up and presses no key (repeatable).")
@click.option("--at", type=INSTANT, help="Place the call at this instant (in-process only).")
@click.option("--url", help="Call a running service at this base URL instead of an in-process app.")
def simulate_call(phonebook_path, to, caller, press, answer, voicemail, at, url):
    """Play one call as Twilio would, and print who hears, presses, rings and answers."""
    if url and at:
        raise click.UsageError(
            "--at works only in-process: a running service reads its own clock and never takes the "
            "time from a request"
        )
    try:
        simulator = simulate.over_http(url) if url else simulate.in_process(phonebook_path, at)
        turns = simulator.call(to, caller, simulate.parse_presses(press), answer, voicemail)
    except (PhonebookError, simulate.SimulationError, requests.RequestException) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(simulate.transcript(turns))


# --- the call log: `ivr init-db` (the Procfile's release step) and `ivr calls` -------------------

from ivr.app import default_instance_path  # noqa: E402 - this block of commands is self-contained
from ivr.calllog import CallFilter, CallLog, call_json  # noqa: E402
from ivr.config import load_settings  # noqa: E402
from ivr.outcomes import IN_PROGRESS, Outcome  # noqa: E402


def _call_log() -> CallLog:
    """The service's call log: DATABASE_URL, else the SQLite file in its instance folder."""
    settings = load_settings()
    return CallLog.from_settings(settings["DATABASE_URL"], settings["IVR_INSTANCE_PATH"] or default_instance_path())


@main.command("init-db")
def init_db() -> None:
    """Create the call log's tables and indexes if they are missing (safe to repeat)."""
    log = _call_log()
    try:
        log.create_tables()
    finally:
        log.close()
    click.echo(f"call log ready: {log.health()['database']}")


@main.command("calls")
@click.option("--since", type=INSTANT, help="Only calls that started at or after this instant.")
@click.option("--outcome", type=click.Choice([o.value for o in Outcome] + [IN_PROGRESS]),
              help="Only calls with this outcome.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@json_option
def list_calls(since, outcome, limit, as_json) -> None:
    """The most recent calls, newest first, as the ops console shows them (JSON: with timelines)."""
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
