"""proto3-JSON input rules and error paths of decode_message."""

from __future__ import annotations

import base64
import json
import math

import msgspec
import pytest

from sfumato.wire import (
    Answer,
    ArtifactType,
    AsyncHandle,
    ChannelSource,
    DiffusionSampler,
    ImageAdjustment,
    ImageAdjustmentInvert,
    ImageAdjustmentRescale,
    ListEnginesRequest,
    Request,
    SamplerNoiseType,
    U64,
)
from sfumato.wire_codec import WireError, decode_message


def decode(document: object, type_: type = Request, **options):
    return decode_message(json.dumps(document).encode(), type_, **options)


def error_of(document: object, type_: type = Request, **options) -> WireError:
    with pytest.raises(WireError) as caught:
        decode(document, type_, **options)
    return caught.value


# --- names -------------------------------------------------------------------------------------


def test_camel_case_names() -> None:
    request = decode({"engineId": "sd", "requestId": "r1", "requestedType": "ARTIFACT_IMAGE"})
    assert (request.engine_id, request.request_id) == ("sd", "r1")
    assert request.requested_type is ArtifactType.ARTIFACT_IMAGE


def test_snake_case_names() -> None:
    request = decode({"engine_id": "sd", "image": {"masked_area_init": 2,
                                                   "parameters": [{"sampler": {"cfg_scale": 5}}]}})
    assert request.engine_id == "sd"
    assert request.image.parameters[0].sampler.cfg_scale == 5.0
    assert request.image.masked_area_init.number == 2


def test_same_field_under_both_names_is_an_error() -> None:
    error = error_of({"engineId": "a", "engine_id": "b"})
    assert error.path == "engine_id"
    assert "engineId" in error.message and "twice" in error.message


def test_unknown_field_names_path_and_close_match() -> None:
    error = error_of({"prompt": [{"artifact": {"bianry": "AAAA"}}]})
    assert error.path == "prompt[0].artifact.bianry"
    assert 'did you mean "binary"' in error.message


def test_unknown_field_without_close_match_lists_known_fields() -> None:
    error = error_of({"image": {"zzzzzz": 1}})
    assert error.path == "image.zzzzzz"
    assert "known fields:" in error.message and "height" in error.message


def test_unknown_top_level_field() -> None:
    error = error_of({"engineID": "x"})
    assert error.path == "engineID"
    assert '"engineId"' in error.message


@pytest.mark.parametrize("key", ["k" * 10000, "line\nbreak"])
def test_unknown_field_from_a_client_is_shown_escaped_and_short(key: str) -> None:
    error = error_of({"image": {key: 1}})
    assert len(str(error)) < 600
    assert "\n" not in str(error)
    if len(key) > 100:
        assert "10000 characters" in error.message and error.path.startswith('image."kkk')


def test_unknown_enum_name_from_a_client_is_short() -> None:
    error = error_of({"requestedType": "X" * 10000})
    assert error.path == "requestedType" and "10000 characters" in error.message and len(error.message) < 600


def test_extended_parameter_value_names() -> None:
    request = decode({"image": {"extension": {"parameters": [
        {"name": "a", "float": 0.5}, {"name": "b", "int": "7"}, {"name": "c", "str": "x"}]}}})
    values = request.image.extension.parameters
    assert (values[0].float_value, values[1].int_value, values[2].str_value) == (0.5, 7, "x")


# --- enums -------------------------------------------------------------------------------------


def test_enum_by_number() -> None:
    request = decode({"requestedType": 500})
    assert request.requested_type is ArtifactType.ARTIFACT_LORA


def test_enum_unknown_name() -> None:
    error = error_of({"prompt": [{"artifact": {"type": "ARTIFACT_IMGE"}}]})
    assert error.path == "prompt[0].artifact.type"
    assert "ARTIFACT_IMGE" in error.message and '"ARTIFACT_IMAGE"' in error.message


