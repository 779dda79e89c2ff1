"""The kernels' fast paths against independent float64/numpy references: area averaging
by whole factors, bilinear/bicubic upscaling by whole factors, the 8-bit exact blur up to
sigma 8, and the fast PNG mode's filter choice."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from sfumato import _ops

from .helpers import gaussian_reference, smooth_image


def block_means(img: np.ndarray, kx: int, ky: int) -> np.ndarray:
    """Exact kx×ky block means, rounded half up (integer arithmetic)."""
    x = img.astype(np.int64)
    if x.ndim == 2:
        x = x[:, :, None]
    h, w, c = x.shape
    sums = x.reshape(h // ky, ky, w // kx, kx, c).sum(axis=(1, 3))
    n = kx * ky
    return ((2 * sums + n) // (2 * n)).astype(np.uint8)


AREA_CASES = [
    # (h, w, c, out_h, out_w): halving (the vector paths), odd outputs, unequal factors, 1 pixel
    (64, 96, 4, 32, 48),
    (34, 46, 1, 17, 23),
    (30, 26, 3, 15, 13),
    (36, 42, 4, 12, 21),
    (9, 12, 1, 3, 3),
    (2, 2, 4, 1, 1),
    (1, 1, 3, 1, 1),
    (7, 5, 4, 1, 1),
    (1, 64, 1, 1, 4),
]


@pytest.mark.parametrize("h,w,c,oh,ow", AREA_CASES)
def test_area_by_whole_factors_is_the_exact_block_mean(h, w, c, oh, ow):
    img = np.random.default_rng(h * w + c).integers(0, 256, (h, w, c), dtype=np.uint8)
    ours = _ops.rescale(img, ow, oh, 0, "area")
    assert ours.shape == (oh, ow, c)
    assert np.array_equal(ours, block_means(img, w // ow, h // oh))


def test_area_rounds_every_half_up():
    # Every 2x2 sum 0..1020 once: the rounding of each remainder.
    sums = np.arange(1021)
    q, r = sums // 4, sums % 4
    blocks = np.stack([q + (r > 0), q + (r > 1), q + (r > 2), q], axis=-1)
    img = blocks.reshape(1, -1, 2, 2).transpose(0, 2, 1, 3).reshape(2, -1).astype(np.uint8)
    ours = _ops.rescale(img, img.shape[1] // 2, 1, 0, "area")
    assert np.array_equal(ours.ravel(), ((sums + 2) // 4).astype(np.uint8))


def test_area_takes_non_contiguous_and_2d_inputs():
    base = np.random.default_rng(5).integers(0, 256, (40, 120, 4), dtype=np.uint8)
    view = base[:, ::2]  # every other column: not C-contiguous
    assert np.array_equal(_ops.rescale(view, 30, 20, 0, "area"), block_means(np.ascontiguousarray(view), 2, 2))
    grey = base[..., 1]
    out = _ops.rescale(grey, 60, 20, 0, "area")
    assert out.shape == (20, 60)
    assert np.array_equal(out, block_means(grey, 2, 2)[..., 0])


def test_area_on_float32_is_the_block_mean():
    img = np.random.default_rng(6).random((24, 36, 3), dtype=np.float32)
    ours = _ops.rescale(img, 12, 8, 0, "area")
    want = img.astype(np.float64).reshape(8, 3, 12, 3, 3).mean(axis=(1, 3))
    assert ours.dtype == np.float32 and np.abs(ours - want).max() < 1e-6


def test_area_without_whole_factors_still_matches_pillow():
    from .test_resize import pillow_raw, photo_image

    img = photo_image(3, 50, 70, 4)
    ours = _ops.rescale(img, 30, 20, 0, "area")
    assert np.abs(ours.astype(int) - pillow_raw(img, 30, 20, "area")).max() <= 1


def resample_weights(src: int, out: int, name: str) -> np.ndarray:
    """out × src weight matrix of the antialiasing-free upscale (Pillow's definition:
    the filter at each source pixel's centre, renormalised where the border clips it)."""

    def kernel(x):
        x = np.abs(x)
        if name == "bilinear":
            return np.maximum(0.0, 1.0 - x)
        a = -0.5
        return np.where(
            x < 1, ((a + 2) * x - (a + 3)) * x * x + 1, np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0)
        )

    centres = (np.arange(out) + 0.5) * src / out - 0.5
    w = kernel(np.arange(src)[None, :] - centres[:, None])
    return w / w.sum(axis=1, keepdims=True)


