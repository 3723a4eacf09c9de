"""The baselines of bench/load.py: bare Flask with one POST route that answers fixed TwiML.

    gunicorn -c bench/bare_conf.py --pythonpath bench "bare_app:create_app()"
    gunicorn -c bench/bare_conf.py --pythonpath bench "bare_app:create_app(validate=True)"

Served like the service (the same gunicorn settings, `bench/bare_conf.py`, access log included), it measures what HTTP,
gunicorn and Flask cost before the service does anything; with `validate`, also Twilio's
RequestValidator over the URL Flask saw and the form, as `ivr.web.signature` checks it (403 when it
does not match, so the baseline also proves the load's signatures right). Every path is served by
the one view, so the same pool of requests can be sent here and to the service.
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator

# About the size of the service's answer to a new call (greeting and SEN prompt in a <Gather>).
TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/sen" input="dtmf speech" '
    'finishOnKey="#" timeout="6" actionOnEmptyResult="true"><Say voice="Polly.Joanna-Neural" language="en-US">'
    "Welcome to Priority Support. Please enter your support entitlement number, followed by the pound key, "
    "or say it.</Say></Gather></Response>"
)

def create_app(validate: bool = False) -> Flask:
    app = Flask(__name__)
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"]) if validate else None

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def twiml(path: str) -> Response:
        if validator is not None:
            signature = request.headers.get("X-Twilio-Signature", "")
            if not validator.validate(request.url, request.form, signature):
                abort(403)
        return Response(TWIML, mimetype="text/xml")
    return app
