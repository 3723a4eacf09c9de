"""GET /healthz: is the service up, and which phonebook is it using (for load balancers and admins)."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify

bp = Blueprint("health", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz():
    # Calls are still answered when the call log's database or an alert channel fails, so the
    # service stays up (200) and says what is degraded.
    calllog = current_app.extensions["ivr_calllog"].health()
    holder = current_app.extensions["ivr_phonebook"]
    # First look at the file (each worker checks on request), so the state shown is this moment's.
    phonebook = holder.current()
    return jsonify({
        "status": "ok" if calllog["ok"] else "degraded",
        "phonebook": holder.state(),
        "entitlements": current_app.extensions["ivr_entitlements"].state(phonebook),
        "calllog": calllog,
        "alerts": current_app.extensions["ivr_alerts"].health(),
    })
