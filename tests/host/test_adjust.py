"""The built-in adjustments through the registry, as the host applies them to prompt artifacts."""

from __future__ import annotations

import numpy as np
import pytest

from sfumato import wire
from sfumato.adjust import apply_adjustments, validate_adjustments
from sfumato.errors import RpcError
from sfumato.plugins import load_plugins


@pytest.fixture(scope="module")
def registry():
    return load_plugins(strict=True, only=["adjustments"]).adjustments


def adjust(**member) -> wire.ImageAdjustment:
    return wire.ImageAdjustment(**member)


def test_chain_runs_in_list_order(registry, rng):
    image = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    chain = [
        adjust(crop=wire.ImageAdjustmentCrop(top=wire.U64(2), left=wire.U64(4), width=wire.U64(16), height=wire.U64(10))),
        adjust(invert=wire.ImageAdjustmentInvert()),
        adjust(channels=wire.ImageAdjustmentChannels(r=wire.ChannelSource.CHANNEL_B, b=wire.ChannelSource.CHANNEL_R)),
    ]
    validate_adjustments(chain, registry, path="a")
    result = apply_adjustments(image, chain, registry, path="a")
    expected = (255 - image[2:12, 4:20])[:, :, ::-1]
    assert np.array_equal(result, expected)


def test_levels_match_the_formula(registry, rng):
    image = rng.integers(0, 256, size=(8, 8, 1), dtype=np.uint8)
    levels = wire.ImageAdjustmentLevels(input_low=0.2, input_high=0.8, output_low=0.1, output_high=0.9)
    result = apply_adjustments(image, [adjust(levels=levels)], registry, path="a")
    x = image.astype(np.float64) / 255
    reference = np.clip((x - 0.2) / 0.6 * 0.8 + 0.1, 0, 1) * 255
    assert np.abs(result.astype(int) - np.round(reference)).max() <= 1


def test_alpha_is_carried_unless_channels_moves_it(registry, rng):
    image = rng.integers(0, 256, size=(6, 6, 4), dtype=np.uint8)
    inverted = apply_adjustments(image, [adjust(invert=wire.ImageAdjustmentInvert())], registry, path="a")
    assert np.array_equal(inverted[:, :, 3], image[:, :, 3])
    moved = apply_adjustments(
        image, [adjust(channels=wire.ImageAdjustmentChannels(a=wire.ChannelSource.CHANNEL_R))], registry, path="a"
    )
    assert np.array_equal(moved[:, :, 3], image[:, :, 0])


def test_rescale_fit_pads_with_transparent_black(registry):
    image = np.full((10, 20, 3), 200, dtype=np.uint8)
    fit = wire.ImageAdjustmentRescale(width=wire.U64(20), height=wire.U64(20), mode=wire.RescaleMode.RESCALE_FIT)
    result = apply_adjustments(image, [adjust(rescale=fit)], registry, path="a")
    assert result.shape == (20, 20, 4)
    assert (result[0, :, 3] == 0).all() and (result[10, :, 3] == 255).all()


def test_invalid_parameters_are_reported_with_the_path(registry):
    bad_levels = adjust(levels=wire.ImageAdjustmentLevels(input_low=0.9, input_high=0.1))
    with pytest.raises(RpcError) as error:
        validate_adjustments([bad_levels], registry, path="prompt[1].artifact.adjustments")
    assert "prompt[1].artifact.adjustments[0].levels" in error.value.message
    crop = adjust(crop=wire.ImageAdjustmentCrop(top=wire.U64(5), left=wire.U64(0), width=wire.U64(4), height=wire.U64(9)))
    with pytest.raises(RpcError) as error:
        apply_adjustments(np.zeros((8, 8, 3), np.uint8), [crop], registry, path="p")
    assert "p[0].crop" in error.value.message
