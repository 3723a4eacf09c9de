"""The ops console under /ops: who is on duty, every call and its timeline, the week, the numbers.

One blueprint for the ops audience. Pages take a login form or HTTP Basic; the JSON API takes
HTTP Basic (user `ops`); both checks live in `ivr.web.auth` (/metrics uses them too). The password
is IVR_OPS_PASSWORD; without it the console is refused, never open. Views parse the request, ask
the call log or the rota, and render.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode, urlsplit

import phonenumbers
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from ivr.engine import rota
from ivr.engine.callbacks import Callback, State, when_text
from ivr.engine.instants import iso, local_time, relative
from ivr.engine.narrative import timeline_lines
from ivr.engine.outcomes import OUTCOME_FILTERS, SHOWN_FIELDS, Summary, call_json
from ivr.engine.phonebook import E164_SHAPE, SEVERITIES, Phonebook
from ivr.engine.routing import candidate, route
from ivr.redact import redact
from ivr.store.alert_queue import AlertDelivery
from ivr.store.callbacks import CallbackFilter
from ivr.store.calllog import PAGE_SIZE, CallFilter, CallLog, CallPage, day_range
from ivr.store.missed_calls import MissedCall, missed_l1_calls
from ivr.web.auth import (
    COOKIE,
    DISABLED,
    SESSION_SECONDS,
    USER,
    basic_auth,
    csrf_protect,
    new_session,
    ops_password,
    page_auth,
    password_matches,
    retry_after,
    too_many,
)
from ivr.web.health import current_health
from ivr.web.services import request_instant, services

bp = Blueprint("ops", __name__, url_prefix="/ops", template_folder="templates")
logger = logging.getLogger(__name__)

API_PAGE_MAX = 500
# The call log's sid column (Twilio's are 34 characters).
SID_MAX = 64
CSV_MAX_ROWS = 10_000
# Each team on duty in GET /ops/api/now.
API_NOW_FIELDS = ("team", "since", "until")
# Spreadsheets run cells that start with these as formulas (a phone number in E.164 aside).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The Now page lists the missed L1 calls of this stretch, and reloads itself this often (the app's
# config may set OPS_REFRESH_SECONDS).
MISSED_WINDOW = timedelta(hours=24)
# The open callbacks the Now page lists, soonest due first; the Callbacks page has them all.
NOW_CALLBACKS = 20
REFRESH_SECONDS = 60
# No filter, cursor or call SID holds these (PostgreSQL refuses NUL in text).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- signing in -------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    password = ops_password()
    if password is None:
        return render_template("ops/disabled.html", message=DISABLED), 403
    target = console_path(request.values.get("next", "")) or url_for("ops.now")
    if request.method == "GET":
        return render_template("ops/login.html", error=None, next=target)
    if wait := retry_after():
        return too_many(wait, login_next=target)
    if not password_matches(USER, request.form.get("password", ""), password):
        return render_template("ops/login.html", error="Wrong password.", next=target), 401
    response = redirect(target)
    response.set_cookie(COOKIE, new_session(password), max_age=SESSION_SECONDS, httponly=True,
                        secure=request.is_secure, samesite="Lax", path="/ops")
    return response


def console_path(target: str) -> str | None:
    """`target` if it is a path in the console (`/ops/...`, with its query) to go back to after
    signing in; None for anything else: another site (`//host`, `https://...`, `/\\host`), a path
    outside the console, or a control character (CR/LF would split the Location header)."""
    if _CONTROL.search(target) or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ops/") or parts.fragment:
        return None
    return target


@bp.post("/logout")
@csrf_protect
def logout():
    response = redirect(url_for("ops.login"))
    response.delete_cookie(COOKIE, path="/ops")
    return response


@bp.after_request
def security_headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    return response


@bp.errorhandler(HTTPException)
def error_page(error: HTTPException) -> ResponseReturnValue:
    assert error.code is not None  # Flask answers an HTTPException without a code itself, before any handler
    if request.path.startswith("/ops/api/"):
        return jsonify(error=error.description), error.code
    return render_template("ops/error.html", error=error), error.code


@bp.errorhandler(SQLAlchemyError)
def database_unavailable(error: SQLAlchemyError) -> ResponseReturnValue:
    """A page that reads the call log while its database is down or behind: 503 saying so (calls
    are still answered; the Now page still says who is on duty), never a 500."""
    logger.warning("ops console: the call log cannot be read (%s)", type(error).__name__)
    return error_page(ServiceUnavailable(
        "The call log's database cannot be read now. Calls are still answered and their events wait "
        "in the journal; /healthz says what is wrong, and the Now page who is on duty."
    ))


# --- helpers --------------------------------------------------------------------------------


def _phonebook() -> Phonebook:
    return services().phonebook.current()


def _calllog() -> CallLog:
    return services().calllog


def _filters() -> tuple[CallFilter, str | None]:
    """The call filters from the query string; a bad value is a 400 that says which."""
    args = request.args
    for name, value in args.items(multi=True):
        if _CONTROL.search(value):
            abort(400, f"{name} must not contain control characters")
    outcome = args.get("outcome") or None
    if outcome and outcome not in OUTCOME_FILTERS:
        abort(400, f"outcome must be one of {', '.join(OUTCOME_FILTERS)}")
    severity = args.get("severity") or None
    if severity is not None and severity not in {str(s) for s in SEVERITIES}:
        abort(400, f"severity must be one of {', '.join(str(s) for s in SEVERITIES)}")
    since = until = None
    if args.get("date"):
        try:
            since, until = day_range(args["date"])
        except ValueError:
            abort(400, "date must be a day such as 2026-12-01, from 0001-01-01 to 9999-12-30")
    where = CallFilter(
        outcome=outcome,
        severity=int(severity) if severity else None,
        line=args.get("line") or None,
        customer=args.get("customer") or None,
        since=since,
        until=until,
    )
    return where, args.get("before") or None


def _call_or_404(sid: str) -> Summary:
    """The call `sid`, or a 404 (also for a SID no call log holds: a control character, too long)."""
    found = None if _CONTROL.search(sid) or len(sid) > SID_MAX else _calllog().call(sid)
    if found is None:
        abort(404, f"No call {sid} in the call log.")
    return found


def _page(where: CallFilter, before: str | None, limit: int = PAGE_SIZE) -> CallPage:
    try:
        return _calllog().calls(where, limit=limit, before=before)
    except ValueError as exc:
        abort(400, str(exc))


def neutralise(cell: object) -> object:
    """A CSV cell a spreadsheet will show, never run: formula-like text gets a leading quote. A
    plain E.164 number (`+14155550100`) is a number to a spreadsheet, not a formula: left as it is."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS) and not E164_SHAPE.fullmatch(cell):
        return "'" + cell
    return cell


