"""Phonebooks for tests written from their parts: each TOML table in one line of Python, so a test's
phonebook shows what sets it apart (for `conftest.phonebook_from`, or a file's text)."""

from __future__ import annotations

import json
from datetime import date


def toml_value(value: object) -> str:
    """`value` written as TOML: a string, a whole number, a boolean, a date, or a list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, int | date):
        return str(value)
    return json.dumps(value)


def toml_table(header: str, **keys: object) -> str:
    """One TOML table, `[header]` with `keys` in order; a header "[lines]" makes an entry `[[lines]]`."""
    return f"\n[{header}]\n" + "".join(f"{key} = {toml_value(value)}\n" for key, value in keys.items())


def toml_team(name: str, kind: str, hours: list[str], dial: list[str], tz: str = "UTC", **keys: object) -> str:
    """A team's table, `[teams.<name>]`: its kind, zone, hours and numbers, then any other `keys`."""
    return toml_table(f"teams.{name}", kind=kind, tz=tz, hours=hours, dial=dial, **keys)
