"""Call events: what happened on a call, step by step, as typed records for the call log.

The voice webhooks report each step to an `EventSink` as one of the records below. Recording
must never break or delay a call, so a sink swallows its own failures. A record's `key` names it
within its call, so a repeated callback (Twilio retries and reorders them) overwrites instead of
duplicating.

`to_data` and `from_data` are the one place a record meets its stored form: a kind (`dial`) and
a JSON object whose keys are the record's fields (`from` for `Started.caller`); `stored_form` is the
two in one, without the record between them. Reading is
tolerant: a missing key takes the field's default, a value of the wrong type is read as the
field's type or dropped, unknown keys are ignored, and an unknown kind comes back as
`Unrecognised`, so rows stored by another version of the service still read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeAlias, cast, get_args, get_type_hints


class _Kind:
    """A kind of event the webhooks write; unless it says otherwise, one per call (keyed by kind)."""

    kind: ClassVar[str]

    @property
    def key(self) -> str:
        return self.kind


@dataclass(frozen=True, kw_only=True)
class Started(_Kind):
    """The call came in on `to`, one of the phonebook's lines (`line` is its label) or not."""

    kind: ClassVar[str] = "started"
    line: str | None = None
    region: str | None = None
    caller: str | None = field(default=None, metadata={"json": "from"})
    to: str | None = None
    caller_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class Recognised(_Kind):
    """The caller ID is a known customer's."""

    kind: ClassVar[str] = "recognised"
    sen: str | None = None
    customer: str | None = None
    # The customer's tier: its callback's response time (`ivr.engine.callbacks`).
    tier: str | None = None


@dataclass(frozen=True, kw_only=True)
class SenEntered(_Kind):
    """The caller's `attempt`th SEN: what was read, or why nothing usable was (`miss`)."""

    kind: ClassVar[str] = "sen_entered"
    sen: str | None = None
    attempt: int
    miss: str | None = None

    @property
    def key(self) -> str:
        return f"sen:{self.attempt}"


@dataclass(frozen=True, kw_only=True)
class Entitlement(_Kind):
    """What the customer list says of the SEN: `ok`, `unverified` or why the caller may not call."""

    kind: ClassVar[str] = "entitlement"
    sen: str | None = None
    customer: str | None = None
    verdict: str | None = None
    tier: str | None = None


@dataclass(frozen=True, kw_only=True)
class Deflected(_Kind):
    """The caller was given a final answer instead of an engineer."""

    kind: ClassVar[str] = "deflected"
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Sms(_Kind):
    """A text with the way forward was queued for the caller."""

    kind: ClassVar[str] = "sms"
    reason: str | None = None
    to: str | None = None


@dataclass(frozen=True, kw_only=True)
class Severity(_Kind):
    kind: ClassVar[str] = "severity"
    severity: int | None = None


@dataclass(frozen=True, kw_only=True)
class Routed(_Kind):
    """The routing decision: `connect` to the candidates (teams, in order) or `deflect`."""

    kind: ClassVar[str] = "routed"
    action: str | None = None
    reason: str | None = None
    candidates: tuple[str, ...] = ()
    weekend: bool = False


@dataclass(frozen=True, kw_only=True)
class Dial(_Kind):
    """The result of the `attempt`th <Dial>: a team's `numbers` rang; `bridged` when one took it."""

    kind: ClassVar[str] = "dial"
    attempt: int
    team: str | None = None
    numbers: tuple[str, ...] = ()
    status: str | None = None
    duration: int | None = None
    accepted_by: str | None = None
    dial_call_sid: str | None = None
    bridged: bool = False

    @property
    def key(self) -> str:
        return f"dial:{self.attempt}"


@dataclass(frozen=True, kw_only=True)
class Screened(_Kind):
    """The engineer on `number` (their leg `dial_call_sid`) pressed 1 to take the call, or did not."""

    kind: ClassVar[str] = "screened"
    number: str | None = None
    accepted: bool = False
    dial_call_sid: str | None = None

    @property
    def key(self) -> str:
        return self.kind if self.dial_call_sid is None else f"screened:{self.dial_call_sid}"


