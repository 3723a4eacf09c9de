"""The `ivr` command line: the admin and ops edge. It reads the clock; the engine never does.

`ivr check/who/route/coverage` must start fast (a year's coverage in well under 0.5 s), so the
commands that need Flask, SQLAlchemy or requests import them when they run.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import click

from ivr import logs
from ivr.cli.pictures import aligned, week_by_week
from ivr.clock import utc_now
from ivr.config import SettingsError, default_instance_path, load_settings, read_setting
from ivr.engine.callbacks import CALLBACK_FILTERS
from ivr.engine.coverage import coverage
from ivr.engine.handoffs import handoff_json, handoffs
from ivr.engine.instants import iso, local_time, relative
from ivr.engine.outcomes import IN_PROGRESS, OUTCOME_FILTERS
from ivr.engine.phonebook import SEVERITIES, Phonebook, PhonebookError, Problem, Ring, is_e164
from ivr.engine.phonebook_loader import load_phonebook
from ivr.engine.rota import HANDOFF_HORIZON, OnDuty, after_the_teams, board, board_json
from ivr.engine.routing import Candidate, Decision
from ivr.engine.routing import route as route_call
from ivr.engine.schedule import is_weekend, weekend_change
from ivr.outside.customers_csv import check_source

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

    from ivr.store.calllog import CallLog

DEFAULT_PHONEBOOK = "phonebook.toml"

phonebook_option = click.option(
    "--phonebook",
    "phonebook_path",
    type=click.Path(dir_okay=False),
    default=lambda: os.environ.get("IVR_PHONEBOOK", DEFAULT_PHONEBOOK),
    show_default="$IVR_PHONEBOOK or ./phonebook.toml",
    help="The phonebook file to read.",
)

# Each team on duty in `ivr who --json` (the README documents this shape).
WHO_JSON_FIELDS = ("team", "kind", "until")

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


class InstantType(click.ParamType):
    """An ISO 8601 instant with an offset ('2026-12-01T09:30+01:00', '...Z'); a bare date is 00:00 UTC.

    Converted to an aware datetime in UTC. A time without an offset is refused: it would mean
    a different instant on every machine.
    """

    name = "instant"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC)
        text = str(value).strip()
        try:
            if len(text) == 10:
                return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
            at = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{text!r} is not an ISO 8601 instant like 2026-12-01T09:30:00+01:00 or 2026-12-01", param, ctx)
        if at.tzinfo is None:
            self.fail(f"{text!r} has no offset: add one, like {text}Z or {text}+01:00", param, ctx)
        return at.astimezone(UTC)


INSTANT = InstantType()

at_option = click.option(
    "--at", type=INSTANT, default=None, help="The instant, ISO 8601 with an offset (default: now)."
)


def read_phonebook(path: str, coverage_from: datetime | None = None) -> Phonebook:
    """Load the phonebook, or print every problem on stderr and exit with status 1; with
    `coverage_from`, warn of times nobody would answer in the 12 months after it."""
    try:
        return load_phonebook(path, coverage_from=coverage_from)
    except PhonebookError as error:
        _print_problems(error.source, error.problems)
        errors = sum(not p.warning for p in error.problems)
        raise click.ClickException(f"{error.source} is not valid: {errors} error(s)") from None


def _print_problems(source: str, problems: list[Problem] | tuple[Problem, ...]) -> None:
    for problem in problems:
        click.echo(f"{source}: {problem}", err=True)


def _echo_json(data: dict) -> None:
    click.echo(json.dumps(data, indent=2))


class _Commands(click.Group):
    """Every command turns a bad setting into one line that names it, not a traceback; `--help`
    lists each command with its whole description, wrapped rather than cut at the terminal's width."""

    # Groups made with `@main.group()` are _Commands too.
    group_class = type

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, command.get_short_help_str(limit=sys.maxsize))
                for name, command in commands if command is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Commands)
