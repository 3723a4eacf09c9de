"""Reading the phonebook file: TOML text checked whole and turned into `ivr.engine.phonebook` values.

Nothing else in the project reads TOML. `load_phonebook` raises `PhonebookError` listing every
problem, each with its key path, so an admin can fix a broken edit in one pass. `read_customer`
checks a customer record from elsewhere (a CSV row, a licensing-service reply) by the same rules.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import holidays

from ivr.engine.coverage import l1_gaps
from ivr.engine.hours import (
    parse_one_off_shift,
    parse_weekly_moment,
    parse_weekly_shift,
    parse_zone,
)
from ivr.engine.instants import iso
from ivr.engine.phonebook import (
    DEFAULT_CACHE_SECONDS,
    DEFAULT_DIGEST_LOOKBACK,
    DEFAULT_SEVERITY,
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_WEEKEND,
    FALLBACK_NAME,
    MAX_CANDIDATES,
    MAX_DIAL,
    MAX_TEAM_NAME,
    PHONE_TIERS,
    SEVERITIES,
    TIERS,
    Alerts,
    CallerIdTrust,
    Customer,
    Digests,
    EntitlementSettings,
    Fallback,
    Kind,
    Line,
    Phonebook,
    PhonebookError,
    Policy,
    Problem,
    ResponseTimes,
    Ring,
    Service,
    Team,
    Weekend,
    calendar_holidays,
    is_e164,
    sen_digits,
)
from ivr.engine.routing import team_places
from ivr.engine.suggest import UNIVERSAL_ZONES, did_you_mean, zone_advice

# Twilio accepts Dial timeouts of 5..600 s.
RING_SECONDS_RANGE = (5, 600)

# A licensing lookup happens while Twilio waits for the webhook (15 s at most), which has routing
# and prompts to do besides, and gunicorn kills a worker busy for 10 s (ivr/web/gunicorn_conf.py).
TIMEOUT_SECONDS_RANGE = (0.1, 5.0)
TIMEOUT_SECONDS_REASON = "a lookup must leave the webhook time to answer Twilio before the worker's 10 s time-out"
CACHE_SECONDS_MAX = 86400.0
# How far ahead `coverage_from` looks for times when nobody at all would answer, and for each
# team's next holiday.
COVERAGE_HORIZON = timedelta(days=365)

TOP_KEYS = (
    "service", "weekend", "severity", "lines", "teams", "fallback", "customers", "entitlements", "alerts",
    "response_times", "digests",
)
SERVICE_KEYS = ("name", "portal", "renewals", "trust_caller_id", "handoff_reminder")
WEEKEND_KEYS = ("starts", "ends")
LINE_KEYS = ("number", "region", "label")
TEAM_KEYS = (
    "kind", "region", "tz", "hours", "holidays", "calendar", "extra",
    "dial", "ring", "ring_seconds", "label", "digest_sms", "digest_webhook",
)
FALLBACK_KEYS = ("dial", "ring", "ring_seconds", "label")
CUSTOMER_KEYS = ("sen", "name", "tier", "maintenance_until", "admins")
ENTITLEMENTS_KEYS = ("file", "url", "timeout_seconds", "cache_seconds", "admin_lookup")
ALERTS_KEYS = ("sms", "webhook", "sms_from")
DIGESTS_KEYS = ("enabled", "lookback_hours")
# Past 3 days a digest is of no use to the team it was for.
DIGEST_LOOKBACK_HOURS = (1, 72)
RESPONSE_TIME_TIERS = tuple(sorted(PHONE_TIERS))
# A response time is whole minutes, from one minute to 30 days.
RESPONSE_MINUTES_RANGE = (1, 30 * 24 * 60)

_MISSING = object()


class _Reader:
    """Collects problems while converting raw TOML values, so one pass reports them all."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message, warning=True))

    def table(self, raw: object, path: str, known: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.error(path, "must be a table")
            return {}
        for key in raw:
            if key not in known:
                suggestion = did_you_mean(key, known) or f" (known keys: {', '.join(known)})"
                self.error(_join(path, key), f"unknown key{suggestion}")
        return raw

    def convert(
        self, table: dict[str, Any], path: str, key: str, parse: Callable[[Any], Any], default: Any = _MISSING
    ) -> Any:
        """parse(table[key]), recording a problem (and returning the default) when it fails."""
        where = _join(path, key)
        if key not in table:
            if default is _MISSING:
                self.error(where, "is required")
                return None
            return default
        try:
            return parse(table[key])
        except ValueError as exc:
            self.error(where, str(exc))
            return default if default is not _MISSING else None

    def items(self, table: dict[str, Any], path: str, key: str, parse: Callable[[Any], Any]) -> tuple[Any, ...]:
        """A list value, each element parsed on its own so every bad element is reported."""
        where = _join(path, key)
        raw = table.get(key, [])
        if not isinstance(raw, list):
            self.error(where, "must be a list")
            return ()
        parsed = []
        for index, value in enumerate(raw):
            try:
                parsed.append(parse(value))
            except ValueError as exc:
                self.error(f"{where}[{index}]", str(exc))
        return tuple(parsed)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _url(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https?://\S+", value):
        raise ValueError("must be a web address starting with https://")
    return value


def _renewals(value: object) -> str:
    if isinstance(value, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        return value
    try:
        return _url(value)
    except ValueError:
        raise ValueError("must be an email address or a web address starting with https://") from None


def _https_url(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https://[^\s/]+\S*", value):
        raise ValueError(f"{value!r} must be a web address starting with https://")
    return value


def _phone(value: object) -> str:
    if not is_e164(value):
        raise ValueError(f"{value!r} is not a valid E.164 phone number like '+14155550100'")
    return value


def _date(value: object) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{value} must be a date without a time, like 2026-12-25")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date like 2026-12-25")


def _enum(enum: type[StrEnum]) -> Callable[[object], Any]:
    def parse(value: object) -> StrEnum:
        try:
            return enum(value)  # type: ignore[arg-type]  # looks any TOML value up: ValueError if not a member
        except ValueError:
            choices = tuple(m.value for m in enum)
            listed = ", ".join(repr(c) for c in choices)
            raise ValueError(f"{value!r} is not one of {listed}{did_you_mean(value, choices)}") from None

    return parse


def _ring_seconds(value: object) -> int:
    low, high = RING_SECONDS_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{value!r} must be a whole number of seconds from {low} to {high}")
    return value


def _tier(value: object) -> str:
    if value not in TIERS:
        choices = tuple(sorted(TIERS))
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}{did_you_mean(value, choices)}")
    return value


def _calendar(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string such as 'AU-NSW' or 'NL'")
    country, _, subdiv = value.partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        hint = did_you_mean(value.upper(), [f"{c}-{d}" for c in supported for d in supported[c]] + list(supported))
        raise ValueError(f"{country!r} is not a country code known to the holidays package{hint}")
    if subdiv and subdiv not in supported[country]:
        raise ValueError(
            f"{subdiv!r} is not a subdivision of {country} (known: {', '.join(supported[country])})"
            f"{did_you_mean(subdiv.upper(), supported[country])}"
        )
    return value


def _dial_list(reader: _Reader, table: dict[str, Any], path: str) -> tuple[str, ...]:
    where = _join(path, "dial")
    if "dial" not in table:
        reader.error(where, "is required: the numbers to ring")
        return ()
    dial = reader.items(table, path, "dial", _phone)
    raw = table["dial"]
    if isinstance(raw, list) and not raw:
        reader.error(where, "must list at least one number to ring")
    if isinstance(raw, list) and len(raw) > MAX_DIAL:
        reader.error(where, f"Twilio rings at most {MAX_DIAL} numbers at once")
    return dial


def _read_service(reader: _Reader, raw: object) -> Service:
    table = reader.table(raw, "service", SERVICE_KEYS)
    return Service(
        name=reader.convert(table, "service", "name", _text, Service.name),
        portal=reader.convert(table, "service", "portal", _url, Service.portal),
        renewals=reader.convert(table, "service", "renewals", _renewals, None),
        trust_caller_id=reader.convert(
            table, "service", "trust_caller_id", _enum(CallerIdTrust), Service.trust_caller_id
        ),
        handoff_reminder=reader.convert(table, "service", "handoff_reminder", _flag, Service.handoff_reminder),
    )


def _read_weekend(reader: _Reader, raw: object) -> Weekend:
    table = reader.table(raw, "weekend", WEEKEND_KEYS)
    starts = reader.convert(table, "weekend", "starts", parse_weekly_moment)
    ends = reader.convert(table, "weekend", "ends", parse_weekly_moment)
    if starts is None or ends is None:
        return DEFAULT_WEEKEND
    _check_zone(reader, "weekend.starts", starts.tz.key, office=False)
    _check_zone(reader, "weekend.ends", ends.tz.key, office=False)
    if (starts.weekday, starts.at, starts.tz.key) == (ends.weekday, ends.at, ends.tz.key):
        # By the rule (a start to the first end after it) each weekend runs into the next.
        reader.warn("weekend", f"starts and ends at the same moment ({starts}), so the weekend never ends: "
                               "Priority teams are never on duty except on extra shifts")
    return Weekend(starts, ends)


def _read_severity(reader: _Reader, raw: object) -> Mapping[int, Policy]:
    known = tuple(str(s) for s in SEVERITIES)
    table = reader.table(raw, "severity", known)
    policies = dict(DEFAULT_SEVERITY)
    for key in table:
        if key in known:
            policy = reader.convert(table, "severity", key, _enum(Policy), None)
            if policy is not None:
                policies[int(key)] = policy
    return MappingProxyType(policies)


def _array_of_tables(reader: _Reader, raw: object, name: str,
                     known: tuple[str, ...]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Each entry of the array of tables `name` ([[name]]): its index, its path and its table."""
    if not isinstance(raw, list):
        reader.error(name, f"must be an array of tables: [[{name}]]")
        return
    for index, item in enumerate(raw):
        path = f"{name}[{index}]"
        yield index, path, reader.table(item, path, known)


def _first_use(reader: _Reader, seen: dict[str, int], key: str, at: tuple[str, int, str], shown: str) -> bool:
    """Whether the entry `at` (array, index, field) is the first in its array with `key`, which `seen`
    keeps (key: index); if not, an error saying which entry has it (`shown` as the user wrote it)."""
    name, index, field = at
    if key in seen:
        reader.error(f"{name}[{index}].{field}", f"{shown} is already used by {name}[{seen[key]}]")
        return False
    seen[key] = index
    return True


def _read_lines(reader: _Reader, raw: object) -> tuple[Line, ...]:
    lines: list[Line] = []
    seen: dict[str, int] = {}
    for index, path, table in _array_of_tables(reader, raw, "lines", LINE_KEYS):
        number = reader.convert(table, path, "number", _phone)
        region = reader.convert(table, path, "region", _text, None)
        label = reader.convert(table, path, "label", _text, None)
        if number is not None and _first_use(reader, seen, number, ("lines", index, "number"), number):
            lines.append(Line(number, region, label or number))
    return tuple(lines)


def _read_team(reader: _Reader, name: str, raw: object) -> Team | None:
    path = f"teams.{name}"
    table = reader.table(raw, path, TEAM_KEYS)
    if not table and not isinstance(raw, dict):
        return None
    kind = reader.convert(table, path, "kind", _enum(Kind))
    region = reader.convert(table, path, "region", _text, None)
    tz = reader.convert(table, path, "tz", parse_zone)
    if not table.get("hours") and not table.get("extra"):
        reader.error(f"{path}.hours", "is required: when is this team on duty? (e.g. ['mon-fri 09:00-17:00'])")
    hours = reader.items(table, path, "hours", parse_weekly_shift)
    extra = reader.items(table, path, "extra", parse_one_off_shift)
    listed = frozenset(reader.items(table, path, "holidays", _date))
    calendar = reader.convert(table, path, "calendar", _calendar, None)
    dial = _dial_list(reader, table, path)
    ring = reader.convert(table, path, "ring", _enum(Ring), Team.ring)
    ring_seconds = reader.convert(table, path, "ring_seconds", _ring_seconds, Team.ring_seconds)
    label = reader.convert(table, path, "label", _text, Team.label)
    digest_sms = reader.items(table, path, "digest_sms", _phone)
    digest_webhook = reader.convert(table, path, "digest_webhook", _https_url, None)
    if tz is not None:
        _check_zone(reader, _join(path, "tz"), tz.key, office=kind is Kind.PRIORITY)
    if kind is None or tz is None or not dial:
        return None
    return Team(name, kind, region, tz, hours, dial, listed, calendar, extra, ring, ring_seconds, label,
                digest_sms, digest_webhook)


def _check_zone(reader: _Reader, where: str, zone: str, *, office: bool) -> None:
    """Warn about a zone that does not keep a city's clock (a fixed offset, a legacy alias). UTC
    only for an office (a Priority team), whose hours follow its city's clock: a global team or
    the weekend may well be set in UTC."""
    advice = zone_advice(zone)
    if advice is not None and (office or zone not in UNIVERSAL_ZONES):
        reader.warn(where, advice)


_TEAM_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _read_teams(reader: _Reader, raw: object) -> tuple[Team, ...]:
    if not isinstance(raw, dict):
        reader.error("teams", "must be a table of teams: [teams.NAME]")
        return ()
    if not raw:
        reader.error("teams", "defines no team: nobody could take a call")
    if FALLBACK_NAME in raw:
        reader.error(f"teams.{FALLBACK_NAME}", f"{FALLBACK_NAME!r} names the [fallback]; give this team another name")
    # Team names travel in Twilio action URLs as a comma-separated ringing plan, whose parser
    # (`ivr.callflow.callstate`) takes names of at most MAX_TEAM_NAME characters.
    for name in raw:
        if not _TEAM_NAME.fullmatch(name):
            reader.error(f"teams.{name}", "a team name may use only letters, digits, '_' and '-'")
        elif len(name) > MAX_TEAM_NAME:
            reader.error(f"teams.{name}", f"a team name may be at most {MAX_TEAM_NAME} characters long "
                                          f"(this one has {len(name)}); set `label` for a longer spoken name")
    # A team with a bad name is still read, so its other mistakes are reported in the same pass.
    teams = [(name, _read_team(reader, name, item)) for name, item in sorted(raw.items())]
    return tuple(
        team for name, team in teams
        if team is not None and name != FALLBACK_NAME and _TEAM_NAME.fullmatch(name) and len(name) <= MAX_TEAM_NAME
    )


def _read_fallback(reader: _Reader, raw: object) -> Fallback:
    table = reader.table(raw, "fallback", FALLBACK_KEYS)
    return Fallback(
        dial=_dial_list(reader, table, "fallback"),
        ring=reader.convert(table, "fallback", "ring", _enum(Ring), Fallback.ring),
        ring_seconds=reader.convert(table, "fallback", "ring_seconds", _ring_seconds, Fallback.ring_seconds),
        label=reader.convert(table, "fallback", "label", _text, Fallback.label),
    )


def _sen(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"(SEN-)?\d{4,20}", value.strip(), re.IGNORECASE):
        raise ValueError(f"{value!r} is not a SEN like 'SEN-1234567'")
    return value.strip()


def _read_customer(reader: _Reader, table: dict[str, Any], path: str) -> Customer | None:
    sen = reader.convert(table, path, "sen", _sen)
    name = reader.convert(table, path, "name", _text)
    tier = reader.convert(table, path, "tier", _tier)
    until = reader.convert(table, path, "maintenance_until", _date)
    admins = reader.items(table, path, "admins", _phone)
    if None in (sen, name, tier, until):
        return None
    return Customer(sen, name, tier, until, admins)


def read_customer(record: Mapping[str, object]) -> tuple[Customer | None, tuple[Problem, ...]]:
    """A customer record from outside the phonebook (a CSV row, a licensing-service reply), checked
    like [[customers]]: the customer, or None and the problems, each with the field as its path.
    Keys other than the customer fields are ignored."""
    reader = _Reader()
    customer = _read_customer(reader, dict(record), "")
    if reader.problems:
        return None, tuple(reader.problems)
    return customer, ()


def _read_customers(reader: _Reader, raw: object) -> tuple[Customer, ...]:
    customers: list[Customer] = []
    seen: dict[str, int] = {}
    for index, path, table in _array_of_tables(reader, raw, "customers", CUSTOMER_KEYS):
        customer = _read_customer(reader, table, path)
        # Duplicates are found by the SEN alone, so a customer with other mistakes still counts.
        try:
            sen = _sen(table.get("sen"))
        except ValueError:
            continue
        if _first_use(reader, seen, sen_digits(sen), ("customers", index, "sen"), sen) and customer is not None:
            customers.append(customer)
    return tuple(customers)


def _seconds(low: float, high: float, reason: str = "") -> Callable[[object], float]:
    why = f" ({reason})" if reason else ""

    def parse(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValueError(f"{value!r} must be a number of seconds from {low:g} to {high:g}{why}")
        return float(value)

    return parse


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} must be true or false")
    return value


def _entitlements_url(value: object) -> str:
    url = _url(value)
    if "{sen}" not in urlsplit(url).path:
        raise ValueError("must contain {sen} in its path, e.g. 'https://licensing.example.com/sen/{sen}'")
    try:
        url.format(sen="1234567")
    except (IndexError, KeyError, ValueError):
        raise ValueError("may contain no placeholder other than {sen}") from None
    return url


def _read_entitlements(reader: _Reader, raw: object, base: Path) -> EntitlementSettings | None:
    table = reader.table(raw, "entitlements", ENTITLEMENTS_KEYS)
    file = reader.convert(table, "entitlements", "file", _text, None)
    url = reader.convert(table, "entitlements", "url", _entitlements_url, None)
    lookup_seconds = _seconds(*TIMEOUT_SECONDS_RANGE, TIMEOUT_SECONDS_REASON)
    timeout = reader.convert(table, "entitlements", "timeout_seconds", lookup_seconds, DEFAULT_TIMEOUT_SECONDS)
    cache = reader.convert(
        table, "entitlements", "cache_seconds", _seconds(0, CACHE_SECONDS_MAX), DEFAULT_CACHE_SECONDS
    )
    admin_lookup = reader.convert(table, "entitlements", "admin_lookup", _flag, False)
    if ("file" in table) == ("url" in table):
        reader.error("entitlements", "needs exactly one of 'file' (a CSV file) or 'url' (a licensing service)")
        return None
    if "file" in table:
        for key in ("timeout_seconds", "cache_seconds", "admin_lookup"):
            if key in table:
                reader.warn(f"entitlements.{key}", "applies only to a licensing service ('url'); ignored")
    if file is None and url is None:
        return None
    return EntitlementSettings(
        file=base / file if file is not None else None,
        url=url,
        timeout_seconds=timeout,
        cache_seconds=cache,
        admin_lookup=admin_lookup,
    )


def _read_alerts(reader: _Reader, raw: object) -> Alerts:
    table = reader.table(raw, "alerts", ALERTS_KEYS)
    return Alerts(
        sms=reader.items(table, "alerts", "sms", _phone),
        webhook=reader.convert(table, "alerts", "webhook", _https_url, None),
        sms_from=reader.convert(table, "alerts", "sms_from", _phone, None),
    )


def _read_digests(reader: _Reader, raw: object) -> Digests:
    table = reader.table(raw, "digests", DIGESTS_KEYS)
    enabled = reader.convert(table, "digests", "enabled", _flag, Digests.enabled)
    lookback = reader.convert(table, "digests", "lookback_hours", _lookback_hours, DEFAULT_DIGEST_LOOKBACK)
    return Digests(enabled, lookback)


def _lookback_hours(value: object) -> timedelta:
    low, high = DIGEST_LOOKBACK_HOURS
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{value!r} must be a whole number of hours from {low} to {high}")
    return timedelta(hours=value)


def _response_minutes(value: object) -> timedelta:
    low, high = RESPONSE_MINUTES_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{value!r} must be a whole number of minutes from {low} to {high}")
    return timedelta(minutes=value)


def _read_response_times(reader: _Reader, raw: object) -> ResponseTimes:
    """[response_times.TIER]: minutes by severity ("1" to "4"), each replacing the offering's default."""
    times = dict(ResponseTimes().times)
    for tier, levels in reader.table(raw, "response_times", RESPONSE_TIME_TIERS).items():
        if tier not in RESPONSE_TIME_TIERS:
            continue
        path = _join("response_times", tier)
        known = tuple(str(s) for s in SEVERITIES)
        table = reader.table(levels, path, known)
        for level in (level for level in table if level in known):
            span = reader.convert(table, path, level, _response_minutes, None)
            if span is not None:
                times[(tier, int(level))] = span
    return ResponseTimes(MappingProxyType(times))


def _check_regions(reader: _Reader, raw: dict[str, Any]) -> None:
    """Warn about regions only one side uses. Read from the raw tables so that a team or line
    with an unrelated error does not cause a misleading warning as well."""

    def regions(items: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
        return [(path, table["region"]) for path, table in items
                if isinstance(table, dict) and isinstance(table.get("region"), str)]

    lines, teams = raw.get("lines"), raw.get("teams")
    raw_lines = lines if isinstance(lines, list) else []
    raw_teams = teams if isinstance(teams, dict) else {}
    line_regions = regions((f"lines[{i}]", table) for i, table in enumerate(raw_lines))
    team_regions = regions((f"teams.{name}", table) for name, table in sorted(raw_teams.items()))
    for path, region in line_regions:
        if region not in {r for _, r in team_regions}:
            reader.warn(f"{path}.region", f"no team is in region {region!r}; calls on this line go to other regions")
    for path, region in team_regions:
        if region not in {r for _, r in line_regions}:
            reader.warn(f"{path}.region", f"no line is in region {region!r}")


def _syntax_error(exc: tomllib.TOMLDecodeError, text: str) -> Problem:
    """'TOML syntax error at line 3, column 9: invalid value', from tomllib's 'Invalid value (at line
    3, column 9)', with the offending line and a caret under the column as its detail."""
    match = re.fullmatch(r"(.*) \(at (?:line (\d+), column (\d+)|end of document)\)", str(exc), re.DOTALL)
    if match is None:
        return Problem("", f"TOML syntax error: {exc}")
    words = f"{match[1][:1].lower()}{match[1][1:]}"
    if match[2] is None:
        # Just after the last character that is not white space: where the missing part belongs.
        before = text.rstrip()
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        return Problem("", f"TOML syntax error at the end of the file: {words}", detail=_caret(text, line, column))
    line, column = int(match[2]), int(match[3])
    return Problem("", f"TOML syntax error at line {line}, column {column}: {words}", detail=_caret(text, line, column))


def _caret(text: str, line: int, column: int) -> str:
    """'  3 | name = "x' over a caret under `column` (1-based; tabs kept, so the caret lines up)."""
    lines = text.split("\n")
    shown = lines[line - 1].rstrip("\r") if line <= len(lines) else ""
    under = "".join(c if c == "\t" else " " for c in shown[: column - 1])
    return f"  {line} | {shown}\n  {' ' * len(str(line))} | {under}^"


def _check_team_places(reader: _Reader, phonebook: Phonebook) -> None:
    places = team_places(phonebook)
    if len(phonebook.teams) > places:
        then = "then the fallback" if phonebook.fallback else "with no fallback"
        reader.warn("teams", f"{len(phonebook.teams)} teams, but a call rings at most {places} of them "
                             f"(the first on duty by the routing rules), {then}: a call carries at most "
                             f"{MAX_CANDIDATES} candidates")


def _check_somebody_answers(reader: _Reader, phonebook: Phonebook, start: datetime) -> None:
    """Warn when, with no fallback, there are times within COVERAGE_HORIZON of `start` when no team
    is on duty: a call then goes straight to voicemail."""
    if phonebook.fallback is not None or not phonebook.teams:
        return
    gaps = l1_gaps(phonebook, start, start + COVERAGE_HORIZON)
    if not gaps:
        return
    first, end = gaps[0]
    more = f" (the first of {len(gaps)} such times in the next 12 months)" if len(gaps) > 1 else ""
    reader.warn("fallback", f"is not set, and no team is on duty from {iso(first)} to {iso(end)}{more}: "
                            "a call then rings nobody and goes straight to voicemail")


def _check_holidays_ahead(reader: _Reader, phonebook: Phonebook, start: datetime) -> None:
    """Warn about a team with holidays (listed or from a calendar) none of which falls within
    COVERAGE_HORIZON of `start` (in its own dates): a list usually covers one year, and once it
    runs out the team is routed calls on its days off."""
    for team in phonebook.teams:
        if not team.holidays and team.calendar is None:
            continue
        first = start.astimezone(team.tz).date()
        last = (start + COVERAGE_HORIZON).astimezone(team.tz).date()
        known = set(team.holidays)
        if team.calendar is not None:
            for year in range(first.year - 1, last.year + 1):
                known |= calendar_holidays(team.calendar, year)
        if any(first <= day <= last for day in known):
            continue
        past = [day for day in known if day < first]
        if past:
            knows = f"the last date it knows is {max(past)}"
        else:
            knows = f"the next date it knows is {min(known)}" if known else "it knows no date"
        reader.warn(f"teams.{team.name}.holidays",
                    f"no holiday from {first} to {last} ({knows}): add the coming year's dates, or calls are "
                    "routed to the team on its days off")


def parse_phonebook(text: str, source: str = "phonebook.toml", *, coverage_from: datetime | None = None) -> Phonebook:
    """Build a Phonebook from TOML text, or raise PhonebookError naming every problem.

    With `coverage_from` (an aware instant, read at the caller's edge), also warn when nobody at all
    would answer at some time within 12 months of it, and of teams whose holidays run out by then."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PhonebookError(source, [_syntax_error(exc, text)]) from None
    reader = _Reader()
    reader.table(raw, "", TOP_KEYS)
    service = _read_service(reader, raw.get("service", {}))
    weekend = _read_weekend(reader, raw["weekend"]) if "weekend" in raw else DEFAULT_WEEKEND
    severity = _read_severity(reader, raw.get("severity", {}))
    lines = _read_lines(reader, raw.get("lines", []))
    if "teams" not in raw:
        reader.error("teams", "is required: define at least one [teams.NAME]")
    teams = _read_teams(reader, raw.get("teams", {}))
    fallback = _read_fallback(reader, raw["fallback"]) if "fallback" in raw else None
    customers = _read_customers(reader, raw.get("customers", []))
    entitlements = (
        _read_entitlements(reader, raw["entitlements"], Path(source).parent) if "entitlements" in raw else None
    )
    if entitlements is not None and customers:
        reader.warn("customers", "[entitlements] is set, so [[customers]] are ignored")
    alerts = _read_alerts(reader, raw.get("alerts", {}))
    response_times = _read_response_times(reader, raw.get("response_times", {}))
    digests = _read_digests(reader, raw.get("digests", {}))
    _check_regions(reader, raw)
    if any(not p.warning for p in reader.problems):
        raise PhonebookError(source, reader.problems)
    phonebook = Phonebook(
        service, weekend, severity, lines, teams, fallback, customers, (),
        entitlements=entitlements, alerts=alerts, response_times=response_times, digests=digests,
    )
    _check_team_places(reader, phonebook)
    if coverage_from is not None:
        _check_somebody_answers(reader, phonebook, coverage_from)
        _check_holidays_ahead(reader, phonebook, coverage_from)
    return replace(phonebook, warnings=tuple(reader.problems))


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The file's text, or PhonebookError saying why it cannot be read."""
    try:
        return path.read_text(encoding=encoding)
    except OSError as exc:
        raise PhonebookError(str(path), [Problem("", f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise PhonebookError(str(path), [Problem("", "the file is not UTF-8 text")]) from None


def load_phonebook(path: str | Path, *, coverage_from: datetime | None = None) -> Phonebook:
    return parse_phonebook(read_text(Path(path)), str(path), coverage_from=coverage_from)
