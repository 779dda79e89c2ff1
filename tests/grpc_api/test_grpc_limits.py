"""Named limits over the binary dialects: message sizes and the per-client request rate."""

from __future__ import annotations

import grpc
import httpx
import pytest

from sfumato.proto import engines_pb2, engines_pb2_grpc, generation_pb2, generation_pb2_grpc
from sfumato.testing import start_server

from .conftest import BINARY_CONFIG, text_request

SMALL_MESSAGES = BINARY_CONFIG + "\n[grpc]\nmax_receive_message_bytes = 1048576\n"
FEW_REQUESTS = BINARY_CONFIG.replace("requests_per_minute = 0", "requests_per_minute = 3")


@pytest.fixture(scope="module")
def small_messages(tmp_path_factory: pytest.TempPathFactory):
    server = start_server(tmp_path_factory.mktemp("grpc-small"), config=SMALL_MESSAGES, plugins=["test_pattern"])
    yield server
    server.stop()


def _big_request() -> generation_pb2.Request:
    request = text_request()
    artifact = generation_pb2.Artifact(type=generation_pb2.ARTIFACT_IMAGE, binary=b"\x89PNG" + bytes(2 * 1024 * 1024))
    request.prompt.append(generation_pb2.Prompt(artifact=artifact))
    return request


def test_a_message_over_max_receive_message_bytes(small_messages) -> None:
    with grpc.insecure_channel(small_messages.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            list(generation_pb2_grpc.GenerationServiceStub(channel).Generate(_big_request(), timeout=30))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    payload = _big_request().SerializeToString()
    response = httpx.post(small_messages.url + "/gooseai.GenerationService/Generate",
                          content=b"\0" + len(payload).to_bytes(4, "big") + payload,
                          headers={"content-type": "application/grpc-web+proto"}, timeout=30)
    assert response.status_code == 200
    assert b"grpc-status: 8\r\n" in response.content
    assert b"grpc.max_receive_message_bytes" in response.content


@pytest.fixture(scope="module")
def few_requests(tmp_path_factory: pytest.TempPathFactory):
    server = start_server(tmp_path_factory.mktemp("grpc-rate"), config=FEW_REQUESTS, plugins=["test_pattern"])
    yield server
    server.stop()


def test_requests_per_minute_over_native_grpc(few_requests) -> None:
    with grpc.insecure_channel(few_requests.grpc_target) as channel:
        stub = engines_pb2_grpc.EnginesServiceStub(channel)
        for _ in range(3):
            stub.ListEngines(engines_pb2.ListEnginesRequest(), timeout=30)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListEngines(engines_pb2.ListEnginesRequest(), timeout=30)
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == "too many requests: this client may send 3 per minute (quotas.requests_per_minute)"
    assert int(dict(error.trailing_metadata())["retry-after"]) >= 1
