"""A phone call without a phone: play Twilio's side of a call against the service.

The simulator sends what Twilio sends (the real parameter names, signed with the auth token as
Twilio signs them), follows every action URL, types the caller's keys into each <Gather> (at its
first pause, as a caller who knows the menu interrupts it), rings the dialled numbers (the ones
told to answer pick up, hear the whisper and press 1; a voicemail picks up and presses nothing;
the caller may hang up while it rings), posts the recording and final status callbacks, and
writes down what each party hears and does.
In-process it also plays Twilio's side of the service's REST requests on live calls (`Switchboard`):
an engineer who presses 1 is moved into the call's conference room, where they may press * for
the handoff menu (`engineer_keys`), the colleague rung then hears the handoff whisper, and so on.
It talks to an app in-process (Flask's test client) or to a running service over HTTP. Like
Twilio, it signs the URLs under the service's public base (`IVR_PUBLIC_URL`, where Twilio calls),
while its requests go to the address it was given (say http://127.0.0.1:8000).
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Literal, Protocol, overload
from urllib.parse import urljoin

import requests
from flask import Flask
from twilio.request_validator import RequestValidator

from ivr.callflow.prompts import speaking_seconds
from ivr.config import default_instance_path, load_settings
from ivr.outside.calls import IN_PROGRESS
from ivr.outside.sms import TextRecorder
from ivr.store.logsink import LogSink
from ivr.store.migrate import new_sqlite
from ivr.web.app import create_app
from ivr.web.services import services_of
from ivr.web.signature import SIGNATURE_HEADER, dev_token_path

ENTRY_PATH = "/voice"
STATUS_PATH = "/voice/status"
API_VERSION = "2010-04-01"
IN_PROCESS_BASE = "http://localhost"
# How long a simulated engineer talks once connected, and a simulated voicemail lasts.
TALK_SECONDS = 600
MESSAGE_SECONDS = 25
MAX_REQUESTS = 100
# Twilio gives up on a webhook after this long.
TWILIO_WAIT_SECONDS = 15
# A caller the sample phonebook does not know.
UNKNOWN_CALLER = "+12025550143"
# What Twilio says of a simulated caller ID by default: fully attested (SHAKEN/STIR A), as for most
# calls from North American carriers, so an admin's number is recognised under the default
# `trust_caller_id = "attested"`.
ATTESTED = "TN-Validation-Passed-A"
REFUSED_HINT = (
    "the signature did not match: is TWILIO_AUTH_TOKEN the service's token, and does --public-url match "
    "the service's IVR_PUBLIC_URL?"
)


class SimulationError(Exception):
    """The service answered something Twilio would reject (an error status, not TwiML, a loop), or
    nothing answered: one line that says which step, which URL and why."""


class Unreachable(Exception):
    """A transport found nothing answering where the service should be; the message says why."""


@dataclass(frozen=True)
class Turn:
    who: str    # "caller hears", "caller presses", "rings", "answers", "engineer hears", ...
    what: str


class Transport(Protocol):
    base: str  # where the service is reached

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        """The status and body the service answered; Unreachable when nothing answered."""
        ...


class InProcess:
    """Requests through Flask's test client: real HTTP semantics, no socket."""

    base = IN_PROCESS_BASE

    def __init__(self, app: Flask):
        self.client = app.test_client()

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = self.client.post(url, data=params, headers=headers)
        return response.status_code, response.get_data(as_text=True)


class OverHttp:
    """Requests to a running service."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.session = requests.Session()

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        try:
            response = self.session.post(
                url, data=params, headers=headers, timeout=TWILIO_WAIT_SECONDS, allow_redirects=False
            )
        except requests.ConnectionError as exc:
            raise Unreachable(
                f"nothing answers at {self.base} ({_socket_error(exc)}): is the service running, and is --url "
                "its address?"
            ) from None
        except requests.Timeout:
            raise Unreachable(f"no answer within {TWILIO_WAIT_SECONDS} s, when Twilio gives up") from None
        return response.status_code, response.text


def _socket_error(exc: BaseException) -> str:
    """'connection refused', from the socket error that requests and urllib3 wrap in theirs."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror[:1].lower() + seen.strerror[1:]
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else seen.__cause__ or seen.__context__
    return type(exc).__name__


def sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


# Keys an engineer "presses" to hang up (`engineer_keys`): in the room, or while a colleague's phone
# rings. "*,1,hangup" hands the call to the next office and leaves once the colleague is in.
HANG_UP = "hangup"
HANG_UP_RINGING = "hangup-ringing"


class Switchboard:
    """Twilio's REST API for live calls, in-process (an `ivr.outside.calls.CallControl`): a move waits
    here until the simulator plays it; a call is up from its answer until it hangs up."""

    configured = True

    def __init__(self) -> None:
        self.up: set[str] = set()
        self.moves: list[tuple[str, str, str]] = []  # (CallSid, "twiml" or "url", the TwiML or URL)

    def redirect(self, call_sid: str, twiml: str) -> bool:
        return self._move(call_sid, "twiml", twiml)

    def redirect_url(self, call_sid: str, url: str) -> bool:
        return self._move(call_sid, "url", url)

    def _move(self, call_sid: str, kind: str, body: str) -> bool:
        if call_sid not in self.up:
            return False
        self.moves.append((call_sid, kind, body))
        return True

    def status(self, call_sid: str) -> str | None:
        return IN_PROGRESS if call_sid in self.up else "completed"

    def take(self) -> list[tuple[str, str, str]]:
        moves, self.moves = self.moves, []
        return moves


@dataclass
class _Leg:
    """An engineer's leg: their number, what they are called in the transcript, the keys still to
    press, and, in the conference room, their <Dial>'s action and time limit."""

    sid: str
    phone: str
    who: str
    params: dict[str, str]
    keys: list[str] = field(default_factory=list)
    action: str = ""
    time_limit: int | None = None


# A press group that starts with this hears the whole prompt, then presses: `wait:1`.
WAIT = "wait:"


def parse_presses(text: str) -> list[str]:
    """'1234567#,1' as one group per <Gather>; an empty group is a time-out."""
    return text.split(",") if text else []


@dataclass
class _Call:
    sid: str
    params: dict[str, str]
    presses: list[str]
    answers: frozenset[str]
    voicemails: frozenset[str]
    # The caller hangs up while this <Dial> of the call rings (1: the first), if it comes.
    hang_up_ringing: int | None = None
    turns: list[Turn] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0
    dials: int = 0
    dialled: set[str] = field(default_factory=set)
    caller_gone: bool = False
    # The handoff: keys of the first engineer in the room, every engineer's leg, those in the room,
    # where the caller is ("room", "hold", "gone", "ended") and a URL the caller was moved to.
    engineer_keys: list[str] = field(default_factory=list)
    hangs_up_on_hold: bool = False
    legs: dict[str, _Leg] = field(default_factory=dict)
    room: list[_Leg] = field(default_factory=list)
    place: str = ""
    room_action: str = ""
    resume: str | None = None
    held: str | None = None

    def note(self, who: str, what: str) -> None:
        self.turns.append(Turn(who, what))


