"""Gaussian blur against a float64 reference, and UP/DOWN against a 256-round OpenCV run."""

from __future__ import annotations

import math
import threading
import time

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfumato import _ops

from .helpers import gaussian_reference, kernel_length, smooth_image

settings.register_profile("ops", derandomize=True, deadline=None, max_examples=40)
settings.load_profile("ops")


@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    c=st.sampled_from([1, 3, 4]),
    sigma=st.floats(0.0, 8.0),
    seed=st.integers(0, 2**16),
)
def test_small_sigma_within_one_level(h, w, c, sigma, seed):
    img = smooth_image(np.random.default_rng(seed), h, w, c)
    ours = _ops.blur(img, sigma, include_alpha=True)
    ref = np.rint(gaussian_reference(img, sigma)).reshape(img.shape)
    assert ours.shape == img.shape and ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - ref).max() <= 1


@settings(max_examples=15)
@given(
    h=st.integers(24, 96),
    w=st.integers(24, 96),
    c=st.sampled_from([1, 4]),
    sigma=st.floats(8.0, 64.0),
    seed=st.integers(0, 2**16),
)
def test_large_sigma_interior_and_mean(h, w, c, sigma, seed):
    img = smooth_image(np.random.default_rng(seed), h, w, c)
    ours = _ops.blur(img, sigma, include_alpha=True).astype(int)
    ref = np.rint(gaussian_reference(img, sigma)).reshape(img.shape)
    diff = np.abs(ours - ref)
    m = 4
    assert diff[m:-m, m:-m].max() <= 2
    assert diff.mean() <= 0.3


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 9, 3), (7, 1, 4), (5, 3, 1)])
@pytest.mark.parametrize("sigma", [0.5, 3.0, 40.0, 500.0])
def test_tiny_images_and_huge_sigmas(shape, sigma):
    img = smooth_image(np.random.default_rng(1), *shape)
    ours = _ops.blur(img, sigma, include_alpha=True).astype(int)
    ref = np.rint(gaussian_reference(img, sigma)).reshape(img.shape)
    assert np.abs(ours - ref).max() <= 1


def test_sigma_zero_is_identity_and_alpha_is_carried():
    img = smooth_image(np.random.default_rng(2), 30, 20, 4)
    assert np.array_equal(_ops.blur(img, 0.0), img)
    out = _ops.blur(img, 3.0)
    assert np.array_equal(out[..., 3], img[..., 3])
    assert not np.array_equal(out[..., :3], img[..., :3])


def test_float32_and_2d_inputs():
    img = smooth_image(np.random.default_rng(3), 33, 17, 3)
    as_float = _ops.blur(img.astype(np.float32) / 255, 2.0)
    assert as_float.dtype == np.float32
    ref = gaussian_reference(img, 2.0) / 255
    assert np.abs(as_float - ref).max() < 1e-4
    gray = img[..., 0]
    out = _ops.blur(gray, 2.0)
    assert out.shape == gray.shape


def test_non_contiguous_input_is_accepted():
    img = smooth_image(np.random.default_rng(4), 40, 40, 4)
    view = img[::2, ::-1]
    assert np.array_equal(_ops.blur(view, 1.5), _ops.blur(np.ascontiguousarray(view), 1.5))


def test_bad_parameters_raise_value_error():
    img = np.zeros((4, 4, 3), np.uint8)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            _ops.blur(img, bad)
    with pytest.raises(ValueError):
        _ops.blur(img, 1.0, 3)
    with pytest.raises(ValueError):
        _ops.blur(np.zeros((4, 4, 2), np.uint8), 1.0)
    with pytest.raises(TypeError):
        _ops.blur(np.zeros((4, 4, 3), np.int16), 1.0)


def directional_reference(mask: np.ndarray, sigma: float, up: bool) -> np.ndarray:
    """The reference definition in float32 with OpenCV: 256 x (blur sigma/16, max/min with original)."""
    x0 = mask.astype(np.float32) / 255
    s = sigma / 16
    k = kernel_length(s)
    x = x0.copy()
    pick = np.maximum if up else np.minimum
    for _ in range(256):
        x = cv2.GaussianBlur(x, (k, k), s, borderType=cv2.BORDER_REFLECT_101)
        pick(x, x0, out=x)
    return np.rint(x * 255)


def ellipse_mask(size: int, seed: int, width: int | None = None) -> np.ndarray:
    width = width or size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:width].astype(np.float32)
    m = np.zeros((size, width), bool)
    for _ in range(3):
        cx, cy = rng.uniform(0.2, 0.8, 2) * (width, size)
        ax, ay = rng.uniform(0.05, 0.2, 2) * (width, size)
        m |= ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 < 1
    return (m * 255).astype(np.uint8)


@pytest.mark.parametrize("sigma", [4.0, 16.0, 32.0, 80.0, 160.0, 240.0])
@pytest.mark.parametrize("direction", [1, 2])
def test_directional_matches_256_rounds(sigma, direction):
    mask = ellipse_mask(72, int(sigma))
    ours = _ops.blur(mask, sigma, direction)
    ref = directional_reference(mask, sigma, up=direction == 1)
    assert np.abs(ours.astype(int) - ref).max() <= 1
    if direction == 1:
        assert (ours >= mask).all()
    else:
        assert (ours <= mask).all()


@pytest.mark.parametrize("direction", [1, 2])
def test_directional_on_wide_odd_sized_colour_images(direction):
    """Many tile columns and bands with ragged edges, three channels that differ."""
    mask = ellipse_mask(203, 7, width=389)
    rng = np.random.default_rng(direction)
    img = np.stack([mask, mask[::-1], (rng.random(mask.shape) < 0.002) * 255], axis=-1).astype(np.uint8)
    ours = _ops.blur(img, 32.0, direction)
    ref = directional_reference(img, 32.0, up=direction == 1)
    assert np.abs(ours.astype(int) - ref).max() <= 1


def test_gil_is_released_while_a_kernel_runs():
    img = np.random.default_rng(5).integers(0, 256, (1024, 1024), dtype=np.uint8)
    start = time.perf_counter()
    _ops.blur(img, 16.0, 1)
    alone = time.perf_counter() - start
    assert alone > 0.05, "the kernel must run long enough to observe"
    done = threading.Event()
    worker = threading.Thread(target=lambda: (_ops.blur(img, 16.0, 1), done.set()))
    ticks, longest, last = 0, 0.0, time.perf_counter()
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
        ticks += 1
        time.sleep(0)
    worker.join()
    # With the GIL held, this thread would stall for the whole kernel.
    assert ticks > 100
    assert longest < alone / 2
