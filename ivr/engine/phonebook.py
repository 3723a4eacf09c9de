"""The phonebook: the immutable value objects the TOML file admins edit is loaded into.

`ivr.engine.phonebook_loader` reads and checks the file; everything else works on these values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TypeGuard
from zoneinfo import ZoneInfo

import holidays
import phonenumbers

from ivr.engine.hours import OneOffShift, WeeklyMoment, WeeklyShift


class Policy(StrEnum):
    ALWAYS = "always"
    BUSINESS_WEEK = "business-week"
    NEVER = "never"


class Kind(StrEnum):
    PRIORITY = "priority"
    SELECT = "select"


class Ring(StrEnum):
    TOGETHER = "together"
    IN_ORDER = "in-order"


# The candidate name routing gives the [fallback] (its kind is `routing.CandidateKind.FALLBACK`);
# no team may take it.
FALLBACK_NAME = "fallback"
PHONE_TIERS = frozenset({"priority", "premier"})
TIERS = PHONE_TIERS | {"select"}
SEVERITIES = (1, 2, 3, 4)
DEFAULT_SEVERITY = MappingProxyType({1: Policy.ALWAYS, 2: Policy.NEVER, 3: Policy.NEVER, 4: Policy.NEVER})
DEFAULT_RING_SECONDS = 20
# Twilio rings at most 10 numbers in one <Dial>.
MAX_DIAL = 10
# A call carries its ringing plan (the candidates' names) in its signed action URLs
# (`ivr.callflow.callstate`), so both are bounded: a call rings at most MAX_CANDIDATES candidates
# (the fallback included), and a team's name is at most MAX_TEAM_NAME characters.
MAX_CANDIDATES = 12
MAX_TEAM_NAME = 64
# A maintenance date is valid through its end everywhere on earth; the last zone to leave
# a date is UTC-12, at 12:00 UTC the next day.
MAINTENANCE_GRACE = timedelta(hours=36)
DEFAULT_TIMEOUT_SECONDS = 2.0
# The first-response times the offering promises (its "Severity Response Times" table): Priority
# and Premier, by severity. Level 3 and 4 for Priority are counted in business days, which no
# fixed span says: they have no default (a phonebook may give one).
DEFAULT_RESPONSE_TIMES = MappingProxyType({
    ("priority", 1): timedelta(hours=1), ("premier", 1): timedelta(minutes=30),
    ("priority", 2): timedelta(hours=2), ("premier", 2): timedelta(hours=2),
    ("premier", 3): timedelta(hours=8), ("premier", 4): timedelta(hours=24),
})
DEFAULT_CACHE_SECONDS = 300.0


class CallerIdTrust(StrEnum):
    """When a caller ID that is an admin's number recognises the caller (who then skips the SEN):
    only when the carrier fully attested it (SHAKEN/STIR `A`, verified by Twilio), always, or never."""

    ATTESTED = "attested"
    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True)
class Service:
    name: str = "Priority Support"
    portal: str = "https://support.example.com"
    # Where a customer with expired maintenance renews: an email address or a web address.
    renewals: str | None = None
    # A caller ID can be spoofed: by default only a fully attested one stands in for the SEN.
    trust_caller_id: CallerIdTrust = CallerIdTrust.ATTESTED
    # An engineer on a call hears, ten minutes before the team goes off duty, that a handoff is there.
    handoff_reminder: bool = True


@dataclass(frozen=True)
class Weekend:
    starts: WeeklyMoment
    ends: WeeklyMoment


DEFAULT_WEEKEND = Weekend(
    WeeklyMoment(4, time(17), ZoneInfo("America/Los_Angeles")),
    WeeklyMoment(0, time(10), ZoneInfo("Australia/Sydney")),
)


@dataclass(frozen=True)
class Line:
    number: str
    region: str | None
    label: str


@dataclass(frozen=True)
class Team:
    name: str
    kind: Kind
    region: str | None
    tz: ZoneInfo
    hours: tuple[WeeklyShift, ...]
    dial: tuple[str, ...]
    holidays: frozenset[date] = frozenset()
    calendar: str | None = None
    extra: tuple[OneOffShift, ...] = ()
    ring: Ring = Ring.TOGETHER
    ring_seconds: int = DEFAULT_RING_SECONDS
    label: str = ""
    # Where the team's handoff digests go; neither set: to [alerts] (`digest_destinations`).
    digest_sms: tuple[str, ...] = ()
    digest_webhook: str | None = None

    @property
    def spoken_name(self) -> str:
        """'Amsterdam Priority Support' for team amsterdam of kind priority."""
        return f"{self.place} {self.kind.value.title()} Support"

    @property
    def place(self) -> str:
        """'Amsterdam' for team amsterdam: its label, else its name in words."""
        return self.label or self.name.replace("_", " ").replace("-", " ").title()


@dataclass(frozen=True)
class Fallback:
    dial: tuple[str, ...]
    ring: Ring = Ring.TOGETHER
    ring_seconds: int = 30
    label: str = "on-call"


@dataclass(frozen=True)
class Customer:
    sen: str
    name: str
    tier: str
    maintenance_until: date
    admins: tuple[str, ...] = ()

    @property
    def sen_digits(self) -> str:
        return sen_digits(self.sen)

    def maintained_at(self, at: datetime) -> bool:
        """Valid through the end of `maintenance_until` anywhere on earth."""
        expiry = datetime.combine(self.maintenance_until, time(), UTC) + MAINTENANCE_GRACE
        return at < expiry


@dataclass(frozen=True)
class EntitlementSettings:
    """[entitlements]: customers come from a CSV file or a licensing service, not [[customers]]."""

    file: Path | None = None
    url: str | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    cache_seconds: float = DEFAULT_CACHE_SECONDS
    admin_lookup: bool = False


class CustomerIndex:
    """Customers by SEN digits and by admin number (one admin may look after several customers)."""

    def __init__(self, customers: tuple[Customer, ...]):
        by_admin: dict[str, list[Customer]] = {}
        for customer in customers:
            for admin in customer.admins:
                by_admin.setdefault(admin, []).append(customer)
        self._by_sen = MappingProxyType({c.sen_digits: c for c in customers})
        self._by_admin = MappingProxyType({k: tuple(v) for k, v in by_admin.items()})

    def __len__(self) -> int:
        return len(self._by_sen)

    def by_sen(self, sen: str) -> Customer | None:
        return self._by_sen.get(sen_digits(sen))

    def by_admin(self, number: str) -> tuple[Customer, ...]:
        return self._by_admin.get(number, ())


@dataclass(frozen=True)
class Alerts:
    """Who hears about a missed L1 call: SMS numbers and a Slack-compatible webhook."""

    sms: tuple[str, ...] = ()
    webhook: str | None = None
    # The Twilio number SMS alerts come from; by default the line the call came in on.
    sms_from: str | None = None


# How far back the alert sweep looks for handoffs whose digest is not yet scheduled: a digest
# whose handoff is older when the service comes back from an outage is never sent.
DEFAULT_DIGEST_LOOKBACK = timedelta(hours=12)


@dataclass(frozen=True)
class Digests:
    """[digests]: each incoming team gets a digest at every handoff, unless `enabled = false`."""

    enabled: bool = True
    lookback: timedelta = DEFAULT_DIGEST_LOOKBACK


@dataclass(frozen=True)
class ResponseTimes:
    """[response_times]: how soon a customer of each tier is owed a first response, by severity."""

    times: Mapping[tuple[str, int], timedelta] = field(default_factory=lambda: DEFAULT_RESPONSE_TIMES)

    def within(self, tier: str | None, severity: int) -> timedelta | None:
        """The response time for a customer of `tier` at `severity`; for a tier not known (the SEN
        could not be checked) the shortest any phone tier has, so no customer is owed more than
        they get. None when the severity has no response time."""
        if tier is not None:
            return self.times.get((tier, severity))
        known = [span for (_, level), span in self.times.items() if level == severity]
        return min(known, default=None)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    warning: bool = False
    # Lines shown under the message where there is room (the offending line of a TOML syntax error,
    # with a caret); a one-line report (gunicorn's refusal to start) uses the message alone.
    detail: str = ""

    def __str__(self) -> str:
        level = "warning" if self.warning else "error"
        text = f"{level}: {self.path}: {self.message}" if self.path else f"{level}: {self.message}"
        return f"{text}\n{self.detail}" if self.detail else text


class InvalidFile(Exception):
    """A file an admin edits (the phonebook, the customers' CSV) that cannot be used as a whole;
    `problems` lists every error (and warning) found in `source`."""

    def __init__(self, source: str, problems: list[Problem], message: str):
        self.source = source
        self.problems = problems
        super().__init__(message)


class PhonebookError(InvalidFile):
    """The phonebook cannot be used; `problems` lists every error (and warning) found."""

    def __init__(self, source: str, problems: list[Problem]):
        errors = [p for p in problems if not p.warning]
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(source, problems, f"{source}: {len(errors)} error(s)\n{lines}")


@dataclass(frozen=True, eq=False)
class Phonebook:
    service: Service
    weekend: Weekend
    severity: Mapping[int, Policy]
    lines: tuple[Line, ...]
    teams: tuple[Team, ...]
    fallback: Fallback | None
    customers: tuple[Customer, ...]
    warnings: tuple[Problem, ...] = ()
    entitlements: EntitlementSettings | None = None
    alerts: Alerts = Alerts()
    response_times: ResponseTimes = field(default_factory=ResponseTimes)
    digests: Digests = Digests()

    # Derived from the fields above; cached_property stores into the instance's __dict__, which
    # a frozen dataclass allows.
    @cached_property
    def _lines_by_number(self) -> Mapping[str, Line]:
        return MappingProxyType({line.number: line for line in self.lines})

    @cached_property
    def _customer_index(self) -> CustomerIndex:
        return CustomerIndex(self.customers)

    def line(self, number: str) -> Line | None:
        return self._lines_by_number.get(number)

    def team(self, name: str) -> Team | None:
        return next((t for t in self.teams if t.name == name), None)

    def customer_by_sen(self, sen: str) -> Customer | None:
        return self._customer_index.by_sen(sen)

    def customers_by_admin(self, number: str) -> tuple[Customer, ...]:
        return self._customer_index.by_admin(number)

    def policy(self, severity: int) -> Policy:
        return self.severity.get(severity, Policy.NEVER)


def sen_digits(sen: str) -> str:
    """'SEN-1234567' and '1234567' name the same entitlement."""
    return re.sub(r"\D", "", sen)


# The shape of an E.164 number: "+", a country code, up to 15 digits; ASCII digits only, as Twilio takes them.
E164_SHAPE = re.compile(r"\+[1-9][0-9]{6,14}")


def is_e164(number: object) -> TypeGuard[str]:
    return isinstance(number, str) and E164_SHAPE.fullmatch(number) is not None and _valid_number(number)


@lru_cache(maxsize=4096)
def _valid_number(number: str) -> bool:
    # Parsing a number costs more than the rest of a webhook's checks; the same callers call again.
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(number, None)))
    except phonenumbers.NumberParseException:
        return False


def calendar_holidays(calendar: str, year: int) -> frozenset[date]:
    country, _, subdiv = calendar.partition("-")
    return frozenset(holidays.country_holidays(country, subdiv=subdiv or None, years=year))
