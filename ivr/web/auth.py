"""Who may use the ops console, /ops/api and /metrics: user `ops` with the IVR_OPS_PASSWORD.

Pages take a signed login cookie (`ops.login` sets it) or HTTP Basic; the JSON API and /metrics
take HTTP Basic. Without IVR_OPS_PASSWORD everything here is refused, never open.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import wraps

from flask import Response, current_app, jsonify, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

USER = "ops"
COOKIE = "ivr_ops"
SESSION_SECONDS = 12 * 3600
DISABLED = "The ops console is disabled: set IVR_OPS_PASSWORD to turn it on."


def ops_password() -> str | None:
    """IVR_OPS_PASSWORD; None (the console refused) when unset or empty."""
    return current_app.config.get("IVR_OPS_PASSWORD") or None


def _basic_ok(password: str) -> bool:
    auth = request.authorization
    return (
        auth is not None
        and auth.type == "basic"
        and hmac.compare_digest((auth.username or "").encode(), USER.encode())
        and hmac.compare_digest((auth.password or "").encode(), password.encode())
    )


def signer(password: str) -> URLSafeTimedSerializer:
    # Keyed by the password itself: changing IVR_OPS_PASSWORD signs everyone out.
    key = hashlib.sha256(f"ivr-ops-login\0{current_app.config.get('SECRET_KEY') or ''}\0{password}".encode())
    return URLSafeTimedSerializer(key.hexdigest(), salt="ivr-ops")


def _cookie_ok(password: str) -> bool:
    token = request.cookies.get(COOKIE)
    if not token:
        return False
    try:
        user: str = signer(password).loads(token, max_age=SESSION_SECONDS)
        return user == USER
    except BadSignature:
        return False


def _challenge(body, status=401):
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
        if _cookie_ok(password) or _basic_ok(password):
            return view(*args, **kwargs)
        if request.authorization is not None:
            return _challenge(render_template("ops/login.html", error="Wrong user or password.", next=request.path))
        return redirect(url_for("ops.login", next=request.full_path.rstrip("?")))

    return guarded


def basic_auth(view):
    """The JSON API and /metrics: HTTP Basic, user `ops`."""

    @wraps(view)
    def guarded(*args, **kwargs):
        password = ops_password()
        if password is None:
            return jsonify(error=DISABLED), 403
        if not _basic_ok(password):
            return _challenge(jsonify(error="HTTP Basic authentication as user 'ops' is required."))
        return view(*args, **kwargs)

    return guarded
