"""Only requests signed by Twilio for the URL it requested get through; there is no bypass."""

from __future__ import annotations

import logging

import pytest
from calls import TOKEN, call_params, make_app, post
from twilio.request_validator import RequestValidator

from ivr.web.signature import dev_token, dev_token_path


def test_a_request_without_a_signature_is_refused(tmp_path):
    client = make_app(tmp_path).test_client()
    assert client.post("/voice", data=call_params()).status_code == 403


def test_a_request_signed_with_another_token_is_refused(tmp_path):
    client = make_app(tmp_path).test_client()
    assert post(client, "/voice", call_params(), token="someone-elses-token").status_code == 403


def test_a_signature_for_another_url_is_refused(tmp_path):
    client = make_app(tmp_path).test_client()
    assert post(client, "/voice", call_params(), url="http://localhost/voice/status").status_code == 403
    assert post(client, "/voice/sen?try=1", call_params(), url="http://localhost/voice/sen?try=2").status_code == 403


def test_changed_parameters_break_the_signature(tmp_path):
    client = make_app(tmp_path).test_client()
    params = call_params()
    signature = RequestValidator(TOKEN).compute_signature("http://localhost/voice", params)
    forged = {**params, "From": "+14155551234"}
    assert client.post("/voice", data=forged, headers={"X-Twilio-Signature": signature}).status_code == 403


def test_every_voice_endpoint_checks_the_signature(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    voice_rules = [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/voice")]
    assert len(voice_rules) == 11
    for rule in voice_rules:
        assert client.post(rule, data=call_params()).status_code == 403, rule


def test_debug_and_testing_modes_do_not_bypass_the_check(tmp_path):
    app = make_app(tmp_path, DEBUG=True, TESTING=True)
    assert app.test_client().post("/voice", data=call_params()).status_code == 403


def test_behind_a_tls_proxy_the_https_url_twilio_used_is_checked(tmp_path):
    client = make_app(tmp_path).test_client()
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.com"}
    signed_https = "https://ivr.example.com/voice"
    assert post(client, "/voice", call_params(), url=signed_https, headers=proxied).status_code == 200
    # Without the proxy's headers the service sees http://localhost and refuses.
    assert post(client, "/voice", call_params(), url=signed_https).status_code == 403
    # Only the proto forwarded: the host is still localhost.
    https_only = {"X-Forwarded-Proto": "https"}
    assert post(client, "/voice", call_params(), url="https://localhost/voice", headers=https_only).status_code == 200


def test_with_a_public_url_configured_signatures_are_checked_against_it(tmp_path):
    client = make_app(tmp_path, IVR_PUBLIC_URL="https://ivr.example.com/").test_client()
    assert post(client, "/voice/sen?try=1", call_params(), url="https://ivr.example.com/voice/sen?try=1").status_code == 200
    assert post(client, "/voice/sen?try=1", call_params()).status_code == 403


def test_without_an_auth_token_a_development_token_is_made_once_and_kept(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="ivr.signature")
    app = make_app(tmp_path, TWILIO_AUTH_TOKEN=None)
    token = app.config["TWILIO_AUTH_TOKEN"]
    path = dev_token_path(app.instance_path)
    assert path.read_text() == token and len(token) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert "TWILIO_AUTH_TOKEN is not set" in caplog.text
    assert make_app(tmp_path, TWILIO_AUTH_TOKEN=None).config["TWILIO_AUTH_TOKEN"] == token
    client = app.test_client()
    assert client.post("/voice", data=call_params()).status_code == 403
    assert post(client, "/voice", call_params(), token=token).status_code == 200


def test_a_configured_auth_token_wins_and_no_development_token_is_made(tmp_path):
    app = make_app(tmp_path)
    assert app.config["TWILIO_AUTH_TOKEN"] == TOKEN
    assert not dev_token_path(app.instance_path).exists()


def test_the_development_token_is_one_per_instance_folder(tmp_path):
    assert dev_token(tmp_path / "a") == dev_token(tmp_path / "a") != dev_token(tmp_path / "b")


def test_a_signature_that_cannot_be_checked_is_refused_not_rescued(tmp_path, monkeypatch):
    def broken(self, uri, params, signature):
        raise ValueError("Invalid IPv6 URL")

    monkeypatch.setattr(RequestValidator, "validate", broken)
    client = make_app(tmp_path).test_client()
    response = post(client, "/voice/severity?sen=1234567", call_params(Digits="1"))
    assert response.status_code == 403
    assert b"<Dial" not in response.data


@pytest.mark.parametrize("public", ["https://ivr.example.com/ivr", "ivr.example.com", "https://ivr.example.com/?x=1"])
def test_a_public_url_with_a_path_refuses_to_start(tmp_path, public):
    # Action URLs are root-relative: behind a path prefix every step after the first would be lost.
    with pytest.raises(ValueError, match="IVR_PUBLIC_URL must be a base URL"):
        make_app(tmp_path, IVR_PUBLIC_URL=public)
