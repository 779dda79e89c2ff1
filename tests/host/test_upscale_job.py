"""Host side of image.transform.upscaler: which upscaler, the output size, the init image kept at its size."""

from __future__ import annotations

import numpy as np
import pytest

from sfumato.engine_testing import make_job, request_body
from sfumato.engines import EngineDescription, EngineLimits
from sfumato.errors import RpcError

UPSCALER = EngineDescription(samplers=(), default_sampler="", upscalers=("UPSCALER_RGB", "UPSCALER_GFPGAN"),
                             max_upscale_factor=4.0, default_upscale_factor=2.0, supports_mask=False,
                             uses=frozenset({"init_image", "seed", "steps", "cfg_scale"}))
GENERATOR = EngineDescription(samplers=("SAMPLER_K_EULER",))
INIT = np.arange(30 * 40 * 3, dtype=np.uint32).astype(np.uint8).reshape(30, 40, 3)


def job(description=UPSCALER, upscaler=None, limits=None, **keywords):
    body = request_body(prompt=None, **keywords)
    if upscaler:
        body["image"]["transform"] = {"upscaler": upscaler}
    return make_job(description, body, limits=limits)


@pytest.mark.parametrize(
    ("size", "expected"),
    [({"width": 160}, (160, 120)), ({"height": 45}, (60, 45)), ({}, (80, 60)), ({"width": 100, "height": 75}, (100, 75)),
     ({"width": 41}, (41, 31))],  # 30·41/40 = 30.75 rounds to 31
)
def test_size_from_one_side_both_or_the_default_factor(size, expected):
    built = job(init_image=INIT, **size)
    assert (built.width, built.height) == expected
    assert built.upscaler == "UPSCALER_RGB"  # the engine's first upscaler, unasked
    np.testing.assert_array_equal(built.init_image, INIT)  # not resized to the output size
    assert built.sampler.name == ""


def test_named_upscaler_is_kept():
    assert job(init_image=INIT, upscaler="UPSCALER_GFPGAN", width=80).upscaler == "UPSCALER_GFPGAN"


def test_generation_jobs_have_no_upscaler():
    built = make_job(GENERATOR, request_body(prompt="x", init_image=INIT, width=64, height=48))
    assert built.upscaler is None and built.init_image.shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("description", "upscaler", "keywords", "code", "words"),
    [
        (UPSCALER, None, {"width": 80}, 3, ["prompt", "init image"]),
        (UPSCALER, None, {"init_image": INIT, "width": 200}, 3, ["image.width", "×5", "×1 to ×4"]),
        (UPSCALER, None, {"init_image": INIT, "height": 20}, 3, ["image.height", "smaller"]),
        (UPSCALER, None, {"init_image": INIT, "width": 80, "height": 80}, 3, ["image.height", "aspect ratio"]),
        (UPSCALER, "UPSCALER_ESRGAN", {"init_image": INIT, "width": 80}, 3, ["UPSCALER_ESRGAN", "serves UPSCALER_RGB, UPSCALER_GFPGAN"]),
        (GENERATOR, "UPSCALER_RGB", {"init_image": INIT, "width": 80}, 12, ["image.transform.upscaler", "does not upscale"]),
        (UPSCALER, None, {"init_image": INIT, "width": 80, "eta": 0.3}, 3, ["eta", "runs no sampler"]),
    ],
)
def test_refusals(description, upscaler, keywords, code, words):
    with pytest.raises(RpcError) as error:
        job(description, upscaler, **keywords)
    assert error.value.code.value == code, error.value
    for word in words:
        assert word in str(error.value), str(error.value)


def test_engine_limits_apply_to_the_upscaled_size():
    with pytest.raises(RpcError, match="image.width: the upscaled width 160 is above this engine's limit of 128"):
        job(init_image=INIT, width=160, limits=EngineLimits(max_width=128))
    # size_multiple does not apply: 41 is odd
    assert job(init_image=INIT, width=41, limits=EngineLimits(size_multiple=64)).width == 41


def test_backbone_codec_keeps_the_upscaler_and_the_init_size():
    from sfumato.backbone.codec import decode_job, encode_job

    built = job(init_image=INIT, upscaler="UPSCALER_GFPGAN", width=80)
    again = decode_job(encode_job(built))
    assert again.upscaler == "UPSCALER_GFPGAN" and (again.width, again.height) == (80, 60)
    np.testing.assert_array_equal(again.init_image, INIT)
