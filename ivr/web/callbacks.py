"""The console's callbacks: the Callbacks page (open ones soonest due first, the overdue in red),
each callback's history with forms to call the customer back or close it by hand, their JSON API,
and the Twilio webhooks of a call back.

Its own blueprint under /ops, with the console's sign-in, headers and error pages (`ivr.web.ops`).
Closing by hand and calling back are POSTs protected against cross-site requests
(`auth.csrf_protect`) and noted with who did it.

A call back (`call_back`) asks Twilio's REST API to ring the engineer from the customer's line;
when the engineer answers and presses 1, the customer is dialled with that published number as
caller ID. The call is recorded in the call log like an inbound one, under its CallSid: the
customer's phone picking up is the engineer "answering" it, which closes the callback
(`ivr.store.callbacks`, `called-back`). Its steps, each signed by Twilio:
  POST /voice/callback/engineer  the engineer's phone answered: who to call back, press 1
  POST /voice/callback/connect   the engineer's key: dial the customer, or hang up
  POST /voice/callback/customer  the customer's phone answered: a greeting, then put through
  POST /voice/callback/dialed    the dial's result
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from ivr.callflow import prompts, twiml
from ivr.engine import events
from ivr.engine.callbacks import CALLBACK_FILTERS, Callback, State, callback_json, history_json, when_text
from ivr.engine.phonebook import Line, is_e164, sen_digits
from ivr.engine.routing import candidates
from ivr.outside.calls import RING_SECONDS, CallFailed, place_call
from ivr.store.callbacks import NOTE_LENGTH, CallbackFilter
from ivr.web import ops
from ivr.web.auth import USER, basic_auth, csrf_protect, page_auth
from ivr.web.services import request_instant, services
from ivr.web.voice import absolute_url, twiml_response, twiml_voice, webhook

bp = Blueprint("callbacks", __name__, url_prefix="/ops", template_folder="templates")
bp.after_request(ops.security_headers)
bp.register_error_handler(HTTPException, ops.error_page)
bp.register_error_handler(SQLAlchemyError, ops.database_unavailable)
# Twilio's side of a call back.
voice_bp = Blueprint("callback_voice", __name__, url_prefix="/voice/callback")

API_LIMIT_MAX = 500
# The largest id the callbacks table holds (a 32-bit integer column).
ID_MAX = 2**31 - 1
PAGE_LIMIT = 200


def _filter() -> tuple[CallbackFilter, str]:
    """The state (default `open`) and opening window from the query string; a bad one is a 400."""
    args = request.args
    state = args.get("state") or "open"
    if state not in CALLBACK_FILTERS:
        abort(400, f"state must be one of {', '.join(CALLBACK_FILTERS)}")
    since, until = (query_instant(name) for name in ("since", "until"))
    return CallbackFilter(None if state == "all" else State(state), since, until), state


def query_instant(name: str) -> datetime | None:
    """An ISO 8601 instant with its offset from the query string; a bad one is a 400."""
    value = request.args.get(name) or None
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        at.astimezone(UTC)  # OverflowError at the ends of the calendar
    except (ValueError, OverflowError):
        at = None
    if at is None or at.tzinfo is None:
        abort(400, f"{name} must be an instant with its offset, such as 2026-12-01T09:00:00Z")
    return at


def _callback(callback_id: int) -> Callback:
    # A number no id column holds (PostgreSQL would refuse to compare it) is no callback either.
    found = services().calllog.callbacks.get(callback_id) if callback_id <= ID_MAX else None
    if found is None:
        abort(404, f"No callback {callback_id}.")
    return found


@bp.get("/callbacks")
@page_auth
def callbacks() -> str:
    where, state = _filter()
    at = request_instant()
    found, more = _page(at, where, PAGE_LIMIT)
    return render_template("ops/callbacks.html", callbacks=found, at=at, state=state, states=CALLBACK_FILTERS,
                           when=when_text, State=State, more=more)


def _page(at: datetime, where: CallbackFilter, limit: int) -> tuple[list[Callback], str | None]:
    """A page of callbacks after the query string's `after` (the id of the last callback of the page
    before; a bad one is a 4xx), and the URL of the next page, None when this is the last."""
    after = request.args.get("after") or None
    if after is not None:
        if not (after.isascii() and after.isdigit()):
            abort(400, "after must be a callback's id")
        _callback(int(after))
    found = services().calllog.callbacks.find(at, where, limit + 1, int(after) if after else None)
    if len(found) <= limit:
        return found, None
    found = found[:limit]
    # Typed Any: mypy would match str values against url_for's own keywords.
    query: dict[str, Any] = {**request.args.to_dict(), "after": str(found[-1].id)}
    assert request.endpoint is not None
    return found, url_for(request.endpoint, **query)


@bp.get("/callbacks/<int:callback_id>")
@page_auth
def callback(callback_id: int) -> str:
    found = _callback(callback_id)
    history = services().calllog.callbacks.history(callback_id)
    at = request_instant()
    line = _published_line(found)
    # The numbers of whoever a call on the customer's line reaches now, to ring first.
    on_duty = [(c.spoken_name, number) for c in candidates(services().phonebook.current(), line.region, at)
               for number in c.dial] if line else []
    return render_template("ops/callback.html", callback=found, history=history, at=at,
                           when=when_text(found, at), state=found.state(at), State=State,
                           note_length=NOTE_LENGTH, on_duty=on_duty, cannot_call=_cannot_call(found))


def _published_line(callback: Callback) -> Line | None:
    return services().phonebook.current().line(callback.line) if callback.line else None


def _cannot_call(callback: Callback) -> str | None:
    """Why the console cannot call this customer back through Twilio; None when it can."""
    if not current_app.config.get("TWILIO_ACCOUNT_SID"):
        return "Calling back needs TWILIO_ACCOUNT_SID (and the account's TWILIO_AUTH_TOKEN)."
    if not is_e164(callback.caller):
        return "The customer's number is not known."
    if _published_line(callback) is None:
        return "The line the customer called is not in the phonebook: no published number to show."
    return None


@bp.post("/callbacks/<int:callback_id>/call")
@page_auth
@csrf_protect
def call_back(callback_id: int) -> ResponseReturnValue:
    """Ring the engineer's number, then the customer's, showing the line they called."""
    found = _callback(callback_id)
    engineer = (request.form.get("engineer") or "").strip()
    if not is_e164(engineer):
        abort(400, "The engineer's number must be an E.164 number such as +14155550101.")
    if found.closed_at is not None:
        abort(409, f"Callback {callback_id} was closed already.")
    if why := _cannot_call(found):
        abort(400, why)
    line = _published_line(found)
    assert line is not None and found.caller is not None
    steps: dict[str, Any] = {"cb": str(callback_id), "customer": found.caller, "line": line.number}
    try:
        sid = place_call(current_app.config["TWILIO_ACCOUNT_SID"], current_app.config["TWILIO_AUTH_TOKEN"],
                         to=engineer, caller_id=line.number,
                         url=absolute_url("callback_voice.engineer", **steps),
                         status_callback=absolute_url("voice.status"))
    except CallFailed as exc:
        abort(502, str(exc))
    at = request_instant()
    record = services().events.record
    # On record like an inbound call from the customer on that line, so its answer closes the callback.
    record(sid, events.Started(line=line.label, region=line.region, caller=found.caller, to=line.number), at)
    record(sid, events.Recognised(sen=found.sen, customer=found.customer, tier=found.tier), at)
    record(sid, events.Outbound(callback=callback_id, engineer=engineer, who=USER), at)
    services().calllog.callbacks.called(callback_id, at, USER, sid, engineer)
    return redirect(url_for("callbacks.callback", callback_id=callback_id), 303)


@bp.post("/callbacks/<int:callback_id>/close")
@page_auth
@csrf_protect
def close(callback_id: int) -> ResponseReturnValue:
    """Close by hand (the customer was reached by e-mail, a ticket, another phone), with a note."""
    _callback(callback_id)
    note = (request.form.get("note") or "").strip()
    if not note:
        abort(400, "Say in a short note how the customer was reached.")
    if len(note) > NOTE_LENGTH or any(ord(c) < 32 and c not in "\r\n\t" for c in note):
        abort(400, f"The note must be at most {NOTE_LENGTH} characters of text.")
    if not services().calllog.callbacks.close(callback_id, request_instant(), USER, note):
        abort(409, f"Callback {callback_id} was closed already.")
    return redirect(url_for("callbacks.callback", callback_id=callback_id), 303)


@bp.get("/api/callbacks")
@basic_auth
def api_callbacks() -> Response:
    where, _ = _filter()
    try:
        limit = int(request.args.get("limit", 100))
    except ValueError:
        abort(400, "limit must be a whole number")
    if not 1 <= limit <= API_LIMIT_MAX:
        abort(400, f"limit must be from 1 to {API_LIMIT_MAX}")
    at = request_instant()
    found, more = _page(at, where, limit)
    return jsonify(callbacks=[callback_json(c, at) for c in found], next=more)


@bp.get("/api/callbacks/<int:callback_id>")
@basic_auth
def api_callback(callback_id: int) -> Response:
    found = _callback(callback_id)
    shown: dict[str, Any] = callback_json(found, request_instant())
    shown["history"] = [history_json(step) for step in services().calllog.callbacks.history(callback_id)]
    return jsonify(shown)


# --- Twilio's side of a call back ----------------------------------------------------------------


def _step_query() -> dict[str, Any]:
    """The call back's signed query: its callback, the customer's number and the line's (typed Any:
    mypy would match its values against url_for's own keywords)."""
    query: dict[str, Any] = {name: request.args.get(name, "") for name in ("cb", "customer", "line")}
    if not (query["cb"].isascii() and query["cb"].isdigit() and is_e164(query["customer"]) and is_e164(query["line"])):
        abort(400, "not a call back's step")
    return query


