"""Settings: the environment, overridden by the mapping given to `create_app`.

Every setting the service reads is listed here with its default and meaning (the README shows
the same table). Other keys of the mapping (`create_app` lists them) pass through untouched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from ivr.store.reloading import CHECK_INTERVAL


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    meaning: str
    parse: type = str


SETTINGS = (
    Setting("IVR_PHONEBOOK", "phonebook.toml", "The phonebook file; re-read when it changes."),
    Setting(
        "IVR_RELOAD_SECONDS", CHECK_INTERVAL,
        "How often (at most) each worker looks for a changed phonebook file, on request.", float,
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
        "Unset: SQLite calllog.sqlite3 in the instance folder.",
    ),
    Setting("IVR_OPS_PASSWORD", None,
            "The ops console's password (user `ops` for HTTP Basic). Unset: /ops and /metrics answer 403."),
    Setting(
        "IVR_ALERT_SETTLE_SECONDS", 10.0,
        "How long a missed-call alert without a voicemail waits for a recording still on its way.", float,
    ),
    Setting("IVR_ALERT_BACKOFF_SECONDS", 2.0, "The first pause before an alert is retried (then doubled).", float),
    Setting(
        "IVR_ALERT_LEASE_SECONDS", 60.0,
        "How long a worker holds an alert it is sending; a worker that dies loses it to another after this.",
        float,
    ),
    Setting("IVR_ALERT_SWEEP_SECONDS", 5.0, "How often each worker looks for due alerts in the call log.", float),
    Setting(
        "IVR_ENTITLEMENTS_TOKEN", None,
        "Bearer token for the licensing API of `[entitlements] url`. Unset: no Authorization header.",
    ),
    Setting(
        "IVR_PUBLIC_URL", None,
        "The https base URL Twilio calls (https://ivr.example.com, no path); signatures are checked against it "
        "(`ivr simulate` signs for it). "
        "Unset: the request URL, as told by the proxy's X-Forwarded-Proto/Host.",
    ),
    Setting("IVR_INSTANCE_PATH", None, "The instance folder (development token, SQLite call log)."),
    Setting("IVR_VOICE", "Polly.Joanna-Neural", "The Twilio <Say> voice for every prompt."),
    Setting("IVR_LANGUAGE", "en-US", "The language of prompts and of speech recognition."),
    Setting("IVR_LOG_LEVEL", "INFO", "Logging level of the `ivr` loggers."),
    Setting("MAX_CONTENT_LENGTH", 64 * 1024, "Largest request body accepted (bytes); larger gets 413.", int),
)


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] = os.environ) -> dict:
    """Defaults, then the environment, then `overrides`."""
    settings: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name) or setting.default
        settings[setting.name] = setting.parse(raw) if raw is not None else None
    settings.update(overrides or {})
    return settings


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
