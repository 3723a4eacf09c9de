"""Settings, and the instance folder found without building a Flask app."""

from __future__ import annotations

import pytest
from flask import Flask

from ivr.config import default_instance_path, install_prefix


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
