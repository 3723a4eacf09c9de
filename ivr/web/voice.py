"""The Twilio voice webhooks: from the greeting to a ringing engineer, or a clear goodbye.

Steps (each an action URL carrying the `CallState`):
  POST /voice           greet; recognise the caller ID, or ask for the SEN
  POST /voice/sen       read the SEN (3 tries), check the entitlement, ask the severity
  POST /voice/severity  read the severity (3 tries), route, ring the first candidate
  POST /voice/text      after a final answer: 1 queues a text with the way forward
  POST /voice/dialed    bridged: hang up; else ring the next candidate, at last take a voicemail
  POST /voice/whisper   the engineer's leg: who is calling, press 1 to accept
  POST /voice/screen    the engineer's key: put through, or hang up
  POST /voice/recorded  after the voicemail: thanks and goodbye
  POST /voice/recording the recording status callback
  POST /voice/status    the call's final status callback
  POST /voice/rescued   after an emergency dial (see `_rescue`)
Views only read the request, decide with the engine, report events and answer TwiML. Any
exception becomes TwiML that still rings a human (`_rescue`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from flask import Blueprint, Flask, Response, abort, current_app, request, url_for
from flask.typing import ResponseReturnValue
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from ivr.callflow import prompts, twiml
from ivr.callflow.caller_input import Miss, read_sen, read_severity
from ivr.callflow.callstate import MAX_TRIES, CallState, StateError
from ivr.callflow.prompts import say
from ivr.callflow.twiml import Ringing
from ivr.engine import events
from ivr.engine.entitlement import Entitlement, Source, Verdict, check, entitlement, recognise
from ivr.engine.events import CallEvent
from ivr.engine.phonebook import E164_SHAPE, MAX_DIAL, Kind, Phonebook, Policy, Ring
from ivr.engine.routing import Candidate, CandidateKind, candidate, route
from ivr.outside.sms import Deflection, can_receive_sms, link_text
from ivr.web.services import request_instant, services
from ivr.web.signature import twilio_request

log = logging.getLogger("ivr.voice")

bp = Blueprint("voice", __name__)

def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def twiml_response(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


# --- the edge: request, clock, phonebook, events -----------------------------------------


def _phonebook() -> Phonebook:
    return services().phonebook.current()


def _source(phonebook: Phonebook) -> Source:
    """[[customers]], the CSV file or the licensing service, as the phonebook in force says."""
    return services().entitlements.for_phonebook(phonebook)


def _voice() -> twiml.Voice:
    return twiml.Voice(current_app.config["IVR_VOICE"], current_app.config["IVR_LANGUAGE"])


def _form(name: str) -> str:
    return request.form.get(name, "").strip()


def _state() -> CallState:
    try:
        return CallState.from_query(request.args)
    except StateError as exc:
        abort(400, description=str(exc))


def _url(endpoint: str, state: CallState, **extra: str) -> str:
    return url_for(endpoint, **state.query(), **extra)  # type: ignore[arg-type]  # query keys, never _external...


def _event(event: CallEvent, call_sid: str | None = None) -> None:
    """Report a step to the call log; a failing sink never reaches the caller."""
    sid = call_sid or _form("CallSid")
    try:
        services().events.record(sid, event, request_instant())
    except Exception:
        log.exception("call %s: the event sink failed on a %s event", sid, event.kind)


def _seconds(name: str) -> int | None:
    value = _form(name)
    return int(value) if value.isascii() and value.isdigit() else None


def _caller_id() -> str:
    """The caller's number for the engineer's display; Twilio refuses anything but a phone number."""
    caller = _form("From")
    return caller if E164_SHAPE.fullmatch(caller) else _form("To")


def _portal(phonebook: Phonebook) -> str:
    return prompts.spoken_url(phonebook.service.portal)


# --- the caller's steps --------------------------------------------------------------------


@bp.post("/voice")
@twilio_request
def answer():
    phonebook = _phonebook()
    caller, to = _form("From"), _form("To")
    line = phonebook.line(to)
    _event(events.Started(
        line=line.label if line else None, region=line.region if line else None,
        caller=caller, to=to, caller_name=_form("CallerName") or None,
    ))
    greeting = say(prompts.GREETING, service=phonebook.service.name)
    customer = recognise(_source(phonebook), caller)
    if customer is not None:
        _event(events.Recognised(sen=customer.sen, customer=customer.name))
        state = CallState(sen=customer.sen_digits)
        verdict = entitlement(customer, request_instant())
        return _after_sen(phonebook, verdict, state, [greeting, say(prompts.HELLO_CUSTOMER, customer=customer.name)])
    return twiml_response(twiml.ask([greeting, prompts.ASK_SEN], _url("voice.sen", CallState()), _voice(), speech=True))


@bp.post("/voice/sen")
@twilio_request
def sen():
    phonebook = _phonebook()
    state = _state()
    attempt = state.tries + 1
    reading = read_sen(_form("Digits"), _form("SpeechResult"))
    verdict = check(_source(phonebook), reading.value, request_instant()) if reading.value else None
    miss = reading.miss or (Miss.UNKNOWN if verdict is not None and verdict.verdict is Verdict.UNKNOWN else None)
    _event(events.SenEntered(sen=reading.value, attempt=attempt, miss=miss))
    if miss is None:
        assert verdict is not None  # no miss: the SEN was read, so it was checked
        return _after_sen(phonebook, verdict, state.advance(sen=reading.value, tries=0), [])
    if attempt < MAX_TRIES:
        problem = say(prompts.SEN_MISS[miss], sen=prompts.spoken_digits(reading.value or ""))
        action = _url("voice.sen", state.advance(tries=attempt))
        return twiml_response(twiml.ask([problem, prompts.ASK_SEN], action, _voice(), speech=True))
    if miss is Miss.UNKNOWN:
        assert verdict is not None  # UNKNOWN is the verdict's miss; read_sen never reports it
        return _not_entitled(phonebook, state.advance(sen=reading.value), verdict, [])
    return _deflect("no-sen", say(prompts.NO_SEN, portal=_portal(phonebook)), state=state, link=Deflection.UNKNOWN)


def _after_sen(phonebook: Phonebook, verdict: Entitlement, state: CallState, spoken: list[str]) -> Response:
    """Ask the severity of an entitled caller, or of one whose SEN could not be checked (level 1
    calls fail open: they are put through, and the engineer hears that the SEN is not verified)."""
    if verdict.verdict is Verdict.UNVERIFIED:
        _event(events.Entitlement(sen=state.sen, customer=None, verdict=verdict.verdict.value))
        state = state.advance(verified=False)
    elif not verdict.may_call:
        return _not_entitled(phonebook, state, verdict, spoken)
    else:
        customer = verdict.customer
        assert customer is not None  # a caller who may call is a known customer
        _event(events.Entitlement(sen=customer.sen, customer=customer.name, verdict=verdict.verdict.value))
    action = _url("voice.severity", state)
    return twiml_response(twiml.ask([*spoken, prompts.ASK_SEVERITY], action, _voice(), num_digits=1))


# The text a caller may ask for after each kind of final answer.
_LINKS = {Verdict.UNKNOWN: Deflection.UNKNOWN, Verdict.EXPIRED: Deflection.EXPIRED, Verdict.TIER: Deflection.TIER}


def _not_entitled(phonebook: Phonebook, state: CallState, verdict: Entitlement, spoken: list[str]) -> Response:
    customer = verdict.customer
    _event(events.Entitlement(
        sen=customer.sen if customer else state.sen, customer=customer.name if customer else None,
        verdict=verdict.verdict.value,
    ))
    text = say(
        prompts.NOT_ENTITLED[verdict.verdict], portal=_portal(phonebook),
        customer=customer.name if customer else "", tier=customer.tier if customer else "",
    )
    return _deflect(verdict.verdict.value, text, spoken, state=state, link=_LINKS[verdict.verdict])


def _deflect(
    reason: str, text: str, spoken: Sequence[str] = (), *, state: CallState | None = None,
    link: Deflection | None = None,
) -> Response:
    """The final answer; with `link`, a caller on a mobile number is offered the way forward by text."""
    _event(events.Deflected(reason=reason))
    if link is not None and _can_text():
        action = _url("voice.text", state or CallState(), why=link.value)
        return twiml_response(twiml.offer([*spoken, text, prompts.SMS_OFFER], action, [prompts.GOODBYE], _voice()))
    return twiml_response(twiml.goodbye([*spoken, text, prompts.GOODBYE], _voice()))


def _can_text() -> bool:
    return services().sms.configured and can_receive_sms(_form("From"))


@bp.post("/voice/text")
@twilio_request
def text():
    phonebook = _phonebook()
    state = _state()
    try:
        why = Deflection(request.args.get("why", ""))
    except ValueError:
        abort(400, description="not a reason for a text")
    caller = _form("From")
    if _form("Digits") != "1" or not can_receive_sms(caller):
        return twiml_response(twiml.goodbye([prompts.GOODBYE], _voice()))
    # Only queued here: the sender's worker talks to Twilio while the caller hears goodbye.
    services().sms.send(caller, _form("To"), link_text(why, phonebook.service, state.sen))
    _event(events.Sms(reason=why.value, to=caller))
    return twiml_response(twiml.goodbye([prompts.SMS_SENT, prompts.GOODBYE], _voice()))


@bp.post("/voice/severity")
@twilio_request
def severity():
    phonebook = _phonebook()
    state = _state()
    reading = read_severity(_form("Digits"))
    if reading.miss:
        attempt = state.tries + 1
        if attempt < MAX_TRIES:
            action = _url("voice.severity", state.advance(tries=attempt))
            texts = [prompts.SEVERITY_MISS[reading.miss], prompts.ASK_SEVERITY]
            return twiml_response(twiml.ask(texts, action, _voice(), num_digits=1))
        return _deflect("no-severity", say(prompts.NO_SEVERITY, portal=_portal(phonebook)))
    assert reading.value is not None  # read_severity: a value or a miss
    level = int(reading.value)
    _event(events.Severity(severity=level))
    if not state.verified and level != 1:
        text = say(prompts.UNVERIFIED_NOT_L1, portal=_portal(phonebook))
        return _deflect("unverified", text, state=state, link=Deflection.UNVERIFIED)
    decision = route(phonebook, _form("To"), request_instant(), level)
    _event(events.Routed(
        action="connect" if decision.connect else "deflect", reason=decision.reason,
        candidates=tuple(c.team for c in decision.candidates), weekend=decision.weekend,
    ))
    if not decision.connect:
        business_week = phonebook.policy(level) is Policy.BUSINESS_WEEK
        template = prompts.SEVERITY_NOT_NOW if business_week else prompts.SEVERITY_NOT_BY_PHONE
        text = say(template, severity=level, portal=_portal(phonebook))
        return _deflect("severity", text, state=state, link=Deflection.SEVERITY)
    plan = tuple(c.team for c in decision.candidates)
    return _ring(phonebook, state.advance(severity=level, tries=0, plan=plan), [])


def _ring(phonebook: Phonebook, state: CallState, spoken: list[str]) -> Response:
    """Ring the plan's candidate (and number) that `state` points at, or the next one still listed."""
    for index in range(state.candidate, len(state.plan)):
        found = candidate(phonebook, state.plan[index])
        number = state.number if index == state.candidate else 0
        numbers = _numbers_at(found, number)
        if found is None or not numbers:
            continue
        here = state.advance(candidate=index, number=number, attempt=state.attempt + 1)
        ringing = Ringing(
            numbers=numbers,
            timeout=found.ring_seconds,
            caller_id=_caller_id(),
            action=_url("voice.dialed", here),
            whisper=_url("voice.whisper", here, line=_form("To"), call=_form("CallSid")),
        )
        if number == 0:
            template = prompts.CONNECTING_FALLBACK if found.kind is CandidateKind.FALLBACK else prompts.CONNECTING
            spoken = [*spoken, say(template, team=found.spoken_name)]
        return twiml_response(twiml.connect(spoken, ringing, _voice()))
    return _voicemail(spoken)


