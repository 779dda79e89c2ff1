"""Seamless tiling: circular padding on every padded convolution, for one request only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch


@contextlib.contextmanager
def circular_padding(modules: Iterable[torch.nn.Module | None], enabled: bool = True) -> Iterator[None]:
    """Make the convolutions of ``modules`` wrap around the image edges inside the block.

    Conv2d keeps its padding amounts whatever the mode, so switching ``padding_mode``
    is enough; the previous modes are restored even when generation raises.
    """
    if not enabled:
        yield
        return
    changed: list[tuple[torch.nn.Conv2d, str]] = []
    try:
        for module in modules:
            if module is None:
                continue
            for conv in module.modules():
                if isinstance(conv, torch.nn.Conv2d) and any(p > 0 for p in _padding(conv)):
                    changed.append((conv, conv.padding_mode))
                    conv.padding_mode = "circular"
        yield
    finally:
        for conv, mode in changed:
            conv.padding_mode = mode


def _padding(conv: torch.nn.Conv2d) -> tuple[int, ...]:
    if isinstance(conv.padding, str):  # "same"/"valid": sizes unknown until forward
        return (1,) if conv.padding == "same" else (0,)
    return tuple(conv.padding)