def upscale_reference(img: np.ndarray, ow: int, oh: int, name: str) -> np.ndarray:
    x = img.astype(np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    h, w, _ = x.shape
    wy, wx = resample_weights(h, oh, name), resample_weights(w, ow, name)
    return np.einsum("yi,ijc,xj->yxc", wy, x, wx)


UPSCALE_CASES = [(32, 48, 4, 2, 2), (17, 23, 3, 2, 2), (13, 10, 1, 3, 2), (9, 40, 4, 1, 3), (1, 1, 4, 2, 2), (1, 7, 3, 3, 1)]


@pytest.mark.parametrize("name", ["bilinear", "bicubic"])
@pytest.mark.parametrize("h,w,c,kx,ky", UPSCALE_CASES)
def test_upscale_by_whole_factors_matches_float64(name, h, w, c, kx, ky):
    img = np.random.default_rng(h + w + c).integers(0, 256, (h, w, c), dtype=np.uint8)
    ours = _ops.rescale(img, w * kx, h * ky, 0, name)
    ref = np.clip(upscale_reference(img, w * kx, h * ky, name), 0, 255)
    assert ours.shape == ref.shape
    # One rounding of the f32 result: within half a level of the float64 value.
    assert np.abs(ours - ref).max() <= 0.5 + 1e-3


def test_upscale_takes_non_contiguous_inputs_and_stays_near_pillow():
    from .test_resize import pillow_raw, photo_image

    img = photo_image(8, 60, 80, 4)
    flipped = img[::-1]  # negative strides
    ours = _ops.rescale(flipped, 160, 120, 0, "bilinear")
    assert np.array_equal(ours, _ops.rescale(np.ascontiguousarray(flipped), 160, 120, 0, "bilinear"))
    assert np.abs(ours.astype(int) - pillow_raw(np.ascontiguousarray(flipped), 160, 120, "bilinear")).max() <= 1
    grey = np.ascontiguousarray(img[..., 0])
    out = _ops.rescale(grey, 160, 120, 0, "bicubic")
    assert out.shape == (120, 160)
    assert np.abs(out - np.clip(upscale_reference(grey, 160, 120, "bicubic")[..., 0], 0, 255)).max() <= 0.5 + 1e-3


def test_float32_upscale_agrees_with_the_8bit_path():
    img = smooth_image(np.random.default_rng(11), 20, 30, 3)
    as_float = _ops.rescale(img.astype(np.float32) / 255, 60, 40, 0, "bicubic")
    # float32 keeps the bicubic overshoot past 0..1 at hard edges; 8-bit saturates it.
    assert np.abs(np.clip(as_float, 0, 1) * 255 - _ops.rescale(img, 60, 40, 0, "bicubic")).max() <= 0.5 + 1e-3


@pytest.mark.parametrize("sigma", [2.0, 3.0, 3.49])
@pytest.mark.parametrize("c", [1, 3, 4])
def test_8bit_blur_below_sigma_3_5_is_the_exact_kernel(sigma, c):
    img = smooth_image(np.random.default_rng(int(sigma * 10) + c), 67, 91, c)
    ref = gaussian_reference(img, sigma).reshape(img.shape)
    ours = _ops.blur(img, sigma, include_alpha=True)
    assert np.abs(ours - ref).max() <= 0.5 + 0.1  # one rounding plus the fixed-point taps


@pytest.mark.parametrize("sigma", [3.5, 3.9, 5.5, 7.9])
@pytest.mark.parametrize("c", [1, 3, 4])
def test_8bit_blur_from_sigma_3_5_to_8_stays_within_a_level(sigma, c):
    img = smooth_image(np.random.default_rng(int(sigma * 10) + c), 67, 91, c)
    ref = np.rint(gaussian_reference(img, sigma)).reshape(img.shape)
    diff = np.abs(_ops.blur(img, sigma, include_alpha=True).astype(int) - ref)
    assert diff.max() <= 1 and diff.mean() <= 0.05


@pytest.mark.parametrize("sigma", [3.4, 3.6])
def test_8bit_blur_either_side_of_the_switch_on_tiny_images(sigma):
    for shape in [(1, 1, 1), (3, 50, 4), (50, 2, 3)]:
        img = smooth_image(np.random.default_rng(2), *shape)
        ref = np.rint(gaussian_reference(img, sigma)).reshape(img.shape)
        assert np.abs(_ops.blur(img, sigma, include_alpha=True).astype(int) - ref).max() <= 1


def test_8bit_blur_takes_strided_inputs():
    base = smooth_image(np.random.default_rng(3), 40, 80, 4)
    view = base[:, 1::2]  # every other column: not C-contiguous
    ref = np.rint(gaussian_reference(np.ascontiguousarray(view), 6.0)).reshape(view.shape)
    assert np.abs(_ops.blur(view, 6.0, include_alpha=True).astype(int) - ref).max() <= 1


def test_fast_png_stays_lossless_and_near_the_adaptive_size():
    # Photo-like content with a hard edge every few rows, so reused filter choices are stale somewhere.
    img = smooth_image(np.random.default_rng(12), 301, 257, 3)
    img[::7] = 255 - img[::7]
    fast = _ops.encode_png(img, fast=True)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(fast))), img)
    assert np.array_equal(_ops.decode_png(fast, 1 << 30), img)
    # A sanity bound against Pillow's best (fdeflate has one fixed Huffman table; unfiltered
    # rows would be far larger). The size cost of reusing choices is checked in the crate tests.
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=9)
    assert len(fast) <= 1.5 * len(buf.getvalue())