def test_enum_unknown_number() -> None:
    error = error_of({"prompt": [{"artifact": {"type": 10}}]})
    assert error.path == "prompt[0].artifact.type"
    assert "unknown ArtifactType number 10" in error.message and "500 (ARTIFACT_LORA)" in error.message


def test_enum_wrong_json_type() -> None:
    error = error_of({"requestedType": True})
    assert error.path == "requestedType"
    assert "ArtifactType name or number" in error.message and "boolean" in error.message


def test_rescale_mode_gap_number_rejected() -> None:
    error = error_of({"prompt": [{"artifact": {"adjustments": [{"rescale": {"mode": 1}}]}}]})
    assert error.path == "prompt[0].artifact.adjustments[0].rescale.mode"
    assert "RescaleMode number 1" in error.message


def test_repeated_enum_by_number_and_name() -> None:
    from sfumato.wire import EngineSampler

    sampler = decode({"supportedNoiseTypes": [1, "SAMPLER_NOISE_NORMAL"]}, EngineSampler)
    assert sampler.supported_noise_types == [SamplerNoiseType.SAMPLER_NOISE_BROWNIAN,
                                             SamplerNoiseType.SAMPLER_NOISE_NORMAL]


# --- samplers (extension point) -----------------------------------------------------------------


def test_sampler_by_enum_name_and_number() -> None:
    by_name = decode({"image": {"transform": {"diffusion": "SAMPLER_K_DPMPP_2M"}}})
    by_number = decode({"image": {"transform": {"diffusion": 9}}})
    assert by_name.image.transform.diffusion == by_number.image.transform.diffusion == "SAMPLER_K_DPMPP_2M"


def test_plugin_sampler_name_passes_through() -> None:
    request = decode({"image": {"transform": {"diffusion": "SAMPLER_UNIPC"}}})
    assert request.image.transform.diffusion == "SAMPLER_UNIPC"


def test_plugin_sampler_number_from_table() -> None:
    table = {**{m.number: m.value for m in DiffusionSampler}, 1000: "SAMPLER_UNIPC"}
    request = decode({"image": {"transform": {"diffusion": 1000}}}, samplers=table)
    assert request.image.transform.diffusion == "SAMPLER_UNIPC"


def test_unknown_sampler_number() -> None:
    error = error_of({"image": {"transform": {"diffusion": 1000}}})
    assert error.path == "image.transform.diffusion"
    assert "unknown sampler number 1000" in error.message and "3 (SAMPLER_K_EULER_ANCESTRAL)" in error.message


def test_sampler_wrong_type() -> None:
    error = error_of({"image": {"transform": {"diffusion": 2.5}}})
    assert error.path == "image.transform.diffusion"
    assert "sampler name or number" in error.message


# --- integers ------------------------------------------------------------------------------------


def test_uint64_as_string_and_number() -> None:
    request = decode({"image": {"height": "512", "width": 768, "samples": "2", "steps": 30.0}})
    image = request.image
    assert (image.height, image.width, image.samples, image.steps) == (512, 768, 2, 30)
    assert isinstance(image.height, U64)


def test_uint64_max_and_overflow() -> None:
    assert decode({"image": {"height": str(2**64 - 1)}}).image.height == 2**64 - 1
    error = error_of({"image": {"height": str(2**64)}})
    assert error.path == "image.height" and "out of range" in error.message


def test_uint64_negative() -> None:
    error = error_of({"image": {"width": "-8"}})
    assert error.path == "image.width"
    assert "unsigned 64-bit" in error.message and "negative" in error.message


def test_int_not_integral() -> None:
    error = error_of({"image": {"steps": 2.5}})
    assert error.path == "image.steps" and "not integral" in error.message


def test_int_string_not_integral() -> None:
    error = error_of({"image": {"steps": "2.5"}})
    assert error.path == "image.steps" and "not integral" in error.message


