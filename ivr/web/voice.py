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
The live warm handoff (an accepted call is a conference room; `ivr.callflow.handoff`):
  POST /voice/left              the caller's room ended
  POST /voice/engineer          an engineer's room ended: * (the menu), the reminder, or a hang-up
  POST /voice/menu              the engineer's menu key: ring the next office or the own team, or back
  POST /voice/handoff/whisper   the colleague's leg: which call, from which team, press 1 to join
  POST /voice/handoff/screen    the colleague's key: into the room, with the caller
  POST /voice/handoff           the handoff's <Dial> ended: joined, the next number, or back
  POST /voice/resume            the caller on hold lost the engineer: ring the office asked for
  POST /voice/held              the caller on hold, after the music: hold on, or the engineer is gone
Views only read the request (form fields, the signed state, services, the request instant), ask
`ivr.callflow.conversation` what happens next, report the step's events and turn the decision into
TwiML. Any exception becomes TwiML that still rings a human (`_rescue`). Every request is signed
(403 otherwise) and names its call (`CallSid`; 400 otherwise, and nothing is recorded).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TypeVar, cast

from flask import Blueprint, Flask, Response, abort, current_app, g, request, url_for
from flask.typing import ResponseReturnValue
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from ivr.callflow import conversation, handoff, prompts, twiml
from ivr.callflow.caller_input import Miss, read_sen, read_severity
from ivr.callflow.callstate import CallState, StateError
from ivr.callflow.handoff import Engineer, Handoff, Role, room_name
from ivr.callflow.twiml import Ringing, Room
from ivr.engine import events
from ivr.engine.entitlement import Source, Verdict, check, recognise
from ivr.engine.events import CallEvent
from ivr.engine.outcomes import SEN_WINDOW
from ivr.engine.phonebook import E164_SHAPE, Customer, Phonebook
from ivr.engine.routing import candidate
from ivr.logs import CALL_SID_ENVIRON, bind_call, unbind_call
from ivr.outside.calls import IN_PROGRESS, CallControl
from ivr.outside.sms import Deflection, can_receive_sms, link_text
from ivr.web.services import request_instant, services
from ivr.web.signature import twilio_request

log = logging.getLogger("ivr.voice")

# Action URLs kept built by `_built_url`.
URLS_KEPT = 1024

bp = Blueprint("voice", __name__)

def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.before_request
def _name_the_call() -> None:
    # Every line logged while this webhook runs names its call, and so does gunicorn's access-log
    # line, written from the WSGI environ after the response.
    sid = request.form.get("CallSid", "").strip() or None
    request.environ[CALL_SID_ENVIRON] = sid
    g.ivr_log_call = bind_call(sid)


@bp.teardown_request
def _forget_the_call(_error: BaseException | None) -> None:
    if "ivr_log_call" in g:
        unbind_call(g.ivr_log_call)


def twiml_response(response: VoiceResponse | str) -> Response:
    """The TwiML document, or its text (`twiml.rendered_ask`, `twiml.rendered_connect`), as the webhook's answer."""
    return Response(str(response), mimetype="text/xml")


# --- the edge: request, clock, phonebook, events -----------------------------------------


def _phonebook() -> Phonebook:
    return services().phonebook.current()


def _source(phonebook: Phonebook) -> Source:
    """[[customers]], the CSV file or the licensing service, as the phonebook in force says."""
    return services().entitlements.for_phonebook(phonebook)


def twiml_voice() -> twiml.Voice:
    """The voice and language every <Say> of this service uses (IVR_VOICE, IVR_LANGUAGE)."""
    return twiml.Voice(current_app.config["IVR_VOICE"], current_app.config["IVR_LANGUAGE"])


def _form(name: str) -> str:
    # getlist, not get: werkzeug's get builds and catches an HTTP exception for each field that is
    # not there, several a request.
    values = request.form.getlist(name)
    return values[0].strip() if values else ""


# The signed records an action URL's query carries.
_Signed = TypeVar("_Signed", CallState, Engineer, Handoff)


def _from_query(kind: type[_Signed]) -> _Signed:
    """The record this URL carries; a URL without a valid one is a 400."""
    try:
        # A plain dict (each key's first value, as `get` gives): the record looks up every field it
        # knows, and werkzeug's `get` builds an exception for each one that is not there.
        return kind.from_query(request.args.to_dict())
    except StateError as exc:
        abort(400, description=str(exc))


