"""Settings: the environment, overridden by the mapping given to `create_app`.

Every setting the service reads is listed here with its default and meaning (the README shows
the same table). Other keys of the mapping (`create_app` lists them) pass through untouched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any


class SettingsError(ValueError):
    """A setting the service cannot use; the message is one line naming it and what it accepts."""


def seconds(text: Any) -> float:
    value = float(text)
    if not 0 <= value < 86400 or value != value:  # NaN is not a duration either
        raise ValueError(text)
    return value


def whole_number(text: Any) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


def byte_count(text: Any) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


MAX_PROXY_HOPS = 5


def hops(text: Any) -> int:
    value = int(text)
    if not 0 <= value <= MAX_PROXY_HOPS:
        raise ValueError(text)
    return value

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(text: Any) -> str:
    level = str(text).upper()
    if level not in LOG_LEVELS:
        raise ValueError(text)
    return level


LOG_FORMATS = ("text", "json")
WRITER_PLACES = ("thread", "process")


def writer_place(text: Any) -> str:
    place = str(text).lower()
    if place not in WRITER_PLACES:
        raise ValueError(text)
    return place


def log_format(text: Any) -> str:
    form = str(text).lower()
    if form not in LOG_FORMATS:
        raise ValueError(text)
    return form


DATABASE_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "sqlite")


def database(text: Any) -> str:
    """A database URL the call log can use (the form is checked here; the server when it connects)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(str(text))
    except ArgumentError:
        raise ValueError(text) from None
    if url.drivername not in DATABASE_SCHEMES or (url.drivername != "sqlite" and not url.database):
        raise ValueError(text)
    return str(text)


# What each parser accepts, said in the error.
ACCEPTS: dict[Callable[[Any], Any], str] = {
    seconds: "a number of seconds from 0 to 86400, such as 1 or 0.5",
    byte_count: "a whole number of bytes above 0, such as 65536",
    hops: f"a number of proxies from 0 to {MAX_PROXY_HOPS}, such as 1 behind Heroku's router",
    whole_number: "a whole number above 0, such as 3",
    log_level: f"one of {', '.join(LOG_LEVELS)}",
    log_format: f"one of {', '.join(LOG_FORMATS)}",
    writer_place: f"one of {', '.join(WRITER_PLACES)}",
    database: "postgresql://user:password@host:5432/name (or postgres://, as Heroku writes it), "
              "or sqlite:////absolute/path.sqlite3; unset for SQLite in the instance folder",
}


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    meaning: str
    parse: Callable[[Any], Any] = str

    def read(self, value: Any) -> Any:
        try:
            return self.parse(value)
        except (TypeError, ValueError):
            shown = _redacted(str(value)) if self.parse is database else str(value)
            raise SettingsError(f"{self.name}={shown!r} is not valid: use {ACCEPTS.get(self.parse, 'text')}") from None


