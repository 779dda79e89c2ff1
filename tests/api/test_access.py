"""Who may call and how much: API keys, test controls, per-client quotas, rate limits, per-engine queues."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from sfumato.config import ConfigError, load_settings
from sfumato.testing import RequestBuilder, start_server
from tests.api.conftest import TEST_PATTERN_CONFIG

GEN = "/grpcgateway/generate"
ASYNC = "/grpcgateway/asyncGenerate"


def slow(engine: str = "slow-pattern", steps: int = 50) -> dict:
    return RequestBuilder().engine(engine).prompt("slow").size(16, 16).steps(steps).extension("step_delay_ms", 50).build()


def quick(engine: str = "test-pattern") -> dict:
    return RequestBuilder().engine(engine).prompt("quick").size(16, 16).steps(2).build()


def with_quotas(**quotas: int) -> str:
    lines = "".join(f"{name} = {value}\n" for name, value in quotas.items())
    return TEST_PATTERN_CONFIG.replace("[quotas]\n", "[quotas]\n" + lines).replace(
        "max_active_jobs = 0\nmax_queued_jobs = 0\nrequests_per_minute = 0\n", ""
    ) if quotas else TEST_PATTERN_CONFIG


def error_of(response: httpx.Response, status: int, code: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"code", "message", "details"} and payload["code"] == code
    for word in words:
        assert word in payload["message"], (word, payload["message"])
    return payload


def raw_get(url: str, path: bytes, header_lines: list[bytes]) -> tuple[int, dict]:
    """A GET with headers exactly as given (HTTP clients tidy or refuse odd ones)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           + b"".join(line + b"\r\n" for line in header_lines) + b"\r\n")
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


# ---- API keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("keys", ['["good", ""]', '["good", "   "]'])
def test_an_empty_key_in_the_config_file_is_refused_at_start_up(tmp_path, keys):
    path = tmp_path / "keys.toml"
    path.write_text(f"[server]\napi_keys = {keys}\n")
    with pytest.raises(ConfigError, match=r"server\.api_keys\[1\] is empty"):
        load_settings(path, environ={})


def test_empty_keys_from_the_environment_are_dropped():
    assert load_settings(environ={"SFUMATO_API_KEYS": "a,, ,b"}).server.api_keys == ["a", "b"]