def test_int_string_with_exponent_is_accepted() -> None:
    assert decode({"image": {"steps": "3e1"}}).image.steps == 30


def test_int_garbage_string() -> None:
    error = error_of({"image": {"samples": "two"}})
    assert error.path == "image.samples" and "digits" in error.message


def test_int_boolean_rejected() -> None:
    error = error_of({"image": {"samples": True}})
    assert error.path == "image.samples" and "boolean" in error.message


def test_uint32_seed_as_string() -> None:
    assert decode({"image": {"seed": ["12", 13]}}).image.seed == [12, 13]


def test_uint32_seed_out_of_range() -> None:
    error = error_of({"image": {"seed": [1, 2**32]}})
    assert error.path == "image.seed[1]"
    assert "32-bit" in error.message and "out of range" in error.message


def test_int32_status_code_negative_allowed() -> None:
    from sfumato.wire import AsyncStatus

    assert decode({"code": "-3"}, AsyncStatus).code == -3


def test_int64_tensor_shape_strings() -> None:
    request = decode({"prompt": [{"artifact": {"tensor": {"shape": ["2", 3, "-1"]}}}]})
    assert request.prompt[0].artifact.tensor.shape == [2, 3, -1]


# --- floats ------------------------------------------------------------------------------------


def test_float_as_number_and_string() -> None:
    request = decode({"image": {"parameters": [{"sampler": {"cfgScale": "7.5", "eta": 0}}]}})
    sampler = request.image.parameters[0].sampler
    assert (sampler.cfg_scale, sampler.eta) == (7.5, 0.0)


def test_float_special_strings() -> None:
    request = decode({"image": {"parameters": [{"sampler": {"cfgScale": "NaN", "eta": "-Infinity"},
                                                "schedule": {"start": "Infinity"}}]}})
    step = request.image.parameters[0]
    assert math.isnan(step.sampler.cfg_scale)
    assert step.sampler.eta == -math.inf and step.schedule.start == math.inf


def test_float_lowercase_nan_rejected() -> None:
    error = error_of({"image": {"parameters": [{"sampler": {"cfgScale": "nan"}}]}})
    assert error.path == "image.parameters[0].sampler.cfgScale"
    assert '"NaN"' in error.message


def test_float32_out_of_range() -> None:
    error = error_of({"prompt": [{"text": "x", "parameters": {"weight": 1e39}}]})
    assert error.path == "prompt[0].parameters.weight" and "32-bit float" in error.message


def test_float_wrong_type() -> None:
    error = error_of({"image": {"hires": {"oosFraction": [0.5]}}})
    assert error.path == "image.hires.oosFraction" and "expected a number" in error.message


# --- bytes -------------------------------------------------------------------------------------

PAYLOAD = bytes(range(256)) * 3 + b"\xfb\xff"


@pytest.mark.parametrize("encoding", [
    base64.b64encode(PAYLOAD).decode(),
    base64.b64encode(PAYLOAD).decode().rstrip("="),
    base64.urlsafe_b64encode(PAYLOAD).decode(),
    base64.urlsafe_b64encode(PAYLOAD).decode().rstrip("="),
], ids=["standard", "standard-unpadded", "url-safe", "url-safe-unpadded"])
def test_bytes_spellings(encoding: str) -> None:
    assert decode({"prompt": [{"artifact": {"binary": encoding}}]}).prompt[0].artifact.binary == PAYLOAD


def test_bytes_invalid_character() -> None:
    error = error_of({"prompt": [{"artifact": {"binary": "AA*A"}}]})
    assert error.path == "prompt[0].artifact.binary" and "invalid base64" in error.message


def test_bytes_mixed_alphabets() -> None:
    error = error_of({"prompt": [{"artifact": {"binary": "+-AA"}}]})
    assert error.path == "prompt[0].artifact.binary" and "mixes" in error.message


def test_bytes_impossible_length() -> None:
    error = error_of({"prompt": [{"artifact": {"binary": "AAAAA"}}]})
    assert error.path == "prompt[0].artifact.binary" and "padding" in error.message


