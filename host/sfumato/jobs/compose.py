"""Final mask compositing (API.md §4): ``init·(1−m) + generated·m``."""

from __future__ import annotations

import numpy as np


def composite(init: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend per pixel; ``mask`` is H×W float32 in 0..1 with 1 = keep the generated pixel.

    Where the mask is 0 the init pixel is returned bit-exactly.
    """
    generated = generated[:, :, :3] if generated.shape[2] == 4 else generated
    m = mask[:, :, None].astype(np.float32)
    blended = init.astype(np.float32) * (1.0 - m) + generated.astype(np.float32) * m
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
