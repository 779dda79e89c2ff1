"""ListEngines, plugins, health, metrics, schema and docs routes."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient

from sfumato.api.app import create_app
from sfumato.config import load_settings
from sfumato.plugins import load_plugins
from sfumato.testing import RequestBuilder


def test_list_engines_get_and_post_agree(server):
    with server.client() as client:
        got = client.get("/grpcgateway/engines")
        posted = client.post("/grpcgateway/engines", json={})
        empty = client.post("/grpcgateway/engines", content=b"", headers={"Content-Type": "application/json"})
    assert got.status_code == posted.status_code == empty.status_code == 200
    assert got.json() == posted.json() == empty.json()
    engines = {engine["id"]: engine for engine in got.json()["engine"]}
    assert set(engines) == {"test-pattern", "slow-pattern"}
    info = engines["test-pattern"]
    assert info["ready"] is True and info["type"] == "PICTURE" and info["owner"] == "sfumato"
    samplers = {s.get("sampler", "SAMPLER_DDIM"): s for s in info["supportedSamplers"]}
    assert set(samplers) == {"SAMPLER_K_EULER", "SAMPLER_K_EULER_ANCESTRAL", "SAMPLER_DDIM"}
    assert samplers["SAMPLER_K_EULER_ANCESTRAL"].get("supportsEta") is True
    assert not samplers["SAMPLER_K_EULER"].get("supportsEta", False)


def test_plugins_route_lists_what_each_plugin_registered(server):
    with server.client() as client:
        report = client.get("/plugins").json()
    by_name = {plugin["name"]: plugin for plugin in report["plugins"]}
    assert by_name["test_pattern"]["engines"] == ["test-pattern"]
    assert by_name["test_pattern"]["distribution"] == "sfumato"
    assert set(by_name["adjustments"]["adjustments"]) >= {"blur", "invert", "levels", "channels", "rescale", "crop"}
    assert report["failures"] == []
    engines = {e["id"]: e for e in report["engines"]}
    engine = engines["test-pattern"]
    pattern = {p["name"]: p for p in engine["extensions"]}["pattern"]
    assert pattern["type"] == "str" and pattern["choices"] == ["waves", "rings", "checker"] and pattern["description"]
    assert engine["default_sampler"] == "SAMPLER_K_EULER" and engine["default_steps"] == 20
    assert engine["native_width"] == engine["native_height"] == 512
    assert engines["slow-pattern"]["default_steps"] == 20 and engines["slow-pattern"]["status"].startswith("ready")


@pytest.mark.parametrize("enabled", [False, True])
def test_plugins_lists_test_controls_only_when_enabled(tmp_path, enabled):
    config = tmp_path / "sfumato.toml"
    config.write_text(f'[server]\ntest_controls = {str(enabled).lower()}\n\n'
                      '[[engines]]\nid = "tp"\nkind = "test-pattern"\ndefault_sampler = "SAMPLER_DDIM"\n')
    app = create_app(load_settings(config, environ={}), load_plugins(only=["test_pattern"]))
    with TestClient(app) as client:
        (engine,) = client.get("/plugins").json()["engines"]
    names = {param["name"] for param in engine["extensions"]}
    test_controls = {"step_delay_ms", "fail", "fail_index"}
    assert "pattern" in names and names & test_controls == (test_controls if enabled else set())
    assert engine["default_sampler"] == "SAMPLER_DDIM"


def test_health_ready_and_metrics(server):
    server.generate(RequestBuilder().prompt("m").size(16, 16).build())
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        head = client.head("/healthz")
        ready = client.get("/readyz")
        metrics = client.get("/metrics")
    assert head.status_code == 200 and head.content == b""
    # Unauthenticated: whether it is ready, nothing about engines or models.
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    assert metrics.status_code == 200
    text = metrics.text
    assert re.search(r'sfumato_images_total\{engine="test-pattern"\} [1-9]', text)
    assert "sfumato_queue_depth" in text and "sfumato_batch_size_bucket" in text


def test_openapi_schema_has_the_api_shapes(server):
    with server.client() as client:
        document = client.get("/schema/openapi.json").json()
    paths = document["paths"]
    for path in ("/grpcgateway/generate", "/grpcgateway/asyncGenerate", "/grpcgateway/asyncResult",
                 "/grpcgateway/asyncCancel", "/grpcgateway/engines"):
        assert path in paths
    schemas = document["components"]["schemas"]
    request_schema = next(schema for name, schema in schemas.items() if name.endswith("Request") and "prompt" in schema.get("properties", {}))
    assert {"engineId", "requestId", "requestedType", "prompt", "image"} <= set(request_schema["properties"])

