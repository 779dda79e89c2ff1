"""The sepia kernel: H×W×C ``uint8`` in, a new array of the same shape out."""

from __future__ import annotations

import numpy as np

from sfumato_example.sepia_params import SepiaParams

# The classic sepia matrix (rows: output R, G, B; columns: input R, G, B).
SEPIA_MATRIX = np.array(
    [
        [0.393, 0.769, 0.189],
        [0.349, 0.686, 0.168],
        [0.272, 0.534, 0.131],
    ],
    dtype=np.float32,
)


def apply_sepia(pixels: np.ndarray, params: SepiaParams) -> np.ndarray:
    """Blend each pixel towards its sepia tone by ``params.amount``; alpha is carried unchanged.

    A single-channel image (a mask) is grey: its sepia tone is a colour, so it is
    returned as RGB. The input array is never modified.
    """
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an H×W×C image with C = 1, 3 or 4, got shape {pixels.shape}")
    channels = pixels.shape[2]
    colour = pixels[:, :, :3] if channels >= 3 else np.repeat(pixels, 3, axis=2)
    rgb = colour.astype(np.float32)
    toned = rgb @ SEPIA_MATRIX.T
    blended = rgb + (toned - rgb) * np.float32(params.amount)
    result = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    if channels == 4:
        result = np.concatenate([result, pixels[:, :, 3:4]], axis=2)
    return result
