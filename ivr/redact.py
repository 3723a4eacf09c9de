"""Secrets out of text meant for people: log lines and the health report.

Errors carry what failed, and what failed can carry a secret: a licensing URL with `?api_key=`, a
database URL with its password, a Bearer header, a Slack webhook's secret path, the parameters
of a failed SQL statement (callers' numbers, SENs, customers). `redact` replaces each with `***`
and keeps the rest, so the message still says what went wrong.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# user:password@ in any URL (postgresql://ivr:secret@db/ivr).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@")
# A query-string (or form) parameter whose name says it is a credential.
_SECRET_PARAMETER = re.compile(
    r"(?P<head>[?&;](?:[\w.-]*(?:key|token|secret|passw(?:or)?d|pwd|signature|sig|auth|credential)s?[\w.-]*)=)"
    r"[^&;#\s'\"]*",
    re.IGNORECASE,
)
# Authorization: Bearer ... / Basic ...
_AUTHORIZATION = re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# A Slack incoming webhook: the path is the credential.
_SLACK_HOOK = re.compile(r"(?P<head>hooks\.slack\.com/services/)[^\s'\"]+")
# SQLAlchemy's "[parameters: ...]" after a failed statement (the engines hide them; this is a net).
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\s*(?:\n|\(Background|$))", re.DOTALL)


def redact(text: str) -> str:
    """`text` with every secret it recognises replaced by `***`."""
    text = _SQL_PARAMETERS.sub(f"[parameters: {MASK}]", text)
    text = _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text)
    for pattern in (_SECRET_PARAMETER, _AUTHORIZATION, _SLACK_HOOK):
        text = pattern.sub(rf"\g<head>{MASK}", text)
    return text


def redacted(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    return value