@voice_bp.post("/engineer")
@webhook
def engineer() -> ResponseReturnValue:
    query = _step_query()
    found = _callback(int(query["cb"]))
    phonebook = services().phonebook.current()
    line = phonebook.line(query["line"])
    text = prompts.say(prompts.CALLBACK_WHISPER, service=phonebook.service.name,
                       customer=found.customer or prompts.WHISPER_UNKNOWN_CALLER,
                       sen=prompts.say(prompts.WHISPER_SEN, sen=prompts.spoken_digits(sen_digits(found.sen)))
                       if found.sen else prompts.WHISPER_NO_SEN,
                       line=line.label if line else query["line"])
    return twiml_response(twiml.screen(text, url_for("callback_voice.connect", **query), twiml_voice()))


@voice_bp.post("/connect")
@webhook
def connect() -> ResponseReturnValue:
    query = _step_query()
    if request.form.get("Digits") != "1":
        return twiml_response(twiml.hangup())
    ringing = twiml.Ringing(numbers=(query["customer"],), timeout=RING_SECONDS, caller_id=query["line"],
                            action=url_for("callback_voice.dialed", **query),
                            whisper=url_for("callback_voice.customer", **query))
    return twiml_response(twiml.connect([], ringing, twiml_voice()))


@voice_bp.post("/customer")
@webhook
def customer() -> ResponseReturnValue:
    query = _step_query()
    parent = request.form.get("ParentCallSid", "")
    if parent:
        services().events.record(parent, events.Screened(number=query["customer"], accepted=True,
                                                         dial_call_sid=request.form["CallSid"]), request_instant())
    service = services().phonebook.current().service.name
    return twiml_response(twiml.announce(prompts.say(prompts.CALLBACK_GREETING, service=service), twiml_voice()))


@voice_bp.post("/dialed")
@webhook
def dialed() -> ResponseReturnValue:
    query = _step_query()
    form = request.form
    duration = form.get("DialCallDuration", "")
    services().events.record(form["CallSid"], events.Dial(
        attempt=1, numbers=(query["customer"],), status=form.get("DialCallStatus") or None,
        duration=int(duration) if duration.isdigit() else None, dial_call_sid=form.get("DialCallSid") or None,
        bridged=form.get("DialBridged") == "true",
    ), request_instant())
    return twiml_response(twiml.hangup())


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(voice_bp)