def _voicemail(spoken: list[str]) -> Response:
    response = twiml.voicemail(
        " ".join([*spoken, prompts.VOICEMAIL]), prompts.VOICEMAIL_THANKS,
        url_for("voice.recorded"), url_for("voice.recording"), _voice(),
    )
    return twiml_response(response)


def _bridged() -> bool:
    """Did an engineer accept? DialBridged says so; older requests only have the status."""
    bridged = _form("DialBridged")
    if bridged:
        return bridged == "true"
    return _form("DialCallStatus") == "completed"


def _caller_gone() -> bool:
    return _form("CallStatus") in {"completed", "canceled"} or _form("DialCallStatus") == "canceled"


@bp.post("/voice/dialed")
@twilio_request
def dialed():
    phonebook = _phonebook()
    state = _state()
    if not state.plan:
        abort(400, description="a dial outcome without a plan")
    name = state.plan[state.candidate]
    found = candidate(phonebook, name)
    bridged = _bridged()
    numbers = _numbers_at(found, state.number)
    _event(events.Dial(
        attempt=state.attempt, team=name, numbers=numbers, status=_form("DialCallStatus"),
        duration=_seconds("DialCallDuration"),
        accepted_by=numbers[0] if bridged and len(numbers) == 1 else None,
        dial_call_sid=_form("DialCallSid") or None, bridged=bridged,
    ))
    if bridged or _caller_gone():
        return twiml_response(twiml.hangup())
    if found is not None and found.ring is Ring.IN_ORDER and state.number + 1 < len(found.dial):
        return _ring(phonebook, state.advance(number=state.number + 1), [])
    spoken = []
    if found:
        template = prompts.NO_ANSWER_FALLBACK if found.kind is CandidateKind.FALLBACK else prompts.NO_ANSWER
        spoken = [say(template, team=found.spoken_name)]
    if state.candidate + 1 >= len(state.plan):
        return _voicemail(spoken)
    return _ring(phonebook, state.advance(candidate=state.candidate + 1, number=0), spoken)


