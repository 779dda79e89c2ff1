"""gRPC-web on the HTTP port: sonora's client for Generate (a stream), the Async* calls and
ListEngines; the text variant, trailers in the body, CORS, and refusals as gRPC statuses."""

from __future__ import annotations

import base64
import struct
import time

import grpc
import httpx
import pytest
from google.rpc import status_pb2

from sfumato.proto import (
    dashboard_pb2,
    dashboard_pb2_grpc,
    engines_pb2,
    engines_pb2_grpc,
    generation_pb2,
    generation_pb2_grpc,
)
from sfumato.testing import RunningServer, start_server

from .conftest import BINARY_CONFIG, WebChannel, decode, text_request
from .test_native_grpc import BAD_REQUESTS, json_error


@pytest.fixture(scope="module")
def web_channel(binary_server: RunningServer):
    with WebChannel(binary_server.url) as channel:
        yield channel


def frames(body: bytes) -> list[tuple[int, bytes]]:
    out, offset = [], 0
    while offset < len(body):
        flags, length = struct.unpack_from(">BI", body, offset)
        out.append((flags, body[offset + 5 : offset + 5 + length]))
        offset += 5 + length
    return out


def trailers(payload: bytes) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in payload.decode("ascii").split("\r\n") if line)


def test_generate_streams_over_grpc_web(web_channel) -> None:
    stub = generation_pb2_grpc.GenerationServiceStub(web_channel)
    answers = list(stub.Generate(text_request(samples=2, seeds=(3, 4))))
    assert sorted(answer.artifacts[0].seed for answer in answers) == [3, 4]
    assert all(decode(answer.artifacts[0].binary).size == (64, 64) for answer in answers)


def test_async_calls_over_grpc_web(web_channel) -> None:
    stub = generation_pb2_grpc.GenerationServiceStub(web_channel)
    handle = stub.AsyncGenerate(text_request(seeds=(9,)))
    seeds: list[int] = []
    deadline = time.monotonic() + 30
    while True:
        result = stub.AsyncResult(handle)
        seeds += [artifact.seed for answer in result.answer for artifact in answer.artifacts]
        if result.complete:
            break
        assert time.monotonic() < deadline
    assert seeds == [9] and result.status.code == 0
    stub.AsyncCancel(stub.AsyncGenerate(text_request()))  # cancelling is answered with the empty message


def test_list_engines_and_get_me_over_grpc_web(web_channel) -> None:
    engines = engines_pb2_grpc.EnginesServiceStub(web_channel).ListEngines(engines_pb2.ListEnginesRequest())
    assert [engine.id for engine in engines.engine] == ["test-pattern", "slow-pattern"]
    me = dashboard_pb2_grpc.DashboardServiceStub(web_channel).GetMe(dashboard_pb2.EmptyRequest())
    assert me.id == "local"


def test_errors_are_grpc_statuses_with_the_json_message(binary_server, web_channel) -> None:
    stub = generation_pb2_grpc.GenerationServiceStub(web_channel)
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.Generate(text_request(engine="no-such-engine")))
    body = binary_server.post("/grpcgateway/generate", {"engineId": "no-such-engine", "prompt": [{"text": "x"}]}).json()
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == body["message"]


def _call(server: RunningServer, path: str, payload: bytes, *, text: bool = False, **headers: str) -> httpx.Response:
    body = struct.pack(">BI", 0, len(payload)) + payload
    content_type = "application/grpc-web-text" if text else "application/grpc-web+proto"
    # (a trailing line break, as `base64` on the command line writes it, is allowed)
    return httpx.post(server.url + path, content=base64.b64encode(body) + b"\n" if text else body,
                      headers={"content-type": content_type, "x-grpc-web": "1", **headers}, timeout=60)


