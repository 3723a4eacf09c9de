"""The app's JSON is orjson's where it can be and Flask's where it cannot: the same JSON either way."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from ivr.web.json_provider import JSONProvider


class Colour(StrEnum):
    RED = "red"


@dataclass
class Point:
    x: int
    label: str


@pytest.mark.parametrize("value", [
    pytest.param({"b": 1, "a": [None, True, 1.5, "Zoë 東京"], "c": {"z": 0, "y": "\x00<\u2028>"}}, id="plain, sorted"),
    pytest.param({"duration": 10**30, "small": -(2**63)}, id="whole numbers beyond 64 bits"),
    pytest.param({"at": datetime(2026, 12, 3, 9, 30, tzinfo=UTC)}, id="an instant, as Flask writes it"),
    pytest.param([Point(1, "p")], id="a dataclass"),
    pytest.param({1: "one", 2: "two"}, id="keys that are not text"),
    pytest.param({"outcome": Colour.RED}, id="a text enum"),
])
def test_the_app_writes_the_json_flask_would(value):
    app = Flask(__name__)
    fast, flask = JSONProvider(app), DefaultJSONProvider(app)
    written = fast.dumps(value)
    assert json.loads(written) == json.loads(flask.dumps(value))
    assert list(json.loads(written)) == list(json.loads(flask.dumps(value)))  # keys in Flask's order


def test_debug_output_is_indented_as_flask_indents_it():
    app = Flask(__name__)
    app.debug = True
    app.json = JSONProvider(app)
    with app.app_context():
        body = app.json.response({"b": 1, "a": 2}).get_data(as_text=True)
    assert body == '{\n  "a": 2,\n  "b": 1\n}\n'
