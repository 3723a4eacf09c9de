"""Settings: defaults, then the environment, then the mapping given to create_app; and the instance
folder, found without building a Flask app."""

import pytest
from flask import Flask

from ivr.config import SETTINGS, default_instance_path, install_prefix, load_settings


def test_defaults_apply_when_nothing_is_set():
    settings = load_settings(environ={})
    assert settings["IVR_PHONEBOOK"] == "phonebook.toml"
    assert settings["TWILIO_AUTH_TOKEN"] is None
    assert settings["MAX_CONTENT_LENGTH"] == 65536
    assert settings["IVR_RELOAD_SECONDS"] == 1.0


def test_the_environment_overrides_defaults_and_is_parsed():
    settings = load_settings(environ={"IVR_PHONEBOOK": "/etc/ivr/phonebook.toml", "MAX_CONTENT_LENGTH": "1024"})
    assert settings["IVR_PHONEBOOK"] == "/etc/ivr/phonebook.toml"
    assert settings["MAX_CONTENT_LENGTH"] == 1024


def test_the_mapping_overrides_the_environment_and_carries_extra_keys():
    clock = object()
    settings = load_settings({"IVR_PHONEBOOK": "other.toml", "CLOCK": clock}, environ={"IVR_PHONEBOOK": "env.toml"})
    assert settings["IVR_PHONEBOOK"] == "other.toml"
    assert settings["CLOCK"] is clock


def test_every_setting_is_documented_in_the_readme():
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    for setting in SETTINGS:
        assert f"`{setting.name}`" in readme, setting.name


def test_the_default_instance_path_is_the_one_flask_picks():
    assert default_instance_path() == Flask("ivr").instance_path


@pytest.mark.parametrize(
    ("package_path", "sys_prefix", "prefix"),
    [
        pytest.param("/srv/app", "/srv/app/.venv", None, id="checkout-or-editable-install"),
        pytest.param("/srv/venv/lib/python3.11/site-packages", "/srv/venv", "/srv/venv", id="installed-in-the-venv"),
        pytest.param("/opt/venv/lib/python3.11/site-packages", "/usr", "/opt/venv", id="another-venv"),
        pytest.param("/opt/env/site-packages", "/usr", "/opt/env", id="prefix-site-packages"),
        pytest.param("C:/env/Lib/site-packages", "/usr", "C:/env", id="windows-layout"),
    ],
)
def test_the_install_prefix_follows_flasks_rule(package_path, sys_prefix, prefix, monkeypatch):
    assert install_prefix(package_path, sys_prefix) == prefix
    # Flask's own answer for the same layout.
    from flask.sansio import scaffold

    monkeypatch.setattr(scaffold, "_find_package_path", lambda name: package_path)
    monkeypatch.setattr(scaffold.sys, "prefix", sys_prefix)
    assert scaffold.find_package("ivr")[0] == prefix
