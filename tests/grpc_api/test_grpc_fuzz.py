"""Random bytes and mutated valid Requests sent to Generate (native gRPC and gRPC-web, binary and
text) never get INTERNAL or UNKNOWN."""

from __future__ import annotations

import base64

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfumato.proto import generation_pb2

from .conftest import png, text_request

SERVER_ERRORS = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}


def _valid() -> bytes:
    request = text_request(size=64, samples=2, seeds=(1, 2))
    request.image.transform.diffusion = generation_pb2.SAMPLER_K_EULER
    request.image.parameters.add().sampler.cfg_scale = 7.0
    request.prompt.append(generation_pb2.Prompt(artifact=generation_pb2.Artifact(type=generation_pb2.ARTIFACT_IMAGE,
                                                                                 binary=png(16, 16))))
    return request.SerializeToString()


VALID = _valid()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "varint"]))
        if action == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete" and len(data) > 1:
            del data[position:position + draw(st.integers(1, 8))]
        else:  # a huge varint where a small one stood
            data[position:position + 1] = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
    return bytes(data)


@pytest.fixture(scope="module")
def raw_generate(channel):
    return channel.unary_stream("/gooseai.GenerationService/Generate", request_serializer=None,
                                response_deserializer=generation_pb2.Answer.FromString)


def _outcome(raw_generate, data: bytes) -> None:
    try:
        for _ in raw_generate(data, timeout=30):
            pass
    except grpc.RpcError as error:
        assert error.code() not in SERVER_ERRORS, (error.code(), error.details(), data[:200])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=512))
def test_random_bytes(raw_generate, data: bytes) -> None:
    _outcome(raw_generate, data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_mutated_requests(raw_generate, data: bytes) -> None:
    _outcome(raw_generate, data)


@pytest.fixture(scope="module")
def web_client(binary_server):
    with httpx.Client(base_url=binary_server.url, timeout=30) as client:
        yield client


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=256), mutated().map(lambda message: _framed(message)),
                      mutated().map(lambda message: base64.b64encode(_framed(message)))),
       text=st.booleans())
def test_grpc_web_bodies(web_client, data: bytes, text: bool) -> None:
    content_type = "application/grpc-web-text" if text else "application/grpc-web+proto"
    response = web_client.post("/gooseai.GenerationService/Generate", content=data,
                               headers={"content-type": content_type})
    assert response.status_code == 200
    body = response.content
    if text:  # separately padded base64 chunks decode four characters at a time
        body = b"".join(base64.b64decode(body[i:i + 4]) for i in range(0, len(body), 4))
    status = body[body.rindex(b"grpc-status: ") + len(b"grpc-status: "):].split(b"\r\n", 1)[0]
    assert int(status) not in (2, 13), body[-500:]


def _framed(message: bytes) -> bytes:
    return b"\0" + len(message).to_bytes(4, "big") + message
