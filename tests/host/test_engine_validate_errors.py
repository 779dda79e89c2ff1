"""A plain ValueError/TypeError from an engine's validate() is the request's fault: 400, not 500."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from sfumato.api.app import create_app
from sfumato.builtin.test_pattern_engine import TestPatternEngine
from sfumato.config import load_settings
from sfumato.plugins import load_plugins

REQUEST = {"prompt": [{"text": "x"}], "image": {"width": "16", "height": "16"}}


@pytest.mark.parametrize("error", [ValueError("width 16 is too small for this model"), TypeError("bad sampler value")])
def test_plain_errors_from_validate_are_invalid_argument(tmp_path, monkeypatch, error):
    def validate(self, job):
        raise error

    monkeypatch.setattr(TestPatternEngine, "validate", validate)
    config = tmp_path / "sfumato.toml"
    config.write_text('[[engines]]\nid = "tp"\nkind = "test-pattern"\n')
    app = create_app(load_settings(config, environ={}), load_plugins(only=["test_pattern"]))
    with TestClient(app) as client:
        response = client.post("/grpcgateway/generate", json=REQUEST)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 3 and body["details"] == []
    assert "engine 'tp'" in body["message"] and str(error) in body["message"]


def test_other_errors_from_validate_are_internal_naming_the_engine(tmp_path, monkeypatch):
    def validate(self, job):
        raise RuntimeError("a bug in the engine")

    monkeypatch.setattr(TestPatternEngine, "validate", validate)
    config = tmp_path / "sfumato.toml"
    config.write_text('[[engines]]\nid = "tp"\nkind = "test-pattern"\n')
    app = create_app(load_settings(config, environ={}), load_plugins(only=["test_pattern"]))
    with TestClient(app) as client:
        response = client.post("/grpcgateway/generate", json=REQUEST)
    body = response.json()
    assert response.status_code == 500 and body["code"] == 13
    # A plugin bug, not the client's: it names the engine and where its code comes from.
    assert "engine 'tp' (kind 'test-pattern'; plugin 'test_pattern', distribution sfumato" in body["message"]
    assert "validate(): RuntimeError: a bug in the engine" in body["message"]
