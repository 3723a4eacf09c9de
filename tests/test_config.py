"""Settings: defaults, then the environment, then the mapping given to create_app; and the instance
folder, found without building a Flask app."""

import pytest
from click.testing import CliRunner
from flask import Flask

from ivr.cli.commands import main
from ivr.config import SETTINGS, SettingsError, default_instance_path, install_prefix, load_settings


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


@pytest.mark.parametrize(("name", "value", "error"), [
    ("DATABASE_URL", "mysql://u@db/calls", "DATABASE_URL='mysql://u@db/calls' is not valid: use postgresql://"),
    ("DATABASE_URL", "postgress://u:secret@db/calls", "DATABASE_URL='postgress://u:***@db/calls' is not valid"),
    ("DATABASE_URL", "garbage", "DATABASE_URL='garbage' is not valid: use postgresql://"),
    ("DATABASE_URL", "postgres://u@db", "DATABASE_URL='postgres://u@db' is not valid"),
    ("IVR_RELOAD_SECONDS", "abc", "IVR_RELOAD_SECONDS='abc' is not valid: use a number of seconds from 0 to 86400"),
    ("IVR_ALERT_LEASE_SECONDS", "-5", "IVR_ALERT_LEASE_SECONDS='-5' is not valid: use a number of seconds"),
    ("IVR_LOG_LEVEL", "LOUD", "IVR_LOG_LEVEL='LOUD' is not valid: use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("IVR_LOG_FORMAT", "xml", "IVR_LOG_FORMAT='xml' is not valid: use one of text, json"),
    ("MAX_CONTENT_LENGTH", "64k", "MAX_CONTENT_LENGTH='64k' is not valid: use a whole number of bytes"),
])
def test_a_setting_the_service_cannot_use_is_one_line_naming_it_and_what_it_accepts(name, value, error):
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={name: value})
    assert str(raised.value).startswith(error)
    assert "\n" not in str(raised.value) and "secret" not in str(raised.value)


@pytest.mark.parametrize("url", [
    "postgres://u:p@db:5432/calls", "postgresql://u@db/calls", "postgresql+psycopg://u@db/calls",
    "sqlite:////srv/calllog.sqlite3",
])
def test_the_database_urls_the_call_log_takes_are_accepted(url):
    assert load_settings(environ={"DATABASE_URL": url})["DATABASE_URL"] == url


def test_overrides_are_parsed_like_the_environment():
    assert load_settings({"IVR_ALERT_SETTLE_SECONDS": "2.5"}, environ={})["IVR_ALERT_SETTLE_SECONDS"] == 2.5
    assert load_settings({"IVR_LOG_LEVEL": "debug"}, environ={})["IVR_LOG_LEVEL"] == "DEBUG"
    assert load_settings({"IVR_LOG_FORMAT": "JSON"}, environ={})["IVR_LOG_FORMAT"] == "json"


def test_every_cli_command_says_a_bad_setting_in_one_line(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://u@db/calls")
    result = CliRunner().invoke(main, ["calls"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: DATABASE_URL='mysql://u@db/calls' is not valid: use postgresql://user:password@host:5432/name "
        "(or postgres://, as Heroku writes it), or sqlite:////absolute/path.sqlite3; unset for SQLite in the "
        "instance folder\n"
    )


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
