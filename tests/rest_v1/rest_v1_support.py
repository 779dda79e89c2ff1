"""Shared by the REST v1 tests: the server config, test images (made with Pillow) and error checks."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

# The API tests' test-pattern setup, with quotas off (one address sends everything) and
# without the binary dialects, which these tests do not use.
CONFIG = """
[server]
default_engine = "test-pattern"
# Browser front ends read the PNG answer's headers cross-origin.
cors_origins = ["http://app.example"]

[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[limits]
max_body_bytes = 8388608

[grpc]
enabled = false
web_enabled = false

[[engines]]
id = "test-pattern"
kind = "test-pattern"
name = "Test pattern"
max_batch_size = 4
[engines.limits]
max_width = 1024
max_height = 1024
max_pixels = 1048576
max_steps = 150
max_samples = 10
"""

REST_ERROR_KEYS = {"id", "name", "message"}


def png(width: int = 256, height: int = 256, *, alpha_left: bool = False, seed: int = 1) -> bytes:
    """A noisy RGB(A) PNG; with ``alpha_left`` its left half is fully transparent."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    if alpha_left:
        alpha = np.full((height, width, 1), 255, dtype=np.uint8)
        alpha[:, : width // 2] = 0
        pixels = np.concatenate([pixels, alpha], axis=2)
    return encode(pixels)


def half_mask(width: int = 256, height: int = 256, *, left: int = 255) -> bytes:
    """A greyscale mask whose left half is ``left`` (255 = white) and right half the opposite."""
    pixels = np.full((height, width), 255 - left, dtype=np.uint8)
    pixels[:, : width // 2] = left
    return encode(pixels)


def encode(pixels: np.ndarray, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=format)
    return buffer.getvalue()


def pixels_of(data: bytes) -> np.ndarray:
    """Decoded with Pillow (not sfumato's codec): H×W×3."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def assert_rest_error(response: Any, status: int, name: str, *fragments: str) -> dict[str, Any]:
    """``response`` is a REST v1 error: the status, the exact body keys, the name, message fragments."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == REST_ERROR_KEYS, body
    assert body["name"] == name, body
    assert len(body["id"]) >= 16
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body["message"])
    return body