@dataclass(frozen=True, kw_only=True)
class Joined(_Kind):
    """The engineer on `number` (leg `leg`, of `team`) is in the call's conference room: took the
    call, or joined it in a handoff."""

    kind: ClassVar[str] = "joined"
    number: str | None = None
    leg: str | None = None
    team: str | None = None

    @property
    def key(self) -> str:
        return f"joined:{self.leg}"


@dataclass(frozen=True, kw_only=True)
class Left(_Kind):
    """The engineer on `number` (leg `leg`) left the call: hung up, or the call ended round them."""

    kind: ClassVar[str] = "left"
    number: str | None = None
    leg: str | None = None

    @property
    def key(self) -> str:
        return f"left:{self.leg}"


@dataclass(frozen=True, kw_only=True)
class HandoffAsked(_Kind):
    """The engineer on `by` asked for the call's `attempt`th handoff, to `team` (the next office, or
    their own team), or found nobody to ask (`team` None)."""

    kind: ClassVar[str] = "handoff_asked"
    attempt: int
    by: str | None = None
    team: str | None = None
    own_team: bool = False

    @property
    def key(self) -> str:
        return f"handoff:{self.attempt}"


@dataclass(frozen=True, kw_only=True)
class HandoffDial(_Kind):
    """Who rang for the `attempt`th handoff (its `ring`th <Dial>), and how it ended: `joined` when one
    of them pressed 1 and is in the room."""

    kind: ClassVar[str] = "handoff_dial"
    attempt: int
    ring: int = 0
    team: str | None = None
    numbers: tuple[str, ...] = ()
    status: str | None = None
    joined: bool = False

    @property
    def key(self) -> str:
        return f"handoff_dial:{self.attempt}:{self.ring}"


@dataclass(frozen=True, kw_only=True)
class Voicemail(_Kind):
    """The recording status callback; `status` other than `completed` means no message was left."""

    kind: ClassVar[str] = "voicemail"
    recording_url: str | None = None
    recording_sid: str | None = None
    duration: int | None = None
    status: str | None = None


# The CallStatus values after which a call is over (Twilio's status callback also reports `queued`,
# `ringing` and `in-progress` when asked to).
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
_STATUSES = FINAL_STATUSES | {"queued", "ringing", "in-progress"}


@dataclass(frozen=True, kw_only=True)
class Status(_Kind):
    """A status callback of the call. Keyed by the status, so `in-progress` then `completed` keeps
    both (the summary takes the final one) while a repeat of either is still one event. Rows an
    earlier version stored under the key `status` read the same."""

    kind: ClassVar[str] = "status"
    call_status: str | None = None
    duration: int | None = None

    @property
    def key(self) -> str:
        # A status Twilio does not document is keyed as one "other", so the key stays short.
        return f"status:{self.call_status if self.call_status in _STATUSES else 'other'}"

    @property
    def final(self) -> bool:
        return self.call_status in FINAL_STATUSES


@dataclass(frozen=True, kw_only=True)
class Outbound(_Kind):
    """A call we placed: the console's call back of `callback`, ringing the `engineer` first, then
    the customer (the call's `Started.caller`)."""

    kind: ClassVar[str] = "outbound"
    callback: int | None = None
    engineer: str | None = None
    who: str | None = None


@dataclass(frozen=True, kw_only=True)
class Error(_Kind):
    """A webhook step failed (`step`, the endpoint) and the caller was rescued."""

    kind: ClassVar[str] = "error"
    message: str | None = None
    step: str | None = None


@dataclass(frozen=True)
class Unrecognised:
    """A stored event of a kind this version does not write, kept as it was stored."""

    kind: str
    data: Mapping[str, object]

    @property
    def key(self) -> str:
        return self.kind


