"""Only Twilio may drive a call: every /voice request must carry a valid X-Twilio-Signature.

Twilio signs the exact URL it requested (scheme, host, path, query) plus the POST parameters
with the account's auth token. Behind a TLS-terminating proxy the URL Flask sees differs from
the one Twilio used, so it is rebuilt from `IVR_PUBLIC_URL`. Without it (allowed with a real
token only when the operator trusts a proxy, IVR_TRUST_PROXY, see `ivr.config.check_signing`)
it is the request URL: the Host header the proxy routed on and the scheme it reports in
X-Forwarded-Proto; a client's X-Forwarded-Host is never believed, so a request Twilio signed for
another host of the same account does not pass. There is no bypass: local runs sign with a
generated development token, as the simulator does.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import HTTPException

log = logging.getLogger("ivr.signature")

SIGNATURE_HEADER = "X-Twilio-Signature"
DEV_TOKEN_FILE = "twilio-dev-auth-token"


def dev_token_path(instance_path: str | Path) -> Path:
    return Path(instance_path) / DEV_TOKEN_FILE


def dev_token(instance_path: str | Path) -> str:
    """The development auth token of this instance folder, created on first use.

    Several workers may start at once: the token is written to a private file and linked into
    place, so every worker reads the same complete token.
    """
    path = dev_token_path(instance_path)
    if not path.exists():
        # The instance folder also holds the call log (callers' numbers): for this user only.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = path.with_name(f".{DEV_TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(16))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def init_app(app: Flask) -> None:
    """Resolve the auth token: the configured one, else the `SIGNING_TOKEN` of whoever made the app to
    sign its own requests (the in-process simulator), else this instance's development token."""
    if not app.config.get("TWILIO_AUTH_TOKEN") and app.config.get("SIGNING_TOKEN"):
        app.config["TWILIO_AUTH_TOKEN"] = app.config["SIGNING_TOKEN"]
    if not app.config.get("TWILIO_AUTH_TOKEN"):
        app.config["TWILIO_AUTH_TOKEN"] = dev_token(app.instance_path)
        log.warning(
            "TWILIO_AUTH_TOKEN is not set: requests must be signed with the development token in %s "
            "(`ivr simulate` uses it); real Twilio requests will be refused",
            dev_token_path(app.instance_path),
        )


def check_public_url(public: str | None) -> None:
    """IVR_PUBLIC_URL is a scheme and host only: the webhooks' action URLs are root-relative
    (`/voice/sen`), so Twilio would drop a path prefix from every step after the first."""
    if not public:
        return
    parts = urlsplit(public)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") or parts.query:
        raise ValueError(
            f"IVR_PUBLIC_URL must be a base URL such as https://ivr.example.com, with no path: {public!r}"
        )


def signed_url() -> str:
    """The URL Twilio requested, as it signed it."""
    public: str | None = current_app.config.get("IVR_PUBLIC_URL")
    if not public:
        # The request target as it arrived (gunicorn and werkzeug's server pass it on), which is what
        # Twilio signed; rebuilding it (`request.url`) decodes and encodes it again, a tenth of a
        # webhook's own time. Without it, or with one in absolute form, the URL Flask saw.
        raw = request.environ.get("RAW_URI", "")
        if raw.startswith("/"):
            return f"{request.scheme}://{request.host}{raw}"
        return request.url
    query = request.query_string.decode("latin-1")
    return public.rstrip("/") + request.path + (f"?{query}" if query else "")


def twilio_request(view):
    """Answer 403 unless the request carries Twilio's signature for this URL and these parameters."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        if not _signed():
            log.warning("refused %s %s: missing or wrong %s", request.method, request.path, SIGNATURE_HEADER)
            abort(403)
        return view(*args, **kwargs)

    return checked


def _signed() -> bool:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        return False
    validator = RequestValidator(current_app.config["TWILIO_AUTH_TOKEN"])
    try:
        url = signed_url()
        # The URL as requested first: one HMAC. `validate` parses the URL and computes two (with
        # and without the default port), which only a URL signed with the other form needs.
        if hmac.compare_digest(validator.compute_signature(url, request.form).encode(), signature.encode()):
            return True
        valid: bool = validator.validate(url, request.form, signature)
        return valid
    except HTTPException:  # an oversized body stays a 413
        raise
    except Exception:
        # Not a pass: the webhooks' rescue would otherwise answer an unchecked request with TwiML.
        log.exception("could not check the signature of %s %s", request.method, request.path)
        return False
