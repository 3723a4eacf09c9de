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


def test_healthz_shows_where_customers_come_from_and_a_broken_csv(tmp_path):
    (tmp_path / "customers.csv").write_text(
        "sen,name,tier,maintenance_until,admins\nSEN-1234567,Acme Corporation,gold,2027-06-30,\n"
    )
    book = tmp_path / "phonebook.toml"
    book.write_text(SAMPLE.read_text() + '\n[entitlements]\nfile = "customers.csv"\n')
    body = make_app(tmp_path, IVR_PHONEBOOK=str(book)).test_client().get("/healthz").get_json()
    assert body["status"] == "degraded"
    assert body["entitlements"] == {
        "source": "file",
        "file": str(tmp_path / "customers.csv"),
        "customers": 0,
        "loaded_version": None,
        "last_error": "1 problem(s), first: error: line 2: tier: 'gold' is not one of premier, priority, select",
        "lookups": 0,
        "cache_hits": 0,
        "failures": {"timeout": 0, "connection": 0, "status": 0, "malformed": 0, "no_data": 0},
    }


def test_healthz_with_phonebook_customers(tmp_path):
    body = make_app(tmp_path).test_client().get("/healthz").get_json()
    assert body["entitlements"] == {"source": "phonebook", "customers": 3}