Known: TypeAlias = (
    Started | Recognised | SenEntered | Entitlement | Deflected | Sms | Severity | Routed | Dial | Screened
    | Joined | Left | HandoffAsked | HandoffDial | Voicemail | Status | Error | Outbound
)
CallEvent: TypeAlias = Known | Unrecognised

KINDS: dict[str, type[Known]] = {cls.kind: cls for cls in get_args(Known)}


class EventSink(Protocol):
    def record(self, call_sid: str, event: CallEvent, at: datetime) -> None:
        """Store one event; never raises. Repeats of `event.key` within a call are idempotent."""


# --- the stored form ---------------------------------------------------------------------


def _whole(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]  # any stored value; int() may refuse it
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity, which Python's json writes
        return None


def _text(value: object) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


def _text_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _texts(value: object) -> tuple[str, ...]:
    return tuple(_text_list(value))


# How a stored value is read for a field of each type a record uses.
_READ: dict[object, Callable[[object], object]] = {
    str | None: _text,
    int | None: _whole,
    int: lambda value: _whole(value) or 0,
    bool: bool,
    tuple[str, ...]: _texts,
}
# A reader that reads straight to the stored form instead, where that differs (tuples are stored as lists).
_AS_STORED: dict[Callable[[object], object], Callable[[object], object]] = {_texts: _text_list}


def _json_name(f: Field[Any]) -> str:
    return cast(str, f.metadata.get("json", f.name))


def _readers(cls: type[Known]) -> tuple[tuple[str, str, Callable[[object], object], object], ...]:
    """(field, JSON key, reader, what it reads when the key is absent) for each field of a kind: the
    field's default (which reads as itself), else None, read as the field's type."""
    hints = get_type_hints(cls)
    found = []
    for f in fields(cls):
        read = _READ[hints[f.name]]
        if f.default is not MISSING and read(f.default) != f.default:
            raise TypeError(f"{cls.__name__}.{f.name}: its default {f.default!r} does not read as itself")
        found.append((f.name, _json_name(f), read, None if f.default is MISSING else f.default))
    return tuple(found)


# Built at import, so a field of a type `_READ` cannot read fails at once, not on the first call.
_READERS = {kind: _readers(cls) for kind, cls in KINDS.items()}
# (JSON key, reader, when absent) of each field, read to its stored form.
_STORED_READERS = {kind: tuple((json_name, _AS_STORED.get(read, read), absent)
                               for _name, json_name, read, absent in readers)
                   for kind, readers in _READERS.items()}
# (field, JSON key) for each field of a kind, in order: every accepted event is written with them.
_WRITTEN = {cls: tuple((name, json_name) for name, json_name, _read, _absent in _READERS[kind])
            for kind, cls in KINDS.items()}


def to_data(event: CallEvent) -> dict[str, object]:
    """The JSON object stored for `event` (tuples become lists)."""
    if isinstance(event, Unrecognised):
        return dict(event.data)
    data: dict[str, object] = {}
    for name, json_name in _WRITTEN[type(event)]:
        value = getattr(event, name)
        data[json_name] = list(value) if isinstance(value, tuple) else value
    return data


def from_data(kind: str, data: object) -> CallEvent:
    """The record stored as `kind` and `data`; see the module's docstring for what it tolerates."""
    stored: Mapping[str, object] = data if isinstance(data, Mapping) else {}
    cls = KINDS.get(kind)
    if cls is None:
        return Unrecognised(kind, dict(stored))
    values: dict[str, Any] = {name: read(stored.get(json_name, absent))
                              for name, json_name, read, absent in _READERS[kind]}
    return cls(**values)


def stored_form(kind: str, data: object) -> dict[str, object]:
    """`to_data(from_data(kind, data))` without the record between them: what a stored event says,
    read as tolerantly, for pages of thousands of events."""
    stored: Mapping[str, object] = data if isinstance(data, Mapping) else {}
    readers = _STORED_READERS.get(kind)
    if readers is None:
        return dict(stored)
    return {json_name: read(stored.get(json_name, absent)) for json_name, read, absent in readers}
