"""A tiny random-weight ESRGAN network in the RealESRGAN checkpoint layout, built offline.

It upscales into structured noise, not detail: tests, benchmarks and the embedded
``tiny-upscaler`` engine build it here and load it back through spandrel like any
downloaded RealESRGAN file (``conv_first``, ``body.N.rdbM.convK``, ``conv_body``,
``conv_up1``/``conv_up2``, ``conv_hr``, ``conv_last``; ×2 and ×1 networks take a
pixel-unshuffled input, 4× or 16× the channels).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

TINY_SCALE = 4


def realesrgan_state_dict(
    *, scale: int = TINY_SCALE, features: int = 8, growth: int = 32, blocks: int = 1, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Random weights for an RRDBNet (RealESRGAN key layout) of ``blocks`` RRDB blocks.

    ``growth`` is 32 in every released ESRGAN network, and loaders (spandrel) assume it.
    """
    if scale not in (1, 2, 4):
        raise ValueError(f"RealESRGAN networks are ×1, ×2 or ×4, not ×{scale}")
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def conv(name: str, outputs: int, inputs: int, gain: float = 1.0) -> None:
        # He-style initialisation, scaled down so that the residual stack stays tame.
        std = gain * (2.0 / (inputs * 9)) ** 0.5
        state[f"{name}.weight"] = torch.randn(outputs, inputs, 3, 3, generator=generator) * std
        state[f"{name}.bias"] = torch.zeros(outputs)

    in_channels = 3 * {4: 1, 2: 4, 1: 16}[scale]
    conv("conv_first", features, in_channels)
    for block in range(blocks):
        for dense in (1, 2, 3):
            for index in range(1, 5):
                conv(f"body.{block}.rdb{dense}.conv{index}", growth, features + (index - 1) * growth, 0.1)
            conv(f"body.{block}.rdb{dense}.conv5", features, features + 4 * growth, 0.1)
    conv("conv_body", features, features)
    conv("conv_up1", features, features)
    conv("conv_up2", features, features)
    conv("conv_hr", features, features)
    conv("conv_last", 3, features, 0.1)
    state["conv_last.bias"] += 0.5  # mid-grey plus structure: little is clipped away
    return state


def save_checkpoint(state: dict[str, torch.Tensor], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` as RealESRGAN releases do: ``.pth`` as ``{"params_ema": state}``, or ``.safetensors``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=path.suffix, delete=False) as scratch:
        temporary = Path(scratch.name)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file({key: value.contiguous() for key, value in state.items()}, str(temporary))
        else:
            torch.save({"params_ema": state}, temporary)
        temporary.replace(path)  # atomic: a concurrent loader sees the old file or the whole new one
    finally:
        temporary.unlink(missing_ok=True)
    return path


def ensure_tiny_upscaler(folder: str | os.PathLike[str]) -> Path:
    """The embedded ``tiny-upscaler`` checkpoint, built into ``folder`` on first use."""
    path = Path(folder) / f"tiny-upscaler-x{TINY_SCALE}.safetensors"
    if not path.is_file():
        save_checkpoint(realesrgan_state_dict(), path)
    return path
