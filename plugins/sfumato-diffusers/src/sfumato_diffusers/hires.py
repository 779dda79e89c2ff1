"""Hires fix geometry: where the native-size composition lands on the target canvas (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class HiresPlan:
    first_width: int
    first_height: int
    scale: float  # first pass -> target


def needs_hires(width: int, height: int, native: int) -> bool:
    return width > native or height > native


def plan(width: int, height: int, native: int, oos_fraction: float) -> HiresPlan:
    """The first pass is the native square; it is scaled so that at ``oos_fraction`` 0 it
    covers the target (overflow cropped) and at 1 it fits inside (letterboxed), with the
    scale interpolated in between."""
    cover = max(width, height) / native
    contain = min(width, height) / native
    return HiresPlan(native, native, cover + (contain - cover) * oos_fraction)


def place(image: np.ndarray, width: int, height: int, scale: float) -> np.ndarray:
    """Scale ``image`` (H×W×3 uint8) by ``scale`` and centre it on a ``width``×``height``
    canvas, cropping overflow and filling letterbox bands by repeating the edge pixels
    (the refine pass then paints over them)."""
    h, w = image.shape[:2]
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    scaled = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.LANCZOS))
    # Crop what overflows, centred.
    top, left = max(0, (new_h - height) // 2), max(0, (new_w - width) // 2)
    scaled = scaled[top : top + height, left : left + width]
    # Pad what is missing, centred.
    pad_h, pad_w = height - scaled.shape[0], width - scaled.shape[1]
    pads = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    return np.pad(scaled, pads, mode="edge")


def fit_native(image: np.ndarray, native: int, scale: float) -> np.ndarray:
    """The init image as the first pass sees it: the inverse of :func:`place` onto the native square."""
    return place(image, native, native, 1.0 / scale)


def place_on(draft: np.ndarray, init: np.ndarray, scale: float) -> np.ndarray:
    """:func:`place` the draft on the init image's canvas; where the scaled draft does not reach
    (letterbox bands), the init image's own pixels stay instead of repeated edges."""
    height, width = init.shape[:2]
    placed = place(draft, width, height, scale)
    out = np.array(init[:, :, :3], copy=True)
    rows = _covered(draft.shape[0], scale, height)
    cols = _covered(draft.shape[1], scale, width)
    out[rows, cols] = placed[rows, cols]
    return out


def _covered(size: int, scale: float, canvas: int) -> slice:
    scaled = max(1, round(size * scale))
    if scaled >= canvas:
        return slice(0, canvas)
    start = (canvas - scaled) // 2
    return slice(start, start + scaled)
