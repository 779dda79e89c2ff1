"""Native gRPC against a real server: every method, the error codes and messages of the
JSON routes (with the google.rpc.Status detail), message limits, health and reflection."""

from __future__ import annotations

import math
import time

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from sfumato.proto import dashboard_pb2, dashboard_pb2_grpc, engines_pb2, engines_pb2_grpc, generation_pb2
from sfumato.testing import RunningServer

from .conftest import decode, png, text_request

SERVER_ERRORS = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}


def generate(generation, request: generation_pb2.Request) -> list[generation_pb2.Answer]:
    return list(generation.Generate(request, timeout=60))


def json_error(server: RunningServer, request: generation_pb2.Request) -> tuple[str, str]:
    """The (code name, message) the JSON route gives for the same request."""
    from sfumato.errors import Code

    response = server.post("/grpcgateway/generate", json_format.MessageToJson(request))
    assert response.status_code >= 400, response.text[:300]
    body = response.json()
    return Code(body["code"]).name, body["message"]


def test_generate_streams_one_answer_per_image(generation) -> None:
    answers = generate(generation, text_request(samples=3, seeds=(1, 2, 3)))
    artifacts = [artifact for answer in answers for artifact in answer.artifacts]
    assert sorted(artifact.seed for artifact in artifacts) == [1, 2, 3]
    for artifact in artifacts:
        assert artifact.type == generation_pb2.ARTIFACT_IMAGE and artifact.mime == "image/png"
        assert decode(artifact.binary).size == (64, 64)
        assert artifact.size == len(artifact.binary)
    assert all(answer.meta.engine_id == "test-pattern" for answer in answers)


def test_a_sampler_by_number_changes_the_image(generation) -> None:
    plain = generate(generation, text_request())[0].artifacts[0].binary
    request = text_request()
    request.image.transform.diffusion = generation_pb2.SAMPLER_K_EULER_ANCESTRAL
    assert generate(generation, request)[0].artifacts[0].binary != plain


def test_init_image_and_mask(generation) -> None:
    request = text_request(size=128)
    request.image.parameters.add().schedule.start = 0.5
    init = generation_pb2.Artifact(type=generation_pb2.ARTIFACT_IMAGE, binary=png(128, 128, seed=1))
    mask = generation_pb2.Artifact(type=generation_pb2.ARTIFACT_MASK, binary=png(128, 128, seed=2, mode="L"))
    request.prompt.extend([generation_pb2.Prompt(artifact=init), generation_pb2.Prompt(artifact=mask)])
    with_init = generate(generation, request)[0].artifacts[0].binary
    assert decode(with_init).size == (128, 128)
    assert with_init != generate(generation, text_request(size=128))[0].artifacts[0].binary


def test_a_16_mib_init_image_passes_the_default_limits(generation) -> None:
    init = png(2048, 2048, seed=3, mode="RGBA")
    assert len(init) > 16 * 1024 * 1024
    request = text_request()
    request.prompt.append(generation_pb2.Prompt(artifact=generation_pb2.Artifact(type=generation_pb2.ARTIFACT_IMAGE,
                                                                                  binary=init)))
    assert decode(generate(generation, request)[0].artifacts[0].binary).size == (64, 64)


def test_async_generate_result_and_cancel(generation) -> None:
    handle = generation.AsyncGenerate(text_request(samples=2, seeds=(4, 5)), timeout=30)
    assert handle.async_handle and handle.request_id
    seeds: list[int] = []
    deadline = time.monotonic() + 30
    while True:
        result = generation.AsyncResult(handle, timeout=30)
        seeds += [artifact.seed for answer in result.answer for artifact in answer.artifacts]
        if result.complete:
            break
        assert time.monotonic() < deadline
    assert result.status.code == 0 and sorted(seeds) == [4, 5]

    slow = text_request(engine="slow-pattern", steps=50)
    slow.image.extension.parameters.add(name="step_delay_ms", int=50)
    handle = generation.AsyncGenerate(slow, timeout=30)
    generation.AsyncCancel(handle, timeout=30)
    while not (result := generation.AsyncResult(handle, timeout=30)).complete:
        pass
    assert result.status.code == grpc.StatusCode.CANCELLED.value[0]


def test_chain_generate_runs_a_single_stage(generation) -> None:
    chain = generation_pb2.ChainRequest(request_id="chain-1", stage=[generation_pb2.Stage(id="s", request=text_request())])
    answers = list(generation.ChainGenerate(chain, timeout=60))
    assert answers[0].request_id == "chain-1"
    assert answers[0].artifacts[0].binary == generate(generation, text_request())[0].artifacts[0].binary


def test_chain_generate_refuses_several_stages(generation) -> None:
    chain = generation_pb2.ChainRequest(stage=[generation_pb2.Stage(request=text_request())] * 2)
    with pytest.raises(grpc.RpcError) as caught:
        list(generation.ChainGenerate(chain, timeout=30))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "2 stages" in caught.value.details()


