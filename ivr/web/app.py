"""The Flask application factory: `create_app(config=None)`.

Settings come from the environment (see `ivr.config`), overridden by `config`. Besides settings,
`config` may carry `CLOCK` (a callable returning the aware current instant; the simulator pins
it), `EVENT_SINK` (where call events go; default: the call log, `ivr.store.calllog`), `SMS_SENDER`
(the class that sends texts, made from the Twilio settings and the counters; default
`ivr.outside.sms.SmsSender`; the simulator's `TextRecorder` keeps them instead) and `LOG_STREAM`
(`"stdout"`, the default, where gunicorn and Heroku collect logs; or `"stderr"`, so that a
command printing on stdout, such as `ivr simulate`, keeps its output clean).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.clock import utc_now
from ivr.config import load_settings
from ivr.engine.events import EventSink
from ivr.outside import alerts
from ivr.outside.entitlements import Sources
from ivr.outside.sms import SmsSender
from ivr.store import calllog
from ivr.store.counters import Counters
from ivr.store.reloading import ReloadingPhonebook
from ivr.web import health, metrics, ops, signature, voice

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


IMPORT_NAME = "ivr"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = load_settings(config)
    app = Flask(IMPORT_NAME, instance_path=settings["IVR_INSTANCE_PATH"])
    app.config.update(settings)
    configure_logger(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    return app


def default_instance_path() -> str:
    """Flask's instance folder for this package, where `create_app` keeps the development token."""
    return Flask(IMPORT_NAME).instance_path


def register_extensions(app: Flask) -> None:
    # Heroku's router and most proxies terminate TLS; Twilio signed the https URL they were given.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]  # Flask's way
    # Raises PhonebookError with every problem when the file is missing or broken: refuse to start.
    app.extensions["ivr_phonebook"] = ReloadingPhonebook(
        app.config["IVR_PHONEBOOK"], interval=app.config["IVR_RELOAD_SECONDS"]
    )
    # Counted where things happen, read by /metrics and /healthz (across workers under gunicorn).
    counters = app.extensions["ivr_counters"] = Counters.create()
    app.extensions["ivr_entitlements"] = Sources(token=app.config["IVR_ENTITLEMENTS_TOKEN"], counters=counters)
    # Before signature.init_app: a generated development token signs local calls but cannot send texts.
    sms_sender = app.config.get("SMS_SENDER") or SmsSender
    app.extensions["ivr_sms"] = sms_sender(
        app.config["TWILIO_ACCOUNT_SID"], app.config["TWILIO_AUTH_TOKEN"], app.config["TWILIO_SMS_FROM"], counters
    )
    signature.init_app(app)
    # The call log is the event sink (falling back to JSON lines on stdout when its database fails).
    calllog.init_app(app)
    alerts.init_app(app)
    sink: EventSink = app.config.get("EVENT_SINK") or app.extensions["ivr_calllog"]
    app.extensions["ivr_events"] = sink
    app.extensions["ivr_clock"] = app.config.get("CLOCK") or utc_now


def register_blueprints(app: Flask) -> None:
    health.init_app(app)
    voice.init_app(app)
    ops.init_app(app)
    metrics.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    def http_error(error: HTTPException) -> ResponseReturnValue:
        assert error.code is not None  # Flask answers an HTTPException without a code itself, before any handler
        return jsonify({"error": error.name, "description": error.description}), error.code

    app.register_error_handler(HTTPException, http_error)


class _StreamHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout (or sys.stderr) is at the time (gunicorn and pytest replace it)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    @property
    def stream(self):
        return getattr(sys, self.target)

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


LOG_STREAMS = ("stdout", "stderr")


def configure_logger(app: Flask) -> None:
    logger = logging.getLogger("ivr")
    logger.setLevel(app.config["IVR_LOG_LEVEL"].upper())
    stream = app.config.get("LOG_STREAM") or "stdout"
    if stream not in LOG_STREAMS:
        raise ValueError(f"LOG_STREAM must be one of {', '.join(LOG_STREAMS)}, not {stream!r}")
    # The `ivr` logger is global: one handler, pointed at the stream of the app created last.
    handler = next((h for h in logger.handlers if isinstance(h, _StreamHandler)), None)
    if handler is None:
        handler = _StreamHandler(stream)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
    handler.target = stream
