"""rescale against Pillow on raw (non-premultiplied) data."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import cv2

from sfumato import _ops

from .helpers import smooth_image


def photo_image(seed: int, h: int, w: int, c: int) -> np.ndarray:
    """Band-limited photo-like content. On hard-edged noise Pillow differs by up to ~25 levels
    because it clips its 8-bit intermediate between the two passes (lanczos/bicubic overshoot)."""
    img = smooth_image(np.random.default_rng(seed), h, w, c)
    return cv2.GaussianBlur(img, (0, 0), 1.5).reshape(img.shape)

PIL_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}


def pillow_raw(img: np.ndarray, w: int, h: int, name: str) -> np.ndarray:
    """Pillow resize without its RGBA premultiplication ('RGBa' is taken as already premultiplied)."""
    c = img.shape[2]
    if c == 4:
        im = Image.frombuffer("RGBa", (img.shape[1], img.shape[0]), img.tobytes(), "raw", "RGBa", 0, 1)
        out = im.resize((w, h), PIL_FILTERS[name])
        return np.frombuffer(out.tobytes(), np.uint8).reshape(h, w, 4)
    im = Image.fromarray(img[..., 0] if c == 1 else img)
    return np.asarray(im.resize((w, h), PIL_FILTERS[name])).reshape(h, w, c)


CASES = [((97, 131, 4), (60, 45)), ((64, 80, 3), (200, 150)), ((50, 50, 1), (17, 33)), ((120, 90, 4), (90, 120))]


@pytest.mark.parametrize("shape,size", CASES)
@pytest.mark.parametrize("name", ["bilinear", "bicubic", "lanczos", "area"])
def test_matches_pillow(shape, size, name):
    img = photo_image(sum(shape), *shape)
    w, h = size
    ours = _ops.rescale(img, w, h, 0, name)
    assert ours.shape == (h, w, shape[2])
    diff = np.abs(ours.astype(int) - pillow_raw(img, w, h, name))
    if name in ("bilinear", "area"):
        assert diff.max() <= 1
    else:
        assert diff.mean() <= 0.2


def test_nearest_picks_source_pixels():
    img = smooth_image(np.random.default_rng(9), 40, 30, 3)
    assert np.array_equal(_ops.rescale(img, 15, 20, 0, "nearest"), pillow_raw(img, 15, 20, "nearest"))
    # Upscaling by 1.5 has ties; each output must be the nearest source pixel or its tie partner.
    out = _ops.rescale(img, 45, 60, 0, "nearest")
    ys = np.clip(((np.arange(60) + 0.5) * 40 / 60), 0, 39.999)
    xs = np.clip(((np.arange(45) + 0.5) * 30 / 45), 0, 29.999)
    for dy in (0, -1):
        for dx in (0, -1):
            yi = np.clip(np.floor(ys).astype(int) + dy, 0, 39)
            xi = np.clip(np.floor(xs).astype(int) + dx, 0, 29)
            cand = img[yi][:, xi]
            if dy == dx == 0:
                hit = (cand == out).all(-1)
            else:
                hit |= (cand == out).all(-1)
    assert hit.all()


def test_crop_and_fit_modes():
    img = smooth_image(np.random.default_rng(3), 50, 100, 3)
    cover = _ops.rescale(img, 64, 64, 2, "bilinear")
    assert cover.shape == (64, 64, 3)
    # Covering a 2:1 image with a square keeps the centre half of its width.
    centre = _ops.rescale(np.ascontiguousarray(img[:, 25:75]), 64, 64, 0, "bilinear")
    assert np.abs(cover.astype(int) - centre).mean() < 1.0
    fit = _ops.rescale(img, 64, 64, 3, "bilinear")
    assert fit.shape == (64, 64, 4)
    assert (fit[:16] == 0).all() and (fit[48:] == 0).all()
    assert (fit[16:48, :, 3] == 255).all()
    mask = np.full((50, 100, 1), 255, np.uint8)
    assert _ops.rescale(mask, 64, 64, 3, "area").shape == (64, 64, 1)


def test_float32_and_errors():
    img = smooth_image(np.random.default_rng(4), 32, 32, 4)
    f = _ops.rescale(img.astype(np.float32) / 255, 16, 16, 0, "bilinear")
    u = _ops.rescale(img, 16, 16, 0, "bilinear")
    assert f.dtype == np.float32 and np.abs(f * 255 - u).max() <= 1
    with pytest.raises(ValueError):
        _ops.rescale(img, 0, 16)
    with pytest.raises(ValueError):
        _ops.rescale(img, 16, 16, 1)
    with pytest.raises(ValueError):
        _ops.rescale(img, 16, 16, 0, "sinc")


def test_concurrent_rescales_from_many_threads(rng):
    """Requests resize on several threads at once; each call must stand alone (no shared state)."""
    import concurrent.futures

    image = rng.integers(0, 256, size=(256, 256, 4), dtype=np.uint8)
    sizes = (1536, 2048)  # large enough that the kernels split the work over their thread pool
    expected = {size: _ops.rescale(image, size, size, 0, "lanczos") for size in sizes}

    def run(index: int) -> bool:
        size = sizes[index % 2]
        return all(np.array_equal(_ops.rescale(image, size, size, 0, "lanczos"), expected[size]) for _ in range(3))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(run, range(16)))