@bp.app_template_filter("phone")
def pretty_number(number: str | None) -> str:
    """'+14155550100' as '+1 415-555-0100'; what does not parse as a number stays as it is."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@bp.app_template_filter("when")
def _when_filter(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).strftime("%a %d %b %H:%M UTC")


# A delivery error can hold a webhook's secret path: shown as /healthz shows it.
bp.add_app_template_filter(redact, "redact")


@bp.app_template_filter("local")
def _local_filter(at: datetime, tz: tzinfo) -> str:
    return local_time(at, tz)


@bp.app_template_filter("relative")
def _relative_filter(at: datetime) -> str:
    """How far `at` is from this request's instant: 'in 2h', '3h 10m ago'."""
    return relative(at, request_instant())


@bp.app_template_filter("span")
def span_text(span: tuple[datetime, datetime]) -> str:
    """'Tue 01 06:00-18:00' within a UTC day (a day's end is 24:00), else 'Fri 04 15:00 - Mon 07 10:00'."""
    start, end = (at.astimezone(UTC) for at in span)
    if end - start <= timedelta(days=1) and (end - timedelta(microseconds=1)).date() == start.date():
        until = "24:00" if end.date() != start.date() else f"{end:%H:%M}"
        return f"{start:%a %d %H:%M}-{until}"
    return f"{start:%a %d %H:%M} - {end:%a %d %H:%M}"


@bp.app_template_filter("team")
def _team_filter(name: str | None) -> str:
    """A team key as people say it ("Amsterdam Priority Support"); the API keeps the keys."""
    found = candidate(_phonebook(), name) if name else None
    return found.spoken_name if found else name or ""


# --- pages ----------------------------------------------------------------------------------


