"""Tiling: how tiles cover an image, and the seam test (tiled and untiled runs agree on a smooth image)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sfumato.engine_testing import load_engine, request_body
from sfumato_upscale import plugin
from sfumato_upscale.network import load_network
from sfumato_upscale.tiling import pass_count, run_tiled, tile_spans, tiles_per_pass

from _upscale_support import smooth_image


@pytest.mark.parametrize("length", [1, 31, 32, 33, 100, 257, 512, 1000])
@pytest.mark.parametrize(("tile", "overlap"), [(32, 0), (32, 8), (64, 16), (100, 50), (512, 32)])
def test_tiles_cover_the_image_with_the_overlap(length, tile, overlap):
    spans = tile_spans(length, tile, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == length
    sizes = {end - start for start, end in spans}
    assert len(sizes) == 1 and sizes.pop() <= max(tile, 1) or len(spans) == 1
    for (previous_start, end), (start, _) in zip(spans, spans[1:]):
        assert end - start >= overlap, f"{spans}: neighbours overlap by {end - start} < {overlap}"
        assert previous_start < start, f"{spans}: a tile repeats"


def test_fewest_tiles():
    # 512 at tile 272 / overlap 32: two tiles of 272; at tile 256: three of 192.
    assert tile_spans(512, 272, 32) == [(0, 272), (240, 512)]
    assert tile_spans(512, 256, 32) == [(0, 192), (160, 352), (320, 512)]
    assert tile_spans(512, 0, 32) == [(0, 512)]


def test_blend_weights_reproduce_a_pointwise_network_exactly():
    """A per-pixel network has no seams to hide: any tiling must give back exactly the untiled result."""
    image = torch.rand(1, 3, 70, 90, generator=torch.Generator().manual_seed(0))

    def network(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(x * 0.5 + 0.25, scale_factor=2, mode="nearest")

    untiled = network(image)
    tiled = run_tiled(network, image, 2, 32, 12)
    torch.testing.assert_close(tiled, untiled, atol=1e-6, rtol=0)


def test_tiles_per_pass_fill_passes_evenly_within_the_budget():
    assert tiles_per_pass(4, 100, 0) == [1, 1, 1, 1]  # no budget: one tile per pass
    assert tiles_per_pass(4, 100, 99) == [1, 1, 1, 1]  # a tile larger than the budget still runs
    assert tiles_per_pass(4, 100, 300) == [2, 2]  # three fit, but two passes of two repeat one shape
    assert tiles_per_pass(9, 100, 400) == [3, 3, 3]
    assert tiles_per_pass(7, 100, 300) == [3, 2, 2]
    assert tiles_per_pass(4, 100, 10_000) == [4]


@pytest.mark.parametrize("tiles_at_once", [2, 3, 16])
def test_batched_tiles_give_the_one_by_one_result(checkpoints, tiles_at_once):
    """Tiles run together in one forward pass blend to the same image as tiles run one at a time."""
    network = load_network(checkpoints["x4_pth"], torch.device("cpu"), purposes=("SR",), option="model")
    # Two different images in the batch: a tile of one must not land in the other.
    image = torch.rand(2, 3, 90, 110, generator=torch.Generator().manual_seed(3))
    rows, columns = tile_spans(90, 40, 16), tile_spans(110, 40, 16)
    tiles, tile_pixels = len(rows) * len(columns), 2 * (rows[0][1] - rows[0][0]) * (columns[0][1] - columns[0][0])
    passes, steps = [], []
    with torch.inference_mode():
        one_by_one = run_tiled(network, image, 4, 40, 16)
        batched = run_tiled(network, image, 4, 40, 16, before_pass=lambda: passes.append(1),
                            after_pass=lambda: steps.append(1), batch_pixels=tiles_at_once * tile_pixels)
    assert tiles == 16 and len(passes) == len(steps) == math.ceil(16 / tiles_at_once), "a check and a step per pass"
    assert (one_by_one[0] - one_by_one[1]).abs().mean() > 0.01
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)


def _upscaled(checkpoint, image: np.ndarray, tile: int, overlap: int, **options: int) -> tuple[np.ndarray, int]:
    engine = load_engine("esrgan", plugin=plugin, model=str(checkpoint),
                         options={"device": "cpu", "tile_size": tile, "tile_overlap": overlap, **options})
    run = engine.run(engine.job(request_body(prompt=None, init_image=image, width=image.shape[1] * 4)))
    return run.pixels[0].astype(int), len(run.progress)


def test_seam_tiled_and_untiled_agree_on_a_smooth_image(checkpoints):
    image = smooth_image(96, 80, seed=4)
    untiled, untiled_steps = _upscaled(checkpoints["x4_pth"], image, 0, 0)
    # The 12 tiles batched in one pass; then one a pass, which is the CPU default.
    tiled, tiled_steps = _upscaled(checkpoints["x4_pth"], image, 40, 16, tile_batch_pixels=512 * 512)
    one_by_one, one_by_one_steps = _upscaled(checkpoints["x4_pth"], image, 40, 16)
    assert (untiled_steps, tiled_steps, one_by_one_steps) == (1, 1, 12), "one progress step per forward pass"
    assert pass_count(80, 96, 40, 16, 0) == 12 and pass_count(80, 96, 40, 16, 5 * 40 * 40) == 3
    assert np.abs(one_by_one - tiled).max() <= 1, "batching tiles changes rounding at most"
    difference = np.abs(tiled - untiled)
    assert difference.max() <= 2 and difference.mean() < 0.01, (difference.max(), difference.mean())
    # The check can fail: tiles that touch without an overlap leave visible seams.
    butted, _ = _upscaled(checkpoints["x4_pth"], image, 40, 0)
    assert np.abs(butted - untiled).max() > 20


@pytest.fixture(scope="module")
def swinir_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random-weight SwinIR ×2, saved like the SwinIR releases ({"params": state dict})."""
    from spandrel.architectures.SwinIR import SwinIR

    torch.manual_seed(0)
    network = SwinIR(img_size=16, patch_size=1, in_chans=3, embed_dim=12, depths=[2], num_heads=[2], window_size=4,
                     mlp_ratio=2.0, upscale=2, img_range=1.0, upsampler="pixelshuffle", resi_connection="1conv")
    path = tmp_path_factory.mktemp("swinir") / "001_classicalSR_tiny_x2.pth"
    torch.save({"params": network.state_dict()}, path)
    return path


@pytest.mark.filterwarnings("ignore:torch.meshgrid:UserWarning")  # inside spandrel's SwinIR
def test_swinir_tiles_blend_closer_than_butted_tiles(swinir_checkpoint):
    """Window attention sees the whole tile, so tiles are not exact there; the blend still hides the seams."""
    image = smooth_image(72, 88, seed=8)

    def upscaled(tile: int, overlap: int) -> np.ndarray:
        engine = load_engine("esrgan", plugin=plugin, model=str(swinir_checkpoint),
                             options={"device": "cpu", "tile_size": tile, "tile_overlap": overlap})
        assert engine.engine.network.architecture.name == "SwinIR"
        return engine.images(engine.job(request_body(prompt=None, init_image=image, width=176)))[0].astype(int)

    untiled = upscaled(0, 0)
    assert untiled.shape == (144, 176, 3)
    blended = np.abs(upscaled(40, 16) - untiled).mean()
    butted = np.abs(upscaled(40, 0) - untiled).mean()
    assert blended < 0.6 and blended < butted / 2, (blended, butted)
