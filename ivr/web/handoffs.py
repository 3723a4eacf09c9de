"""The console's Handoffs page: the handoffs of the last and next two days, who hands over to whom,
and each incoming team's digest (its delivery, and the full digest on a page of its own, which the
SMS digest links to); and the same in the ops API.

Its own blueprint under /ops, with the console's sign-in, headers and error pages (`ivr.web.ops`).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask, Response, abort, jsonify, render_template, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from ivr.engine.handoffs import AS_AT_HANDOFF, Digest, digest_json, digest_key, handoff_json
from ivr.engine.instants import epoch, instant, iso
from ivr.store.alert_queue import AlertDelivery
from ivr.store.digests import HandoffDigests, TeamDigest, handoffs_with_digests, read_digest
from ivr.web import ops
from ivr.web.auth import basic_auth, page_auth
from ivr.web.callbacks import query_instant
from ivr.web.services import request_instant, services

bp = Blueprint("handoffs", __name__, url_prefix="/ops", template_folder="templates")
bp.after_request(ops.security_headers)
bp.register_error_handler(HTTPException, ops.error_page)
bp.register_error_handler(SQLAlchemyError, ops.database_unavailable)

# How far back and ahead the page (and by default the API) looks.
SHOWN = timedelta(hours=48)
# The widest window the API lists.
WIDEST = timedelta(days=14)
# Epoch seconds a digest's address may name (PostgreSQL and datetime both hold these).
SECONDS_MAX = 253402300799  # 9999-12-31T23:59:59Z


@bp.get("/handoffs")
@page_auth
def handoffs_page() -> str:
    at = request_instant()
    found = handoffs_with_digests(services().calllog, services().phonebook.current(), at - SHOWN, at + SHOWN)
    return render_template("ops/handoffs.html", at=at, past=[h for h in found if h.handoff.at <= at][::-1],
                           upcoming=[h for h in found if h.handoff.at > at],
                           digests_on=services().phonebook.current().digests.enabled)


def _digest(team: str, seconds: int) -> tuple[Digest, AlertDelivery | None]:
    """`team`'s digest of the handoff at epoch `seconds`, as the page and the API show it, and its
    delivery; a 404 when the phonebook in force has no such handoff."""
    if seconds > SECONDS_MAX:
        abort(404, "No such handoff.")
    found = read_digest(services().calllog, services().phonebook.current(), team, instant(seconds),
                        request_instant())
    if found is None:
        abort(404, f"No handoff to {team} at that instant in the phonebook in force.")
    return found, services().calllog.alerts.delivery(digest_key(found.team, found.handoff.at))


@bp.get("/handoffs/<team>/<int:seconds>")
@page_auth
def digest(team: str, seconds: int) -> str:
    found, delivery = _digest(team, seconds)
    return render_template("ops/digest.html", at=request_instant(), digest=found, delivery=delivery,
                           as_at_handoff=AS_AT_HANDOFF)


# --- JSON API ------------------------------------------------------------------------------


def _team_digest_json(handoff: HandoffDigests, digest: TeamDigest) -> dict[str, object]:
    team, seconds = digest.team.name, epoch(handoff.handoff.at)
    return {"team": team, "key": digest.key, "url": url_for("handoffs.api_digest", team=team, seconds=seconds),
            "page": url_for("handoffs.digest", team=team, seconds=seconds),
            "delivery": ops.delivery_json(digest.delivery)}


@bp.get("/api/handoffs")
@basic_auth
def api_handoffs() -> Response:
    at = request_instant()
    since, until = query_instant("since") or at - SHOWN, query_instant("until") or at + SHOWN
    if not timedelta(0) < until - since <= WIDEST:
        abort(400, f"until must be after since, by at most {WIDEST.days} days")
    phonebook = services().phonebook.current()
    found = handoffs_with_digests(services().calllog, phonebook, since, until)
    return jsonify(at=iso(at), since=iso(since), until=iso(until), digests_enabled=phonebook.digests.enabled,
                   handoffs=[{**handoff_json(h.handoff), "digests": [_team_digest_json(h, d) for d in h.digests]}
                             for h in found])


@bp.get("/api/handoffs/<team>/<int:seconds>")
@basic_auth
def api_digest(team: str, seconds: int) -> Response:
    found, delivery = _digest(team, seconds)
    return jsonify({**digest_json(found), "delivery": ops.delivery_json(delivery)})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
