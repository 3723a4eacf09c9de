"""GET /healthz: 200 with the phonebook's state, no signature needed."""

from calls import make_app
from conftest import SAMPLE


def test_healthz_reports_the_loaded_phonebook(tmp_path):
    response = make_app(tmp_path).test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["phonebook"]["file"] == str(SAMPLE)
    assert body["phonebook"]["last_error"] is None
    assert body["phonebook"]["last_reload"] is None
    assert body["phonebook"]["counts"]["teams"] == 4