@bp.get("/")
@page_auth
def now():
    """Is anything wrong (callbacks owed, health, alert failures, missed L1 calls of the last day), then
    who is on duty."""
    at = request_instant()
    phonebook = _phonebook()
    health = current_health()
    try:
        owed: list[Callback] | None = _calllog().callbacks.find(at, CallbackFilter(State.OPEN), NOW_CALLBACKS)
        owed_counts: tuple[int, int] | None = _calllog().callbacks.counts(at)
        missed: tuple[MissedCall, ...] | None = missed_l1_calls(_calllog(), at - MISSED_WINDOW)
    except SQLAlchemyError:
        # The call log's trouble is among the health problems already.
        owed, owed_counts, missed = None, None, None
    # Each channel's last failure in this worker, if it is recent: an old one is no news.
    alert_trouble = [
        (channel, redact(state["last_error"]), state["last_error_at"])
        for channel, state in health.alerts.items()
        if isinstance(state, dict) and state.get("last_error") and state.get("last_error_at")
        and datetime.fromisoformat(state["last_error_at"]) >= at - MISSED_WINDOW
    ]
    refused = health.phonebook["last_error"]
    return render_template(
        "ops/now.html", board=rota.board(phonebook, at), health=health, missed=missed,
        callbacks=owed, callback_counts=owed_counts, at=at, when=when_text, State=State,
        missed_hours=int(MISSED_WINDOW.total_seconds() // 3600), alert_trouble=alert_trouble,
        refused_edit=redact(refused) if refused else None, fallback=phonebook.fallback,
        after_the_teams=rota.after_the_teams(phonebook), labels={line.number: line.label for line in phonebook.lines},
        refresh=current_app.config.get("OPS_REFRESH_SECONDS", REFRESH_SECONDS),
    )


@bp.get("/calls")
@page_auth
def calls():
    where, before = _filters()
    page = _page(where, before)
    phonebook = _phonebook()
    older = None
    if page.next_cursor:
        # Typed Any: mypy would match str values against url_for's own keywords (_external: bool...).
        query: dict[str, Any] = {**request.args.to_dict(), "before": page.next_cursor}
        older = url_for("ops.calls", **query)
    csv_query: dict[str, Any] = {k: v for k, v in request.args.items() if k != "before"}
    return render_template(
        "ops/calls.html",
        page=page,
        args=request.args,
        older=older,
        outcomes=OUTCOME_FILTERS,
        severities=SEVERITIES,
        lines=phonebook.lines,
        customers=sorted(c.name for c in phonebook.customers),
        labels={line.number: line.label for line in phonebook.lines},
        csv_url=url_for("ops.calls_csv", **csv_query),
    )


@bp.get("/calls/<sid>")
@page_auth
def call(sid: str) -> str:
    found = _call_or_404(sid)
    phonebook = _phonebook()
    timeline = timeline_lines(_calllog().timelines([sid])[sid], phonebook)
    labels = {line.number: line.label for line in phonebook.lines}
    owed = _calllog().callbacks
    # Each callback the call opened, joined or closed, with its history.
    histories = [(owed.get(callback_id), owed.history(callback_id)) for callback_id in owed.of_call(sid)]
    return render_template("ops/call.html", call=found, timeline=timeline, labels=labels,
                           alert=_calllog().alerts.delivery(sid), histories=histories, at=request_instant(),
                           when=when_text, State=State)


@bp.get("/week")
@page_auth
def week():
    """The rota of the coming 7 days (`rota.week`)."""
    # Whole UTC days, as the grid's columns are drawn.
    now = request_instant()
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    phonebook = _phonebook()
    return render_template("ops/week.html", week=rota.week(phonebook, start), now=now,
                           after_the_teams=rota.after_the_teams(phonebook))


@bp.get("/numbers")
@page_auth
def numbers():
    at = request_instant()
    phonebook = _phonebook()
    decisions = [(line, route(phonebook, line.number, at, 1)) for line in phonebook.lines]
    return render_template("ops/numbers.html", decisions=decisions, at=at, service=phonebook.service)


@bp.get("/calls.csv")
@page_auth
def calls_csv():
    where, before = _filters()
    out = io.StringIO()
    writer = csv.writer(out)
    columns = SHOWN_FIELDS
    writer.writerow(columns)
    rows = 0
    while rows < CSV_MAX_ROWS:
        page = _page(where, before, limit=min(API_PAGE_MAX, CSV_MAX_ROWS - rows))
        for summary in page.calls:
            data = call_json(summary, [])
            writer.writerow([neutralise(data[column]) for column in columns])
        rows += len(page.calls)
        before = page.next_cursor
        if before is None:
            break
    filename = f"calls-{request_instant().strftime('%Y%m%dT%H%MZ')}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- JSON API ------------------------------------------------------------------------------


@bp.get("/api/calls")
@basic_auth
def api_calls():
    where, before = _filters()
    try:
        limit = int(request.args.get("limit", PAGE_SIZE))
    except ValueError:
        abort(400, "limit must be a whole number")
    if not 1 <= limit <= API_PAGE_MAX:
        abort(400, f"limit must be from 1 to {API_PAGE_MAX}")
    page = _page(where, before, limit)
    timelines = _calllog().stored_timelines(c.sid for c in page.calls)
    next_url = None
    if page.next_cursor:
        next_url = url_for("ops.api_calls") + "?" + urlencode({**request.args.to_dict(), "before": page.next_cursor})
    return jsonify(calls=[call_json(c, timelines[c.sid]) for c in page.calls], next=next_url)


@bp.get("/api/calls/<sid>")
@basic_auth
def api_call(sid: str) -> Response:
    found = _call_or_404(sid)
    return jsonify({**call_json(found, _calllog().stored_timelines([sid])[sid]),
                    "alert": delivery_json(_calllog().alerts.delivery(sid))})


def delivery_json(alert: AlertDelivery | None) -> dict[str, Any] | None:
    """A call's alert delivery in the API (null for a call that has no alert)."""
    if alert is None:
        return None
    return {
        "state": alert.state.value,
        "due_at": None if alert.due_at is None else iso(alert.due_at),
        "rounds": alert.rounds,
        "destinations": [
            {"destination": d.destination, "sent_at": None if d.sent_at is None else iso(d.sent_at),
             "refused": None if d.refused is None else redact(d.refused)}
            for d in alert.destinations
        ],
        "last_error": None if alert.last_error is None else redact(alert.last_error),
        "finished_at": None if alert.finished_at is None else iso(alert.finished_at),
    }


@bp.get("/api/now")
@basic_auth
def api_now():
    return jsonify(rota.board_json(rota.board(_phonebook(), request_instant()), API_NOW_FIELDS))


def init_app(app: Flask) -> None:
    """The console reads the app's phonebook holder and call log (calllog.init_app comes first)."""
    app.register_blueprint(bp)