def _state() -> CallState:
    return _from_query(CallState)


def _url(endpoint: str, state: CallState, **extra: str) -> str:
    return _built_url(endpoint, request.script_root, tuple({**state.query(), **extra}.items()))


@functools.lru_cache(maxsize=URLS_KEPT)
def _built_url(endpoint: str, script_root: str, query: tuple[tuple[str, str], ...]) -> str:
    """An action URL, built once for the same endpoint, root and query: a busy line builds the same
    ones over and over (the SEN and severity questions of each state)."""
    return url_for(endpoint, **dict(query))  # type: ignore[arg-type]  # query keys, never _external...


def webhook(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """A Twilio webhook: signed for this URL (403 otherwise) and about a call: without its CallSid
    the request is a 400, so its events are never merged into one call ''."""

    @twilio_request
    @functools.wraps(view)
    def checked(*args: object, **kwargs: object) -> ResponseReturnValue:
        if not _form("CallSid"):
            abort(400, description="no CallSid")
        return view(*args, **kwargs)

    return cast(Callable[..., ResponseReturnValue], checked)


def _event(event: CallEvent, call_sid: str | None = None) -> None:
    """Report a step to the call log; a failing sink never reaches the caller."""
    sid = call_sid or _form("CallSid")
    if not sid:  # the engineer's leg with no parent call to file it under
        log.warning("a %s event without a call to file it under was not recorded", event.kind)
        return
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


# --- the caller's steps --------------------------------------------------------------------


def _failed_sens() -> int | None:
    """Unknown SENs from the calling number within the hour, from the call log; None when it
    cannot be read (`conversation.over_sen_limit` then fails open)."""
    caller = _form("From")
    try:
        return services().calllog.failed_sens(caller, request_instant() - SEN_WINDOW)
    except Exception as exc:  # noqa: BLE001 - the database down must not lock callers out
        log.warning("call %s: unknown SENs from %s not counted (%s); no limit applies", _form("CallSid"), caller, exc)
        return None


def _sen_limit() -> int:
    return int(current_app.config["IVR_SEN_FAILURES_PER_HOUR"])


@bp.post("/voice")
@webhook
def answer():
    phonebook = _phonebook()
    caller, to = _form("From"), _form("To")
    line = phonebook.line(to)
    verstat = _form("StirVerstat")
    _event(events.Started(
        line=line.label if line else None, region=line.region if line else None,
        caller=caller, to=to, caller_name=_form("CallerName") or None,
    ))
    # A spoofed caller ID must not skip the SEN: recognised only as far as the phonebook trusts it.
    trusted = conversation.trusts_caller_id(phonebook, verstat)
    customer = recognise(_source(phonebook), caller) if trusted else None
    if customer is not None:
        _event(events.Recognised(sen=customer.sen, customer=customer.name, tier=customer.tier))
    return _answer(conversation.greet(phonebook, customer, request_instant()))


@bp.post("/voice/sen")
@webhook
def sen():
    phonebook = _phonebook()
    state = _state()
    attempt = state.tries + 1
    reading = read_sen(_form("Digits"), _form("SpeechResult"))
    verdict = check(_source(phonebook), reading.value, request_instant()) if reading.value else None
    miss = conversation.sen_miss(reading, verdict)
    limited = False
    if miss is Miss.UNKNOWN:
        # Only here, on an unknown SEN, does a webhook read the database: a number past the limit
        # loses the call at its first unknown SEN. Counted before this miss is recorded.
        failed = _failed_sens()
        limited = conversation.over_sen_limit(None if failed is None else failed + 1, _sen_limit())
    _event(events.SenEntered(sen=reading.value, attempt=attempt, miss=miss))
    return _answer(conversation.sen_entered(phonebook, state, reading, verdict, limited))


# --- decisions into events and TwiML -------------------------------------------------------


def _answer(decision: conversation.Next) -> Response:
    """Report what the decision settled, then answer its TwiML."""
    match decision:
        case conversation.AskSen(spoken, state):
            action = _url("voice.sen", state)
            return twiml_response(twiml.rendered_ask(tuple(spoken), action, twiml_voice(), speech=True))
        case conversation.AskSeverity():
            return _ask_severity(decision)
        case conversation.Deflect():
            return _deflect(decision)
        case conversation.Connect():
            return _connect(decision)
        case conversation.Voicemail(spoken):
            return _voicemail(list(spoken))
        case conversation.Rescue():
            return _rescue_dial(decision)
        case conversation.Goodbye(spoken):
            return twiml_response(twiml.goodbye(list(spoken), twiml_voice()))
        case conversation.Hangup():
            return twiml_response(twiml.hangup())
        case conversation.JoinRoom():
            return twiml_response(_customer_room())


def _ask_severity(decision: conversation.AskSeverity) -> Response:
    """Ask the severity; the first time, report the verdict that let the caller this far (level 1
    calls fail open when the SEN could not be checked: `conversation.after_sen`)."""
    verdict, state = decision.entitlement, decision.state
    if verdict is not None and verdict.verdict is Verdict.UNVERIFIED:
        _event(events.Entitlement(sen=state.sen, customer=None, verdict=verdict.verdict.value))
    elif verdict is not None:
        customer = verdict.customer
        assert customer is not None  # a caller who may call is a known customer
        _event(events.Entitlement(sen=customer.sen, customer=customer.name, verdict=verdict.verdict.value,
                                  tier=customer.tier))
    action = _url("voice.severity", state)
    return twiml_response(
        twiml.rendered_ask(tuple(decision.spoken), action, twiml_voice(), after_pause=tuple(decision.after_pause),
                           num_digits=1)
    )


def _deflect(decision: conversation.Deflect) -> Response:
    """The final answer; with a link, a caller on a mobile number is offered the way forward by text."""
    verdict, state, spoken, text = decision.entitlement, decision.state, decision.spoken, decision.text
    if verdict is not None:
        customer = verdict.customer
        _event(events.Entitlement(
            sen=customer.sen if customer else state.sen, customer=customer.name if customer else None,
            verdict=verdict.verdict.value, tier=customer.tier if customer else None,
        ))
    reason, link = decision.reason, decision.link
    _event(events.Deflected(reason=reason))
    if link is not None and _can_text():
        action = _url("voice.text", state, why=link.value)
        return twiml_response(twiml.offer([*spoken, text, prompts.SMS_OFFER], action, [prompts.GOODBYE], twiml_voice()))
    return twiml_response(twiml.goodbye([*spoken, text, prompts.GOODBYE], twiml_voice()))


def _can_text() -> bool:
    return services().sms.configured and can_receive_sms(_form("From"))


@bp.post("/voice/text")
@webhook
def text():
    phonebook = _phonebook()
    state = _state()
    try:
        why = Deflection(request.args.get("why", ""))
    except ValueError:
        abort(400, description="not a reason for a text")
    caller = _form("From")
    if _form("Digits") != "1" or not can_receive_sms(caller):
        return twiml_response(twiml.goodbye([prompts.GOODBYE], twiml_voice()))
    # Only queued here: the sender's worker talks to Twilio while the caller hears goodbye.
    services().sms.send(caller, _form("To"), link_text(why, phonebook.service, state.sen))
    _event(events.Sms(reason=why.value, to=caller))
    return twiml_response(twiml.goodbye([prompts.SMS_SENT, prompts.GOODBYE], twiml_voice()))


@bp.post("/voice/severity")
@webhook
def severity():
    phonebook = _phonebook()
    state = _state()
    reading = read_severity(_form("Digits"))
    if reading.value is not None:
        level = int(reading.value)
        _event(events.Severity(severity=level))
    step = conversation.severity_chosen(phonebook, state, reading, _form("To"), request_instant())
    decision = step.routing
    if decision is not None:
        _event(events.Routed(
            action="connect" if decision.connect else "deflect", reason=decision.reason,
            candidates=tuple(c.team for c in decision.candidates), weekend=decision.weekend,
        ))
    return _answer(step.then)


def _connect(decision: conversation.Connect) -> Response:
    """Ring the candidate the decision's state points at; the outcome comes back with that state."""
    here = decision.state
    ringing = Ringing(
        numbers=decision.numbers,
        timeout=decision.timeout,
        caller_id=_caller_id(),
        action=_url("voice.dialed", here),
        # Names this call, so never the same twice: built apart from the kept URLs it would push out.
        whisper=url_for("voice.whisper", **here.query(), line=_form("To"), call=_form("CallSid")),  # type: ignore[arg-type]  # query keys only
    )
    return twiml_response(twiml.rendered_connect(decision.spoken, ringing, twiml_voice()))


def _voicemail(spoken: list[str]) -> Response:
    response = twiml.voicemail(
        " ".join([*spoken, prompts.VOICEMAIL]), prompts.VOICEMAIL_THANKS,
        url_for("voice.recorded"), url_for("voice.recording"), twiml_voice(),
    )
    return twiml_response(response)


def _bridged() -> bool:
    return conversation.bridged(_form("DialBridged"), _form("DialCallStatus"))


def _caller_gone() -> bool:
    return conversation.caller_gone(_form("CallStatus"), _form("DialCallStatus"))


@bp.post("/voice/dialed")
@webhook
def dialed():
    phonebook = _phonebook()
    state = _state()
    if not state.plan:
        abort(400, description="a dial outcome without a plan")
    name = state.plan[state.candidate]
    found = candidate(phonebook, name)
    in_room = _moved_to_room()
    bridged = _bridged() or in_room
    numbers = conversation.numbers_at(found, state.number)
    _event(events.Dial(
        attempt=state.attempt, team=name, numbers=numbers, status=_form("DialCallStatus"),
        duration=_seconds("DialCallDuration"),
        accepted_by=numbers[0] if bridged and len(numbers) == 1 else None,
        dial_call_sid=_form("DialCallSid") or None, bridged=bridged,
    ))
    return _answer(conversation.dial_ended(phonebook, state, bridged, _caller_gone(), in_room))


def _moved_to_room() -> bool:
    """Did the leg this <Dial> ended with leave it for the conference room? An engineer who pressed
    1 was moved there (`screen`), which ends the <Dial> unbridged with the leg still up; a leg screened
    out is over. Only that case asks Twilio."""
    leg = _form("DialCallSid")
    if _bridged() or _form("DialCallStatus") != "completed" or not leg:
        return False
    return _calls().status(leg) == IN_PROGRESS


@bp.post("/voice/recorded")
@webhook
def recorded():
    return twiml_response(twiml.goodbye([prompts.VOICEMAIL_THANKS], twiml_voice()))


@bp.post("/voice/recording")
@webhook
def recording():
    _event(events.Voicemail(
        recording_url=_form("RecordingUrl") or None, recording_sid=_form("RecordingSid") or None,
        duration=_seconds("RecordingDuration"), status=_form("RecordingStatus") or None,
    ))
    return "", 204


@bp.post("/voice/status")
@webhook
def status():
    _event(events.Status(call_status=_form("CallStatus"), duration=_seconds("CallDuration")))
    return "", 204


# --- the engineer's leg --------------------------------------------------------------------


def _parent_call() -> str:
    return request.args.get("call") or _form("ParentCallSid")


@bp.post("/voice/whisper")
@webhook
def whisper():
    phonebook = _phonebook()
    state = _state()
    line_number = request.args.get("line", "")
    text = conversation.whisper_text(phonebook, state, line_number, _customer_record(phonebook, state))
    # The key press comes back with the call's state and line: what the engineer's room needs.
    action = url_for("voice.screen", call=_parent_call(), line=line_number, **state.query())  # type: ignore[arg-type]
    return twiml_response(twiml.screen(text, action, twiml_voice()))


def _customer_record(phonebook: Phonebook, state: CallState) -> Customer | None:
    """The customer, for a whisper. An unverified SEN is not looked up again; a lookup failing now
    only loses the name."""
    looked_up = conversation.looks_up_customer(state)
    checked = check(_source(phonebook), state.sen, request_instant()) if looked_up else None
    return checked.customer if checked else None


@bp.post("/voice/screen")
@webhook
def screen():
    accepted = _form("Digits") == "1"
    leg = _form("CallSid")
    call = _parent_call()
    _event(events.Screened(number=_form("To"), accepted=accepted, dial_call_sid=leg), call_sid=call)
    if not accepted:
        return twiml_response(twiml.hangup())
    engineer = _first_engineer(call)
    # Into the room (the whisper's document may not <Dial>): the caller's <Dial> then ends and the
    # caller joins (`dialed`). Without a plan (a rescued call, or a state from before the room) or if
    # Twilio does not take the move, the leg is bridged as before: a call without the handoff menu.
    try:
        moved = engineer is not None and _calls().redirect(leg, str(_engineer_room(_state(), engineer)))
    except Exception:  # an engineer who accepted is put through, whatever failed
        log.exception("call %s: the engineer who accepted was not moved into the room; bridged", call)
        moved = False
    if moved:
        assert engineer is not None  # moved only with an engineer
        _event(events.Joined(number=engineer.number, leg=leg, team=engineer.team), call_sid=call)
    return twiml_response(twiml.bridge())


def _first_engineer(call: str) -> Engineer | None:
    """The engineer who pressed 1 in the ringing plan, as the owner of the call; None when the
    screen's URL carries no plan or no line."""
    try:
        state = CallState.from_query(request.args)
    except StateError:
        return None
    line = request.args.get("line", "")
    if not state.plan or not E164_SHAPE.fullmatch(line) or not E164_SHAPE.fullmatch(_form("To")) or not call:
        return None
    return Engineer(call=call, line=line, team=state.plan[state.candidate], number=_form("To"))


# --- the live warm handoff: the conference room and the engineer's menu ----------------------


def _calls() -> CallControl:
    return services().calls


def absolute_url(endpoint: str, **args: str) -> str:
    """A URL Twilio is given outside a response to resolve it against (TwiML a moved leg runs
    inline, a call placed through the REST API): absolute, under the base Twilio signs."""
    base: str = current_app.config.get("IVR_PUBLIC_URL") or request.host_url
    return base.rstrip("/") + url_for(endpoint, **args)  # type: ignore[arg-type]  # query keys only


def _leg_gone() -> bool:
    """This request's own leg hung up (Twilio still requests a <Dial>'s action)."""
    return _form("CallStatus") in {"completed", "canceled"}


def _customer_here(engineer: Engineer) -> bool:
    """Is the caller still on the line? Unknown (Twilio did not say) counts as yes: an engineer is
    never sent away from a caller who may be waiting."""
    return _calls().status(engineer.call) not in events.FINAL_STATUSES


def _region(phonebook: Phonebook, engineer: Engineer) -> str | None:
    line = phonebook.line(engineer.line)
    return line.region if line else None


def _engineer_room(
    state: CallState, engineer: Engineer, texts: tuple[str, ...] = (), remind: bool = True
) -> VoiceResponse:
    """An engineer's leg in the room: the owner may press * and, unless `remind` is False (once
    reminded), is reminded before the team goes off duty (a <Dial timeLimit>, carried as `tl` so
    the action tells it from *)."""
    until_reminder = handoff.reminder_seconds(_phonebook(), engineer, request_instant()) if remind else None
    limit = min(until_reminder, twiml.MAX_TIME_LIMIT) if until_reminder else None
    # A reminder further off than Twilio's longest limit: at the limit the leg only rejoins (`early`).
    extra = {"tl": str(limit), **({"early": "1"} if limit != until_reminder else {})} if limit else {}
    action = absolute_url("voice.engineer", **state.query(), **engineer.query(), **extra)
    place = Room(room_name(engineer.call), action, f"{engineer.role.value}-{engineer.handoffs}",
                 star=engineer.role is Role.OWNER, time_limit=limit)
    return twiml.room(list(texts), place, twiml_voice())


def _customer_room(call: str | None = None) -> VoiceResponse:
    """The caller's leg in the room, with the engineers: leaving it ends the call for everyone."""
    call = call or _form("CallSid")
    return twiml.room([], Room(room_name(call), absolute_url("voice.left"), "customer", customer=True), twiml_voice())


def _back_to_customer(state: CallState, engineer: Engineer, texts: tuple[str, ...] = ()) -> Response:
    """The caller, on hold, and the engineer in the menu meet again in the room."""
    _calls().redirect(engineer.call, str(_customer_room(engineer.call)))
    return twiml_response(_engineer_room(state, engineer, texts))


@bp.post("/voice/left")
@webhook
def left():
    """The caller's room ended: the caller hung up (nothing to say), or the room closed round them."""
    if _caller_gone():
        return twiml_response(twiml.hangup())
    return twiml_response(twiml.goodbye([prompts.ENGINEER_LEFT], twiml_voice()))


@bp.post("/voice/engineer", endpoint="engineer")
@webhook
def engineer_left_room():
    """An engineer's <Dial> into the room ended: they hung up, the caller did, the room closed round a
    guest, the reminder's time came, or the owner pressed * (the caller goes on hold, the menu plays)."""
    phonebook, state, engineer = _phonebook(), _state(), _from_query(Engineer)
    leg = _form("CallSid")
    if _leg_gone():
        _event(events.Left(number=engineer.number, leg=leg), call_sid=engineer.call)
        if engineer.role is Role.OWNER:
            _calls().redirect(engineer.call, str(twiml.goodbye([prompts.ENGINEER_LEFT], twiml_voice())))
        return twiml_response(twiml.hangup())
    here = _customer_here(engineer)
    if not here or engineer.role is Role.GUEST:
        # The room ended round this engineer: the caller hung up (the call ends as a bridge does), or,
        # for a guest, the owner put the caller on hold for another handoff.
        _event(events.Left(number=engineer.number, leg=leg), call_sid=engineer.call)
        return twiml_response(twiml.goodbye([prompts.CALL_GOES_ON] if here else [], twiml_voice()))
    limit, spent = request.args.get("tl", ""), _seconds("DialCallDuration")
    if limit.isascii() and limit.isdigit() and spent is not None and spent >= int(limit):
        if request.args.get("early"):
            return twiml_response(_engineer_room(state, engineer))
        # The reminder's time: this engineer alone hears it, and is back in the room at once.
        return twiml_response(_engineer_room(state, engineer, (prompts.HANDOFF_REMINDER,), remind=False))
    held = absolute_url("voice.held", **state.query(), **engineer.query(), leg=leg)
    _calls().redirect(engineer.call, str(twiml.hold([prompts.HOLD], held, twiml_voice())))
    menu = handoff.menu(phonebook, engineer, _region(phonebook, engineer), request_instant())
    action = _url("voice.menu", state, **engineer.query())
    return twiml_response(twiml.ask(list(menu.spoken), action, twiml_voice(), num_digits=1))


@bp.post("/voice/menu")
@webhook
def menu():
    """The engineer's menu key: ring the next office or the own team; anything else, back."""
    phonebook, state, engineer = _phonebook(), _state(), _from_query(Engineer)
    ringing = handoff.chosen(phonebook, engineer, _form("Digits"), _region(phonebook, engineer), request_instant())
    if ringing is None:
        return _back_to_customer(state, engineer)
    _event(events.HandoffAsked(
        attempt=engineer.handoffs + 1, by=engineer.number, team=ringing.handoff.team, own_team=ringing.handoff.own,
    ), call_sid=engineer.call)
    return _ring_colleague(state, engineer, ringing)


def _ring_colleague(state: CallState, engineer: Engineer, ringing: handoff.Ringing) -> Response:
    """The engineer's leg rings the colleague (their key press is screened like any engineer's)."""
    args = {**state.query(), **engineer.query(), **ringing.handoff.query()}
    dial = Ringing(
        numbers=ringing.numbers, timeout=ringing.timeout, caller_id=engineer.line,
        action=url_for("voice.handoff_dialed", **args),  # type: ignore[arg-type]  # query keys only
        whisper=url_for("voice.handoff_whisper", **args),  # type: ignore[arg-type]
    )
    return twiml_response(twiml.connect(list(ringing.spoken), dial, twiml_voice()))


def _resume(state: CallState, engineer: Engineer, team: str) -> None:
    """The caller, on hold, has lost the engineer: `team` rings for them (`resume`)."""
    url = absolute_url("voice.resume", **state.query(), to=team)
    if not _calls().redirect_url(engineer.call, url):
        log.error("call %s: the caller on hold could not be moved on after the engineer left", engineer.call)


@bp.post("/voice/handoff/whisper")
@webhook
def handoff_whisper():
    phonebook, state, engineer = _phonebook(), _state(), _from_query(Engineer)
    customer = _customer_record(phonebook, state)
    text = prompts.handoff_whisper(
        state.severity, customer.name if customer else None, state.sen, handoff.spoken_team(phonebook, engineer.team),
        state.verified,
    )
    action = url_for("voice.handoff_screen", **request.args.to_dict())  # type: ignore[arg-type]  # query keys only
    return twiml_response(twiml.screen(text, action, twiml_voice()))


@bp.post("/voice/handoff/screen")
@webhook
def handoff_screen():
    """The colleague's key: 1 moves them into the room as the call's owner, and the caller back in
    from hold; the engineer who rang them follows as a guest (`handoff_dialed`)."""
    state, engineer, wanted = _state(), _from_query(Engineer), _from_query(Handoff)
    accepted, leg, number = _form("Digits") == "1", _form("CallSid"), _form("To")
    _event(events.Screened(number=number, accepted=accepted, dial_call_sid=leg), call_sid=engineer.call)
    if not accepted:
        return twiml_response(twiml.hangup())
    if not _customer_here(engineer):
        return twiml_response(twiml.goodbye([prompts.CUSTOMER_GONE], twiml_voice()))
    owner = Engineer(engineer.call, engineer.line, wanted.team, number, Role.OWNER, engineer.handoffs + 1)
    if _calls().redirect(leg, str(_engineer_room(state, owner))):
        _event(events.Joined(number=number, leg=leg, team=wanted.team), call_sid=engineer.call)
        _calls().redirect(engineer.call, str(_customer_room(engineer.call)))
    # Not moved: the two engineers are bridged, the caller still on hold until the first one is back.
    return twiml_response(twiml.bridge())


@bp.post("/voice/handoff")
@webhook
def handoff_dialed():
    """The handoff's <Dial> ended: the colleague joined (this engineer follows as a guest), the next
    number rings, or nobody could join (back to the caller); if this engineer hung up meanwhile, the
    caller is not left on hold."""
    phonebook, state, engineer, wanted = _phonebook(), _state(), _from_query(Engineer), _from_query(Handoff)
    joined = _moved_to_room()
    numbers = (
        handoff.own_numbers(phonebook, engineer) if wanted.own
        else conversation.numbers_at(candidate(phonebook, wanted.team), wanted.ring)
    )
    _event(events.HandoffDial(
        attempt=engineer.handoffs + 1, ring=wanted.ring, team=wanted.team, numbers=numbers,
        status=_form("DialCallStatus") or None, joined=joined,
    ), call_sid=engineer.call)
    if _leg_gone():
        _event(events.Left(number=engineer.number, leg=_form("CallSid")), call_sid=engineer.call)
        if not joined:
            _resume(state, engineer, wanted.team)
        return twiml_response(twiml.hangup())
    if joined:
        guest = Engineer(engineer.call, engineer.line, engineer.team, engineer.number, Role.GUEST,
                         engineer.handoffs + 1)
        return twiml_response(_engineer_room(state, guest, (prompts.HANDOFF_JOINED,)))
    if not _customer_here(engineer):
        _event(events.Left(number=engineer.number, leg=_form("CallSid")), call_sid=engineer.call)
        return twiml_response(twiml.goodbye([prompts.CUSTOMER_GONE], twiml_voice()))
    following = handoff.ring_on(phonebook, wanted)
    if following is not None:
        return _ring_colleague(state, engineer, following)
    return _back_to_customer(state, engineer, (handoff.nobody_joined(phonebook, wanted),))


@bp.post("/voice/held")
@webhook
def held():
    """The caller on hold heard the music once. While the engineer who put them on hold is on the line
    (in the menu, or ringing a colleague) they hold on; an engineer who hung up there (Twilio asks no
    action of a <Gather> hung up on) leaves the caller to the next office."""
    phonebook, state, engineer = _phonebook(), _state(), _from_query(Engineer)
    leg = request.args.get("leg", "")
    if not handoff.CALL_SID.fullmatch(leg):
        abort(400, description="not the engineer's leg")
    if _calls().status(leg) == IN_PROGRESS:
        held = absolute_url("voice.held", **request.args.to_dict())
        return twiml_response(twiml.hold([prompts.HOLD], held, twiml_voice()))
    _event(events.Left(number=engineer.number, leg=leg))
    team = handoff.taking_over(phonebook, engineer, _region(phonebook, engineer), request_instant())
    return _answer(conversation.engineer_gone(phonebook, state, team))


@bp.post("/voice/resume")
@webhook
def resume():
    """The caller, on hold, lost the engineer before a colleague joined: ring the office asked for."""
    team = request.args.get("to", "")
    state = _state()
    if candidate(_phonebook(), team) is None:
        return _answer(conversation.dial_ended(_phonebook(), state, False, _caller_gone()))
    return _answer(conversation.engineer_gone(_phonebook(), state, team))


# --- never strand a caller -----------------------------------------------------------------


@bp.post("/voice/rescued")
@webhook
def rescued():
    return _answer(conversation.rescued(_bridged(), _caller_gone()))


def _rescue_call() -> Response:
    """Ring a human from the last good phonebook, with as little of our machinery as possible;
    unless an engineer already took the call, or the caller is gone."""
    phonebook = services().phonebook.last_good()
    return _answer(conversation.rescue(phonebook, _bridged(), _caller_gone()))


def _rescue_dial(decision: conversation.Rescue) -> Response:
    """The rescue's <Dial>: no state to carry, so the whisper says it is a rescued call."""
    ringing = Ringing(
        numbers=decision.numbers,
        timeout=decision.timeout,
        caller_id=_caller_id(),
        action=url_for("voice.rescued"),
        whisper=url_for("voice.whisper", line=_form("To"), call=_form("CallSid")),
    )
    return twiml_response(twiml.rendered_connect(decision.spoken, ringing, twiml_voice()))


def _callback_failed() -> tuple[str, int]:
    return "", 204


def _whisper_failed() -> Response:
    action = url_for("voice.screen", call=_parent_call())
    return twiml_response(twiml.screen(prompts.WHISPER_FAILED, action, twiml_voice()))


def _engineer_failed() -> Response:
    """An engineer's step failed: engineer and caller back in the room, without the menu (no *), if
    the leg's URL says which call it is; else the leg hangs up (the caller, if on hold, moves on when
    the music ends: `held`)."""
    try:
        engineer = Engineer.from_query(request.args)
        action = absolute_url("voice.engineer", **request.args.to_dict())
        place = Room(room_name(engineer.call), action, f"{engineer.role.value}-{engineer.handoffs}")
        _calls().redirect(engineer.call, str(_customer_room(engineer.call)))
        return twiml_response(twiml.room([], place, twiml_voice()))
    except Exception:  # the rescue of a rescue: nothing more to try
        log.exception("call %s: the engineer's leg could not be put back with the caller", _form("CallSid"))
        return twiml_response(twiml.hangup())


def _rescue_failed() -> Response:
    return twiml_response(twiml.goodbye([prompts.RESCUE_FAILED], twiml_voice()))


# What a failed step answers: callbacks need no TwiML, the engineer's leg still screens, a
# failed rescue cannot loop, and every caller step rings a human.
_ON_FAILURE: dict[str, Callable[[], ResponseReturnValue]] = {
    "voice.status": _callback_failed,
    "voice.recording": _callback_failed,
    "voice.whisper": _whisper_failed,
    "voice.screen": lambda: twiml_response(twiml.hangup()),
    # The caller after the call, and a colleague's leg (nobody joins: the engineer who rang is back).
    "voice.left": lambda: twiml_response(twiml.hangup()),
    "voice.handoff_whisper": lambda: twiml_response(twiml.hangup()),
    "voice.handoff_screen": lambda: twiml_response(twiml.hangup()),
    # The engineer's own steps: back with the caller.
    "voice.engineer": _engineer_failed,
    "voice.menu": _engineer_failed,
    "voice.handoff_dialed": _engineer_failed,
    "voice.rescued": _rescue_failed,
}


@bp.errorhandler(Exception)
def _rescue(error: Exception) -> ResponseReturnValue:
    if isinstance(error, HTTPException):
        return error
    log.exception("call %s: %s failed; answering with the rescue", _form("CallSid"), request.endpoint)
    _event(events.Error(message=f"{type(error).__name__}: {error}", step=request.endpoint))
    return _ON_FAILURE.get(request.endpoint or "", _rescue_call)()
