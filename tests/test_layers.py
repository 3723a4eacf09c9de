"""The layers stay visible: web and CLI on top, the call flow, the store and the outside world under
them, the pure engine at the bottom. Imports only point down (or within a layer)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "ivr"
# The layer of each part of the package, bottom up.
LAYERS = {
    "engine": 0,
    "callflow": 1, "store": 1, "outside": 1, "config": 1, "clock": 1, "redact": 1, "logs": 1,
    "web": 2, "cli": 2, "__main__": 2,
}
# What the engine may never reach: frameworks, databases, the network, the clock.
ENGINE_FORBIDDEN_IMPORTS = ("flask", "werkzeug", "sqlalchemy", "requests", "twilio", "psycopg", "prometheus_client",
                            "gunicorn", "ivr.clock")
ENGINE_FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
                          ("time", "time"), ("time", "monotonic"), ("time", "perf_counter")}
CALLFLOW_FORBIDDEN_IMPORTS = ("flask", "werkzeug", "sqlalchemy", "requests")


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def imported(path: Path) -> list[str]:
    """Every module the file imports, at the top or inside a function."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "ivr" or len(parts) < 2:
        return None
    return LAYERS.get(parts[1])


def test_every_part_of_the_package_has_a_layer():
    unplaced = [name for name, _ in modules() if name != "ivr" and layer(name) is None]
    assert unplaced == []


@pytest.mark.parametrize(("name", "path"), modules(), ids=[name for name, _ in modules()])
def test_imports_point_down_the_layers(name, path):
    own = layer(name)
    if own is None:  # `ivr` itself: create_app, imported on call
        return
    upward = [m for m in imported(path) if (other := layer(m)) is not None and other > own]
    assert upward == [], f"{name} (layer {own}) imports from a layer above it"


@pytest.mark.parametrize(("name", "path"), [m for m in modules() if m[0].startswith("ivr.engine")],
                         ids=[n for n, _ in modules() if n.startswith("ivr.engine")])
def test_the_engine_imports_no_framework_database_network_or_clock(name, path):
    bad = [m for m in imported(path) if m.startswith(ENGINE_FORBIDDEN_IMPORTS)]
    assert bad == []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        f"{node.func.value.id}.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in ENGINE_FORBIDDEN_CALLS
    ]
    assert calls == [], "the engine is told the instant; it never reads the clock"


@pytest.mark.parametrize(("name", "path"), [m for m in modules() if m[0].startswith("ivr.callflow")],
                         ids=[n for n, _ in modules() if n.startswith("ivr.callflow")])
def test_the_call_flow_knows_nothing_of_flask_or_the_database(name, path):
    assert [m for m in imported(path) if m.startswith(CALLFLOW_FORBIDDEN_IMPORTS)] == []


def test_the_layer_test_catches_an_upward_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from ivr.web.app import create_app\n", encoding="utf-8")
    assert [m for m in imported(probe) if (layer(m) or 0) > LAYERS["engine"]] == ["ivr.web.app", "ivr.web.app.create_app"]