def _redacted(url: str) -> str:
    """A URL without its password, for an error message."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{tail}" if ":" in credentials else url


SETTINGS = (
    Setting("IVR_PHONEBOOK", "phonebook.toml", "The phonebook file; re-read when it changes."),
    Setting(
        "IVR_RELOAD_SECONDS", 1.0,
        "How often (at most) each worker looks for a changed phonebook file, on request.", seconds,
    ),
    Setting(
        "TWILIO_ACCOUNT_SID", None,
        "The Twilio account (AC...): for the REST client, and the AccountSid `ivr simulate` sends.",
    ),
    Setting(
        "TWILIO_AUTH_TOKEN", None,
        "Signs Twilio's requests. Unset: a development token is generated in the instance folder.",
    ),
    Setting(
        "TWILIO_SMS_FROM", None,
        "The number texts to deflected callers are sent from. Unset: the number the caller dialled.",
    ),
    Setting(
        "DATABASE_URL", None,
        "The call log database: a PostgreSQL URL (postgres:// as Heroku writes it, or postgresql://). "
        "Unset: SQLite calllog.sqlite3 in the instance folder.", database,
    ),
    Setting(
        "IVR_JOURNAL_DIR", None,
        "Where each worker appends the call events it accepts before they are stored in the database "
        "(a local disk shared by the instance's workers). Unset: `journal` in the instance folder.",
    ),
    Setting(
        "IVR_WRITER", "thread",
        "Where the journal is stored in the database: thread (a thread of the process that records the events, "
        "whichever holds the journal's writer.lock) or process (a process of its own: gunicorn's master starts "
        "`ivr writer` and sets this for its workers, which then only append to the journal).", writer_place,
    ),
    Setting("IVR_OPS_PASSWORD", None,
            "The ops console's password (user `ops` for HTTP Basic). Unset: /ops and /metrics answer 403."),
    Setting(
        "IVR_ALERT_SETTLE_SECONDS", 10.0,
        "How long a missed-call alert without a voicemail waits for a recording still on its way.", seconds,
    ),
    Setting("IVR_ALERT_BACKOFF_SECONDS", 2.0, "The first pause before an alert is retried (then doubled).", seconds),
    Setting(
        "IVR_ALERT_LEASE_SECONDS", 60.0,
        "How long the process sending an alert holds it; if that process dies, another takes it over after this.",
        seconds,
    ),
    Setting(
        "IVR_ALERT_SWEEP_SECONDS", 5.0,
        "How often the process that stores the call log (the writer, under gunicorn) looks for due alerts.",
        seconds,
    ),
    Setting(
        "IVR_ENTITLEMENTS_TOKEN", None,
        "Bearer token for the licensing API of `[entitlements] url`. Unset: no Authorization header.",
    ),
    Setting(
        "IVR_LICENSING_FAILURES", 3,
        "Consecutive failed licensing lookups after which each worker stops asking for a cool-down.", whole_number,
    ),
    Setting(
        "IVR_LICENSING_COOL_DOWN_SECONDS", 30.0,
        "How long lookups fail open at once after repeated failures, before one is let through.", seconds,
    ),
    Setting(
        "IVR_LICENSING_BUDGET_SECONDS", 3.0,
        "Seconds each worker may spend waiting on the licensing API at a stretch (refilled at 0.25 s "
        "a second); 0: no budget.", seconds,
    ),
    Setting(
        "IVR_SMS_PER_NUMBER_HOUR", 3,
        "Texts to deflected callers each worker sends to one number in an hour at most; more are refused.",
        whole_number,
    ),
    Setting(
        "IVR_SEN_FAILURES_PER_HOUR", 10,
        "Unknown SENs one calling number may give in an hour (all its calls, every worker, from the call log); "
        "then its calls end with the portal address and ops is alerted once.",
        whole_number,
    ),
    Setting(
        "IVR_PUBLIC_URL", None,
        "The https base URL Twilio calls (https://ivr.example.com, no path); signatures are checked against it "
        "(`ivr simulate` signs for it). Required with a real TWILIO_AUTH_TOKEN, unless IVR_TRUST_PROXY is set.",
    ),
    Setting(
        "IVR_TRUST_PROXY", 0,
        "How many proxies in front of the service to believe about the client's address and scheme "
        "(X-Forwarded-For, X-Forwarded-Proto; never X-Forwarded-Host). 0: none.", hops,
    ),
    Setting(
        "IVR_INSTANCE_PATH", None,
        "The instance folder (development token, SQLite call log, the last good phonebook).",
    ),
    Setting("IVR_VOICE", "Polly.Joanna-Neural", "The Twilio <Say> voice for every prompt."),
    Setting("IVR_LANGUAGE", "en-US", "The language of prompts and of speech recognition."),
    Setting("IVR_LOG_LEVEL", "INFO", "Logging level of the `ivr` loggers.", log_level),
    Setting(
        "IVR_LOG_FORMAT", "text",
        "How every log line is written (gunicorn's error and access logs, the `ivr` loggers): text, or json "
        "(one JSON object a line; a webhook's lines carry its call_sid).", log_format,
    ),
    Setting("MAX_CONTENT_LENGTH", 64 * 1024, "Largest request body accepted (bytes); larger gets 413.", byte_count),
)


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """Defaults, then the environment, then `overrides`, each parsed to the setting's type;
    SettingsError names the first setting that cannot be used."""
    settings: dict[str, Any] = {setting.name: read_setting(setting.name, environ) for setting in SETTINGS}
    for name, value in (overrides or {}).items():
        known = _BY_NAME.get(name)
        settings[name] = known.read(value) if known is not None and value is not None else value
    return settings


_BY_NAME = {setting.name: setting for setting in SETTINGS}


def read_setting(name: str, environ: Mapping[str, str] = os.environ) -> Any:
    """One setting from the environment (or its default), parsed; SettingsError when it cannot be used."""
    setting = _BY_NAME[name]
    raw = environ.get(name) or setting.default
    return setting.read(raw) if raw is not None else None


def check_signing(settings: Mapping[str, Any]) -> None:
    """With a real TWILIO_AUTH_TOKEN the service must know the URL Twilio signed: IVR_PUBLIC_URL, or
    a proxy the operator trusts (IVR_TRUST_PROXY) that only forwards this service's host names.
    Otherwise any Host header would do, and a request Twilio signed for another host of the same
    account would pass. (The generated development token signs local calls only.)"""
    if settings.get("TWILIO_AUTH_TOKEN") and not settings.get("IVR_PUBLIC_URL") and not settings.get("IVR_TRUST_PROXY"):
        raise SettingsError(
            "IVR_PUBLIC_URL is not set: with TWILIO_AUTH_TOKEN set, signatures must be checked against the URL "
            "Twilio calls; set IVR_PUBLIC_URL=https://HOST, or IVR_TRUST_PROXY=1 behind one proxy that only "
            "forwards this service's own host names (as Heroku's router does)"
        )


def default(name: str) -> Any:
    """A setting's default, parsed: the one place each default is written."""
    setting = _BY_NAME[name]
    return None if setting.default is None else setting.read(setting.default)


def install_prefix(package_path: str, sys_prefix: str) -> str | None:
    """The prefix (holding lib/, bin/, var/) the package folder `package_path` is installed under;
    None when it is not installed (a checkout, an editable install). Flask's rule (`find_package`)."""
    py_prefix = os.path.abspath(sys_prefix)
    if PurePath(package_path).is_relative_to(py_prefix):
        return py_prefix
    site_parent, site_folder = os.path.split(package_path)
    if site_folder.lower() == "site-packages":
        parent, folder = os.path.split(site_parent)
        if folder.lower() == "lib":  # Windows: prefix/Lib/site-packages
            return parent
        if os.path.basename(parent).lower() == "lib":  # prefix/lib/pythonX.Y/site-packages
            return os.path.dirname(parent)
        return site_parent  # prefix/site-packages
    return None


def default_instance_path() -> str:
    """The instance folder (development token, SQLite call log) when IVR_INSTANCE_PATH is unset: the
    one Flask picks for the app (`Flask.auto_find_instance_path`), computed without building an app:
    `<prefix>/var/ivr-instance` when the package is installed, else `instance` next to the package."""
    # The folder holding the `ivr` package, as Flask finds it from the package's __init__.py.
    package_path = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    prefix = install_prefix(package_path, sys.prefix)
    if prefix is None:
        return os.path.join(package_path, "instance")
    return os.path.join(prefix, "var", "ivr-instance")
