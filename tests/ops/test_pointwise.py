"""levels, invert, channels and crop: exact against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfumato import _ops

from . import test_blur  # noqa: F401  (loads the shared hypothesis profile)

shapes = st.tuples(st.integers(1, 33), st.integers(1, 33), st.sampled_from([1, 3, 4]))


def random_image(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def levels_table(il, ih, ol, oh):
    """float64 reference, rounding half to even (np.rint), same operation order as the kernel."""
    x = np.arange(256, dtype=np.float64) / 255.0
    y = np.clip((x - il) / (ih - il) * (oh - ol) + ol, 0.0, 1.0)
    return np.rint(y * 255.0).astype(np.uint8)


unit = st.floats(-0.5, 1.5, allow_nan=False)


@given(shape=shapes, seed=st.integers(0, 999), il=unit, width=st.floats(1e-4, 2.0), ol=unit, oh=unit)
def test_levels_bit_exact(shape, seed, il, width, ol, oh):
    img = random_image(shape, seed)
    ih = il + width
    table = levels_table(il, ih, ol, oh)
    out = _ops.levels(img, il, ih, ol, oh)
    want = table[img]
    if shape[2] == 4:
        want[..., 3] = img[..., 3]
    assert np.array_equal(out, want)
    assert np.array_equal(_ops.levels(img, il, ih, ol, oh, include_alpha=True), table[img])


@pytest.mark.parametrize("params", [(0, 1, 0, 0.5), (0.1, 0.9, 0.05, 0.95), (0, 0.05, 0, 1), (0.3, 0.7, 1, 0)])
def test_levels_named_cases_and_float32(params):
    img = np.arange(256 * 4, dtype=np.uint8).reshape(16, 16, 4)
    assert np.array_equal(_ops.levels(img, *params, include_alpha=True), levels_table(*params)[img])
    f = img.astype(np.float32) / 255
    il, ih, ol, oh = params
    want = np.clip((f - il) / (ih - il) * (oh - ol) + ol, 0, 1)
    want[..., 3] = f[..., 3]
    assert np.allclose(_ops.levels(f, *params), want, atol=1e-6)


def test_levels_rejects_empty_input_range():
    img = np.zeros((2, 2, 3), np.uint8)
    for il, ih in ((0.5, 0.5), (0.6, 0.2)):
        with pytest.raises(ValueError):
            _ops.levels(img, il, ih, 0, 1)


@given(shape=shapes, seed=st.integers(0, 999))
def test_invert_exact(shape, seed):
    img = random_image(shape, seed)
    want = 255 - img
    if shape[2] == 4:
        want[..., 3] = img[..., 3]
    assert np.array_equal(_ops.invert(img), want)
    assert np.array_equal(_ops.invert(img, include_alpha=True), 255 - img)
    f = img.astype(np.float32) / 255
    fw = 1 - f
    if shape[2] == 4:
        fw[..., 3] = f[..., 3]
    assert np.array_equal(_ops.invert(f), fw)


def channels_reference(img, sources):
    """numpy model of the documented rules."""
    h, w, c = img.shape
    full = np.iinfo(img.dtype).max if img.dtype == np.uint8 else 1.0
    planes = {
        0: img[..., 0],
        1: img[..., 1 if c > 1 else 0],
        2: img[..., 2 if c > 1 else 0],
        3: img[..., 3] if c == 4 else np.full((h, w), full, img.dtype),
        4: np.zeros((h, w), img.dtype),
        5: np.full((h, w), full, img.dtype),
    }
    kept = [planes[s] for s in sources if s != 6]
    return np.stack(kept, axis=-1)


@given(shape=shapes, seed=st.integers(0, 999), sources=st.lists(st.integers(0, 6), min_size=4, max_size=4))
def test_channels_exact(shape, seed, sources):
    img = random_image(shape, seed)
    kept = sum(s != 6 for s in sources)
    if kept not in (1, 3, 4):
        with pytest.raises(ValueError):
            _ops.channels(img, sources)
        return
    assert np.array_equal(_ops.channels(img, sources), channels_reference(img, sources))
    f = img.astype(np.float32) / 255
    assert np.array_equal(_ops.channels(f, sources), channels_reference(f, sources))


def test_channels_rejects_bad_sources():
    img = np.zeros((2, 2, 4), np.uint8)
    with pytest.raises(ValueError):
        _ops.channels(img, [0, 1, 2])
    with pytest.raises(ValueError):
        _ops.channels(img, [0, 1, 2, 7])


@given(
    shape=shapes,
    seed=st.integers(0, 999),
    box=st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)),
)
def test_crop_exact_or_value_error(shape, seed, box):
    img = random_image(shape, seed)
    top, left, width, height = box
    inside = width > 0 and height > 0 and top + height <= shape[0] and left + width <= shape[1]
    if not inside:
        with pytest.raises(ValueError):
            _ops.crop(img, top, left, width, height)
        return
    out = _ops.crop(img, top, left, width, height)
    assert np.array_equal(out, img[top : top + height, left : left + width])
    out[...] = 0
    assert img.any() or not img.size  # the input was not touched through the result


def test_outputs_are_new_arrays():
    img = random_image((8, 8, 3), 1)
    before = img.copy()
    for out in (_ops.invert(img), _ops.levels(img, 0, 1, 0, 1), _ops.channels(img, [0, 1, 2, 3]), _ops.crop(img, 0, 0, 8, 8)):
        assert out.flags.owndata or out.base is not img
    assert np.array_equal(img, before)