def test_the_text_variant_streams_base64_frames(binary_server) -> None:
    response = _call(binary_server, "/gooseai.GenerationService/Generate",
                     text_request(samples=2, seeds=(1, 2)).SerializeToString(), text=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/grpc-web-text")
    # Each frame is base64 on its own (padded), so the text decodes four characters at a time.
    text = response.content
    assert len(text) % 4 == 0
    raw = b"".join(base64.b64decode(text[i : i + 4]) for i in range(0, len(text), 4))
    decoded = frames(raw)
    assert [flags for flags, _ in decoded] == [0, 0, 0x80]
    assert trailers(decoded[-1][1])["grpc-status"] == "0"
    assert {generation_pb2.Answer.FromString(data).artifacts[0].seed for _, data in decoded[:2]} == {1, 2}


def test_trailers_carry_the_status_detail(binary_server) -> None:
    response = _call(binary_server, "/gooseai.GenerationService/Generate", b"\xff\xff\xff")
    (flags, payload), = frames(response.content)
    fields = trailers(payload)
    assert flags == 0x80 and fields["grpc-status"] == str(grpc.StatusCode.INVALID_ARGUMENT.value[0])
    detail = fields["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(base64.b64decode(detail + "=" * (-len(detail) % 4)))
    assert status.code == 3 and "not a valid gooseai.Request" in status.message


def test_bad_framing_is_invalid_argument(binary_server) -> None:
    request = text_request().SerializeToString()
    truncated = httpx.post(binary_server.url + "/gooseai.GenerationService/Generate",
                           content=struct.pack(">BI", 0, len(request) + 10) + request,
                           headers={"content-type": "application/grpc-web+proto"})
    assert trailers(frames(truncated.content)[-1][1])["grpc-status"] == "3"
    not_grpc_web = httpx.post(binary_server.url + "/gooseai.GenerationService/Generate", content=b"{}",
                              headers={"content-type": "application/json"})
    assert not_grpc_web.status_code == 415 and not_grpc_web.json()["code"] == 3


def test_cors_follows_server_cors_origins(binary_server) -> None:
    preflight = httpx.options(binary_server.url + "/gooseai.GenerationService/Generate", headers={
        "origin": "http://app.example", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-grpc-web,authorization"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == "http://app.example"
    response = _call(binary_server, "/gooseai.EnginesService/ListEngines", b"", origin="http://app.example")
    assert response.headers["access-control-allow-origin"] == "http://app.example"
    other = _call(binary_server, "/gooseai.EnginesService/ListEngines", b"", origin="http://evil.example")
    assert "access-control-allow-origin" not in other.headers


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory):
    server = start_server(tmp_path_factory.mktemp("grpc-web-keys"), config=BINARY_CONFIG, plugins=["test_pattern"],
                          api_key="sk-web")
    yield server
    server.stop()


def test_api_keys_over_grpc_web(keyed_server) -> None:
    with WebChannel(keyed_server.url) as channel:
        stub = engines_pb2_grpc.EnginesServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListEngines(engines_pb2.ListEnginesRequest())
        refused = httpx.get(keyed_server.url + "/grpcgateway/engines").json()
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert caught.value.details() == refused["message"]
        engines = stub.ListEngines(engines_pb2.ListEnginesRequest(), metadata=[("authorization", "Bearer sk-web")])
        assert engines.engine


def test_an_unknown_method_is_unimplemented(binary_server) -> None:
    response = _call(binary_server, "/gooseai.GenerationService/Nope", b"")
    fields = trailers(frames(response.content)[-1][1])
    assert fields["grpc-status"] == str(grpc.StatusCode.UNIMPLEMENTED.value[0])
    assert "Generate" in fields["grpc-message"]


def test_native_grpc_keys_and_open_health(keyed_server) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(keyed_server.grpc_target) as channel:
        stub = engines_pb2_grpc.EnginesServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListEngines(engines_pb2.ListEnginesRequest(), timeout=30)
        refused = httpx.get(keyed_server.url + "/grpcgateway/engines").json()
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert caught.value.details() == refused["message"]
        assert stub.ListEngines(engines_pb2.ListEnginesRequest(), timeout=30,
                                metadata=[("authorization", "Bearer sk-web")]).engine
        # Probes hold no key, as with /healthz.
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_a_client_that_disconnects_cancels_its_job(binary_server) -> None:
    request = text_request(engine="slow-pattern", samples=4, seeds=(1, 2, 3, 4), steps=20)
    request.request_id = "grpc-web-disconnect-1"
    request.image.extension.parameters.add(name="step_delay_ms", int=50)
    payload = request.SerializeToString()
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", binary_server.url + "/gooseai.GenerationService/Generate",
                           content=struct.pack(">BI", 0, len(payload)) + payload,
                           headers={"content-type": "application/grpc-web+proto"}) as response:
            next(response.iter_raw())  # the first image has arrived; leave with three to go
    deadline = time.monotonic() + 10
    while "job grpc-web-disconnect-1 on slow-pattern: CANCELLED" not in binary_server.log():
        assert time.monotonic() < deadline, binary_server.log()[-3000:]
        time.sleep(0.05)


@pytest.mark.parametrize("mutate", BAD_REQUESTS, ids=lambda mutate: mutate.__name__.strip("_"))
def test_bad_requests_over_grpc_web_get_the_json_routes_code_and_message(binary_server, web_channel, mutate) -> None:
    request = text_request()
    mutate(request)
    stub = generation_pb2_grpc.GenerationServiceStub(web_channel)
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.Generate(request))
    assert caught.value.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
    assert (caught.value.code().name, caught.value.details()) == json_error(binary_server, request)
