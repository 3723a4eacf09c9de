"""Pages for anyone, without the ops password: the published support numbers (`/numbers`, and
`/numbers.json` for a customer portal or an on-boarding mail to fetch). They show only what
`ivr.engine.published` takes from the phonebook; the ops console keeps its own page with the
internal details (`/ops/numbers`). The page formats numbers with the app's `phone` filter, which
`ivr.web.ops` registers for every template."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, render_template

from ivr.engine.published import published, published_json
from ivr.web.services import services

bp = Blueprint("public", __name__, template_folder="templates")

# The phonebook is re-read while running; a page a minute old is fresh enough for a phone number.
CACHE_SECONDS = 60


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@bp.get("/numbers")
def numbers() -> str:
    return render_template("public/numbers.html", found=published(services().phonebook.current()))


@bp.get("/numbers.json")
def numbers_json() -> Response:
    return jsonify(published_json(published(services().phonebook.current())))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
