"""Whole-factor upscaling (bilinear, bicubic by 2, 3 and 4) against a float64 reference,
Pillow and OpenCV.

Pillow drops taps outside the image and renormalises the rest, as the kernel and the
reference do; it rounds its intermediate rows to 8 bits, so it strays up to ~1.07 from
the float result where the kernel stays within 0.6 (bilinear by 2 and 4: exact).
OpenCV uses the same pixel centres and, for bilinear, border replication gives the same
weights as renormalising; by 2 and 4 the weights are exact, so OpenCV's bit-exact
INTER_LINEAR_EXACT must agree bit for bit (INTER_LINEAR truncates in its vertical pass:
within a level).

The fixed-point kernel serves one- and four-channel images 2 or 4 across on AVX2 CPUs;
three channels, 3 across and other CPUs keep the general convolution (faster there), which
is only held to Pillow's accuracy."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sfumato import _ops

from .test_fast_paths import block_means
from .test_resize import photo_image, pillow_raw

def takes_fixed_point(c: int, kx: int) -> bool:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__
    return bool(__cpu_features__.get("AVX2")) and c in (1, 4) and kx in (2, 4)


SHAPES = [(97, 131, 4), (64, 80, 3), (50, 50, 1), (3, 2, 4), (1, 1, 4)]


def filter_weight(name: str, x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    if name == "bilinear":
        return np.maximum(0.0, 1.0 - x)
    # Catmull-Rom (a = -0.5)
    return np.where(x < 1, (1.5 * x - 2.5) * x * x + 1, np.where(x < 2, ((-0.5 * x + 2.5) * x - 4) * x + 2, 0.0))


def weight_matrix(n: int, k: int, name: str) -> np.ndarray:
    """Output × source weights: pixel centres at +0.5, taps outside dropped, rows renormalised."""
    centres = (np.arange(n * k) + 0.5) / k
    m = filter_weight(name, np.arange(n)[None, :] + 0.5 - centres[:, None])
    return m / m.sum(axis=1, keepdims=True)


def float_reference(img: np.ndarray, kx: int, ky: int, name: str) -> np.ndarray:
    x = img.astype(np.float64).reshape(img.shape[0], img.shape[1], -1)
    mx, my = weight_matrix(x.shape[1], kx, name), weight_matrix(x.shape[0], ky, name)
    rows = np.einsum("xj,ijc->ixc", mx, x)  # horizontal pass, then vertical
    return np.clip(np.einsum("yi,ixc->yxc", my, rows), 0, 255)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("name", ["bilinear", "bicubic"])
def test_whole_factors_match_the_float_reference_and_pillow(shape, k, name):
    img = photo_image(sum(shape) + k, *shape)
    h, w, c = shape
    ours = _ops.rescale(img, w * k, h * k, 0, name)
    assert ours.shape == (h * k, w * k, c)
    exact = float_reference(img, k, k, name)
    err = np.abs(ours - exact)
    if takes_fixed_point(c, k):
        assert err.max() <= 0.6
        if name == "bilinear":
            assert np.array_equal(ours, np.floor(exact + 0.5))
    else:
        assert err.max() <= 1.1
    diff = np.abs(ours.astype(int) - pillow_raw(img, w * k, h * k, name))
    # (The general path rounds its own 8-bit intermediate: up to 2 from Pillow's.)
    assert diff.max() <= (1 if takes_fixed_point(c, k) else 2) and diff.mean() <= 0.25


def test_unequal_factors_and_2d_inputs():
    img = photo_image(11, 40, 30, 1)
    ours = _ops.rescale(img[..., 0], 60, 160, 0, "bicubic")
    assert ours.shape == (160, 60)
    bound = 0.6 if takes_fixed_point(1, 2) else 1.1
    assert np.abs(ours - float_reference(img, 2, 4, "bicubic")[..., 0]).max() <= bound
    assert np.abs(ours.astype(int) - pillow_raw(img, 60, 160, "bicubic")[..., 0]).max() <= 1


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("c", [1, 3, 4])
def test_bilinear_by_two_and_four_equals_opencv(k, c):
    # Noise rather than a photo: every rounding case, at every border.
    img = np.random.default_rng(k * c).integers(0, 256, (37, 53, c), dtype=np.uint8)
    ours = _ops.rescale(img, 53 * k, 37 * k, 0, "bilinear")
    size = (53 * k, 37 * k)
    exact = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR_EXACT).reshape(ours.shape)
    if takes_fixed_point(c, k):
        assert np.array_equal(ours, exact)
    else:
        assert np.abs(ours.astype(int) - exact).max() <= 1
    fast = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR).reshape(ours.shape)
    assert np.abs(ours.astype(int) - fast).max() <= 1


def test_bicubic_stays_close_to_opencv_inside():
    # cv2's bicubic is a = -0.75 (ours Catmull-Rom, a = -0.5): close on smooth content, not equal.
    img = photo_image(5, 64, 64, 4)
    ours = _ops.rescale(img, 128, 128, 0, "bicubic").astype(int)
    theirs = cv2.resize(img, (128, 128), interpolation=cv2.INTER_CUBIC).astype(int)
    inside = np.abs(ours - theirs)[8:-8, 8:-8]
    assert inside.mean() < 1.0 and inside.max() <= 12


def test_downscaling_back_by_area_recovers_the_source():
    # The 2x2 block means of a bilinear 2x upscale are a mild blur of the source (3/4, 1/4 weights).
    img = photo_image(8, 64, 96, 4)
    up = _ops.rescale(img, 192, 128, 0, "bilinear")
    back = block_means(up, 2, 2)
    assert np.abs(back.astype(int) - img).mean() < 3


def test_large_images_split_over_threads_match_the_reference():
    # Many row bands on the pool: each band starts its own ring of horizontal rows.
    bound = 0.6 if takes_fixed_point(4, 2) else 1.1
    img = photo_image(1, 300, 257, 4)
    ours = _ops.rescale(img, 514, 600, 0, "bicubic")
    assert np.abs(ours - float_reference(img, 2, 2, "bicubic")).max() <= bound
    # Hard-edged noise: Catmull-Rom overshoots; the kernel saturates like the reference
    # (the general path clips an 8-bit intermediate: not held to the bound on noise).
    if takes_fixed_point(4, 2):
        noise = np.random.default_rng(1).integers(0, 256, (300, 257, 4), dtype=np.uint8)
        ours = _ops.rescale(noise, 514, 600, 0, "bicubic")
        assert np.abs(ours - float_reference(noise, 2, 2, "bicubic")).max() <= 0.6


def test_float32_keeps_the_general_path():
    img = photo_image(3, 20, 24, 4)
    exact = float_reference(img, 2, 2, "bicubic")
    f = _ops.rescale(img.astype(np.float32) / 255, 48, 40, 0, "bicubic")
    assert f.dtype == np.float32
    # Not clipped: compare where the float reference is inside 0..255.
    inside = (exact > 0) & (exact < 255)
    assert np.abs(f * 255 - exact)[inside].max() < 0.01
