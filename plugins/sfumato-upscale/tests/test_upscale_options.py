"""Engine options and models are checked when the engine is built or loaded, with messages naming them."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from sfumato.engine_testing import load_engine
from sfumato_upscale import plugin


@pytest.mark.parametrize(
    ("kind", "options", "words"),
    [
        ("esrgan", {"tile_sise": 256}, ["tile_sise"]),
        ("esrgan", {"tile_size": 16}, ["tile_size", "at least 32"]),
        ("esrgan", {"tile_size": 64, "tile_overlap": 40}, ["tile_overlap", "0..tile_size/2"]),
        ("esrgan", {"device": "tpu"}, ["device", "tpu"]),
        ("esrgan", {"tile_batch_pixels": -1}, ["tile_batch_pixels", "0"]),
        ("esrgan", {"tile_batch_pixels": "lots"}, ["tile_batch_pixels"]),
        ("esrgan", {"max_upscale_factor": 32}, ["max_upscale_factor", "1..16"]),
        ("rgb-upscale", {"filter": "sinc"}, ["filter", "sinc"]),
        ("rgb-upscale", {"default_upscale_factor": 9}, ["default_upscale_factor", "max_upscale_factor"]),
    ],
)
def test_bad_options_are_refused_when_the_engine_is_built(kind, options, words, checkpoints):
    model = str(checkpoints["x4_pth"]) if kind == "esrgan" else ""
    with pytest.raises(ValueError) as error:
        load_engine(kind, plugin=plugin, model=model, options=options, load=False)
    for word in words:
        assert word in str(error.value), str(error.value)


def test_esrgan_needs_a_model():
    with pytest.raises(ValueError, match="model = a checkpoint file"):
        load_engine("esrgan", plugin=plugin, load=False)


def test_rgb_takes_no_model():
    with pytest.raises(ValueError, match="use no model"):
        load_engine("rgb-upscale", plugin=plugin, model="x.pth", load=False)


def test_missing_and_unrecognised_checkpoints_fail_the_load(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_engine("esrgan", plugin=plugin, model=str(tmp_path / "missing.pth"), options={"device": "cpu"})
    garbage = tmp_path / "garbage.safetensors"
    save_file({"some.weight": torch.zeros(3)}, str(garbage))
    with pytest.raises(ValueError, match="not an architecture spandrel knows"):
        load_engine("esrgan", plugin=plugin, model=str(garbage), options={"device": "cpu"})


def test_tiny_upscaler_is_built_into_the_cache(tmp_path):
    engine = load_engine("esrgan", plugin=plugin, model="tiny-upscaler", cache_dir=str(tmp_path), options={"device": "cpu"})
    assert (tmp_path / "tiny-upscaler" / "tiny-upscaler-x4.safetensors").is_file()
    assert engine.engine.network.scale == 4
