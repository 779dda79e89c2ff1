"""EXIF orientation on decode, checked against Pillow's ImageOps.exif_transpose."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from sfumato.errors import RpcError
from sfumato.images import decode_image

LIMITS = {"max_pixels": 4096 * 4096, "max_side": 8192}
ORIENTATION = 0x0112


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()


def encoded(pixels: np.ndarray, fmt: str, orientation: int | None) -> bytes:
    buffer = io.BytesIO()
    options = {"exif": exif_bytes(orientation)} if orientation is not None else {}
    if fmt == "JPEG":
        options["quality"] = 95
    Image.fromarray(pixels.squeeze()).save(buffer, fmt, **options)
    return buffer.getvalue()


def reference(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(ImageOps.exif_transpose(image))
    return pixels if pixels.ndim == 3 else pixels[:, :, None]


def png_with_chunk(png: bytes, kind: bytes, payload: bytes) -> bytes:
    """``png`` with one more chunk right after IHDR."""
    chunk = struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    end_of_ihdr = 8 + 8 + 13 + 4
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


@pytest.fixture
def stored() -> np.ndarray:
    # Not square and not symmetric, so every orientation gives a different array.
    return np.random.default_rng(6).integers(0, 256, size=(16, 24, 3), dtype=np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_orientation_matches_exif_transpose(stored, fmt, orientation):
    data = encoded(stored, fmt, orientation)
    if fmt == "PNG":
        assert b"eXIf" in data  # the native PNG decoder's path, not Pillow's
    decoded = decode_image(data, **LIMITS)
    expected = reference(data)
    assert decoded.shape == expected.shape
    assert np.array_equal(decoded, expected)
    if orientation >= 5:
        assert decoded.shape[:2] == (24, 16)
    assert decoded.flags.c_contiguous


def test_orientation_six_turns_a_phone_photo_upright():
    stored = np.zeros((2, 3, 3), dtype=np.uint8)
    stored[0, 0] = 255  # top-left as stored
    decoded = decode_image(encoded(stored, "PNG", 6), **LIMITS)
    assert decoded.shape == (3, 2, 3)
    assert decoded[0, 1].tolist() == [255, 255, 255]  # rotated 90° clockwise: now top-right


def test_grey_png_with_orientation(stored):
    grey = stored[:, :, :1].copy()
    data = encoded(grey, "PNG", 8)
    assert np.array_equal(decode_image(data, **LIMITS), reference(data))


def test_png_without_exif_is_unchanged(stored):
    assert np.array_equal(decode_image(encoded(stored, "PNG", None), **LIMITS), stored)


def test_damaged_exif_chunk_is_ignored(stored):
    data = png_with_chunk(encoded(stored, "PNG", None), b"eXIf", b"MM\x00*garbage")
    assert np.array_equal(decode_image(data, **LIMITS), stored)


def test_out_of_range_orientation_is_ignored(stored):
    assert np.array_equal(decode_image(encoded(stored, "PNG", 9), **LIMITS), stored)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_size_limit_still_applies_to_rotated_images(stored, fmt):
    # 24×16 stored, 16×24 upright: a 20-pixel side limit refuses it either way, before decoding.
    with pytest.raises(RpcError) as caught:
        decode_image(encoded(stored, fmt, 6), max_pixels=4096, max_side=20, what="prompt[1].artifact.binary")
    assert "limits.max_input_side" in caught.value.message
