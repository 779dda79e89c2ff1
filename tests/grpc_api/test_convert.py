"""protobuf <-> wire conversion, checked against protobuf's own JSON parser and printer."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format

from sfumato import wire
from sfumato.api.grpc.convert import to_proto, to_wire
from sfumato.proto import engines_pb2, generation_pb2
from sfumato.wire_codec import WireError, decode_message, encode_message

RICH_REQUEST = {
    "engineId": "sd", "requestId": "r-1", "requestedType": "ARTIFACT_IMAGE", "accept": "image/png",
    "prompt": [
        {"text": "a lighthouse", "parameters": {"weight": 1.5, "init": False}},
        {"tokens": {"tokens": [{"id": 5, "text": "a"}, {"id": 7}], "tokenizerId": "clip"}},
        {"artifact": {"type": "ARTIFACT_IMAGE", "mime": "image/png", "binary": "iVBORw0KGgo=", "magic": "x",
                      "adjustments": [{"blur": {"sigma": 2.5, "direction": "DIRECTION_UP"}}, {"invert": {}},
                                      {"levels": {"inputLow": 0.1, "inputHigh": 0.9}},
                                      {"channels": {"r": "CHANNEL_G", "a": "CHANNEL_ONE"}},
                                      {"rescale": {"height": "64", "width": "32", "mode": "RESCALE_FIT",
                                                   "algorithmHint": ["lanczos"]}},
                                      {"crop": {"top": "1", "left": "2", "width": "3", "height": "4"}}],
                      "postAdjustments": [{"invert": {}}]}},
        {"artifact": {"type": "ARTIFACT_LORA", "lora": {"target": "LORA_TEXT_ENCODER", "tensors": [
            {"dtype": "DT_FLOAT16", "shape": ["2", "3"], "data": "AAECAwQFBgcICQoL", "attrType": "AT_BUFFER"}]}}},
        {"artifact": {"type": "ARTIFACT_TENSOR", "tensor": {"dtype": "DT_FLOAT32", "shape": ["1"], "data": "AACAPw=="}}},
    ],
    "image": {
        "height": "512", "width": "768", "seed": [1, 4294967295], "samples": "2", "steps": "30",
        "transform": {"diffusion": "SAMPLER_K_DPMPP_2M"},
        "parameters": [{"scaledStep": 0.5,
                        "sampler": {"eta": 0.25, "cfgScale": 7.5, "samplingSteps": "20", "initNoiseScale": 1.0,
                                    "churn": {"churn": 0.5, "churnTmin": 0.1}, "noiseType": "SAMPLER_NOISE_BROWNIAN",
                                    "sigma": {"sigmaMin": 0.01, "karrasRho": 7.0}},
                        "schedule": {"start": 0.75, "end": 0.0},
                        "guidance": {"guidancePreset": "GUIDANCE_PRESET_SLOW", "instances": [
                            {"models": [{"architecture": "MODEL_ARCHITECTURE_CLIP_VIT", "alias": "clip", "version": 1.5}],
                             "guidanceStrength": 0.25, "schedule": [{"duration": 1.0, "value": 0.5}],
                             "cutouts": {"count": 4, "cutouts": [{"gray": 0.5}]},
                             "prompt": {"text": "guide"}}]}}],
        "maskedAreaInit": "MASKED_AREA_INIT_ORIGINAL", "weightMethod": "CROSS_ATTENTION", "quantize": True,
        "caiParameters": {"modelMetadata": "MODEL_METADATA_SIGN_WITH_ENGINE_ID"},
        "adapter": {"adapterType": "T2IADAPTER_DEPTH", "adapterStrength": 0.5},
        "fineTuningParameters": [{"modelId": "ft", "weight": 0.5}],
        "extension": {"parameters": [{"name": "a", "float": 0.5}, {"name": "b", "int": "7"}, {"name": "c", "str": "x"}]},
        "hires": {"enable": True, "oosFraction": 0.5},
        "tiling": False,
    },
    "extras": {"$IPC": {"preset": "anime", "n": 1.0, "list": [1.0, "x", None, True]}},
}


def test_a_rich_request_converts_like_protobufs_own_json_parser() -> None:
    ours = decode_message(json.dumps(RICH_REQUEST), wire.Request)
    reference = json_format.Parse(json.dumps(RICH_REQUEST), generation_pb2.Request())
    converted = to_proto(ours, generation_pb2.Request)
    assert converted.SerializeToString(deterministic=True) == reference.SerializeToString(deterministic=True)
    assert to_wire(reference, wire.Request) == ours


def test_an_answer_prints_like_protobufs_own_json_printer() -> None:
    answer = wire.Answer(
        answer_id="a", request_id="r", received=wire.U64(1), created=wire.U64(2**40),
        meta=wire.AnswerMeta(engine_id="sd"),
        artifacts=[wire.Artifact(id=wire.U64(1), type=wire.ArtifactType.ARTIFACT_IMAGE, mime="image/png",
                                 binary=b"\x89PNG\0\xff", seed=7, index=1, finish_reason=wire.FinishReason.FILTER,
                                 size=wire.U64(6), uuid="u")])
    printed = json_format.MessageToDict(to_proto(answer, generation_pb2.Answer))
    assert printed == json.loads(encode_message(answer))


def test_engines_with_a_sampler_by_name() -> None:
    engines = wire.Engines(engine=[wire.EngineInfo(id="e", ready=True, type=wire.EngineType.PICTURE, supported_samplers=[
        wire.EngineSampler(sampler="SAMPLER_K_EULER", supports_eta=True,
                           supported_noise_types=[wire.SamplerNoiseType.SAMPLER_NOISE_BROWNIAN]),
        wire.EngineSampler(sampler="PLUGIN_SAMPLER")])])
    message = to_proto(engines, engines_pb2.Engines, sampler_numbers={"SAMPLER_K_EULER": 2, "PLUGIN_SAMPLER": 9001})
    samplers = message.engine[0].supported_samplers
    assert [sampler.sampler for sampler in samplers] == [2, 9001]
    assert list(samplers[0].supported_noise_types) == [1]


def test_unknown_enum_numbers_name_the_field() -> None:
    request = generation_pb2.Request()
    request.prompt.add().artifact.type = 77
    with pytest.raises(WireError, match=r"^prompt\[0\]\.artifact\.type: unknown ArtifactType number 77"):
        to_wire(request, wire.Request)
    request = generation_pb2.Request()
    request.image.transform.diffusion = 9001
    assert to_wire(request, wire.Request, samplers={9001: "PLUGIN_SAMPLER"}).image.transform.diffusion == "PLUGIN_SAMPLER"
    with pytest.raises(WireError, match=r"^image\.transform\.diffusion: unknown sampler number 9001"):
        to_wire(request, wire.Request)


def test_float32_values_arrive_as_their_shortest_decimal() -> None:
    request = generation_pb2.Request()
    request.image.parameters.add().schedule.start = 0.7
    assert request.image.parameters[0].schedule.start != 0.7  # widened float32
    assert to_wire(request, wire.Request).image.parameters[0].schedule.start == 0.7