@click.version_option(package_name="ivr", message="ivr %(version)s")
def main() -> None:
    """Priority Support call router: check the phonebook, see who is on duty, route and replay calls."""
    # The `ivr` loggers in the service's line format, on stderr (stdout is the command's output);
    # only warnings unless IVR_LOG_LEVEL asks for more.
    level = read_setting("IVR_LOG_LEVEL") if os.environ.get("IVR_LOG_LEVEL") else "WARNING"
    logs.configure(level, read_setting("IVR_LOG_FORMAT"), "stderr")


@main.command()
@phonebook_option
def check(phonebook_path: str) -> None:
    """Validate the phonebook: every error with its key path (exit 1), or OK with any warnings."""
    click.echo(_checked(phonebook_path))


def _checked(phonebook_path: str) -> str:
    """`ivr check`: every problem on stderr, then ClickException for an error, else the OK line."""
    # The clock is read here, at the edge: the warning about times nobody answers starts now.
    phonebook = read_phonebook(phonebook_path, coverage_from=utc_now())
    _print_problems(phonebook_path, phonebook.warnings)
    _warn_of_sms_alerts_without_credentials(phonebook_path, phonebook)
    entitlements = phonebook.entitlements
    if entitlements is not None and entitlements.file is not None:
        problems = check_source(phonebook)
        _print_problems(str(entitlements.file), problems)
        if problems:
            raise click.ClickException(f"{entitlements.file} is not valid: {len(problems)} error(s)")
    customers = (
        f"{len(phonebook.customers)} customer(s)" if entitlements is None
        else f"customers from {entitlements.file.name if entitlements.file else entitlements.url}"
    )
    summary = (
        f"{len(phonebook.lines)} line(s), {len(phonebook.teams)} team(s), "
        f"{'a' if phonebook.fallback else 'no'} fallback, {customers}"
    )
    warnings = f", {len(phonebook.warnings)} warning(s)" if phonebook.warnings else ""
    return f"{phonebook_path}: OK ({summary}{warnings})"


def _warn_of_sms_alerts_without_credentials(phonebook_path: str, phonebook: Phonebook) -> None:
    """The service would refuse every SMS alert: say so where the admin looks (not counted as a
    phonebook warning: the file is right, the service's settings are not)."""
    from ivr.outside.alerts import SMS_NEEDS_CREDENTIALS, sms_credentials_missing

    settings = load_settings()
    if sms_credentials_missing(phonebook.alerts, settings["TWILIO_ACCOUNT_SID"], settings["TWILIO_AUTH_TOKEN"]):
        click.echo(f"{phonebook_path}: warning: alerts.sms: {SMS_NEEDS_CREDENTIALS}, which are not set here: "
                   "the service would text no alert", err=True)


def _until(duty: OnDuty, at: datetime) -> str:
    if duty.until is None:
        return "with no end in sight"
    return f"until {iso(duty.until)} ({local_time(duty.until, duty.team.tz)}, {relative(duty.until, at)})"


def _week_line(phonebook: Phonebook, at: datetime) -> str:
    """'the weekend, until ...' or 'the business week; the weekend starts ...'."""
    change = weekend_change(phonebook, at)
    if not is_weekend(phonebook, at):
        assert change is not None  # a weekend starts every week
        return f"the business week; the weekend starts {iso(change)} ({relative(change, at)})"
    if change is None:
        return "the weekend, with no end in sight"
    return f"the weekend, until {iso(change)} ({relative(change, at)})"


