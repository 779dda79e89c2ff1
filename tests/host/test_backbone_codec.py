"""The backbone codec: jobs, image results and job ends survive the trip exactly, and bad bytes are refused."""

from __future__ import annotations

import base64
import dataclasses
import json

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sfumato import wire
from sfumato.backbone import codec
from sfumato.backbone.codec import (
    FORMAT_VERSION,
    JobEnd,
    decode_job,
    decode_job_end,
    decode_job_output,
    decode_result,
    encode_job,
    encode_job_end,
    encode_result,
)
from sfumato.config import LimitSettings
from sfumato.engines import EngineDescription, EngineLimits
from sfumato.errors import Code
from sfumato.images import encode_png
from sfumato.jobs.build import build_job
from sfumato.jobs.cancel import CancelToken
from sfumato.jobs.job import GenerationJob, HiresSettings, LoraInput, SamplerSettings, WeightedText
from sfumato.jobs.state import ImageResult
from sfumato.plugins import load_plugins
from sfumato.records import ExtensionParam
from sfumato.wire_codec import decode_message

ARRAY_FIELDS = ("init_image", "mask", "composite_mask")


def assert_same_array(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.flags.c_contiguous
    assert got.tobytes() == np.ascontiguousarray(expected).tobytes()


def assert_same_type(got: object, expected: object, name: str) -> None:
    # The wire's U64/I64 (int subclasses) arrive as plain ints.
    wanted = int if isinstance(expected, int) and not isinstance(expected, bool) else type(expected)
    assert type(got) is wanted, name


def assert_same_job(got: GenerationJob, expected: GenerationJob) -> None:
    for job_field in dataclasses.fields(GenerationJob):
        name = job_field.name
        if name == "cancel" or name in ARRAY_FIELDS or name == "loras":
            continue
        assert getattr(got, name) == getattr(expected, name), name
        assert_same_type(getattr(got, name), getattr(expected, name), name)
    for name in ARRAY_FIELDS:
        if getattr(expected, name) is None:
            assert getattr(got, name) is None, name
        else:
            assert_same_array(getattr(got, name), getattr(expected, name))
    assert len(got.loras) == len(expected.loras)
    for got_lora, expected_lora in zip(got.loras, expected.loras, strict=True):
        assert got_lora.weight == expected_lora.weight and got_lora.target == expected_lora.target
        assert got_lora.key == expected_lora.key
        assert got_lora.safetensors == expected_lora.safetensors
        assert len(got_lora.tensors) == len(expected_lora.tensors)
        for got_tensor, expected_tensor in zip(got_lora.tensors, expected_lora.tensors, strict=True):
            assert_same_array(got_tensor, expected_tensor)
    for name, value in expected.extensions.items():
        assert_same_type(got.extensions[name], value, name)
    for got_seed, expected_seed in zip(got.seeds, expected.seeds, strict=True):
        assert_same_type(got_seed, expected_seed, "seeds")


def realistic_job() -> GenerationJob:
    rng = np.random.default_rng(7)
    tensors = (
        rng.standard_normal((4, 320)).astype(np.float32),
        rng.standard_normal((320, 4)).astype(np.float16),
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.array([True, False, True]),
        np.array(2.5, dtype=np.float64),
    )
    mask = rng.random((48, 64), dtype=np.float32)
    return GenerationJob(
        request_id="req-1",
        engine_id="sd15",
        width=64,
        height=48,
        seeds=[0, 42, 2**32 - 1],
        steps=30,
        sampler=SamplerSettings(name="SAMPLER_K_DPMPP_2M", cfg_scale=6.5, eta=0.25, churn=None, sigma_min=0.03,
                                karras_rho=7.0, noise_type="SAMPLER_NOISE_BROWNIAN"),
        prompt=[WeightedText("a lighthouse at dusk"), WeightedText("oil painting", 0.6)],
        negative_prompt=[WeightedText("blurry", 1.3)],
        init_image=rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
        mask=mask,
        composite_mask=np.clip(mask * 1.5, 0, 1),
        strength=0.7,
        loras=[
            LoraInput(weight=0.8, target="LORA_TEXT_ENCODER", tensors=tensors, key="k" * 32),
            LoraInput(weight=-0.5, safetensors=b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ", key="s" * 32),
        ],
        clip_guidance=0.0,
        hires=HiresSettings(enable=True, oos_fraction=0.25),
        tiling=True,
        extensions={"pattern": "rings", "step_delay_ms": 12, "scale": 1.5, "flag": True},
    )


def test_a_realistic_job_round_trips_exactly():
    job = realistic_job()
    job.cancel.cancel("not sent")
    decoded = decode_job(encode_job(job))
    assert_same_job(decoded, job)
    assert isinstance(decoded.cancel, CancelToken) and not decoded.cancel.cancelled


def test_a_minimal_job_round_trips():
    job = GenerationJob(request_id="", engine_id="tp", width=8, height=8, seeds=[1], steps=1,
                        sampler=SamplerSettings(name="SAMPLER_DDIM"))
    assert_same_job(decode_job(encode_job(job)), job)


def test_rgba_init_images_and_non_contiguous_arrays_round_trip():
    rgba = np.zeros((64, 48, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    mask = np.random.default_rng(1).random((64, 48), dtype=np.float32).T
    flipped = mask[:, ::-1]
    job = dataclasses.replace(realistic_job(), init_image=rgba.transpose(1, 0, 2), mask=mask, composite_mask=flipped)
    assert not job.init_image.flags.c_contiguous and not job.mask.flags.c_contiguous
    assert_same_job(decode_job(encode_job(job)), job)


def test_a_job_built_from_a_wire_request_round_trips():
    plugins = load_plugins(only=["test_pattern"])
    description = EngineDescription(
        samplers=tuple(plugins.samplers_for("test-pattern")),
        extensions=(
            ExtensionParam("pattern", "str", "shape", default="waves", choices=("waves", "rings")),
            ExtensionParam("count", "int", "how many", minimum=0, maximum=10),
            ExtensionParam("scale", "float", "how big"),
        ),
        supports_lora=True,
        supports_hires=True,
        supports_tiling=True,
    )
    pixels = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask_pixels = np.zeros((32, 32, 3), dtype=np.uint8)
    mask_pixels[8:24, 8:24] = 255
    down = np.ones((2, 320), dtype=np.float32)

    def artifact(kind: str, **data: object) -> dict[str, object]:
        return {"artifact": {"type": kind, **data}}

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    body = {
        "requestId": "from-the-wire",
        "prompt": [
            {"text": "a lighthouse"},
            {"text": "fog", "parameters": {"weight": -0.5}},
            artifact("ARTIFACT_IMAGE", binary=b64(encode_png(pixels))),
            artifact("ARTIFACT_MASK", binary=b64(encode_png(mask_pixels))),
            artifact("ARTIFACT_LORA", binary=b64(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")),
            artifact("ARTIFACT_LORA", lora={"target": "LORA_UNET", "tensors": [
                {"dtype": "DT_FLOAT32", "shape": ["2", "320"], "data": b64(down.tobytes())},
                {"dtype": "DT_INT8", "shape": ["3"], "data": b64(b"\x01\x02\x03")},
            ]}),
        ],
        "image": {
            "width": "32", "height": "32", "seed": [5, 6], "samples": "2", "steps": "12", "tiling": True,
            "hires": {"enable": True, "oosFraction": 0.5},
            "extension": {"parameters": [{"name": "count", "int": "3"}, {"name": "scale", "float": 1.25}]},
        },
    }
    request = decode_message(json.dumps(body).encode(), wire.Request)
    job = build_job(request, engine_id="tp", description=description, limits=EngineLimits(),
                    samplers=plugins.samplers_for("test-pattern"), input_limits=LimitSettings(),
                    adjustments=plugins.adjustments)
    assert job.init_image is not None and job.mask is not None and len(job.loras) == 2 and job.hires is not None
    assert job.seeds == [5, 6] and job.negative_prompt and set(job.extensions) == {"pattern", "count", "scale"}
    assert_same_job(decode_job(encode_job(job)), job)


def test_decoded_arrays_are_read_only_views_of_the_message():
    data = encode_job(realistic_job())
    decoded = decode_job(data)
    assert not decoded.init_image.flags.writeable
    assert not decoded.loras[0].tensors[0].flags.writeable
    # Zero-copy: the array's memory is inside the message bytes.
    assert decoded.init_image.base is not None


def test_a_mutable_buffer_is_copied_so_arrays_cannot_change_later():
    job = realistic_job()
    buffer = bytearray(encode_job(job))
    decoded = decode_job(buffer)
    buffer[:] = bytes(len(buffer))
    assert_same_array(decoded.init_image, job.init_image)


def test_image_results_round_trip():
    png = b"\x89PNG\r\n\x1a\nrest"
    result = ImageResult(index=3, seed=2**32 - 1, png=png, filtered=True, created_ms=1_700_000_000_123)
    assert decode_result(encode_result(result)) == result
    assert decode_job_output(encode_result(result)) == result


@pytest.mark.parametrize("end", [JobEnd(code=Code.OK), JobEnd(code=Code.RESOURCE_EXHAUSTED, message="out of memory")])
def test_job_ends_round_trip(end):
    assert decode_job_end(encode_job_end(end)) == end
    assert decode_job_output(encode_job_end(end)) == end
    assert decode_job_end(encode_job_end(JobEnd(code=3, message="x"))).code is Code.INVALID_ARGUMENT


def test_a_message_of_another_kind_is_refused():
    with pytest.raises(ValueError, match="malformed job message"):
        decode_job(encode_job_end(JobEnd(code=Code.OK)))
    with pytest.raises(ValueError, match="malformed image result message"):
        decode_result(encode_job(realistic_job()))
    with pytest.raises(ValueError, match="malformed job end message"):
        decode_job_end(encode_result(ImageResult(0, 0, b"", False, 0)))


def test_an_unknown_job_end_code_is_refused():
    data = bytes([FORMAT_VERSION]) + msgspec.msgpack.encode({"kind": "end", "code": 99, "message": ""})
    with pytest.raises(ValueError, match="malformed job end message"):
        decode_job_end(data)


def test_an_unknown_format_version_is_refused():
    data = encode_job(realistic_job())
    with pytest.raises(ValueError, match=f"format version 2; this sfumato reads version {FORMAT_VERSION}"):
        decode_job(bytes([2]) + data[1:])


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x01\xc1", b"\x01\x93\x01\x02\x03", b"\x01garbage"])
def test_garbage_is_refused(data):
    with pytest.raises(ValueError, match="malformed job message"):
        decode_job(data)


def test_every_truncation_of_a_job_is_refused():
    data = encode_job(GenerationJob(request_id="r", engine_id="e", width=8, height=8, seeds=[1], steps=2,
                                    sampler=SamplerSettings(name="s"), init_image=np.zeros((8, 8, 3), np.uint8)))
    for end in range(len(data)):
        with pytest.raises(ValueError):
            decode_job(data[:end])


def job_message_with(**changes: object) -> bytes:
    """An encoded job whose msgpack map has ``changes`` applied (to craft bad payloads)."""
    data = encode_job(realistic_job())
    raw = msgspec.msgpack.decode(data[1:])
    raw.update(changes)
    return data[:1] + msgspec.msgpack.encode(raw)


def test_array_data_that_does_not_fit_its_shape_is_refused():
    short = {"dtype": "uint8", "shape": [48, 64, 3], "data": bytes(48 * 64 * 3 - 1)}
    with pytest.raises(ValueError, match=r"init_image: shape \[48, 64, 3\] of uint8 needs 9216 bytes of data, got 9215"):
        decode_job(job_message_with(init_image=short))
    long = {"dtype": "float32", "shape": [48, 64], "data": bytes(48 * 64 * 4 + 4)}
    with pytest.raises(ValueError, match="mask: .* needs 12288 bytes"):
        decode_job(job_message_with(mask=long))


def test_disallowed_dtypes_negative_dimensions_and_unknown_fields_are_refused():
    bad_arrays = [
        {"dtype": "object", "shape": [1], "data": bytes(8)},
        {"dtype": "complex64", "shape": [1], "data": bytes(8)},
        {"dtype": "uint8", "shape": [-1], "data": b""},
        {"dtype": "uint8", "shape": [1] * 33, "data": b"\x00"},
        {"dtype": "uint8", "shape": [1], "data": "not bytes"},
        {"dtype": "uint8", "shape": [1], "data": b"\x00", "extra": 1},
    ]
    for bad in bad_arrays:
        with pytest.raises(ValueError, match=r"malformed job message: .*\$\.init_image"):
            decode_job(job_message_with(init_image=bad))
    with pytest.raises(ValueError, match="malformed job message: Object contains unknown field `surprise`"):
        decode_job(job_message_with(surprise=1))


def test_images_and_masks_of_the_wrong_kind_are_refused_both_ways():
    wrong_dtype = {"dtype": "float32", "shape": [2, 2, 3], "data": bytes(48)}
    with pytest.raises(ValueError, match="init_image: expected uint8 H×W×3 or H×W×4, got float32"):
        decode_job(job_message_with(init_image=wrong_dtype))
    with pytest.raises(ValueError, match="mask: expected float32 H×W"):
        decode_job(job_message_with(mask={"dtype": "float32", "shape": [4], "data": bytes(16)}))
    with pytest.raises(ValueError, match="init_image: expected uint8"):
        encode_job(dataclasses.replace(realistic_job(), init_image=np.zeros((4, 4), np.uint8)))


def test_a_huge_shape_with_no_data_is_refused():
    bad = {"dtype": "uint8", "shape": [2**40, 2**40, 0], "data": b""}
    with pytest.raises(ValueError, match="malformed job message: loras"):
        decode_job(job_message_with(loras=[{"weight": 1.0, "target": "LORA_UNET", "safetensors": None,
                                            "tensors": [bad], "key": ""}]))


def test_out_of_range_seeds_are_refused():
    with pytest.raises(ValueError, match=r"\$\.seeds\[0\]"):
        decode_job(job_message_with(seeds=[2**32]))
    with pytest.raises(ValueError, match=r"seeds\[1\]: -1 is not a uint32"):
        encode_job(dataclasses.replace(realistic_job(), seeds=[1, -1]))


def test_what_cannot_be_encoded_fails_at_the_sender():
    with pytest.raises(ValueError, match="dtype object is not allowed"):
        encode_job(dataclasses.replace(realistic_job(), loras=[LoraInput(weight=1.0, tensors=(np.array([None]),))]))
    with pytest.raises(ValueError, match="values must be bool, int, float or str, got list"):
        encode_job(dataclasses.replace(realistic_job(), extensions={"x": [1]}))
    with pytest.raises(ValueError, match="cannot encode job"):
        encode_job(dataclasses.replace(realistic_job(), request_id=object()))


def test_big_endian_arrays_arrive_little_endian_with_the_same_values():
    values = np.arange(6, dtype=">i4").reshape(2, 3)
    job = dataclasses.replace(realistic_job(), loras=[LoraInput(weight=1.0, tensors=(values,))])
    decoded = decode_job(encode_job(job)).loras[0].tensors[0]
    assert decoded.dtype == np.dtype("<i4") and np.array_equal(decoded, values)


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(
    dtype=st.sampled_from([np.dtype(name) for name in codec.ALLOWED_DTYPES]),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6),
))
def test_lora_tensors_of_any_allowed_dtype_and_shape_round_trip(array):
    reversed_view = array[::-1] if array.ndim else array  # not C-contiguous
    job = dataclasses.replace(realistic_job(), loras=[LoraInput(weight=1.0, tensors=(array, reversed_view))])
    decoded = decode_job(encode_job(job))
    for got, expected in zip(decoded.loras[0].tensors, job.loras[0].tensors, strict=True):
        assert_same_array(got, expected)
        assert np.array_equal(got, expected, equal_nan=got.dtype.kind == "f")