def _numbers_at(found: Candidate | None, number: int) -> tuple[str, ...]:
    """What one <Dial> rings: all the numbers together, or the `number`th when they ring in order."""
    if found is None or number >= len(found.dial):
        return ()
    return found.dial if found.ring is Ring.TOGETHER else (found.dial[number],)


@bp.post("/voice/recorded")
@twilio_request
def recorded():
    return twiml_response(twiml.goodbye([prompts.VOICEMAIL_THANKS], _voice()))


@bp.post("/voice/recording")
@twilio_request
def recording():
    _event(events.Voicemail(
        recording_url=_form("RecordingUrl") or None, recording_sid=_form("RecordingSid") or None,
        duration=_seconds("RecordingDuration"), status=_form("RecordingStatus") or None,
    ))
    return "", 204


@bp.post("/voice/status")
@twilio_request
def status():
    _event(events.Status(call_status=_form("CallStatus"), duration=_seconds("CallDuration")))
    return "", 204


# --- the engineer's leg --------------------------------------------------------------------


def _parent_call() -> str:
    return request.args.get("call") or _form("ParentCallSid")


@bp.post("/voice/whisper")
@twilio_request
def whisper():
    phonebook = _phonebook()
    state = _state()
    line_number = request.args.get("line", "")
    line = phonebook.line(line_number)
    label = line.label if line else line_number
    if not state.severity:
        text = say(prompts.WHISPER_RESCUE, service=phonebook.service.name, line=label)
    else:
        # An unverified SEN is not looked up again; a lookup failing now only loses the name.
        checked = check(_source(phonebook), state.sen, request_instant()) if state.sen and state.verified else None
        customer = checked.customer if checked else None
        text = prompts.whisper(
            phonebook.service.name, state.severity, customer.name if customer else None, state.sen, label,
            state.verified,
        )
    return twiml_response(twiml.screen(text, url_for("voice.screen", call=_parent_call()), _voice()))


