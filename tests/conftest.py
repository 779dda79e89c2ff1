"""Shared helpers for the host's tests."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode with Pillow (an independent encoder) for requests."""
    buffer = io.BytesIO()
    Image.fromarray(pixels.squeeze() if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels).save(buffer, "PNG")
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """Decode with Pillow (an independent decoder) to check answers."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