class Simulator:
    """With `outbox`, the texts the service would have sent appear in the transcript. `public_url` is
    the base Twilio would call (the service's IVR_PUBLIC_URL); default: the transport's own base.
    `stir_verstat` is the incoming call's `StirVerstat` ("": none sent, as for most calls from
    outside North America)."""

    def __init__(
        self, transport: Transport, auth_token: str, account_sid: str | None = None, outbox: TextRecorder | None = None,
        public_url: str | None = None, stir_verstat: str = ATTESTED, switchboard: Switchboard | None = None,
    ):
        self.transport = transport
        self.board = switchboard or Switchboard()
        self.stir_verstat = stir_verstat
        self.public = (public_url or transport.base).rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.account_sid = account_sid or "AC" + "0" * 32
        self.outbox = outbox

    def call(
        self, to: str, caller: str, presses: Sequence[str] = (), answers: Sequence[str] = (),
        voicemails: Sequence[str] = (), hang_up_ringing: int | None = None, engineer_keys: Sequence[str] = (),
        hangs_up_on_hold: bool = False,
    ) -> list[Turn]:
        """Play one inbound call to the end and return its transcript. Of the dialled numbers,
        `answers` pick up and press 1, `voicemails` pick up and press nothing; the rest ring out.
        With `hang_up_ringing` N the caller hangs up while the call's Nth <Dial> rings (an abandoned
        call). The first engineer in the call's conference room then presses `engineer_keys` in turn
        (`*` for the handoff menu, a menu key, `hangup` to leave); with `hangs_up_on_hold` the caller
        hangs up when put on hold. After that they talk, and the caller hangs up. The transcript ends
        with a note for each number given that was never dialled."""
        call = _Call(
            sid=sid("CA"),
            params={
                "AccountSid": self.account_sid, "ApiVersion": API_VERSION, "Direction": "inbound",
                "From": caller, "Caller": caller, "To": to, "Called": to,
            },
            presses=list(presses),
            answers=frozenset(answers),
            voicemails=frozenset(voicemails),
            hang_up_ringing=hang_up_ringing,
            engineer_keys=list(engineer_keys),
            hangs_up_on_hold=hangs_up_on_hold,
        )
        call.params["CallSid"] = call.sid
        self.board.up.add(call.sid)
        call.note("call", f"{caller} calls {to}")
        url = self.public + ENTRY_PATH
        params = {**call.params, "CallStatus": "ringing"}
        if self.stir_verstat:
            params["StirVerstat"] = self.stir_verstat
        document: ET.Element | None = self._post(call, "the call comes in", url, params)
        while document is not None:
            document, url = self._run(call, document, url)
        status = {**call.params, "CallStatus": "completed", "CallDuration": str(round(call.seconds))}
        self._post(call, "the call's final status", self.public + STATUS_PATH, status, twiml=False)
        call.note("ends", f"after {round(call.seconds)} s")
        for option, numbers in (("--answer", answers), ("--voicemail", voicemails)):
            for number in sorted(set(numbers) - call.dialled):
                call.note("note", f"{number} ({option}) was never dialled")
        if hang_up_ringing is not None and call.dials < hang_up_ringing:
            call.note("note", f"the caller would have hung up at ringing round {hang_up_ringing}, "
                              f"but the call rang {call.dials} round(s)")
        return call.turns

    # --- HTTP ----------------------------------------------------------------------------

    @overload
    def _post(
        self, call: _Call, step: str, url: str, params: dict[str, str], twiml: Literal[True] = True
    ) -> ET.Element: ...
    @overload
    def _post(self, call: _Call, step: str, url: str, params: dict[str, str], twiml: Literal[False]) -> None: ...
    def _post(self, call: _Call, step: str, url: str, params: dict[str, str], twiml: bool = True) -> ET.Element | None:
        """POST `params` for `step`, signed for `url` as Twilio would request it, to where the service is."""
        call.requests += 1
        if call.requests > MAX_REQUESTS:
            raise SimulationError(f"more than {MAX_REQUESTS} requests: the call flow loops")
        headers = {SIGNATURE_HEADER: self.validator.compute_signature(url, params)}
        address = self._address(url)
        # One line, never the error page: the service's log has the details.
        request = f"step {call.requests} ({step}): POST {address}" + (f" signed for {url}" if address != url else "")
        try:
            status, body = self.transport.post(address, params, headers)
        except Unreachable as exc:
            raise SimulationError(f"{request}: {exc}") from None
        for text in self.outbox.take() if self.outbox else ():
            call.note("would text", f"{text.to} from {text.from_}: {text.body}")
        self._play_moves(call)
        if status >= 300:
            hint = f": {REFUSED_HINT}" if status == HTTPStatus.FORBIDDEN else ""
            raise SimulationError(f"{request} answered {_status_line(status)}{hint}")
        if not twiml:
            return None
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise SimulationError(f"{request} did not answer TwiML ({exc})") from None
        if root.tag != "Response":
            raise SimulationError(f"{request} answered <{root.tag}>, not <Response>")
        return root

    def _address(self, url: str) -> str:
        """Where a request Twilio would send to `url` goes: under the public base, to the transport's base;
        any other absolute URL, as it is (Twilio would request it there too)."""
        if url == self.public or url.startswith((self.public + "/", self.public + "?")):
            return self.transport.base + url[len(self.public):]
        return url

    def _in_call(self, call: _Call) -> dict[str, str]:
        return {**call.params, "CallStatus": "in-progress"}

    # --- the caller's leg ------------------------------------------------------------------

    def _run(self, call: _Call, document: ET.Element, url: str) -> tuple[ET.Element | None, str]:
        """Play the verbs of one document; the next document and its URL, or None when the call ends."""
        for verb in document:
            if verb.tag == "Say":
                self._hear(call, "caller hears", verb)
            elif verb.tag == "Pause":
                call.seconds += int(verb.get("length", "1"))
            elif verb.tag == "Play":
                call.note("caller hears", "hold music")
            elif verb.tag == "Gather":
                params = self._gather(call, verb)
                if params is not None:
                    return self._follow(call, "the caller's answer to a prompt", url, verb.get("action"), params)
            elif verb.tag == "Redirect":
                return self._follow(call, "a <Redirect>", url, verb.text, self._in_call(call))
            elif verb.tag == "Dial" and verb.find("Conference") is not None:
                call.room_action = urljoin(url, verb.get("action"))
                call.place = "room"
                self._connected(call)
                return self._in_room(call, url)
            elif verb.tag == "Dial":
                params = self._dial(call, verb, url)
                if call.caller_gone:
                    # Twilio still requests the action, but the call is over: what it answers is never played.
                    self._follow(call, "the end of a <Dial> the caller hung up on", url, verb.get("action"), params)
                    return None, url
                return self._follow(call, "the end of a <Dial>", url, verb.get("action"), params)
            elif verb.tag == "Record":
                return self._record(call, verb, url)
            elif verb.tag == "Hangup":
                call.note("hangs up", "the service ends the call")
                return None, url
            else:
                raise SimulationError(f"the simulator does not play <{verb.tag}>")
        return None, url

    def _follow(
        self, call: _Call, step: str, url: str, action: str | None, params: dict[str, str]
    ) -> tuple[ET.Element | None, str]:
        """POST to a verb's action URL, relative to the document's URL (both as Twilio sees them)."""
        if not action:
            raise SimulationError(f"a verb in the answer to {url} has no action URL")
        target = urljoin(url, action)
        return self._post(call, step, target, params), target

    def _hear(self, call: _Call, who: str, say: ET.Element) -> None:
        text = (say.text or "").strip()
        call.note(who, text)
        call.seconds += speaking_seconds(text)

    def _gather(self, call: _Call, gather: ET.Element) -> dict[str, str] | None:
        """The caller's answer to one prompt. A caller with keys to press (or words to say) does so at
        the prompt's first pause, so what follows it is never heard (Twilio's barge-in), unless the
        group starts with `wait:`; a caller who has nothing to press hears it all, then the prompt
        times out."""
        group = call.presses.pop(0) if call.presses else ""
        waits = group.startswith(WAIT)
        group = group.removeprefix(WAIT)
        for verb in gather:
            if verb.tag == "Pause":
                if group and not waits:
                    break
                call.seconds += int(verb.get("length", "1"))
            elif verb.tag == "Say":
                self._hear(call, "caller hears", verb)
        if not group:
            call.note("caller waits", "no input: the prompt times out")
            call.seconds += int(gather.get("timeout", "5"))
            return None
        params = self._in_call(call)
        if group.startswith("say:"):
            if "speech" not in gather.get("input", "dtmf"):
                raise SimulationError("the caller speaks, but this <Gather> only takes keys")
            params["SpeechResult"] = group.removeprefix("say:")
            params["Confidence"] = "0.92"
            call.note("caller says", params["SpeechResult"])
            return params
        call.note("caller presses", group)
        finish = gather.get("finishOnKey", "#")
        num_digits = gather.get("numDigits")
        digits = group[: int(num_digits)] if num_digits else group
        if finish and finish in digits:
            digits = digits[: digits.index(finish)]
        params["Digits"] = digits
        return params

    def _dial(self, call: _Call, dial: ET.Element, url: str, parent: _Leg | None = None) -> dict[str, str]:
        """Ring a <Dial>'s numbers, from the caller's leg or from the engineer `parent`'s (a handoff,
        which a `hangup-ringing` key of theirs cuts short); the parameters of its action request."""
        legs = [(number, (number.text or "").strip()) for number in dial.iter("Number")]
        numbers = ", ".join(phone for _, phone in legs)
        timeout = int(dial.get("timeout", "30"))
        here = self._up(parent) if parent else self._in_call(call)
        call.note("rings", numbers)
        call.dialled.update(phone for _, phone in legs)
        if parent and parent.keys and parent.keys[0] == HANG_UP_RINGING:
            parent.keys.pop(0)
            call.note("hangs up", f"{parent.phone}, while {numbers} ring")
            self._gone(call, parent)
            return {**here, "CallStatus": "completed", "DialCallStatus": "no-answer", "DialBridged": "false",
                    "DialCallSid": sid("CA"), "DialCallDuration": "0"}
        if parent is None:
            call.dials += 1
            if call.dials == call.hang_up_ringing:
                waited = timeout // 2
                call.seconds += waited
                call.note("caller hangs up", f"after {waited} s of ringing, before anyone answers")
                call.caller_gone = True
                return {
                    **call.params, "CallStatus": "completed", "DialCallStatus": "canceled", "DialBridged": "false",
                    "DialCallSid": sid("CA"), "DialCallDuration": "0",
                }
        picked_up = None
        for number, phone in legs:
            if phone not in call.answers | call.voicemails:
                continue
            picked_up = sid("CA")
            accepted = self._screen(call, picked_up, number, phone, dial.get("callerId", ""), url, parent)
            if accepted and call.legs[picked_up] in call.room:
                # Moved into the conference room: the <Dial> ends unbridged, the leg still up.
                return {**here, "DialCallStatus": "completed", "DialBridged": "false", "DialCallSid": picked_up,
                        "DialCallDuration": "0"}
            if accepted:
                call.note("connected", f"{parent.phone if parent else 'caller'} and {phone}")
                call.seconds += TALK_SECONDS
                return {**here, "DialCallStatus": "completed", "DialBridged": "true", "DialCallSid": picked_up,
                        "DialCallDuration": str(TALK_SECONDS)}
        call.seconds += timeout
        if picked_up:
            # A leg that was answered, then hung up while screening, completed without being bridged.
            call.note("not put through", numbers)
        else:
            call.note("no answer", f"{numbers} after {timeout} s")
        return {
            **here, "DialCallStatus": "completed" if picked_up else "no-answer", "DialBridged": "false",
            "DialCallSid": picked_up or sid("CA"), "DialCallDuration": "0",
        }

    # --- the engineer's leg ----------------------------------------------------------------

    def _screen(
        self, call: _Call, leg: str, number: ET.Element, phone: str, caller_id: str, url: str,
        parent: _Leg | None = None,
    ) -> bool:
        """`phone` picks up (call leg `leg`, dialled by the caller or by the engineer `parent`) and the
        whisper's TwiML plays on its leg, as Twilio plays it: an engineer presses 1, a voicemail presses
        nothing. True when the call is put through."""
        engineer = phone in call.answers
        who = ("colleague" if parent else "engineer") if engineer else "voicemail"
        call.note("answers", phone if engineer else f"{phone} (voicemail)")
        params = {
            "AccountSid": self.account_sid, "ApiVersion": API_VERSION, "CallSid": leg,
            "ParentCallSid": parent.sid if parent else call.sid,
            "Direction": "outbound-dial", "From": caller_id, "To": phone, "CallStatus": "in-progress",
        }
        call.legs[leg] = _Leg(leg, phone, who, params)
        self.board.up.add(leg)
        if not number.get("url"):
            return True
        target = urljoin(url, number.get("url"))
        document = self._post(call, f"the whisper to {phone}", target, params)
        for verb in document:
            if verb.tag == "Say":
                self._hear(call, f"{who} hears", verb)
            elif verb.tag == "Gather":
                self._hear_all(call, who, verb)
                if not engineer:
                    call.note(f"{who} waits", "no key is pressed: the whisper times out")
                    call.seconds += int(verb.get("timeout", "5"))
                    continue
                call.note(f"{who} presses", "1")
                answer = self._post(
                    call, f"{phone} presses 1", urljoin(target, verb.get("action")), {**params, "Digits": "1"}
                )
                accepted = answer.find("Hangup") is None or call.legs[leg] in call.room
                call.note(who, "accepts" if accepted else "is refused")
                if not accepted:
                    self._hear_all(call, who, answer)
                    self.board.up.discard(leg)
                return accepted
            elif verb.tag == "Hangup":
                call.note("hangs up", f"the service ends the call to {phone}")
                self.board.up.discard(leg)
                return False
            else:
                raise SimulationError(f"the simulator does not play <{verb.tag}> on the engineer's leg")
        # Twilio puts the call through when the whisper's TwiML runs out.
        return True

    def _hear_all(self, call: _Call, who: str, document: ET.Element) -> None:
        """Every <Say> in `document` (a whole reply, or a <Gather>'s prompts), heard by `who`."""
        for say in document.iter("Say"):
            self._hear(call, f"{who} hears", say)

    # --- the conference room and the handoff ---------------------------------------------------

    def _connected(self, call: _Call) -> None:
        call.note("connected", " and ".join(["caller", *(leg.phone for leg in call.room)]))

    def _play_moves(self, call: _Call) -> None:
        """Play what the service moved with Twilio's REST API during its last request, in order."""
        for target, kind, body in self.board.take():
            if target == call.sid and kind == "url":
                call.resume = body
            elif target == call.sid:
                self._move_caller(call, ET.fromstring(body))
            elif target in call.legs:
                leg = call.legs[target]
                if not call.room and not leg.keys:
                    # The first engineer in the room has the call: theirs are the handoff keys.
                    leg.keys, call.engineer_keys = call.engineer_keys, []
                self._leg_run(call, leg, ET.fromstring(body), self.public + "/")

    def _move_caller(self, call: _Call, document: ET.Element) -> None:
        """The caller's leg runs new TwiML: on hold, back in the room, or goodbye."""
        for verb in document:
            if verb.tag == "Say":
                self._hear(call, "caller hears", verb)
            elif verb.tag == "Play":
                call.place = "hold"
                call.note("caller hears", "hold music")
                if call.hangs_up_on_hold:
                    call.note("hangs up", "the caller, on hold")
                    call.place = "gone"
                    self.board.up.discard(call.sid)
            elif verb.tag == "Redirect" and call.place == "hold":
                # After the music: requested only if nothing moves the caller first.
                call.held = verb.text
            elif verb.tag == "Dial":
                call.place = "room"
                call.room_action = verb.get("action", "")
                if call.room:
                    self._connected(call)
                else:
                    call.note("waits", "the caller, in the call's conference room")
            elif verb.tag == "Hangup":
                call.note("hangs up", "the service ends the call")
                call.place = "ended"
                self.board.up.discard(call.sid)

    def _leg_run(self, call: _Call, leg: _Leg, document: ET.Element | None, url: str) -> None:
        """Play an engineer's leg from `document` (at `url`) until it is in the room or gone."""
        while document is not None:
            next_document: ET.Element | None = None
            for verb in document:
                if verb.tag == "Say":
                    self._hear(call, f"{leg.who} hears", verb)
                elif verb.tag == "Gather":
                    self._hear_all(call, leg.who, verb)
                    if leg.keys and leg.keys[0] == HANG_UP:
                        # Twilio requests no action of a <Gather> hung up on.
                        leg.keys.pop(0)
                        call.note("hangs up", f"{leg.phone}, in the menu")
                        self._gone(call, leg)
                        return
                    key = leg.keys.pop(0) if leg.keys and leg.keys[0] != HANG_UP_RINGING else ""
                    if not key:
                        call.note(f"{leg.who} waits", "no key is pressed")
                        continue
                    call.note(f"{leg.who} presses", key)
                    url = urljoin(url, verb.get("action"))
                    params = {**self._up(leg), "Digits": key}
                    next_document = self._post(call, f"{leg.phone} presses {key}", url, params)
                    break
                elif verb.tag == "Redirect":
                    url = urljoin(url, verb.text)
                    next_document = self._post(call, f"a <Redirect> on {leg.phone}'s leg", url, self._up(leg))
                    break
                elif verb.tag == "Dial" and verb.find("Conference") is not None:
                    leg.action = urljoin(url, verb.get("action"))
                    limit = verb.get("timeLimit")
                    leg.time_limit = int(limit) if limit else None
                    if leg not in call.room:
                        call.room.append(leg)
                        if call.place == "room":
                            call.note("joins", f"{leg.phone}, in the call's conference room")
                    return
                elif verb.tag == "Dial":
                    params = self._dial(call, verb, url, parent=leg)
                    url = urljoin(url, verb.get("action"))
                    next_document = self._post(call, f"the end of {leg.phone}'s <Dial>", url, params)
                    if leg.sid not in self.board.up:
                        return  # hung up: Twilio asks the action, but nobody hears its answer
                    break
                elif verb.tag == "Hangup":
                    call.note("hangs up", f"the service ends the call to {leg.phone}")
                    self._gone(call, leg)
                    return
                else:
                    raise SimulationError(f"the simulator does not play <{verb.tag}> on an engineer's leg")
            document = next_document

    def _up(self, leg: _Leg) -> dict[str, str]:
        return {**leg.params, "CallStatus": "in-progress"}

    def _gone(self, call: _Call, leg: _Leg) -> None:
        self.board.up.discard(leg.sid)
        if leg in call.room:
            call.room.remove(leg)

    def _leave_room(self, call: _Call, leg: _Leg, key: str) -> None:
        """An engineer in the room presses * (their <Dial hangupOnStar> ends) or hangs up."""
        call.room.remove(leg)
        if key == HANG_UP:
            call.note("hangs up", f"{leg.phone} leaves the call")
            self._gone(call, leg)
            self._post(call, f"{leg.phone} hangs up", leg.action,
                       {**leg.params, "CallStatus": "completed", "DialCallStatus": "completed"})
            return
        call.note(f"{leg.who} presses", key)
        document = self._post(call, f"{leg.phone} presses {key}", leg.action,
                              {**self._up(leg), "DialCallStatus": "completed", "DialCallDuration": "0"})
        self._leg_run(call, leg, document, leg.action)

    def _in_room(self, call: _Call, url: str) -> tuple[ET.Element | None, str]:
        """The caller is in the room: the engineers press their keys, then they talk (an owner whose
        team goes off duty meanwhile hears the reminder), then the caller hangs up, which ends the
        room for everyone."""
        while call.resume is None and call.place in ("room", "hold", "gone"):
            leg = next((leg for leg in call.room if leg.keys), None)
            if leg is None:
                break
            self._leave_room(call, leg, leg.keys.pop(0))
        if call.resume is None and call.place == "hold" and call.held:
            # Nobody moved the caller during the music: its <Redirect> is requested.
            call.resume = call.held
        call.held = None
        if call.resume is not None:
            target, call.resume = call.resume, None
            return self._post(call, "the caller moved on", target, self._in_call(call)), target
        if call.place == "ended":
            return None, url
        for leg in [leg for leg in call.room if leg.time_limit and leg.time_limit <= TALK_SECONDS]:
            call.room.remove(leg)
            document = self._post(call, f"{leg.phone}'s time limit", leg.action, {
                **self._up(leg), "DialCallStatus": "completed", "DialCallDuration": str(leg.time_limit),
            })
            self._leg_run(call, leg, document, leg.action)
        in_room = call.place == "room"
        if in_room:
            call.seconds += TALK_SECONDS
            call.note("hangs up", "the caller, which ends the call for everyone in it")
            self.board.up.discard(call.sid)
        for leg in list(call.room):
            call.room.remove(leg)
            document = self._post(call, f"the room ends for {leg.phone}", leg.action,
                                  {**self._up(leg), "DialCallStatus": "completed", "DialCallDuration": "0"})
            self._leg_run(call, leg, document, leg.action)
        if in_room:
            self._post(call, "the caller leaves the room", call.room_action,
                       {**call.params, "CallStatus": "completed", "DialCallStatus": "completed"})
        return None, url

    # --- voicemail -----------------------------------------------------------------------------

    def _record(self, call: _Call, record: ET.Element, url: str) -> tuple[ET.Element | None, str]:
        recording = sid("RE")
        call.note("caller records", f"a {MESSAGE_SECONDS} s message after the beep")
        call.seconds += MESSAGE_SECONDS
        recording_url = f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{recording}"
        done = {"RecordingUrl": recording_url, "RecordingSid": recording, "RecordingDuration": str(MESSAGE_SECONDS)}
        document, target = self._follow(
            call, "the recorded message", url, record.get("action"), {**self._in_call(call), **done, "Digits": "hangup"}
        )
        callback = record.get("recordingStatusCallback")
        if callback:
            params = {
                "AccountSid": self.account_sid, "CallSid": call.sid, "RecordingStatus": "completed",
                "RecordingSource": "RecordVerb", "RecordingChannels": "1", **done,
            }
            self._post(call, "the recording's status", urljoin(url, callback), params, twiml=False)
            call.note("recording", recording_url)
        return document, target


