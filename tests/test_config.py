"""Settings: defaults, then the environment, then the mapping given to create_app."""

from ivr.config import SETTINGS, load_settings


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
