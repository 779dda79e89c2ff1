"""Upscaling over the API: sizes and factors, determinism, checkpoints in both formats, spandrel as reference."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import spandrel
import torch
from PIL import Image

from _upscale_support import noise_image, smooth_image, upscale_request


def pixels_of(answer: dict) -> np.ndarray:
    artifact = answer["artifacts"][0]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(artifact["binary"]))).convert("RGB"))


def upscale(server, engine: str, image: np.ndarray, **kwargs) -> list[np.ndarray]:
    return [pixels_of(answer) for answer in server.generate(upscale_request(engine, image, **kwargs))]


def test_engines_are_listed_as_pictures(server):
    engines = {engine["id"]: engine for engine in server.post("/grpcgateway/engines", {}).json()["engine"]}
    for engine_id in ("rgb", "esrgan", "esrgan-tiled", "esrgan-x2"):
        assert engines[engine_id]["type"] == "PICTURE" and engines[engine_id]["ready"], engines[engine_id]
        assert not engines[engine_id].get("supportedSamplers"), "upscalers run no sampler"


@pytest.mark.parametrize(
    ("engine", "upscaler", "source", "request_size", "expected"),
    [
        ("rgb", "UPSCALER_RGB", (16, 24), {"width": 96}, (64, 96)),  # ×4 from the width
        ("rgb", "UPSCALER_RGB", (16, 24), {"height": 40}, (40, 60)),  # ×2.5 from the height
        ("rgb", "UPSCALER_RGB", (16, 24), {}, (32, 48)),  # neither: the default ×2
        ("esrgan", "UPSCALER_ESRGAN", (12, 20), {"height": 48}, (48, 80)),  # ×4: one pass, exact
        ("esrgan", "UPSCALER_ESRGAN", (12, 20), {"width": 60, "height": 36}, (36, 60)),  # ×3: one pass, then resampled
        ("esrgan", None, (12, 20), {"width": 40}, (24, 40)),  # no transform: the engine's default upscaler
        ("esrgan-x2", "UPSCALER_ESRGAN", (10, 14), {"width": 56}, (40, 56)),  # ×4 from a ×2 network: two passes
    ],
)
def test_output_size_follows_the_requested_factor(server, engine, upscaler, source, request_size, expected):
    (image,) = upscale(server, engine, noise_image(*source), upscaler=upscaler, **request_size)
    assert image.shape == (*expected, 3)


def test_same_request_same_pixels_and_the_seed_does_not_matter(server):
    source = noise_image(12, 16, seed=3)
    first = upscale(server, "esrgan", source, upscaler="UPSCALER_ESRGAN", width=64, seed=[1])
    again = upscale(server, "esrgan", source, upscaler="UPSCALER_ESRGAN", width=64, seed=[1])
    other_seeds = upscale(server, "esrgan", source, upscaler="UPSCALER_ESRGAN", width=64, seed=[7, 8], samples="2")
    np.testing.assert_array_equal(first[0], again[0])
    assert len(other_seeds) == 2
    for image in other_seeds:
        np.testing.assert_array_equal(image, first[0])


def test_different_inputs_give_different_outputs(server):
    one = upscale(server, "esrgan", noise_image(12, 16, seed=1), width=64)[0]
    two = upscale(server, "esrgan", noise_image(12, 16, seed=2), width=64)[0]
    assert np.abs(one.astype(int) - two.astype(int)).mean() > 1


def test_matches_spandrel_run_directly_on_the_checkpoint(server, checkpoints):
    """The engine's pixels are the network's: load the same .pth with spandrel here and compare."""
    source = smooth_image(20, 28, seed=5)
    (served,) = upscale(server, "esrgan", source, upscaler="UPSCALER_ESRGAN", width=112)
    network = spandrel.ModelLoader(device="cpu").load_from_file(str(checkpoints["x4_pth"])).eval()
    tensor = torch.from_numpy(source).permute(2, 0, 1)[None].float() / 255
    expected = (network(tensor)[0].permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    assert served.shape == expected.shape
    assert np.abs(served.astype(int) - expected.astype(int)).max() <= 1


def test_pth_and_safetensors_of_the_same_weights_agree(server):
    # 24×32 fits one 40-pixel tile, so esrgan-tiled runs the .safetensors copy untiled.
    source = noise_image(24, 32, seed=9)
    from_pth = upscale(server, "esrgan", source, width=128)[0]
    from_safetensors = upscale(server, "esrgan-tiled", source, width=128)[0]
    assert np.abs(from_pth.astype(int) - from_safetensors.astype(int)).max() <= 1


def test_stability_sdk_shaped_request(server):
    """stability-sdk's upscale(): no transform, one side, seed, steps 20 and a cfgScale, which are accepted."""
    body = upscale_request("esrgan", noise_image(16, 16), width=64, seed=[0], steps="20",
                           parameters=[{"sampler": {"cfgScale": 7}}])
    (answer,) = server.generate(body)
    assert pixels_of(answer).shape == (64, 64, 3)


def test_alpha_is_dropped_and_grey_expanded(server):
    rgba = np.dstack([noise_image(8, 8), np.full((8, 8), 128, np.uint8)])
    assert upscale(server, "rgb", rgba, width=16)[0].shape == (16, 16, 3)


def test_async_generate_runs_an_upscale(server):
    body = upscale_request("rgb", noise_image(8, 12), width=24)
    handle = server.post("/grpcgateway/asyncGenerate", body).json()["asyncHandle"]
    answers = []
    for _ in range(200):
        result = server.post("/grpcgateway/asyncResult", {"asyncHandle": handle}).json()
        answers += result.get("answer", [])
        if result.get("complete"):
            break
    assert len(answers) == 1 and pixels_of(answers[0]).shape == (16, 24, 3)
