"""Independent float64/numpy references for the native kernels."""

from __future__ import annotations

import math

import numpy as np


def kernel_length(sigma: float) -> int:
    """Next odd integer >= 6 sigma (the reference kernel length)."""
    k = math.ceil(6 * sigma)
    return k + 1 if k % 2 == 0 else k


def gaussian_reference(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable float64 Gaussian with reflect-101 borders (numpy's 'reflect' pad)."""
    x = img.astype(np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    k = kernel_length(sigma)
    r = k // 2
    if r == 0:
        return x
    taps = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    taps /= taps.sum()
    for axis in (0, 1):
        pad = [(0, 0)] * 3
        pad[axis] = (r, r)
        padded = np.pad(x, pad, mode="reflect") if x.shape[axis] > 1 else np.pad(x, pad, mode="edge")
        n = x.shape[axis]
        out = np.zeros_like(x)
        for i, w in enumerate(taps):
            out += w * np.take(padded, np.arange(i, i + n), axis=axis)
        x = out
    return x


def smooth_image(rng: np.random.Generator, h: int, w: int, c: int) -> np.ndarray:
    """Photo-like content: smooth noise plus edges, so errors show up where they would."""
    coarse = rng.random((h // 4 + 2, w // 4 + 2, c)) * 255
    yy = np.linspace(0, coarse.shape[0] - 1.001, h).astype(int)
    xx = np.linspace(0, coarse.shape[1] - 1.001, w).astype(int)
    img = coarse[yy][:, xx] + rng.normal(0, 12, (h, w, c))
    img[: h // 3, : w // 2] = 250 * (rng.random() > 0.5)
    return np.clip(img, 0, 255).astype(np.uint8)
