"""The same request gives the same image bytes over proto3 JSON, native gRPC and gRPC-web."""

from __future__ import annotations

import base64

import pytest
from google.protobuf import json_format

from sfumato.proto import generation_pb2, generation_pb2_grpc
from sfumato.testing import RunningServer

from .conftest import WebChannel, png, text_request


def _with_images(request: generation_pb2.Request) -> generation_pb2.Request:
    request.image.parameters.add().schedule.start = 0.7
    for kind, data in ((generation_pb2.ARTIFACT_IMAGE, png(96, 96, seed=5)),
                       (generation_pb2.ARTIFACT_MASK, png(96, 96, seed=6, mode="L"))):
        request.prompt.append(generation_pb2.Prompt(artifact=generation_pb2.Artifact(type=kind, binary=data)))
    return request


def _sampled(request: generation_pb2.Request) -> generation_pb2.Request:
    request.image.transform.diffusion = generation_pb2.SAMPLER_DDIM
    request.image.parameters.add().sampler.cfg_scale = 11.5
    return request


CASES = {
    "text-to-image": lambda: text_request(size=96, samples=2, seeds=(21, 22)),
    "init-and-mask": lambda: _with_images(text_request(size=96)),
    "sampler-and-cfg": lambda: _sampled(text_request(size=96)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_pngs_over_every_dialect(binary_server: RunningServer, generation, case: str) -> None:
    request = CASES[case]()
    over_json = {answer["artifacts"][0]["seed"]: base64.b64decode(answer["artifacts"][0]["binary"])
                 for answer in binary_server.generate(json_format.MessageToDict(request))}
    over_grpc = {answer.artifacts[0].seed: answer.artifacts[0].binary for answer in generation.Generate(request, timeout=60)}
    with WebChannel(binary_server.url) as channel:
        answers = generation_pb2_grpc.GenerationServiceStub(channel).Generate(request)
        over_web = {answer.artifacts[0].seed: answer.artifacts[0].binary for answer in answers}
    assert len(over_json) == max(1, request.image.samples)
    assert over_grpc == over_json
    assert over_web == over_json
