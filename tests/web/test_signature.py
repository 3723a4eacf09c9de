"""Only requests signed by Twilio for the URL it requested get through; there is no bypass."""

from __future__ import annotations

import logging

import pytest
from calls import TOKEN, call_params, pinned_app, post
from twilio.request_validator import RequestValidator

from ivr.config import SettingsError
from ivr.web.signature import dev_token, dev_token_path


def test_a_request_without_a_signature_is_refused(tmp_path):
    client = pinned_app(tmp_path).test_client()
    assert client.post("/voice", data=call_params()).status_code == 403


def test_a_request_signed_with_another_token_is_refused(tmp_path):
    client = pinned_app(tmp_path).test_client()
    assert post(client, "/voice", call_params(), token="someone-elses-token").status_code == 403


def test_a_signature_for_another_url_is_refused(tmp_path):
    client = pinned_app(tmp_path).test_client()
    assert post(client, "/voice", call_params(), url="http://localhost/voice/status").status_code == 403
    assert post(client, "/voice/sen?try=1", call_params(), url="http://localhost/voice/sen?try=2").status_code == 403


def test_a_signature_for_the_url_with_its_default_port_written_out_is_accepted(tmp_path):
    # Twilio signs some requests with ":80"/":443" in the URL and some without: both pass.
    client = pinned_app(tmp_path).test_client()
    assert post(client, "/voice", call_params(), url="http://localhost:80/voice").status_code == 200
    assert post(client, "/voice", call_params(), url="http://localhost:8080/voice").status_code == 403


def test_changed_parameters_break_the_signature(tmp_path):
    client = pinned_app(tmp_path).test_client()
    params = call_params()
    signature = RequestValidator(TOKEN).compute_signature("http://localhost/voice", params)
    forged = {**params, "From": "+14155551234"}
    assert client.post("/voice", data=forged, headers={"X-Twilio-Signature": signature}).status_code == 403


