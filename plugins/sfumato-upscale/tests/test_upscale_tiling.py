"""Tiling: how tiles cover an image, and the seam test (tiled and untiled runs agree on a smooth image)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sfumato.engine_testing import load_engine, request_body
from sfumato_upscale import plugin
from sfumato_upscale.tiling import run_tiled, tile_spans

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


def _upscaled(checkpoint, image: np.ndarray, tile: int, overlap: int) -> tuple[np.ndarray, int]:
    engine = load_engine("esrgan", plugin=plugin, model=str(checkpoint),
                         options={"device": "cpu", "tile_size": tile, "tile_overlap": overlap})
    run = engine.run(engine.job(request_body(prompt=None, init_image=image, width=image.shape[1] * 4)))
    return run.pixels[0].astype(int), len(run.progress)


def test_seam_tiled_and_untiled_agree_on_a_smooth_image(checkpoints):
    image = smooth_image(96, 80, seed=4)
    untiled, untiled_steps = _upscaled(checkpoints["x4_pth"], image, 0, 0)
    tiled, tiled_steps = _upscaled(checkpoints["x4_pth"], image, 40, 16)
    assert (untiled_steps, tiled_steps) == (1, 12), "one progress step per tile"
    difference = np.abs(tiled - untiled)
    assert difference.max() <= 2 and difference.mean() < 0.01, (difference.max(), difference.mean())
    # The check can fail: tiles that touch without an overlap leave visible seams.
    butted, _ = _upscaled(checkpoints["x4_pth"], image, 40, 0)
    assert np.abs(butted - untiled).max() > 20
