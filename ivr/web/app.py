"""The Flask application factory: `create_app(config=None)`.

Settings come from the environment (see `ivr.config`), overridden by `config`. Besides settings,
`config` may carry `CLOCK` (a callable returning the aware current instant; the simulator pins
it), `EVENT_SINK` (where call events go; default: the call log, `ivr.store.calllog`), `SMS_SENDER`
(the class that sends texts, made from the Twilio settings and the counters; default
`ivr.outside.sms.SmsSender`; the simulator's `TextRecorder` keeps them instead), `CALL_CONTROL`
(what moves live calls, an `ivr.outside.calls.CallControl`; default: Twilio's REST API; the
simulator plays Twilio's side itself) and `LOG_STREAM`
(`"stdout"`, the default, where gunicorn and Heroku collect logs; or `"stderr"`, so that a
command printing on stdout, such as `ivr simulate`, keeps its output clean), `SIGNING_TOKEN` (the
token requests are signed with when `TWILIO_AUTH_TOKEN` is unset, instead of the instance's
development token: the in-process simulator signs with one of its own) and `OPS_REFRESH_SECONDS`
(how often the ops console's Now page reloads itself; default 60).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr import logs
from ivr.config import check_signing, load_settings
from ivr.web import auth, callbacks, handoffs, health, metrics, ops, public, services, signature, voice
from ivr.web.json_provider import JSONProvider

IMPORT_NAME = "ivr"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = load_settings(config)
    check_signing(settings)
    app = Flask(IMPORT_NAME, instance_path=settings["IVR_INSTANCE_PATH"])
    app.json = JSONProvider(app)
    app.config.update(settings)
    configure_logger(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    return app


def register_extensions(app: Flask) -> None:
    # Only the proxies the operator named are believed: their X-Forwarded-For gives the client's
    # address (the login throttle counts by it) and X-Forwarded-Proto the https Twilio signed.
    # Never X-Forwarded-Host: a client could send any, and a signature made for another host of
    # the same Twilio account would then pass. The host is the Host header the proxy routed on.
    hops = app.config["IVR_TRUST_PROXY"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)  # type: ignore[method-assign]  # Flask's way
    signature.check_public_url(app.config["IVR_PUBLIC_URL"])
    services.install(app, services.build(app))
    # After the services: a generated development token signs local calls but cannot send texts.
    signature.init_app(app)


def register_blueprints(app: Flask) -> None:
    health.init_app(app)
    voice.init_app(app)
    ops.init_app(app)
    public.init_app(app)
    callbacks.init_app(app)
    handoffs.init_app(app)
    auth.init_app(app)
    metrics.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    def http_error(error: HTTPException) -> ResponseReturnValue:
        assert error.code is not None  # Flask answers an HTTPException without a code itself, before any handler
        return jsonify({"error": error.name, "description": error.description}), error.code

    app.register_error_handler(HTTPException, http_error)


def configure_logger(app: Flask) -> None:
    logs.configure(app.config["IVR_LOG_LEVEL"], app.config["IVR_LOG_FORMAT"], app.config.get("LOG_STREAM") or "stdout")
