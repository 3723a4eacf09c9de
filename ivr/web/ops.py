"""The ops console under /ops: who is on duty, every call and its timeline, the week, the numbers.

One blueprint for the ops audience. Pages take a login form or HTTP Basic; the JSON API takes
HTTP Basic (user `ops`); both checks live in `ivr.web.auth` (/metrics uses them too). The password
is IVR_OPS_PASSWORD; without it the console is refused, never open. Views parse the request, ask
the call log or the rota, and render.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import phonenumbers
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ivr.engine import rota
from ivr.engine.events import to_data
from ivr.engine.instants import iso
from ivr.engine.outcomes import OUTCOME_FILTERS, SHOWN_FIELDS, Summary, call_json
from ivr.engine.phonebook import SEVERITIES, Phonebook
from ivr.engine.routing import candidate, route
from ivr.store.calllog import PAGE_SIZE, CallFilter, CallLog, CallPage, day_range
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
from ivr.web.services import request_instant, services

bp = Blueprint("ops", __name__, url_prefix="/ops", template_folder="templates")

API_PAGE_MAX = 500
# The call log's sid column (Twilio's are 34 characters).
SID_MAX = 64
CSV_MAX_ROWS = 10_000
# Each team on duty in GET /ops/api/now.
API_NOW_FIELDS = ("team", "since", "until")
# Spreadsheets run cells that start with these as formulas.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
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


def _find(sid: str) -> Summary | None:
    """The call `sid`; None for a SID no call log holds (a control character, too long)."""
    if _CONTROL.search(sid) or len(sid) > SID_MAX:
        return None
    return _calllog().call(sid)


def _page(where: CallFilter, before: str | None, limit: int = PAGE_SIZE) -> CallPage:
    try:
        return _calllog().calls(where, limit=limit, before=before)
    except ValueError as exc:
        abort(400, str(exc))


def neutralise(cell: object) -> object:
    """A CSV cell a spreadsheet will show, never run: formula-like text gets a leading quote."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
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


@bp.app_template_filter("team")
def _team_filter(name: str | None) -> str:
    """A team key as people say it ("Amsterdam Priority Support"); the API keeps the keys."""
    found = candidate(_phonebook(), name) if name else None
    return found.spoken_name if found else name or ""


# --- pages ----------------------------------------------------------------------------------


@bp.get("/")
@page_auth
def now():
    at = request_instant()
    return render_template("ops/now.html", board=rota.board(_phonebook(), at), iso=iso)


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
    found = _find(sid)
    if found is None:
        abort(404, f"No call {sid} in the call log.")
    timeline = [(event, to_data(event.record)) for event in _calllog().timelines([sid])[sid]]
    labels = {line.number: line.label for line in _phonebook().lines}
    return render_template("ops/call.html", call=found, timeline=timeline, labels=labels,
                           callbacks=_calllog().callbacks.of_call(sid))


@bp.get("/week")
@page_auth
def week():
    """The rota of the coming 7 days (`rota.week`)."""
    # Whole UTC days, as the grid's columns are drawn.
    start = request_instant().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return render_template("ops/week.html", week=rota.week(_phonebook(), start))


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
    timelines = _calllog().timelines(c.sid for c in page.calls)
    next_url = None
    if page.next_cursor:
        next_url = url_for("ops.api_calls") + "?" + urlencode({**request.args.to_dict(), "before": page.next_cursor})
    return jsonify(calls=[call_json(c, timelines[c.sid]) for c in page.calls], next=next_url)


@bp.get("/api/calls/<sid>")
@basic_auth
def api_call(sid: str) -> Response:
    found = _find(sid)
    if found is None:
        abort(404, f"No call {sid} in the call log.")
    return jsonify(call_json(found, _calllog().timelines([sid])[sid]))


@bp.get("/api/now")
@basic_auth
def api_now():
    return jsonify(rota.board_json(rota.board(_phonebook(), request_instant()), API_NOW_FIELDS))


def init_app(app: Flask) -> None:
    """The console reads the app's phonebook holder and call log (calllog.init_app comes first)."""
    app.register_blueprint(bp)

