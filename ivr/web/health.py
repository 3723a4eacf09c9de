"""GET /healthz: is the service up, and if it is degraded, why, in words (for load balancers and
anyone). With the ops password (HTTP Basic, user `ops`, as /metrics) it also shows which phonebook
and customer records are in force and the state of the call log and alerts, for admins.

The public answer holds no detail: no file paths, URLs, errors or numbers. The details hold the
errors as the services noted them, redacted (`ivr.redact`): no api_key, password or SQL
parameters, even for the ops password's holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue

from ivr.redact import redacted
from ivr.web.auth import basic_auth_refusal
from ivr.web.services import services

bp = Blueprint("health", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@dataclass(frozen=True)
class Health:
    """The service's state as /healthz and the ops console's Now page show it: `problems` in words
    (no detail), and each service's own state for admins."""

    problems: tuple[str, ...]
    phonebook: dict[str, Any]
    entitlements: dict[str, Any]
    calllog: dict[str, Any]
    alerts: dict[str, Any]

    @property
    def status(self) -> str:
        return "degraded" if self.problems else "ok"


def current_health() -> Health:
    registry = services()
    calllog = registry.calllog.health()
    holder = registry.phonebook
    # First look at the file (each worker checks on request), so the state shown is this moment's.
    # Another thread (the alert sweep's) may be re-reading the file: its verdict is the answer.
    phonebook = holder.current(settled=True)
    phonebook_state = holder.state()
    entitlements = registry.entitlements.for_phonebook(phonebook).state()
    # A refused phonebook or customers edit leaves calls on the last good version: degraded, so
    # whoever watches this sees that the file on disk is not the one in force.
    problems = []
    if calllog["schema"]:
        problems.append(f"call log: {calllog['schema']} (call events wait in the journal meanwhile)")
    elif not calllog["writer"]:
        problems.append("call log: no writer process is storing it (call events wait in the journal meanwhile)")
    elif not calllog["ok"]:
        problems.append("call log: database unavailable (call events wait in the journal meanwhile)")
    if phonebook_state["last_error"] and phonebook_state["from_last_good_copy"]:
        problems.append("phonebook: the file is broken; the last good version, kept from before a restart, is in force")
    elif phonebook_state["last_error"]:
        problems.append("phonebook: an edit was refused; the last good version is in force")
    if entitlements.get("last_error"):
        if entitlements.get("loaded_version") is None:
            problems.append("customers file: no version could be loaded; customer lookups fail")
        else:
            problems.append("customers file: an edit was refused; the last good version is in force")
    # Calls go on while alerts fail, but ops would not hear of a missed call: degraded.
    problems += registry.alerts.problems(registry.calllog.clock(), read_database=calllog["ok"])
    return Health(tuple(problems), phonebook_state, entitlements, calllog, registry.alerts.health())


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    # Calls are still answered when the call log's database or an alert channel fails, so the
    # service stays up (200) and says what is degraded.
    wants_details = request.authorization is not None or "details" in request.args
    if wants_details and (refusal := basic_auth_refusal()) is not None:
        return refusal
    health = current_health()
    status = {"status": health.status, "problems": list(health.problems)}
    if not wants_details:
        return jsonify(status)
    return jsonify(redacted({
        **status,
        "phonebook": health.phonebook,
        "entitlements": health.entitlements,
        "calllog": health.calllog,
        "alerts": health.alerts,
    }))
