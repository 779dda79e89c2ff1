"""The raw-socket client the overhead benchmark uses to tell the server's time from the client's
(bench/raw_http.py) reads the same answers httpx does, on one kept-alive connection."""

from __future__ import annotations

import pytest

from bench.raw_http import RawClient
from sfumato.testing import RequestBuilder, parse_stream


def _artifact_bytes(body: bytes) -> list[str]:
    answers, error = parse_stream(body)
    assert error is None
    return [artifact["binary"] for answer in answers for artifact in answer["artifacts"]]


def test_raw_client_reads_the_same_answers_as_httpx(server):
    body = RequestBuilder().prompt("raw client").size(256, 256).seeds(7).steps(1).build()
    with RawClient(server.url) as raw, server.client() as client:
        health = raw.get("/healthz")
        assert health.status_code == 200
        assert bytes(health.body) == client.get("/healthz").content
        for _ in range(3):  # the same connection serves one request after another
            answer = raw.post_json("/grpcgateway/generate", body)
            assert answer.status_code == 200
            assert "engine;dur=" in answer.header("Server-Timing")
            assert _artifact_bytes(bytes(answer.body)) == _artifact_bytes(client.post("/grpcgateway/generate", json=body).content)


def test_raw_client_reports_errors_and_an_answer_too_large_for_its_buffer(server):
    with RawClient(server.url) as raw:
        assert raw.post_json("/grpcgateway/generate", b"{not json").status_code == 400
    with RawClient(server.url, buffer_bytes=4096) as small:
        body = RequestBuilder().prompt("raw client").size(256, 256).seeds(7).steps(1).build()
        with pytest.raises(ValueError, match="larger than the 4096-byte buffer"):
            small.post_json("/grpcgateway/generate", body)
