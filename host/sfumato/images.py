"""Decoding input artifacts and encoding output PNGs.

PNG goes through the native codec (``sfumato._ops``); other formats a client may
send as an init image (JPEG, WebP, …) go through Pillow. Either way the declared
dimensions are checked against the limits before any pixel is decoded, so a tiny
file declaring 50000×50000 costs nothing. An EXIF orientation (JPEG, WebP, a PNG's
eXIf chunk) is applied, so the pixels come out upright.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

from sfumato import _ops
from sfumato.errors import invalid

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXIF_ORIENTATION = 0x0112

# Pillow's own bomb check would refuse before we can report the declared size; ours
# (limits.max_input_pixels / max_input_side) runs right after the header is read.
Image.MAX_IMAGE_PIXELS = None


def _check_size(width: int, height: int, *, max_pixels: int, max_side: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise invalid(f"{what}: the image declares an empty size {width}×{height}")
    if width > max_side or height > max_side or width * height > max_pixels:
        raise invalid(
            f"{what}: the image is {width}×{height}; the limit is {max_side} pixels per side "
            f"and {max_pixels} pixels in all (limits.max_input_side, limits.max_input_pixels)"
        )


def decode_image(data: bytes, *, max_pixels: int, max_side: int, what: str = "image") -> np.ndarray:
    """Decode ``data`` to an H×W×C ``uint8`` array (C = 1, 3 or 4)."""
    if not data:
        raise invalid(f"{what}: the artifact has no image bytes")
    if data.startswith(PNG_SIGNATURE):
        try:
            width, height = _ops.png_info(data)
        except ValueError as exc:
            raise invalid(f"{what}: not a valid PNG ({exc})") from exc
        _check_size(width, height, max_pixels=max_pixels, max_side=max_side, what=what)
        try:
            pixels = _ops.decode_png(data, max_pixels)
        except ValueError as exc:
            raise invalid(f"{what}: the PNG could not be decoded ({exc})") from exc
        pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
        return apply_orientation(pixels, png_orientation(data))
    return _decode_with_pillow(data, max_pixels=max_pixels, max_side=max_side, what=what)


def png_orientation(data: bytes) -> int:
    """The EXIF orientation of a PNG's eXIf chunk (1 = as stored, also when there is none).

    Walks the chunk headers only, so a large PNG costs a few hundred jumps.
    """
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        if kind == b"eXIf":
            return _exif_orientation(data[position + 8 : position + 8 + length])
        if kind == b"IEND":
            break
        position += 12 + length
    return 1


def _exif_orientation(payload: bytes) -> int:
    exif = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about damaged EXIF; we just skip it
            exif.load(payload)
        orientation = int(exif.get(EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not refuse an otherwise good image
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn H×W×C pixels stored with EXIF ``orientation`` upright (what Pillow's exif_transpose does)."""
    if orientation == 2:
        pixels = pixels[:, ::-1]
    elif orientation == 3:
        pixels = pixels[::-1, ::-1]
    elif orientation == 4:
        pixels = pixels[::-1]
    elif orientation == 5:
        pixels = pixels.transpose(1, 0, 2)
    elif orientation == 6:
        pixels = np.rot90(pixels, k=-1)
    elif orientation == 7:
        pixels = pixels[::-1, ::-1].transpose(1, 0, 2)
    elif orientation == 8:
        pixels = np.rot90(pixels, k=1)
    else:
        return pixels
    return np.ascontiguousarray(pixels)


def _decode_with_pillow(data: bytes, *, max_pixels: int, max_side: int, what: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            _check_size(image.width, image.height, max_pixels=max_pixels, max_side=max_side, what=what)
            image.load()
            orientation = _pillow_orientation(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise invalid(f"{what}: the bytes are not an image format sfumato can read (PNG, JPEG, WebP, …)") from exc
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    pixels = np.asarray(image)
    pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
    # Phones store photos sideways and say so in EXIF; turned pixels keep the size limits
    # checked above, which treat width and height alike.
    return apply_orientation(pixels, orientation)


def _pillow_orientation(image: Image.Image) -> int:
    try:
        orientation = int(image.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not refuse an otherwise good image
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def encode_png(pixels: np.ndarray, *, text: dict[str, str] | None = None, fast: bool = False) -> bytes:
    """Encode an H×W×C ``uint8`` array as PNG with optional text chunks."""
    return _ops.encode_png(np.ascontiguousarray(pixels), fast=fast, text=text)


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """Drop alpha / expand grey so engines always see H×W×3."""
    channels = pixels.shape[2]
    if channels == 3:
        return pixels
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, :3])


def mask_plane(pixels: np.ndarray) -> np.ndarray:
    """The mask as H×W float32 in 0..1: its red (or only) channel, white = regenerate."""
    return pixels[:, :, 0].astype(np.float32) / 255.0