def mime_lines(text: str, newline: str, width: int = 76) -> str:
    return newline.join(text[i:i + width] for i in range(0, len(text), width)) + newline


@pytest.mark.parametrize("encoding", [
    mime_lines(base64.b64encode(PAYLOAD).decode(), "\n"),
    mime_lines(base64.b64encode(PAYLOAD).decode(), "\r\n"),
    mime_lines(base64.b64encode(PAYLOAD).decode(), "\r\n", width=64),  # PEM style
    mime_lines(base64.b64encode(PAYLOAD).decode().rstrip("="), "\n"),
    mime_lines(base64.urlsafe_b64encode(PAYLOAD).decode(), "\n"),
    base64.b64encode(PAYLOAD).decode().replace("A", " A\t"),
], ids=["mime-lf", "mime-crlf", "pem-64", "mime-unpadded", "mime-url-safe", "spaces-and-tabs"])
def test_bytes_with_line_breaks_and_whitespace(encoding: str) -> None:
    # Both large (walker) and small (typed fast path) bodies.
    assert decode({"prompt": [{"artifact": {"binary": encoding}}]}).prompt[0].artifact.binary == PAYLOAD
    small = mime_lines(base64.b64encode(PAYLOAD[:100]).decode(), "\r\n", width=8)
    assert decode({"prompt": [{"artifact": {"binary": small}}]}).prompt[0].artifact.binary == PAYLOAD[:100]


def test_bytes_whitespace_does_not_hide_bad_padding() -> None:
    error = error_of({"prompt": [{"artifact": {"binary": "AAAA\nA"}}]})
    assert error.path == "prompt[0].artifact.binary" and "padding" in error.message


@pytest.mark.parametrize("prefix", ["data:image/png;base64,", "DATA:image/jpeg;base64,", "data:,"])
def test_bytes_data_url_is_refused_with_a_hint(prefix: str) -> None:
    error = error_of({"prompt": [{"text": "x"}, {"artifact": {"binary": prefix + base64.b64encode(PAYLOAD).decode()}}]})
    assert error.path == "prompt[1].artifact.binary"
    assert "data: URL" in error.message and "bare base64" in error.message


def test_bytes_wrong_type() -> None:
    error = error_of({"prompt": [{"artifact": {"binary": 12}}]})
    assert error.path == "prompt[0].artifact.binary" and "base64 string" in error.message


# --- null, presence, types -------------------------------------------------------------------


def test_null_means_unset() -> None:
    request = decode({"engineId": None, "image": {"height": None, "seed": None, "transform": None},
                      "prompt": None})
    assert request.engine_id == "" and request.prompt == []
    assert request.image.height is None and request.image.seed == [] and request.image.transform is None


def test_null_inside_array_rejected() -> None:
    error = error_of({"prompt": [{"text": "a"}, None]})
    assert error.path == "prompt[1]" and "null" in error.message


def test_optional_zero_is_set() -> None:
    request = decode({"prompt": [{"text": "a", "parameters": {"weight": 0}}]})
    assert request.prompt[0].parameters.weight == 0.0
    assert request.prompt[0].parameters.init is None


def test_wrong_json_type_for_message() -> None:
    error = error_of({"image": "big"})
    assert error.path == "image"
    assert "expected an object (ImageParameters)" in error.message


def test_wrong_json_type_for_array() -> None:
    error = error_of({"prompt": {"text": "a"}})
    assert error.path == "prompt" and "expected an array" in error.message


def test_wrong_json_type_for_string() -> None:
    error = error_of({"prompt": [{"text": 5}]})
    assert error.path == "prompt[0].text" and "expected a string" in error.message


def test_wrong_json_type_for_bool() -> None:
    error = error_of({"image": {"tiling": "true"}})
    assert error.path == "image.tiling" and "true or false" in error.message


