"""GET /healthz: is the service up, which phonebook and customer records is it using, and what is
degraded (for load balancers and admins)."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify

from ivr.web.services import services

bp = Blueprint("health", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz():
    # Calls are still answered when the call log's database or an alert channel fails, so the
    # service stays up (200) and says what is degraded.
    registry = services()
    calllog = registry.calllog.health()
    holder = registry.phonebook
    # First look at the file (each worker checks on request), so the state shown is this moment's.
    phonebook = holder.current()
    phonebook_state = holder.state()
    entitlements = registry.entitlements.for_phonebook(phonebook).state()
    # A refused phonebook or customers edit leaves calls on the last good version: degraded, so
    # whoever watches this sees that the file on disk is not the one in force.
    healthy = calllog["ok"] and not phonebook_state["last_error"] and not entitlements.get("last_error")
    return jsonify({
        "status": "ok" if healthy else "degraded",
        "phonebook": phonebook_state,
        "entitlements": entitlements,
        "calllog": calllog,
        "alerts": registry.alerts.health(),
    })