def _who_text(phonebook: Phonebook, at: datetime) -> list[str]:
    """Who is on duty, until when in UTC and in each team's own time, what follows every team,
    and the handoffs coming up."""
    rota = board(phonebook, at)
    out = [f"{iso(at)}: {_week_line(phonebook, at)}"]
    if not rota.on_duty:
        out.append(f"No team is on duty: a call goes to {after_the_teams(phonebook)}.")
    else:
        out += [f"  {row}" for row in aligned([
            (d.team.name, d.team.kind.value, d.team.region or "-",
             f"local {local_time(at, d.team.tz)}  {_until(d, at)}")
            for d in rota.on_duty
        ])]
        out.append(f"After every team: {after_the_teams(phonebook)}.")
    hours = int(HANDOFF_HORIZON.total_seconds() // 3600)
    if rota.handoffs:
        out.append(f"Coming up (next {hours}h):")
        out += [
            f"  {iso(h.at)}  {h.team.name} {'comes on' if h.comes_on else 'goes off'} duty"
            f" ({local_time(h.at, h.team.tz)})"
            for h in rota.handoffs
        ]
    else:
        out.append(f"No team comes on or goes off duty in the next {hours}h.")
    return out


@main.command()
@phonebook_option
@at_option
@json_option
def who(phonebook_path: str, at: datetime | None, as_json: bool) -> None:
    """Who is on duty at an instant, until when, and the handoffs coming up."""
    phonebook = read_phonebook(phonebook_path)
    at = at or utc_now()  # the clock is read here, at the edge, never in the engine
    if as_json:
        _echo_json(board_json(board(phonebook, at), WHO_JSON_FIELDS, handoffs=False))
        return
    click.echo("\n".join(_who_text(phonebook, at)))


def _phone_number(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not is_e164(value):
        raise click.BadParameter(f"{value!r} is not an E.164 phone number like +14155550100")
    return value


def _phone_numbers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_phone_number(ctx, param, value) for value in values)


def _ringing(candidate: Candidate) -> str:
    numbers = ", ".join(candidate.dial)
    if candidate.ring is Ring.IN_ORDER and len(candidate.dial) > 1:
        return f"rings {numbers} in order, {candidate.ring_seconds}s each"
    return f"rings {numbers} for {candidate.ring_seconds}s"


def _action(decision: Decision) -> str:
    if not decision.connect:
        return "deflect"
    return "connect" if decision.candidates else "voicemail (nobody on duty)"


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
    decision = route_call(phonebook, to, at or utc_now(), severity)
    if as_json:
        _echo_json(decision.as_json())
        return
    line = decision.line
    called = f"{to} ({line.label}, region {line.region or 'none'})" if line else f"{to} (not a published line)"
    week = "the weekend" if decision.weekend else "the business week"
    click.echo(f"Call to {called} at {iso(decision.at)}, {week}, severity {severity}")
    click.echo(f"Action: {_action(decision)}")
    for number, candidate in enumerate(decision.candidates, 1):
        until = "" if candidate.until is None else f", on duty until {iso(candidate.until)}"
        about = ", ".join(filter(None, (candidate.kind.value, candidate.region)))
        click.echo(f"  {number}. {candidate.team} ({about}): {_ringing(candidate)}{until}")
    click.echo(f"Reason: {decision.reason}")


RangeRun = Callable[[str, datetime, datetime, bool], None]


def _range_command(name: str, *, from_is: str, to_is: str) -> Callable[[RangeRun], click.Command]:
    """A command over a range of instants: --phonebook, --from and --to (`from_is` and `to_is` say
    whether each bound is in the range; --to must come after --from) and --json."""

    def command(run: RangeRun) -> click.Command:
        @functools.wraps(run)
        def checked(phonebook_path: str, start: datetime, end: datetime, as_json: bool) -> None:
            if end <= start:
                raise click.BadParameter(f"must be after --from ({iso(start)})", param_hint="'--to'")
            run(phonebook_path, start, end, as_json)

        options = (
            phonebook_option,
            click.option("--from", "start", type=INSTANT, required=True, help=f"Start of the range ({from_is})."),
            click.option("--to", "end", type=INSTANT, required=True, help=f"End of the range ({to_is})."),
            json_option,
        )
        for option in reversed(options):
            checked = option(checked)
        return main.command(name)(checked)

    return command


@_range_command("handoffs", from_is="excluded", to_is="included")
def show_handoffs(phonebook_path: str, start: datetime, end: datetime, as_json: bool) -> None:
    """The handoffs in (from, to]: who hands the line to whom, and since when the outgoing shift ran."""
    found = handoffs(read_phonebook(phonebook_path), start, end)
    if as_json:
        _echo_json({"handoffs": [handoff_json(h) for h in found]})
        return
    for h in found:
        click.echo(f"{iso(h.at)}  {', '.join(t.name for t in h.outgoing)} -> {', '.join(t.name for t in h.incoming)}"
                   f"  (shift since {iso(h.since)})")
    if not found:
        click.echo("No handoff in that range.")


@_range_command("coverage", from_is="included", to_is="excluded")
def show_coverage(phonebook_path: str, start: datetime, end: datetime, as_json: bool) -> None:
    """Exact gaps over [from, to): no team on duty, or no Priority team outside the weekend."""
    phonebook = read_phonebook(phonebook_path)
    if as_json:
        _echo_json(coverage(phonebook, start, end).as_json())
    else:
        click.echo(week_by_week(phonebook, start, end))


@main.command("simulate")
@phonebook_option
@click.option("--to", "to", required=True, callback=_phone_number, metavar="NUMBER",
              help="The support number the caller dials, E.164.")
@click.option("--from", "caller", help="The caller's number (default: one the sample phonebook does not know).")
@click.option("--press", default="", help='Keys for each prompt in turn, comma-separated ("1234567#,1"); '
              'an empty group lets the prompt time out; "say:one two" speaks instead. Keys go in at '
              'the prompt\'s first pause, cutting it short; "wait:3" hears all of it first.')
@click.option("--answer", multiple=True, callback=_phone_numbers, metavar="NUMBER",
              help="A dialled number that picks up and accepts (repeatable).")
@click.option("--voicemail", multiple=True, callback=_phone_numbers, metavar="NUMBER",
              help="A dialled number whose voicemail picks up and presses no key (repeatable).")
@click.option("--hang-up-ringing", type=click.IntRange(min=1), metavar="N",
              help="The caller hangs up while the call's Nth round of ringing (each team, or each number rung "
                   "in order; 1: the first) rings, before anyone answers: an abandoned call.")
@click.option("--at", type=INSTANT, help="Place the call at this instant (in-process only).")
@click.option("--url", help="Call a running service at this base URL instead of an in-process app.")
@click.option("--public-url", envvar="IVR_PUBLIC_URL", show_envvar=True,
              help="The https base URL Twilio calls, which it signs (the service's IVR_PUBLIC_URL); "
                   "requests still go to --url. Default: --url itself.")
@click.option("--stir-verstat", default="TN-Validation-Passed-A", show_default=True,
              help="Twilio's StirVerstat for the caller ID (SHAKEN/STIR); \"\" sends none, as for most calls from "
                   "outside North America.")
@click.option("--engineer-keys", default="",
              help='What the engineer who takes the call does in it, comma-separated ("*,1,hangup"): * opens the '
                   "handoff menu, then its key (1 the next office, 2 another number of the team, 0 back); hangup "
                   "leaves the call; hangup-ringing hangs up while a colleague's phone rings (in-process only).")
def simulate_call(phonebook_path, to, caller, press, answer, voicemail, hang_up_ringing, at, url, public_url,
                  stir_verstat, engineer_keys):
    """Play one call as Twilio would, and print who hears, presses, rings and answers."""
    import requests

    from ivr.cli import simulate

    if url and at:
        raise click.UsageError(
            "--at works only in-process: a running service reads its own clock and never takes the "
            "time from a request"
        )
    if url and engineer_keys:
        raise click.UsageError(
            "--engineer-keys works only in-process: a running service moves calls with Twilio's REST API, "
            "which the simulator cannot play for it"
        )
    try:
        if url:
            simulator = simulate.over_http(url, public_url)
        else:
            simulator = simulate.in_process(phonebook_path, at, {"IVR_PUBLIC_URL": public_url or None})
        simulator.stir_verstat = stir_verstat
        turns = simulator.call(to, caller or simulate.UNKNOWN_CALLER, simulate.parse_presses(press), answer, voicemail,
                               hang_up_ringing=hang_up_ringing, engineer_keys=simulate.parse_presses(engineer_keys))
    except (PhonebookError, simulate.SimulationError, requests.RequestException) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(simulate.transcript(turns))


# --- the call log: `ivr db upgrade|current`, `ivr release` (the Procfile's), `ivr calls` --------------

def _call_log() -> CallLog:
    """The service's call log: DATABASE_URL, else the SQLite file in its instance folder."""
    from ivr.store.calllog import CallLog
    settings = load_settings()
    return CallLog.from_settings(
        settings["DATABASE_URL"], settings["IVR_INSTANCE_PATH"] or default_instance_path(), clock=utc_now,
        alert_settle_seconds=settings["IVR_ALERT_SETTLE_SECONDS"], journal_dir=settings["IVR_JOURNAL_DIR"],
    )


def _database_error(exc: SQLAlchemyError) -> str:
    """The first line of the driver's own message for a DBAPIError (its `orig`; psycopg adds hints on
    the next lines); SQLAlchemy's for any other error."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return str(exc.orig).splitlines()[0]
    return str(exc)


@contextmanager
def _opened_call_log(doing: str = "read") -> Iterator[CallLog]:
    """The service's call log for one command, closed afterwards; a database error ends the command
    in one line: "cannot <doing> the call log <where>: <the driver's message>"."""
    from sqlalchemy.exc import SQLAlchemyError

    log = _call_log()
    try:
        yield log
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"cannot {doing} the call log {log.health()['database']}: {_database_error(exc)}"
        ) from None
    finally:
        log.close()


def _upgrade() -> str:
    """Migrate the call log to this release, or fail in one line; what was done, in one line."""
    with _opened_call_log("migrate") as log:
        upgraded = log.upgrade_schema()
    return f"call log {log.health()['database']}: {upgraded.describe()}"


@main.group("db")
def db() -> None:
    """The call log's schema: Alembic migrations shipped with this release."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the call log to this release (safe to repeat, and to run from several places at once)."""
    click.echo(_upgrade())


@db.command("current")
def db_current() -> None:
    """The call log's schema revision against this release's; exit status 1 unless they match."""
    with _opened_call_log() as log:
        state = log.schema()
    if state.problem:
        raise click.ClickException(state.problem)
    click.echo(f"call log {log.health()['database']}: at {state.revision} (this release's head)")


@main.command("init-db")
def init_db() -> None:
    """Same as `ivr db upgrade` (kept for scripts written before it)."""
    click.echo("init-db is `ivr db upgrade` now", err=True)
    click.echo(_upgrade())


@main.command("release")
@phonebook_option
def release(phonebook_path: str) -> None:
    """The deploy's release phase: check the phonebook as `ivr check` does, then migrate the call log;
    one line and exit status 1 when either fails, so the deploy stops before any dyno runs it."""
    try:
        click.echo(_checked(phonebook_path))
        click.echo(_upgrade())
    except click.ClickException as exc:
        raise click.ClickException(f"release refused: {exc.format_message()}") from None


# `ivr calls`' columns (the README shows them).
CALLS_HEADER = ("started", "call", "line", "caller", "customer", "severity", "outcome", "answered, or why deflected")


@main.command("calls")
@click.option("--since", type=INSTANT, help="Only calls that started at or after this instant.")
@click.option("--outcome", type=click.Choice(OUTCOME_FILTERS),
              help="Only calls with this outcome.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000),
              help="How many calls to print at most.")
@json_option
def list_calls(since: datetime | None, outcome: str | None, limit: int, as_json: bool) -> None:
    """The most recent calls, newest first, as the ops console shows them (JSON: with timelines)."""
    from ivr.engine.outcomes import call_json
    from ivr.store.calllog import CallFilter, CallPage

    with _opened_call_log() as log:
        # A database nothing was ever recorded in has no calls: it is not a broken log.
        page = log.calls(CallFilter(outcome=outcome, since=since), limit=limit) if log.schema().tables \
            else CallPage((), None)
        timelines = log.stored_timelines(c.sid for c in page.calls) if as_json else {}
    if as_json:
        click.echo(json.dumps([call_json(c, timelines[c.sid]) for c in page.calls], indent=2))
        return
    if not page.calls:
        click.echo("no calls")
        return
    rows = [CALLS_HEADER] + [
        (
            iso(call.started_at), call.sid, call.line or "-", call.caller or "-",
            call.customer or call.sen or "-", f"L{call.severity}" if call.severity else "L?",
            call.outcome.value if call.outcome else IN_PROGRESS,
            # Who answered after how long, or why the call was deflected (never both).
            f"{call.team} after {call.answer_seconds:g}s" if call.team else call.deflection or "",
        )
        for call in page.calls
    ]
    click.echo("\n".join(aligned(rows)))


# --- `ivr writer`: the journal's writer process, which gunicorn's master runs ------------------------

# How often the writer looks whether the process that started it is still there, and whether it has
# caught up with the journal.
PARENT_CHECK_S = 1.0


@main.command("writer")
def run_writer() -> None:
    """Store the journal's call events in the call log and send the alerts they raise, until SIGTERM
    or until the process that started it is gone (gunicorn's master starts it, and starts another if
    it dies); what is journaled by then is stored before it exits."""
    import signal
    import threading

    from ivr.store import cpu
    from ivr.web.app import create_app
    from ivr.web.services import services_of

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the master too, which stops this process
    parent = os.getppid()
    registry = services_of(create_app({"IVR_WRITER": "thread"}))
    idle = False
    while not stop.wait(PARENT_CHECK_S) and os.getppid() == parent:
        status = registry.calllog.writer.status()
        if not idle and status.ok and status.pending_bytes == 0:
            # Leave the CPU to the webhooks, which callers wait on, once caught up and never before: a
            # writer started behind (after an outage, or by gunicorn's master because this one starved
            # on a saturated machine: `ivr.web.gunicorn_conf`) stores at normal priority until it is not.
            idle = cpu.to_idle_priority()
    registry.alerts.close()
    registry.calllog.close()


# --- `ivr callbacks` ------------------------------------------------------------------------------

@main.command("callbacks")
@click.option("--state", type=click.Choice(CALLBACK_FILTERS), default="open", show_default=True,
              help="open (the overdue included), overdue, closed, or all.")
@click.option("--since", type=INSTANT, help="Only callbacks opened at or after this instant.")
@click.option("--until", type=INSTANT, help="Only callbacks opened before this instant.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000),
              help="At most this many callbacks.")
@at_option
@json_option
def list_callbacks(state: str, since: datetime | None, until: datetime | None, limit: int, at: datetime | None,
                   as_json: bool) -> None:
    """Callbacks owed for missed L1 calls: open ones soonest due first, with due in / overdue by."""
    from ivr.engine.callbacks import State, callback_json, when_text
    from ivr.store.callbacks import CallbackFilter

    at = at or utc_now()
    with _opened_call_log() as log:
        where = CallbackFilter(None if state == "all" else State(state), since, until)
        # A database nothing was ever recorded in owes no callbacks: it is not a broken log.
        found = log.callbacks.find(at, where, limit) if log.schema().tables else ()
    if as_json:
        click.echo(json.dumps([callback_json(c, at) for c in found], indent=2))
        return
    if not found:
        click.echo("no callbacks")
        return
    for callback in found:
        click.echo("  ".join([
            f"#{callback.id}", callback.state(at).value, f"due {iso(callback.due_at)}", when_text(callback, at),
            callback.customer or "-", callback.sen or "-", callback.caller or "-", callback.line or "-",
            f"{callback.calls} call(s)", callback.first_call,
        ]))
