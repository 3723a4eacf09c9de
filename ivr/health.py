"""GET /healthz: is the service up, and which phonebook is it using (for load balancers and admins)."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify

bp = Blueprint("health", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok", "phonebook": current_app.extensions["ivr_phonebook"].state()})
