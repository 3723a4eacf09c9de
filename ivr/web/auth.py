"""Who may use the ops console, /ops/api and /metrics: user `ops` with the IVR_OPS_PASSWORD.

Pages take a signed login cookie (`ops.login` sets it) or HTTP Basic; the JSON API, /metrics and
the details of /healthz take HTTP Basic. Without IVR_OPS_PASSWORD everything here is refused,
never open. Every password given (form or Basic) goes through the login throttle: after a few
wrong ones a client (or everyone, see `ivr.web.throttle`) gets 429 with Retry-After, whatever it
sends, until the wait is over. A signed-in session's cookie is never throttled.

Every state-changing console request (a POST) carries a token bound to the session that made the
page (`csrf_token`, checked by `csrf_protect`): another site can make a signed-in browser send a
form, but cannot read a page to learn the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import wraps

from flask import Flask, Response, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ivr.web.services import services

USER = "ops"
COOKIE = "ivr_ops"
SESSION_SECONDS = 12 * 3600
DISABLED = "The ops console is disabled: set IVR_OPS_PASSWORD to turn it on."
# The form field of the cross-site request token.
CSRF_FIELD = "csrf_token"


def ops_password() -> str | None:
    """IVR_OPS_PASSWORD; None (the console refused) when unset or empty."""
    return current_app.config.get("IVR_OPS_PASSWORD") or None


def _client() -> str:
    """The client's address: the peer's, or the one a trusted proxy reports (IVR_TRUST_PROXY)."""
    return request.remote_addr or "unknown"


def retry_after() -> int:
    """Seconds before this client may try a password again (0: now)."""
    return services().login_throttle.retry_after(_client())


def password_matches(user: str, given: str, password: str) -> bool:
    """Check a password attempt and count it for the throttle (a right one clears the client's count)."""
    right = hmac.compare_digest(user.encode(), USER.encode()) & hmac.compare_digest(given.encode(), password.encode())
    throttle = services().login_throttle
    if right:
        throttle.succeeded(_client())
    else:
        throttle.failed(_client())
    return right


def too_many(seconds: int, login_next: str | None = None) -> Response:
    """429 with Retry-After, the answer to every password attempt while the client must wait: the
    login form (going on to `login_next` afterwards) for pages, JSON otherwise."""
    message = f"Too many wrong passwords: try again in {seconds} s."
    if login_next is None:
        response = jsonify(error=message)
    else:
        response = Response(render_template("ops/login.html", error=message, next=login_next))
    response.status_code = 429
    response.headers["Retry-After"] = str(seconds)
    return response


def _basic_ok(password: str) -> bool:
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return False
    return password_matches(auth.username or "", auth.password or "", password)


def signer(password: str) -> URLSafeTimedSerializer:
    # Keyed by the password itself: changing IVR_OPS_PASSWORD signs everyone out.
    key = hashlib.sha256(f"ivr-ops-login\0{current_app.config.get('SECRET_KEY') or ''}\0{password}".encode())
    return URLSafeTimedSerializer(key.hexdigest(), salt="ivr-ops")


def new_session(password: str) -> str:
    """A sign-in cookie's value: the user and a random session number (each sign-in's own, so its
    cross-site request token is too), signed."""
    return signer(password).dumps([USER, secrets.token_hex(16)])


def _cookie_ok(password: str) -> bool:
    token = request.cookies.get(COOKIE)
    if not token:
        return False
    try:
        session = signer(password).loads(token, max_age=SESSION_SECONDS)
    except BadSignature:
        return False
    return isinstance(session, list) and session[:1] == [USER]


def _challenge(body: Response | str, status: int = 401) -> Response:
    response = body if isinstance(body, Response) else Response(body, status)
    response.status_code = status
    response.headers["WWW-Authenticate"] = 'Basic realm="ivr ops", charset="UTF-8"'
    return response


def page_auth(view):
    """Pages: a valid login cookie or HTTP Basic; otherwise off to the login form."""

    @wraps(view)
    def guarded(*args, **kwargs):
        password = ops_password()
        if password is None:
            return render_template("ops/disabled.html", message=DISABLED), 403
        if _cookie_ok(password):
            return view(*args, **kwargs)
        if request.authorization is not None:
            if wait := retry_after():
                return too_many(wait, login_next=request.path)
            if _basic_ok(password):
                return view(*args, **kwargs)
            return _challenge(render_template("ops/login.html", error="Wrong user or password.", next=request.path))
        return redirect(url_for("ops.login", next=request.full_path.rstrip("?")))

    return guarded


def basic_auth_refusal() -> ResponseReturnValue | None:
    """The answer to a request without the right HTTP Basic password (403 when none is
    configured), or None when it may go on."""
    password = ops_password()
    if password is None:
        return jsonify(error=DISABLED), 403
    return basic_refusal(password)


def basic_auth(view):
    """The JSON API and /metrics: HTTP Basic, user `ops`."""

    @wraps(view)
    def guarded(*args, **kwargs):
        refusal = basic_auth_refusal()
        return refusal if refusal is not None else view(*args, **kwargs)

    return guarded


def basic_refusal(password: str) -> Response | None:
    """None when the request carries HTTP Basic for user `ops` with the password; else the answer:
    429 while the client must wait, 401 with a challenge otherwise."""
    if request.authorization is not None and (wait := retry_after()):
        return too_many(wait)
    if not _basic_ok(password):
        return _challenge(jsonify(error="HTTP Basic authentication as user 'ops' is required."))
    return None


def csrf_token() -> str:
    """The token a console form carries: an HMAC of the session's sign-in cookie (of "basic" for a
    browser that signed in with HTTP Basic, which it also sends unasked) under a key derived from
    the password, so it changes with each sign-in and no other site can compute it."""
    password = ops_password() or ""
    key = hashlib.sha256(f"ivr-ops-csrf\0{current_app.config.get('SECRET_KEY') or ''}\0{password}".encode())
    session = request.cookies.get(COOKIE) or "basic"
    return hmac.new(key.digest(), session.encode(), hashlib.sha256).hexdigest()


def csrf_protect(view):
    """A state-changing console action: refused (403) unless its form carries this session's token."""

    @wraps(view)
    def guarded(*args, **kwargs):
        if not hmac.compare_digest(request.form.get(CSRF_FIELD, "").encode(), csrf_token().encode()):
            abort(403, "This form is out of date or came from another site: reload the page and try again.")
        return view(*args, **kwargs)

    return guarded


def init_app(app: Flask) -> None:
    """Console templates put `csrf_token()` in every form that changes something."""
    app.add_template_global(csrf_token)