def test_extras_must_be_object() -> None:
    error = error_of({"extras": ["preset"]})
    assert error.path == "extras" and "expected an object" in error.message


def test_extras_free_object() -> None:
    request = decode({"extras": {"$IPC": {"preset": "anime", "n": [1, None]}}})
    assert request.extras == {"$IPC": {"preset": "anime", "n": [1, None]}}


# --- oneof -------------------------------------------------------------------------------------


def test_oneof_prompt_two_members() -> None:
    error = error_of({"prompt": [{"text": "a"}, {"text": "b", "artifact": {"type": 1}}]})
    assert error.path == "prompt[1]"
    assert '"text"' in error.message and '"artifact"' in error.message and "oneof prompt" in error.message


def test_oneof_artifact_data() -> None:
    error = error_of({"prompt": [{"artifact": {"binary": "AAAA", "text": "x"}}]})
    assert error.path == "prompt[0].artifact"
    assert '"binary"' in error.message and '"text"' in error.message


def test_oneof_adjustment_kinds() -> None:
    error = error_of({"prompt": [{"artifact": {"adjustments": [{"invert": {}, "blur": {"sigma": 2}}]}}]})
    assert error.path == "prompt[0].artifact.adjustments[0]"
    assert '"invert"' in error.message and '"blur"' in error.message


def test_oneof_transform() -> None:
    error = error_of({"image": {"transform": {"diffusion": 1, "upscaler": "UPSCALER_RGB"}}})
    assert error.path == "image.transform" and "oneof type" in error.message


def test_oneof_member_set_to_null_does_not_count() -> None:
    request = decode({"prompt": [{"text": "a", "artifact": None}]})
    assert request.prompt[0].text == "a"


def test_oneof_member_at_default_is_set() -> None:
    request = decode({"prompt": [{"text": ""}]})
    assert request.prompt[0].text == ""


# --- adjustments (extension point) --------------------------------------------------------------


