"""The console's Handoffs page: the handoffs of the last and next two days, who hands over to whom,
and each incoming team's digest (its delivery, and the full digest on a page of its own, which the
SMS digest links to).

Its own blueprint under /ops, with the console's sign-in, headers and error pages (`ivr.web.ops`).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask, abort, render_template
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from ivr.engine.handoffs import digest_key, handoffs
from ivr.engine.instants import instant
from ivr.store.digests import read_digest
from ivr.web import ops
from ivr.web.auth import page_auth
from ivr.web.services import request_instant, services

bp = Blueprint("handoffs", __name__, url_prefix="/ops", template_folder="templates")
bp.after_request(ops.security_headers)
bp.register_error_handler(HTTPException, ops.error_page)
bp.register_error_handler(SQLAlchemyError, ops.database_unavailable)

# How far back and ahead the page looks.
SHOWN = timedelta(hours=48)
# Epoch seconds a digest's address may name (PostgreSQL and datetime both hold these).
SECONDS_MAX = 253402300799  # 9999-12-31T23:59:59Z


@bp.get("/handoffs")
@page_auth
def handoffs_page() -> str:
    at = request_instant()
    phonebook = services().phonebook.current()
    found = handoffs(phonebook, at - SHOWN, at + SHOWN)
    keys = [digest_key(team, h.at) for h in found for team in h.incoming]
    deliveries = services().calllog.alerts.deliveries(keys)
    return render_template("ops/handoffs.html", at=at, past=[h for h in found if h.at <= at][::-1],
                           upcoming=[h for h in found if h.at > at], deliveries=deliveries, key=digest_key,
                           digests_on=phonebook.digests is not None)


@bp.get("/handoffs/<team>/<int:seconds>")
@page_auth
def digest(team: str, seconds: int) -> str:
    if seconds > SECONDS_MAX:
        abort(404, "No such handoff.")
    at = request_instant()
    phonebook = services().phonebook.current()
    handoff_at = instant(seconds)
    found = read_digest(services().calllog, phonebook, team, handoff_at, at)
    if found is None:
        abort(404, f"No handoff to {team} at that instant in the phonebook in force.")
    delivery = services().calllog.alerts.delivery(digest_key(found.team, handoff_at))
    return render_template("ops/digest.html", at=at, digest=found, delivery=delivery)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