def test_list_engines_and_get_me(channel) -> None:
    engines = engines_pb2_grpc.EnginesServiceStub(channel).ListEngines(engines_pb2.ListEnginesRequest(), timeout=30)
    ids = [engine.id for engine in engines.engine]
    assert ids == ["test-pattern", "slow-pattern"]
    samplers = {sampler.sampler for sampler in engines.engine[0].supported_samplers}
    assert generation_pb2.SAMPLER_K_EULER in samplers
    me = dashboard_pb2_grpc.DashboardServiceStub(channel).GetMe(dashboard_pb2.EmptyRequest(), timeout=30)
    assert me.id == "local" and me.organizations[0].is_default


def test_the_engines_match_the_json_route(binary_server, channel) -> None:
    engines = engines_pb2_grpc.EnginesServiceStub(channel).ListEngines(engines_pb2.ListEnginesRequest(), timeout=30)
    ours = json_format.MessageToDict(engines)
    theirs = binary_server.client().get("/grpcgateway/engines").json()
    assert ours == theirs


def _unknown_enum(request: generation_pb2.Request) -> None:
    request.requested_type = 999


def _unknown_sampler(request: generation_pb2.Request) -> None:
    request.image.transform.diffusion = 9999


def _too_wide(request: generation_pb2.Request) -> None:
    request.image.width = 4096


def _not_an_image(request: generation_pb2.Request) -> None:
    request.prompt.append(generation_pb2.Prompt(artifact=generation_pb2.Artifact(type=generation_pb2.ARTIFACT_IMAGE,
                                                                                 binary=b"not a png")))


def _unknown_engine(request: generation_pb2.Request) -> None:
    request.engine_id = "no-such-engine"


def _too_many_samples(request: generation_pb2.Request) -> None:
    request.image.samples = 100


def _nan_cfg(request: generation_pb2.Request) -> None:
    request.image.parameters.add().sampler.cfg_scale = math.nan


def _prompt_too_long(request: generation_pb2.Request) -> None:
    request.prompt[0].text = "fox " * 10_000


def _unknown_extension(request: generation_pb2.Request) -> None:
    request.image.extension.parameters.add(name="no_such_parameter", float=1.0)


BAD_REQUESTS = [_unknown_enum, _unknown_sampler, _too_wide, _not_an_image, _unknown_engine, _too_many_samples,
                _nan_cfg, _prompt_too_long, _unknown_extension]


@pytest.mark.parametrize("mutate", BAD_REQUESTS, ids=lambda mutate: mutate.__name__.strip("_"))
def test_bad_requests_get_the_json_routes_code_and_message(binary_server, generation, mutate) -> None:
    request = text_request()
    mutate(request)
    with pytest.raises(grpc.RpcError) as caught:
        generate(generation, request)
    error = caught.value
    assert error.code() not in SERVER_ERRORS
    assert (error.code().name, error.details()) == json_error(binary_server, request)
    status = rpc_status.from_call(error)  # the google.rpc.Status detail carries the same
    assert (status.code, status.message) == (error.code().value[0], error.details())


def test_a_message_that_is_not_protobuf_is_invalid_argument(channel) -> None:
    raw = channel.unary_stream("/gooseai.GenerationService/Generate", request_serializer=None,
                               response_deserializer=generation_pb2.Answer.FromString)
    with pytest.raises(grpc.RpcError) as caught:
        list(raw(b"\xff\xff\xff\xff", timeout=30))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid gooseai.Request" in caught.value.details()


def test_async_result_needs_a_known_handle(binary_server, generation) -> None:
    for handle, json_body in ((generation_pb2.AsyncHandle(), {}), (generation_pb2.AsyncHandle(async_handle="nope"),
                                                                    {"asyncHandle": "nope"})):
        with pytest.raises(grpc.RpcError) as caught:
            generation.AsyncResult(handle, timeout=30)
        body = binary_server.post("/grpcgateway/asyncResult", json_body).json()
        assert (caught.value.code().value[0], caught.value.details()) == (body["code"], body["message"])


def test_health_and_reflection(channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "gooseai.GenerationService"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=30)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                              timeout=30)
    names = {service.name for reply in replies for service in reply.list_services_response.service}
    assert {"gooseai.GenerationService", "gooseai.EnginesService", "gooseai.DashboardService",
            "grpc.health.v1.Health"} <= names


def test_cancelling_a_call_cancels_its_job(binary_server, generation) -> None:
    request = text_request(engine="slow-pattern", samples=4, seeds=(1, 2, 3, 4), steps=20)
    request.request_id = "grpc-cancel-1"
    request.image.extension.parameters.add(name="step_delay_ms", int=50)
    call = generation.Generate(request, timeout=60)
    assert next(call).artifacts  # one image done (1 s); three still to come
    call.cancel()
    deadline = time.monotonic() + 10
    while "job grpc-cancel-1 on slow-pattern: CANCELLED" not in binary_server.log():
        assert time.monotonic() < deadline, binary_server.log()[-3000:]
        time.sleep(0.05)
    assert "job grpc-cancel-1 on slow-pattern: CANCELLED, 4/4 images" not in binary_server.log()