def test_empty_or_doubled_authorization_is_refused(tmp_path):
    server = start_server(tmp_path, config=TEST_PATTERN_CONFIG, plugins=["test_pattern"], api_key="s3cret")
    try:
        url = server.url + "/grpcgateway/engines"
        for header in (b"Bearer ", b"Bearer", b"Bearer \t ", b""):
            status, payload = raw_get(server.url, b"/grpcgateway/engines", [b"Authorization: " + header])
            assert status == 401 and payload["code"] == 16 and "invalid API key" in payload["message"], (header, payload)
        doubled = httpx.get(url, headers=[("Authorization", "Bearer s3cret"), ("Authorization", "Bearer s3cret")])
        error_of(doubled, 400, 3, "more than one Authorization header")
        assert httpx.get(url, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    finally:
        server.stop()


# ---- test controls -----------------------------------------------------------------------


def test_test_controls_are_refused_unless_enabled(tmp_path):
    server = start_server(tmp_path, config=TEST_PATTERN_CONFIG, plugins=["test_pattern"], test_controls=False)
    try:
        for name, value in (("step_delay_ms", 10000), ("fail", "crash"), ("fail_index", 0)):
            body = RequestBuilder().prompt("x").size(16, 16).extension(name, value).build()
            error_of(server.post(GEN, body), 400, 3, f"image.extension.parameters[0].name: '{name}'",
                     "test control", "test_controls")
        # ordinary extension parameters still work
        assert len(server.generate(RequestBuilder().prompt("x").size(16, 16).extension("pattern", "rings").build())) == 1
    finally:
        server.stop()


# ---- queues and quotas -------------------------------------------------------------------


def cancel_all(server, handles: list[dict]) -> None:
    for handle in handles:
        server.post("/grpcgateway/asyncCancel", handle)


def test_queues_are_per_engine(tmp_path):
    config = with_quotas().replace("queue_size = 6", "queue_size = 2")
    server = start_server(tmp_path, config=config, plugins=["test_pattern"])
    handles: list[dict] = []
    try:
        handles.append(server.post(ASYNC, slow()).json())  # running
        time.sleep(0.3)
        handles += [server.post(ASYNC, slow()).json() for _ in range(2)]  # the queue's two places
        full = error_of(server.post(ASYNC, slow()), 429, 8, "engine 'slow-pattern'", "jobs.queue_size")
        assert full
        assert len(server.generate(quick("test-pattern"))) == 1  # another engine is not affected
    finally:
        cancel_all(server, handles)
        server.stop()


def test_per_client_job_quotas_with_retry_after(tmp_path):
    config = with_quotas(max_active_jobs=2, max_queued_jobs=1)
    server = start_server(tmp_path, config=config, plugins=["test_pattern"])
    handles: list[dict] = []
    try:
        handles.append(server.post(ASYNC, slow()).json())
        time.sleep(0.3)  # it started: one active, none queued
        handles.append(server.post(ASYNC, slow()).json())  # queued behind it
        refused = server.post(ASYNC, slow(engine="test-pattern"))
        error_of(refused, 429, 8, "2 unfinished jobs", "quotas.max_active_jobs")
        assert int(refused.headers["retry-after"]) >= 1
        cancel_all(server, handles[1:])
        handles = handles[:1]
        handles.append(server.post(ASYNC, slow()).json())
        error_of(server.post(ASYNC, slow()), 429, 8, "quotas.max_active_jobs")
        cancel_all(server, handles)
        handles = []
        time.sleep(0.2)
        assert len(server.generate(quick())) == 1  # places free up when jobs end
    finally:
        cancel_all(server, handles)
        server.stop()


def test_quotas_count_per_api_key(tmp_path):
    config = with_quotas(max_active_jobs=1, max_queued_jobs=1).replace("[server]\n", '[server]\napi_keys = ["alice", "bob"]\n')
    server = start_server(tmp_path, config=config, plugins=["test_pattern"])
    alice = {"Authorization": "Bearer alice"}
    bob = {"Authorization": "Bearer bob"}
    handle = None
    try:
        handle = httpx.post(server.url + ASYNC, json=slow(), headers=alice).json()
        error_of(httpx.post(server.url + ASYNC, json=quick(), headers=alice), 429, 8, "quotas.max_active_jobs")
        assert httpx.post(server.url + GEN, json=quick(), headers=bob, timeout=30).status_code == 200
    finally:
        if handle:
            httpx.post(server.url + "/grpcgateway/asyncCancel", json=handle, headers=alice)
        server.stop()


def test_requests_per_minute_per_client(tmp_path):
    config = with_quotas(requests_per_minute=5).replace("[server]\n", '[server]\napi_keys = ["alice", "bob"]\n')
    server = start_server(tmp_path, config=config, plugins=["test_pattern"])
    try:
        url = server.url + "/grpcgateway/engines"
        alice = {"Authorization": "Bearer alice"}
        # start_server's readiness probes are not counted: /readyz is unlimited
        assert [httpx.get(url, headers=alice).status_code for _ in range(5)] == [200] * 5
        refused = httpx.get(url, headers=alice)
        error_of(refused, 429, 8, "5 per minute", "quotas.requests_per_minute")
        assert 1 <= int(refused.headers["retry-after"]) <= 12
        assert httpx.get(url, headers={"Authorization": "Bearer bob"}).status_code == 200
        assert httpx.get(server.url + "/healthz").status_code == 200
        assert httpx.get(server.url + "/metrics", headers=alice).status_code == 200
    finally:
        server.stop()


# ---- async results held in memory ----------------------------------------------------------


def test_unfetched_async_results_are_capped(tmp_path):
    config = with_quotas().replace("async_retention_seconds = 600", "async_retention_seconds = 600\nmax_async_result_bytes = 1")
    server = start_server(tmp_path, config=config, plugins=["test_pattern"])
    try:
        first = server.post(ASYNC, quick()).json()
        time.sleep(1.0)  # a 16×16 test pattern is ready in milliseconds; its PNG is now held
        refused = server.post(ASYNC, quick())
        error_of(refused, 429, 8, "jobs.max_async_result_bytes", "AsyncResult")
        assert refused.headers["retry-after"]
        result = server.post("/grpcgateway/asyncResult", first).json()
        assert len(result["answer"]) == 1 and result["complete"]  # nothing accepted was lost
        assert server.post(ASYNC, quick()).status_code == 200  # fetched: room again
    finally:
        server.stop()