def test_every_voice_endpoint_checks_the_signature(tmp_path):
    app = pinned_app(tmp_path)
    client = app.test_client()
    voice_rules = [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/voice")]
    assert len(voice_rules) == 23  # the call's 11, the live handoff's 8 and a call back's 4 (`ivr.web.callbacks`)
    for rule in voice_rules:
        assert client.post(rule, data=call_params()).status_code == 403, rule


def test_debug_and_testing_modes_do_not_bypass_the_check(tmp_path):
    app = pinned_app(tmp_path, DEBUG=True, TESTING=True)
    assert app.test_client().post("/voice", data=call_params()).status_code == 403


HEROKU_APP = "https://ivr-app.herokuapp.com"
# What Heroku's router passes on: the Host it routed on (only the app's own domains reach the app),
# the scheme it terminated, the client's address.
HEROKU_HEADERS = {"Host": "ivr-app.herokuapp.com", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


def test_behind_heroku_s_router_one_trusted_proxy_checks_the_https_url_of_the_routed_host(tmp_path):
    client = pinned_app(tmp_path, IVR_PUBLIC_URL=None, IVR_TRUST_PROXY=1).test_client()
    signed_https = f"{HEROKU_APP}/voice"
    assert post(client, "/voice", call_params(), url=signed_https, headers=HEROKU_HEADERS).status_code == 200
    # Without the proxy's scheme the service sees http:// and refuses.
    plain = {"Host": "ivr-app.herokuapp.com"}
    assert post(client, "/voice", call_params(), url=signed_https, headers=plain).status_code == 403


def test_the_heroku_setup_with_its_public_url_set_works_too(tmp_path):
    client = pinned_app(tmp_path, IVR_PUBLIC_URL=HEROKU_APP, IVR_TRUST_PROXY=1).test_client()
    assert post(client, "/voice", call_params(), url=f"{HEROKU_APP}/voice", headers=HEROKU_HEADERS).status_code == 200


FORGED_HOSTS = [
    {"Host": "evil.example.com"},
    {"X-Forwarded-Host": "evil.example.com", "X-Forwarded-Proto": "https"},
    {"Host": "evil.example.com", "X-Forwarded-Host": "evil.example.com", "X-Forwarded-Proto": "https"},
]


@pytest.mark.parametrize("claimed", FORGED_HOSTS, ids=["host", "forwarded-host", "both"])
def test_a_request_signed_for_another_host_of_the_account_is_refused_with_a_public_url(tmp_path, claimed):
    # Twilio signed it for a number of the same account pointed at evil.example.com; replayed here
    # (a forged /voice/screen would mark a missed L1 call answered and suppress its alert).
    client = pinned_app(tmp_path, IVR_PUBLIC_URL="https://ivr.example.com", IVR_TRUST_PROXY=1).test_client()
    params = call_params(Digits="1")
    path = "/voice/screen?sid=CA1&team=san_francisco"
    reply = post(client, path, params, url=f"https://evil.example.com{path}", headers=claimed)
    assert reply.status_code == 403


def test_a_trusted_proxy_never_makes_a_client_s_forwarded_host_believed(tmp_path):
    client = pinned_app(tmp_path, IVR_PUBLIC_URL=None, IVR_TRUST_PROXY=1).test_client()
    forged = {**HEROKU_HEADERS, "X-Forwarded-Host": "evil.example.com"}
    assert post(client, "/voice", call_params(), url="https://evil.example.com/voice", headers=forged).status_code == 403
    assert post(client, "/voice", call_params(), url=f"{HEROKU_APP}/voice", headers=forged).status_code == 200


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(tmp_path):
    client = pinned_app(tmp_path, IVR_PUBLIC_URL="http://localhost").test_client()
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.com"}
    assert post(client, "/voice", call_params(), url="https://ivr.example.com/voice", headers=proxied).status_code == 403
    assert post(client, "/voice", call_params(), headers=proxied).status_code == 200


def test_a_real_auth_token_without_a_public_url_or_a_trusted_proxy_refuses_to_start_in_one_line(tmp_path):
    with pytest.raises(SettingsError) as refused:
        pinned_app(tmp_path, IVR_PUBLIC_URL=None)
    assert str(refused.value).startswith("IVR_PUBLIC_URL is not set: with TWILIO_AUTH_TOKEN set")
    assert "\n" not in str(refused.value)


def test_the_development_token_needs_no_public_url(tmp_path):
    app = pinned_app(tmp_path, IVR_PUBLIC_URL=None, TWILIO_AUTH_TOKEN=None)
    token = app.config["TWILIO_AUTH_TOKEN"]
    assert post(app.test_client(), "/voice", call_params(), token=token).status_code == 200


@pytest.mark.parametrize("hops", ["-1", "6", "one"])
def test_a_trusted_proxy_count_out_of_range_refuses_to_start(tmp_path, hops):
    with pytest.raises(SettingsError, match=r"IVR_TRUST_PROXY=.* is not valid: use a number of proxies from 0 to 5"):
        pinned_app(tmp_path, IVR_TRUST_PROXY=hops)


def test_with_a_public_url_configured_signatures_are_checked_against_it(tmp_path):
    client = pinned_app(tmp_path, IVR_PUBLIC_URL="https://ivr.example.com/").test_client()
    assert post(client, "/voice/sen?try=1", call_params(), url="https://ivr.example.com/voice/sen?try=1").status_code == 200
    assert post(client, "/voice/sen?try=1", call_params()).status_code == 403


def test_without_an_auth_token_a_development_token_is_made_once_and_kept(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="ivr.signature")
    app = pinned_app(tmp_path, TWILIO_AUTH_TOKEN=None)
    token = app.config["TWILIO_AUTH_TOKEN"]
    path = dev_token_path(app.instance_path)
    assert path.read_text() == token and len(token) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert "TWILIO_AUTH_TOKEN is not set" in caplog.text
    assert pinned_app(tmp_path, TWILIO_AUTH_TOKEN=None).config["TWILIO_AUTH_TOKEN"] == token
    client = app.test_client()
    assert client.post("/voice", data=call_params()).status_code == 403
    assert post(client, "/voice", call_params(), token=token).status_code == 200


def test_a_configured_auth_token_wins_and_no_development_token_is_made(tmp_path):
    app = pinned_app(tmp_path)
    assert app.config["TWILIO_AUTH_TOKEN"] == TOKEN
    assert not dev_token_path(app.instance_path).exists()


def test_the_development_token_is_one_per_instance_folder(tmp_path):
    assert dev_token(tmp_path / "a") == dev_token(tmp_path / "a") != dev_token(tmp_path / "b")


def test_a_signature_that_cannot_be_checked_is_refused_not_rescued(tmp_path, monkeypatch):
    def broken(self, uri, params, *args):
        raise ValueError("Invalid IPv6 URL")

    client = pinned_app(tmp_path).test_client()
    params = call_params(Digits="1")
    signature = RequestValidator(TOKEN).compute_signature("http://localhost/voice/severity?sen=1234567", params)
    monkeypatch.setattr(RequestValidator, "compute_signature", broken)
    monkeypatch.setattr(RequestValidator, "validate", broken)
    response = client.post("/voice/severity?sen=1234567", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert b"<Dial" not in response.data


@pytest.mark.parametrize("public", ["https://ivr.example.com/ivr", "ivr.example.com", "https://ivr.example.com/?x=1"])
def test_a_public_url_with_a_path_refuses_to_start(tmp_path, public):
    # Action URLs are root-relative: behind a path prefix every step after the first would be lost.
    with pytest.raises(ValueError, match="IVR_PUBLIC_URL must be a base URL"):
        pinned_app(tmp_path, IVR_PUBLIC_URL=public)


def test_behind_the_router_the_request_target_is_checked_as_the_server_received_it(tmp_path):
    # gunicorn passes on the target as sent (RAW_URI), which is what Twilio signed: it is checked as
    # it came, not rebuilt from what Flask decoded of it.
    client = pinned_app(tmp_path, IVR_PUBLIC_URL=None, IVR_TRUST_PROXY=1).test_client()
    params = call_params()
    signature = RequestValidator(TOKEN).compute_signature(f"{HEROKU_APP}/voice?try=1", params)
    headers = {**HEROKU_HEADERS, "X-Twilio-Signature": signature}
    as_sent = {"RAW_URI": "/voice?try=1"}
    assert client.post("/voice", data=params, headers=headers, environ_overrides=as_sent).status_code == 200
    # A target in absolute form (through a forward proxy) is not taken for a path: the URL Flask saw is checked.
    absolute = {"RAW_URI": f"{HEROKU_APP}/voice?try=1"}
    assert client.post("/voice", data=params, headers=headers, environ_overrides=absolute).status_code == 403
