"""The optional safety checker: "flag" marks images, "block" also blacks them out."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class SafetyFilter:
    def __init__(self, mode: str, checker: Any, feature_extractor: Any) -> None:
        if mode != "off" and (checker is None or feature_extractor is None):
            raise ValueError(
                f"options.safety_checker = {mode!r} but the model has no safety_checker and "
                "feature_extractor components; use a model folder that includes them, or 'off'"
            )
        self.mode = mode
        self.checker = checker
        self.feature_extractor = feature_extractor

    @torch.no_grad()
    def apply(self, images: np.ndarray) -> tuple[np.ndarray, list[bool]]:
        """``images``: B×H×W×3 uint8. Returns the (possibly blacked-out) images and flags."""
        if self.mode == "off":
            return images, [False] * len(images)
        device = next(self.checker.parameters()).device
        dtype = next(self.checker.parameters()).dtype
        clip_input = self.feature_extractor(list(images), return_tensors="pt").pixel_values
        _, flags = self.checker(images=images.astype(np.float32) / 255.0, clip_input=clip_input.to(device, dtype))
        flags = [bool(f) for f in flags]
        if self.mode == "block":
            images = images.copy()
            for i, flagged in enumerate(flags):
                if flagged:
                    images[i] = 0
        return images, flags
