"""Requests and test images for the upscaling tests."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from sfumato.images import encode_png

GENERATE = "/grpcgateway/generate"


def png_b64(pixels: np.ndarray) -> str:
    return base64.b64encode(encode_png(np.ascontiguousarray(pixels, dtype=np.uint8))).decode()


def upscale_request(
    engine: str, image: np.ndarray | None, *, upscaler: str | None = None, width: int | None = None,
    height: int | None = None, **image_fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"engineId": engine, "prompt": [], "image": dict(image_fields)}
    if image is not None:
        body["prompt"].append({"artifact": {"type": "ARTIFACT_IMAGE", "binary": png_b64(image)}})
    if upscaler is not None:
        body["image"]["transform"] = {"upscaler": upscaler}
    if width is not None:
        body["image"]["width"] = str(width)
    if height is not None:
        body["image"]["height"] = str(height)
    return body


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A band-limited RGB image: a few low-frequency waves per channel."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = []
    for _ in range(3):
        value = np.full((height, width), 0.5)
        for _ in range(3):
            fy, fx = rng.uniform(0.5, 2.0, size=2) * 2 * np.pi / max(height, width)
            value += 0.15 * np.sin(fy * y + fx * x + rng.uniform(0, 2 * np.pi))
        channels.append(value)
    return np.clip(np.rint(np.stack(channels, axis=2) * 255), 0, 255).astype(np.uint8)


def noise_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
