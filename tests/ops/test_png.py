"""PNG codec: lossless round trips, Pillow interop, and hostile input."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from sfumato import _ops

from . import test_blur  # noqa: F401  (loads the shared hypothesis profile)
from .helpers import smooth_image


def pillow_png(im: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **options)
    return buf.getvalue()


def pillow_decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@given(
    h=st.integers(1, 70), w=st.integers(1, 70), c=st.sampled_from([1, 3, 4]), fast=st.booleans(), seed=st.integers(0, 99)
)
def test_lossless_round_trip(h, w, c, fast, seed):
    img = smooth_image(np.random.default_rng(seed), h, w, c)
    data = _ops.encode_png(img, fast)
    assert _ops.png_info(data) == (w, h)
    assert np.array_equal(_ops.decode_png(data, 1 << 20), img)
    theirs = pillow_decode(data)
    assert np.array_equal(theirs.reshape(img.shape), img)


def test_big_image_round_trip_both_modes():
    img = smooth_image(np.random.default_rng(1), 700, 900, 3)
    for fast in (False, True):
        data = _ops.encode_png(img, fast=fast)
        assert np.array_equal(_ops.decode_png(data, 1 << 30), img)
        assert np.array_equal(pillow_decode(data), img)


def test_text_chunks_reach_pillow():
    img = np.zeros((4, 4, 3), np.uint8)
    text = {"parameters": "seed=42, steps=30", "prompt": "café ☕ at dawn"}
    for fast in (False, True):
        im = Image.open(io.BytesIO(_ops.encode_png(img, fast, text)))
        assert im.text == text
    with pytest.raises(ValueError):
        _ops.encode_png(img, False, {"": "empty keyword"})


def pillow_cases():
    rng = np.random.default_rng(7)
    rgb = smooth_image(rng, 37, 53, 3)
    rgba = smooth_image(rng, 37, 53, 4)
    gray = rgb[..., 0]
    pal = Image.fromarray(rgb).quantize(16)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 3
    la = Image.merge("LA", (Image.fromarray(gray), Image.fromarray(np.ascontiguousarray(rgba[..., 3]))))
    g16 = Image.fromarray((gray.astype(np.uint16) * 257 + 3).astype(np.uint16))
    bw = Image.fromarray(gray > 128)
    return {
        "rgb": Image.fromarray(rgb),
        "rgba": Image.fromarray(rgba),
        "gray": Image.fromarray(gray),
        "palette": pal,
        "palette+tRNS": pal_t,
        "la": la,
        "gray16": g16,
        "1bit": bw,
    }


def expected_pixels(name: str, im: Image.Image) -> np.ndarray:
    """What decode_png documents for each colour type, computed with Pillow."""
    if name == "palette":
        return np.asarray(im.convert("RGB"))
    if name in ("palette+tRNS", "la"):
        return np.asarray(im.convert("RGBA"))
    if name == "gray16":
        return (np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8)[..., None]
    if name == "1bit":
        return (np.asarray(im.convert("L")))[..., None]
    a = np.asarray(im)
    return a[..., None] if a.ndim == 2 else a


@pytest.mark.parametrize("name", ["rgb", "rgba", "gray", "palette", "palette+tRNS", "la", "gray16", "1bit"])
def test_decodes_pillow_written_pngs(name):
    im = pillow_cases()[name]
    data = pillow_png(im)
    ours = _ops.decode_png(data, 1 << 20)
    assert np.array_equal(ours, expected_pixels(name, Image.open(io.BytesIO(data))))


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def interlaced_png(img: np.ndarray) -> bytes:
    """An Adam7-interlaced RGB PNG, written here because Pillow cannot write one."""
    h, w, _ = img.shape
    raw = bytearray()
    for x0, y0, dx, dy in ADAM7:
        sub = img[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\x00" + row.tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (33, 47)])
def test_decodes_interlaced(shape):
    img = smooth_image(np.random.default_rng(3), *shape, 3)
    data = interlaced_png(img)
    assert np.array_equal(pillow_decode(data), img)
    assert np.array_equal(_ops.decode_png(data, 1 << 20), img)


def test_truncated_pngs_raise_decode_error():
    img = smooth_image(np.random.default_rng(2), 40, 40, 4)
    data = _ops.encode_png(img)
    for cut in range(0, len(data) - 12, max(1, len(data) // 97)):
        with pytest.raises(_ops.ImageDecodeError):
            _ops.decode_png(data[:cut], 1 << 20)
    with pytest.raises(_ops.ImageDecodeError):
        _ops.png_info(data[:20])
    assert issubclass(_ops.ImageDecodeError, ValueError)


@given(seed=st.integers(0, 10_000), flips=st.integers(1, 8))
def test_corrupt_pngs_never_crash(seed, flips):
    img = smooth_image(np.random.default_rng(seed % 7), 24, 24, 3)
    data = bytearray(_ops.encode_png(img))
    rng = np.random.default_rng(seed)
    for _ in range(flips):
        data[int(rng.integers(8, len(data)))] ^= int(rng.integers(1, 256))
    try:
        out = _ops.decode_png(bytes(data), 1 << 20)
    except (_ops.ImageDecodeError, _ops.ImageTooLargeError):
        return
    assert out.dtype == np.uint8 and out.ndim == 3


def test_garbage_is_a_decode_error():
    for junk in (b"", b"GIF89a" + b"\0" * 40, b"\x89PNG\r\n\x1a\n" + b"\xff" * 40):
        with pytest.raises(_ops.ImageDecodeError):
            _ops.decode_png(junk, 1 << 20)


def test_oversize_header_is_refused_before_decoding():
    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 6, 0, 0, 0)
    body = zlib.compress(b"\0" * 1000)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    assert _ops.png_info(data) == (50_000, 50_000)
    start = time.perf_counter()
    with pytest.raises(_ops.ImageTooLargeError):
        _ops.decode_png(data, 4096 * 4096)
    assert time.perf_counter() - start < 0.05
    assert issubclass(_ops.ImageTooLargeError, ValueError)
    # Within the limit it is simply a (truncated) image: a decode error, not an allocation of 10 GB.
    with pytest.raises(_ops.ImageDecodeError):
        _ops.decode_png(data, 50_000 * 50_000)


def test_encode_rejects_bad_arrays():
    with pytest.raises(TypeError):
        _ops.encode_png(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        _ops.encode_png(np.zeros((4, 4, 2), np.uint8))


def idat_stream(data: bytes) -> bytes:
    """The concatenated IDAT payload of a PNG file."""
    at, payload = 8, b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"IDAT":
            payload += data[at + 8 : at + 8 + length]
        at += 12 + length
    return payload


@pytest.mark.parametrize(
    "name",
    ["zeros", "flat colour", "noise (several IDAT chunks)", "stripes", "sparse dots"],
)
def test_fast_mode_streams_are_valid_for_zlib_and_pillow(name):
    rng = np.random.default_rng(3)
    img = {
        "zeros": lambda: np.zeros((700, 900, 4), np.uint8),
        "flat colour": lambda: np.full((500, 800, 3), (12, 200, 77), np.uint8),
        "noise (several IDAT chunks)": lambda: rng.integers(0, 256, (900, 1000, 3), dtype=np.uint8),
        "stripes": lambda: np.repeat((np.arange(640) // 3 % 2 * 255).astype(np.uint8)[None, :, None], 480, axis=0),
        "sparse dots": lambda: (rng.random((600, 700, 1)) > 0.999).astype(np.uint8) * 255,
    }[name]()
    data = _ops.encode_png(img, fast=True)
    # Python's zlib inflates the stream (slices joined by sync flushes) and checks its adler32.
    raw = zlib.decompress(idat_stream(data))
    h, w, c = img.shape
    assert len(raw) == h * (w * c + 1)
    assert np.array_equal(pillow_decode(data).reshape(img.shape), img)
    assert np.array_equal(_ops.decode_png(data, 1 << 30), img)
