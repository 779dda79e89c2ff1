"""Unit tests of the sepia adjustment's validation and kernel."""

from __future__ import annotations

import numpy as np
import pytest


from sfumato_example.sepia import apply_sepia  # noqa: E402
from sfumato_example.sepia_params import SepiaParams, validate_sepia  # noqa: E402


def reference_sepia(pixels: np.ndarray, amount: float) -> np.ndarray:
    """Per-pixel loop with the textbook coefficients: an independent statement of the formula."""
    out = np.empty(pixels.shape[:2] + (3,), dtype=np.uint8)
    for y in range(pixels.shape[0]):
        for x in range(pixels.shape[1]):
            r, g, b = (float(v) for v in pixels[y, x, :3])
            toned = (
                0.393 * r + 0.769 * g + 0.189 * b,
                0.349 * r + 0.686 * g + 0.168 * b,
                0.272 * r + 0.534 * g + 0.131 * b,
            )
            for c, (original, sepia) in enumerate(zip((r, g, b), toned, strict=True)):
                out[y, x, c] = min(255, max(0, round(original + (sepia - original) * amount)))
    return out


@pytest.mark.parametrize("amount", [0.0, 0.3, 1.0])
def test_matches_the_reference(amount):
    pixels = np.random.default_rng(5).integers(0, 256, size=(9, 7, 3), dtype=np.uint8)
    result = apply_sepia(pixels, SepiaParams(amount=amount))
    assert np.abs(result.astype(int) - reference_sepia(pixels, amount).astype(int)).max() <= 1


def test_amount_zero_is_the_identity():
    pixels = np.random.default_rng(6).integers(0, 256, size=(5, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(apply_sepia(pixels, SepiaParams(amount=0.0)), pixels)


def test_alpha_is_carried_unchanged():
    pixels = np.random.default_rng(7).integers(0, 256, size=(6, 4, 4), dtype=np.uint8)
    result = apply_sepia(pixels, SepiaParams(amount=1.0))
    assert result.shape == (6, 4, 4)
    np.testing.assert_array_equal(result[:, :, 3], pixels[:, :, 3])
    np.testing.assert_array_equal(result[:, :, :3], apply_sepia(pixels[:, :, :3], SepiaParams(amount=1.0)))


def test_grey_input_becomes_a_sepia_colour():
    grey = np.full((2, 2, 1), 100, dtype=np.uint8)
    result = apply_sepia(grey, SepiaParams(amount=1.0))
    assert result.shape == (2, 2, 3)
    assert result[0, 0].tolist() == reference_sepia(np.repeat(grey, 3, axis=2), 1.0)[0, 0].tolist()


def test_input_is_not_modified():
    pixels = np.random.default_rng(8).integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    before = pixels.copy()
    apply_sepia(pixels, SepiaParams(amount=1.0))
    np.testing.assert_array_equal(pixels, before)


@pytest.mark.parametrize("amount", [0.0, 0.5, 1.0])
def test_amounts_in_range_are_accepted(amount):
    validate_sepia(SepiaParams(amount=amount))


@pytest.mark.parametrize("amount", [-0.1, 1.5, float("nan"), float("inf")])
def test_amounts_out_of_range_are_refused(amount):
    with pytest.raises(ValueError, match="amount must be in 0..1"):
        validate_sepia(SepiaParams(amount=amount))
