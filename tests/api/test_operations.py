"""ListEngines, plugins, health, metrics, schema and docs routes."""

from __future__ import annotations

import re

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
    engine = {e["id"]: e for e in report["engines"]}["test-pattern"]
    delay = {p["name"]: p for p in engine["extensions"]}["step_delay_ms"]
    assert delay["type"] == "int" and delay["minimum"] == 0 and delay["maximum"] == 10_000 and delay["description"]


def test_health_ready_and_metrics(server):
    server.generate(RequestBuilder().prompt("m").size(16, 16).build())
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        metrics = client.get("/metrics")
    assert ready.status_code == 200 and ready.json()["ready"] is True
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


def test_docs_page_is_self_contained(server):
    with server.client() as client:
        page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/grpcgateway/generate" in page.text
    assert not re.search(r"(src|href)=['\"]https?://", page.text)
