"""API keys, client disconnects and graceful shutdown, each on a server of its own."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import socket
import time

import httpx

from sfumato.testing import RequestBuilder, start_server
from tests.api.conftest import TEST_PATTERN_CONFIG


def test_api_keys_are_required_when_configured(tmp_path):
    server = start_server(tmp_path, config=TEST_PATTERN_CONFIG, plugins=["test_pattern"], api_key="s3cret")
    try:
        body = RequestBuilder().prompt("x").size(16, 16).build()
        anonymous = httpx.post(server.url + "/grpcgateway/generate", json=body)
        wrong = httpx.post(server.url + "/grpcgateway/generate", json=body, headers={"Authorization": "Bearer nope"})
        basic = httpx.get(server.url + "/grpcgateway/engines", headers={"Authorization": "Basic czNjcmV0"})
        for response in (anonymous, wrong, basic):
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["code"] == 16
        assert "missing Authorization" in anonymous.json()["message"]
        assert len(server.generate(body)) == 1  # the server's own client sends the key
        assert httpx.get(server.url + "/healthz").status_code == 200  # probes stay open
        ok = httpx.get(server.url + "/grpcgateway/engines", headers={"Authorization": "bearer s3cret"})
        assert ok.status_code == 200
    finally:
        server.stop()


def _raw_generate(server, body: dict) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)))
    payload = json.dumps(body).encode()
    connection.sendall(
        b"POST /grpcgateway/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
    )
    return connection


def test_client_disconnect_cancels_its_generation(tmp_path):
    server = start_server(tmp_path, config=TEST_PATTERN_CONFIG, plugins=["test_pattern"])
    try:
        slow = RequestBuilder().engine("slow-pattern").prompt("d").size(16, 16).steps(100).extension("step_delay_ms", 50)
        connection = _raw_generate(server, slow.build())
        time.sleep(0.5)
        connection.close()
        began = time.monotonic()
        quick = RequestBuilder().engine("slow-pattern").prompt("q").size(16, 16).steps(1).build()
        assert len(server.generate(quick)) == 1
        assert time.monotonic() - began < 2.0, "the abandoned job kept the worker busy"
        metrics = httpx.get(server.url + "/metrics").text
        assert 'sfumato_errors_total{code="CANCELLED",engine="slow-pattern"} 1.0' in metrics
    finally:
        server.stop()


def test_shutdown_answers_every_waiting_client(tmp_path):
    server = start_server(tmp_path, config=TEST_PATTERN_CONFIG, plugins=["test_pattern"])
    slow = RequestBuilder().engine("slow-pattern").prompt("s").size(16, 16).steps(20).extension("step_delay_ms", 25)

    def stream() -> list[dict]:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            response = client.post("/grpcgateway/generate", json=slow.build())
            assert response.status_code == 200, response.text
            return [json.loads(line) for line in response.content.splitlines() if line]

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        running = pool.submit(stream)
        time.sleep(0.1)
        queued = pool.submit(stream)  # waits behind the first: the engine runs one job at a time
        time.sleep(0.2)
        server.process.send_signal(signal.SIGTERM)
        results = [running.result(30), queued.result(30)]
    # both in-flight requests were allowed to finish before the process exited
    assert all(len(lines) == 1 and "result" in lines[0] for lines in results)
    # uvicorn re-raises the signal after its graceful shutdown, so the exit status says SIGTERM
    assert server.process.wait(30) in (0, -signal.SIGTERM)
    assert "Traceback" not in server.log()


def test_finished_async_results_expire_after_the_retention(tmp_path):
    server = start_server(tmp_path, config=TEST_PATTERN_CONFIG, plugins=["test_pattern"],
                          env={"SFUMATO_ASYNC_RETENTION_SECONDS": "1"})
    try:
        body = RequestBuilder().prompt("e").size(16, 16).build()
        kept = server.post("/grpcgateway/asyncGenerate", body).json()
        expired = server.post("/grpcgateway/asyncGenerate", body).json()
        time.sleep(0.3)  # both are done by now; fetch one within the retention
        assert len(server.post("/grpcgateway/asyncResult", kept).json()["answer"]) == 1
        time.sleep(1.5)
        gone = server.post("/grpcgateway/asyncResult", expired)
        assert gone.status_code == 404 and gone.json()["code"] == 5
    finally:
        server.stop()


def test_cors_is_off_by_default_and_configurable(server, tmp_path):
    preflight = {"Origin": "http://studio.local", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    plain = httpx.options(server.url + "/grpcgateway/generate", headers=preflight)
    assert "access-control-allow-origin" not in plain.headers
    allowed = start_server(tmp_path, config=TEST_PATTERN_CONFIG, plugins=["test_pattern"],
                           env={"SFUMATO_CORS_ORIGINS": "http://studio.local"})
    try:
        answer = httpx.options(allowed.url + "/grpcgateway/generate", headers=preflight)
        assert answer.status_code in (200, 204)
        assert answer.headers["access-control-allow-origin"] == "http://studio.local"
        generated = httpx.post(allowed.url + "/grpcgateway/generate", headers={"Origin": "http://studio.local"},
                               json=RequestBuilder().prompt("c").size(16, 16).build())
        assert generated.headers["access-control-allow-origin"] == "http://studio.local"
    finally:
        allowed.stop()