@bp.post("/voice/screen")
@twilio_request
def screen():
    accepted = _form("Digits") == "1"
    leg = _form("CallSid")
    _event(events.Screened(number=_form("To"), accepted=accepted, dial_call_sid=leg), call_sid=_parent_call())
    return twiml_response(twiml.bridge() if accepted else twiml.hangup())


# --- never strand a caller -----------------------------------------------------------------


@bp.post("/voice/rescued")
@twilio_request
def rescued():
    if _bridged() or _caller_gone():
        return twiml_response(twiml.hangup())
    return _voicemail([])


def _rescue_numbers(phonebook: Phonebook) -> tuple[tuple[str, ...], int]:
    """The fallback's numbers, or with no fallback every select team's (as many as one <Dial> rings)."""
    if phonebook.fallback is not None:
        return phonebook.fallback.dial, phonebook.fallback.ring_seconds
    select = [t for t in phonebook.teams if t.kind is Kind.SELECT]
    numbers = tuple(n for t in select for n in t.dial)[:MAX_DIAL]
    return numbers, max((t.ring_seconds for t in select), default=0)


def _rescue_call() -> Response:
    """Ring a human from the last good phonebook, with as little of our machinery as possible;
    unless an engineer already took the call, or the caller is gone."""
    if _bridged() or _caller_gone():
        return twiml_response(twiml.hangup())
    phonebook = services().phonebook.last_good()
    numbers, seconds = _rescue_numbers(phonebook)
    if not numbers:
        return _rescue_failed()
    ringing = Ringing(
        numbers=numbers,
        timeout=seconds,
        caller_id=_caller_id(),
        action=url_for("voice.rescued"),
        whisper=url_for("voice.whisper", line=_form("To"), call=_form("CallSid")),
    )
    return twiml_response(twiml.connect([prompts.RESCUE], ringing, _voice()))


def _callback_failed() -> tuple[str, int]:
    return "", 204


def _whisper_failed() -> Response:
    return twiml_response(twiml.screen(prompts.WHISPER_FAILED, url_for("voice.screen", call=_parent_call()), _voice()))


def _rescue_failed() -> Response:
    return twiml_response(twiml.goodbye([prompts.RESCUE_FAILED], _voice()))


# What a failed step answers: callbacks need no TwiML, the engineer's leg still screens, a
# failed rescue cannot loop, and every caller step rings a human.
_ON_FAILURE: dict[str, Callable[[], ResponseReturnValue]] = {
    "voice.status": _callback_failed,
    "voice.recording": _callback_failed,
    "voice.whisper": _whisper_failed,
    "voice.screen": lambda: twiml_response(twiml.hangup()),
    "voice.rescued": _rescue_failed,
}


@bp.errorhandler(Exception)
def _rescue(error: Exception) -> ResponseReturnValue:
    if isinstance(error, HTTPException):
        return error
    log.exception("call %s: %s failed; answering with the rescue", _form("CallSid"), request.endpoint)
    _event(events.Error(message=f"{type(error).__name__}: {error}", step=request.endpoint))
    return _ON_FAILURE.get(request.endpoint or "", _rescue_call)()