def in_process(phonebook_path: str, at: datetime | None = None, config: Mapping | None = None) -> Simulator:
    """A simulator for a fresh app on `phonebook_path`; `at` pins the app's clock to that instant.
    It signs for the app's IVR_PUBLIC_URL, as Twilio would.

    A simulated call stays in this process: its events are logged, not stored, so it neither
    fills the service's call log nor alerts ops; texts are never sent, even with Twilio's
    credentials set: the transcript shows each text the service would send; and logs go to
    stderr, leaving stdout to the transcript. `config` overrides any of this.
    """
    overrides = dict(config or {})
    if "DATABASE_URL" not in overrides:
        # A call log of the simulation's own (a migrated SQLite file, removed when the process ends)
        # keeps the service's database, and its schema, out of a simulation.
        scratch = tempfile.mkdtemp(prefix="ivr-simulate-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        new_sqlite(f"{scratch}/calllog.sqlite3")
        overrides["DATABASE_URL"] = f"sqlite:///{scratch}/calllog.sqlite3"
        overrides.setdefault("IVR_JOURNAL_DIR", f"{scratch}/journal")
    # Without TWILIO_AUTH_TOKEN the app signs with a token of its own, not the instance's development
    # token: nothing but this simulator sends it requests, so there is no real-Twilio warning to give.
    overrides.setdefault("SIGNING_TOKEN", secrets.token_hex(16))
    # Nothing reaches this app over a network: without a public URL it is the in-process base, which
    # a real TWILIO_AUTH_TOKEN in the environment requires (`ivr.config.check_signing`).
    overrides["IVR_PUBLIC_URL"] = overrides.get("IVR_PUBLIC_URL", os.environ.get("IVR_PUBLIC_URL")) or IN_PROCESS_BASE
    board = Switchboard()
    app = create_app({
        "CALL_CONTROL": board,
        "IVR_PHONEBOOK": phonebook_path,
        "IVR_LOG_LEVEL": os.environ.get("IVR_LOG_LEVEL", "WARNING"),
        "LOG_STREAM": "stderr",
        "EVENT_SINK": LogSink(),
        "SMS_SENDER": TextRecorder,
        **({"CLOCK": lambda: at} if at else {}),
        **overrides,
    })
    sender = services_of(app).sms
    outbox = sender if isinstance(sender, TextRecorder) else None
    settings = app.config
    return Simulator(InProcess(app), settings["TWILIO_AUTH_TOKEN"], settings["TWILIO_ACCOUNT_SID"], outbox,
                     settings["IVR_PUBLIC_URL"], switchboard=board)


def over_http(url: str, public_url: str | None = None) -> Simulator:
    """A simulator for the service at `url`, signing with this machine's token for `public_url`, the
    base Twilio calls (default: `url` itself)."""
    settings = load_settings()
    token = settings["TWILIO_AUTH_TOKEN"]
    if not token:
        path = dev_token_path(settings["IVR_INSTANCE_PATH"] or default_instance_path())
        if not path.exists():
            raise SimulationError(
                f"TWILIO_AUTH_TOKEN is not set and there is no development token at {path}: "
                "set the token the service uses"
            )
        token = path.read_text().strip()
    return Simulator(OverHttp(url), token, settings["TWILIO_ACCOUNT_SID"], public_url=public_url)


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def transcript(turns: Sequence[Turn]) -> str:
    width = max((len(t.who) for t in turns), default=0)
    return "\n".join(f"{t.who.rjust(width)}  {t.what}" for t in turns)


def heard_before_ringing(turns: Sequence[Turn]) -> list[str] | None:
    """Everything the caller heard before the first phone rang (the whisper comes later, on the
    engineer's leg); None when no phone rang. What `bench/webhooks.py` and the tests time."""
    heard: list[str] = []
    for turn in turns:
        if turn.who == "rings":
            return heard
        if turn.who == "caller hears":
            heard.append(turn.what)
    return None
