"""The console's callbacks: the Callbacks page (open ones soonest due first, the overdue in red),
each callback's history with a form to close it by hand, and their JSON API.

Its own blueprint under /ops, with the console's sign-in, headers and error pages (`ivr.web.ops`).
Closing by hand is a POST protected against cross-site requests (`auth.csrf_protect`) and noted
with who did it and why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ivr.engine.callbacks import CALLBACK_FILTERS, Callback, State, callback_json, history_json, when_text
from ivr.store.callbacks import NOTE_LENGTH, CallbackFilter
from ivr.web import ops
from ivr.web.auth import USER, basic_auth, csrf_protect, page_auth
from ivr.web.services import request_instant, services

bp = Blueprint("callbacks", __name__, url_prefix="/ops", template_folder="templates")
bp.after_request(ops.security_headers)
bp.register_error_handler(HTTPException, ops.error_page)

API_LIMIT_MAX = 500
PAGE_LIMIT = 200


def _filter() -> tuple[CallbackFilter, str]:
    """The state (default `open`) and opening window from the query string; a bad one is a 400."""
    args = request.args
    state = args.get("state") or "open"
    if state not in CALLBACK_FILTERS:
        abort(400, f"state must be one of {', '.join(CALLBACK_FILTERS)}")
    since, until = (_instant(name) for name in ("since", "until"))
    return CallbackFilter(None if state == "all" else State(state), since, until), state


def _instant(name: str) -> datetime | None:
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
    found = services().calllog.callbacks.get(callback_id)
    if found is None:
        abort(404, f"No callback {callback_id}.")
    return found


@bp.get("/callbacks")
@page_auth
def callbacks() -> str:
    where, state = _filter()
    at = request_instant()
    found = services().calllog.callbacks.find(at, where, PAGE_LIMIT)
    return render_template("ops/callbacks.html", callbacks=found, at=at, state=state, states=CALLBACK_FILTERS,
                           when=when_text, State=State)


@bp.get("/callbacks/<int:callback_id>")
@page_auth
def callback(callback_id: int) -> str:
    found = _callback(callback_id)
    history = services().calllog.callbacks.history(callback_id)
    at = request_instant()
    return render_template("ops/callback.html", callback=found, history=history, at=at,
                           when=when_text(found, at), state=found.state(at), State=State,
                           note_length=NOTE_LENGTH)


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
    found = services().calllog.callbacks.find(at, where, limit)
    return jsonify(callbacks=[callback_json(c, at) for c in found])


@bp.get("/api/callbacks/<int:callback_id>")
@basic_auth
def api_callback(callback_id: int) -> Response:
    found = _callback(callback_id)
    shown: dict[str, Any] = callback_json(found, request_instant())
    shown["history"] = [history_json(step) for step in services().calllog.callbacks.history(callback_id)]
    return jsonify(shown)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