class SoftDilate(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    sigma: float = 0.0
    passes: int = 1


def test_builtin_adjustments() -> None:
    request = decode({"prompt": [{"artifact": {"adjustments": [
        {"invert": {}}, {"channels": {"r": "CHANNEL_A", "a": 6}},
        {"levels": {"inputLow": 0, "inputHigh": "0.5", "outputLow": 0, "outputHigh": 1}},
        {"crop": {"top": "1", "left": 2, "width": "3", "height": 4}}]}}]})
    adjustments = request.prompt[0].artifact.adjustments
    assert adjustments[0].invert == ImageAdjustmentInvert()
    assert adjustments[1].channels.r is ChannelSource.CHANNEL_A
    assert adjustments[1].channels.a is ChannelSource.CHANNEL_DISCARD
    assert adjustments[1].channels.g is None
    assert adjustments[2].levels.input_high == 0.5
    assert (adjustments[3].crop.width, adjustments[3].crop.height) == (3, 4)


def test_plugin_adjustment_decodes_into_extra() -> None:
    request = decode({"prompt": [{"artifact": {"postAdjustments": [{"softDilate": {"sigma": "2", "passes": 3}}]}}]},
                     adjustments={"softDilate": SoftDilate})
    adjustment = request.prompt[0].artifact.post_adjustments[0]
    assert adjustment.extra == {"softDilate": SoftDilate(sigma=2.0, passes=3)}
    assert adjustment.blur is None


def test_plugin_adjustment_unknown_without_registry() -> None:
    error = error_of({"prompt": [{"artifact": {"adjustments": [{"softDilate": {}}]}}]})
    assert error.path == "prompt[0].artifact.adjustments[0].softDilate"
    assert "unknown field" in error.message


def test_plugin_adjustment_bad_params_path() -> None:
    error = error_of({"prompt": [{"artifact": {"adjustments": [{"softDilate": {"sigmaa": 1}}]}}]},
                     adjustments={"softDilate": SoftDilate})
    assert error.path == "prompt[0].artifact.adjustments[0].softDilate.sigmaa"
    assert 'did you mean "sigma"' in error.message


def test_plugin_adjustment_with_builtin_is_oneof_error() -> None:
    error = error_of({"prompt": [{"artifact": {"adjustments": [{"softDilate": {}, "invert": {}}]}}]},
                     adjustments={"softDilate": SoftDilate})
    assert '"invert"' in error.message and '"softDilate"' in error.message


def test_extra_is_not_a_json_key() -> None:
    error = error_of({"prompt": [{"artifact": {"adjustments": [{"extra": {}}]}}]})
    assert error.path == "prompt[0].artifact.adjustments[0].extra" and "unknown field" in error.message


def test_adjustment_constructed_with_two_kinds_raises() -> None:
    with pytest.raises(ValueError, match="oneof adjustment"):
        ImageAdjustment(invert=ImageAdjustmentInvert(), rescale=ImageAdjustmentRescale())


# --- whole body --------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"  \n", "  "])
def test_empty_body_is_empty_message(body: bytes | str) -> None:
    assert decode_message(body, AsyncHandle) == AsyncHandle()
    assert decode_message(body, ListEnginesRequest) == ListEnginesRequest()


def test_empty_object() -> None:
    assert decode({}) == Request()


def test_invalid_json() -> None:
    with pytest.raises(WireError) as caught:
        decode_message(b'{"engineId": ', Request)
    assert caught.value.path == "" and "not valid JSON" in caught.value.message


def test_top_level_not_object() -> None:
    error = error_of([1, 2])
    assert error.path == "" and "expected a JSON object (Request)" in error.message


def test_upstream_fields_are_known() -> None:
    request = decode({"accept": "image/png", "extras": {"$IPC": {"preset": "anime"}},
                      "image": {"adapter": {"adapterStrength": 0.4, "adapterType": "T2IADAPTER_DEPTH"},
                                "maskedAreaInit": "MASKED_AREA_INIT_ORIGINAL", "weightMethod": 1,
                                "quantize": False, "caiParameters": {"modelMetadata": 1},
                                "fineTuningParameters": [{"modelId": "m", "weight": 0.5}],
                                "parameters": [{"sampler": {"initNoiseScale": 1, "stepNoiseScale": 0.5}}]}})
    image = request.image
    assert request.accept == "image/png" and image.quantize is False
    assert image.adapter.adapter_strength == pytest.approx(0.4)
    assert image.weight_method.value == "CROSS_ATTENTION"
    assert image.fine_tuning_parameters[0].model_id == "m"
    assert image.parameters[0].sampler.step_noise_scale == 0.5


def test_list_engines_task_group() -> None:
    assert decode({"taskGroup": "UPSCALE"}, ListEnginesRequest).task_group.number == 1


def test_wire_error_str_has_path() -> None:
    error = error_of({"image": {"height": "x"}})
    assert str(error).startswith("image.height: ")


def test_canonical_fast_path_and_fallback_agree() -> None:
    canonical = {"engineId": "e", "image": {"height": "512", "seed": [1],
                                            "transform": {"diffusion": "SAMPLER_DDIM"}},
                 "prompt": [{"artifact": {"type": "ARTIFACT_IMAGE", "binary": base64.b64encode(PAYLOAD).decode()}}]}
    lenient = {"engine_id": "e", "image": {"height": 512, "seed": ["1"], "transform": {"diffusion": 0}},
               "prompt": [{"artifact": {"type": 1, "binary": base64.urlsafe_b64encode(PAYLOAD).decode().rstrip("=")}}]}
    assert decode(canonical) == decode(lenient)


def test_answer_decodes() -> None:
    answer = decode({"answerId": "a", "received": "5", "artifacts": [{"finishReason": "FILTER", "seed": 4}]}, Answer)
    assert answer.received == 5 and answer.artifacts[0].finish_reason.value == "FILTER"
