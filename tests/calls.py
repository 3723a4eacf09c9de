"""Helpers for the voice tests: an app with a recording event sink, signed requests, simulated calls."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import conftest
from conftest import SAMPLE, utc
from flask import Flask
from twilio.request_validator import RequestValidator

from ivr.cli import simulate
from ivr.engine.events import CallEvent
from ivr.engine.outcomes import Event

R = TypeVar("R")

TOKEN = conftest.TWILIO_TOKEN
ACCOUNT = conftest.TWILIO_ACCOUNT
US_LINE = "+14155550100"
UK_LINE = "+442079460100"
NL_LINE = "+31205550100"
AU_LINE = "+61255501000"
ACME_ADMIN = "+14155551234"
INITECH_ADMIN = "+14155559876"
STRANGER = "+12025550143"
SF = ("+14155550101", "+14155550102")
AMSTERDAM = ("+31205550101", "+31205550102")
SYDNEY = ("+61255501001", "+61255501002")
SELECT = ("+14155550110", "+31205550110")
FALLBACK = "+14155550142"
# Twilio's StirVerstat for a caller ID the carrier fully attested.
ATTESTED = "TN-Validation-Passed-A"


@dataclass
class ListSink:
    """Keeps events in memory, keyed as a store would, so repeats overwrite."""

    events: list[Event] = field(default_factory=list)

    def record(self, call_sid: str, event: CallEvent, at: datetime) -> None:
        self.events = [e for e in self.events if (e.call_sid, e.key) != (call_sid, event.key)]
        self.events.append(Event(call_sid=call_sid, key=event.key, at=at, record=event))

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, kind: type[R]) -> list[R]:
        """The records of one kind, in the order they were recorded."""
        return [e.record for e in self.events if isinstance(e.record, kind)]


def pinned_app(tmp_path: Path, at: str | None = "2026-12-01T20:00Z", **config) -> Flask:
    """The service with events kept in a `ListSink` and, unless `at` is None, the clock pinned at `at`."""
    clock = {"CLOCK": lambda: utc(at)} if at else {}
    return conftest.make_app(tmp_path, **{"EVENT_SINK": ListSink(), **clock, **config})


def post(client, path: str, params: dict, *, token: str = TOKEN, url: str | None = None, headers: dict | None = None):
    """POST as Twilio does: form parameters signed for `url` (default: the URL the test client requests)."""
    signed_for = url or f"{simulate.IN_PROCESS_BASE}{path}"
    signature = RequestValidator(token).compute_signature(signed_for, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature, **(headers or {})})


def call_params(to: str = US_LINE, caller: str = STRANGER, **more) -> dict:
    return {"CallSid": "CA" + "a" * 32, "AccountSid": ACCOUNT, "From": caller, "To": to,
            "CallStatus": "in-progress", "Direction": "inbound", **more}


def twiml(response) -> ET.Element:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data(as_text=True))
    assert root.tag == "Response"
    return root


@dataclass
class Played:
    turns: list[simulate.Turn]
    events: ListSink

    def said(self, who: str) -> list[str]:
        return [t.what for t in self.turns if t.who == who]

    def heard(self) -> str:
        return " ".join(self.said("caller hears"))


def play(tmp_path: Path, at: str, to: str, caller: str = STRANGER, press: str = "", answer=(), voicemail=(),
         hang_up_ringing: int | None = None, engineer_keys=(), hangs_up_on_hold=False, **config) -> Played:
    """One simulated call, in-process, at the instant `at` (the caller hanging up while the
    `hang_up_ringing`th <Dial> rings, if given; `engineer_keys`: the first engineer's, in the room)."""
    sink = config.pop("EVENT_SINK", None) or ListSink()
    simulator = simulate.in_process(
        str(config.pop("phonebook", SAMPLE)), utc(at),
        {"IVR_INSTANCE_PATH": str(tmp_path / "instance"), "TWILIO_AUTH_TOKEN": TOKEN, "EVENT_SINK": sink, **config},
    )
    turns = simulator.call(to, caller, simulate.parse_presses(press), answer, voicemail, hang_up_ringing=hang_up_ringing,
                           engineer_keys=engineer_keys, hangs_up_on_hold=hangs_up_on_hold)
    return Played(turns, sink)
