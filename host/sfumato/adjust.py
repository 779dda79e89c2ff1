"""Applying a list of ``ImageAdjustment``s through the adjustment registry."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from sfumato.errors import invalid
from sfumato.records import AdjustmentSpec, resolve

BUILTIN_KINDS = ("blur", "invert", "levels", "channels", "rescale", "crop")


def members(adjustment: Any) -> Iterator[tuple[str, Any]]:
    """The (kind, params) pairs set on one ImageAdjustment (the oneof makes it at most one)."""
    for kind in BUILTIN_KINDS:
        params = getattr(adjustment, kind, None)
        if params is not None:
            yield kind, params
    extra = getattr(adjustment, "extra", None) or {}
    yield from extra.items()


def validate_adjustments(
    adjustments: Sequence[Any], registry: Mapping[str, AdjustmentSpec], *, path: str
) -> None:
    """Check every adjustment before any work is accepted (400 on the first bad one)."""
    for position, adjustment in enumerate(adjustments):
        where = f"{path}[{position}]"
        found = list(members(adjustment))
        if not found:
            raise invalid(f"{where}: an adjustment must set one of: {', '.join(sorted(registry))}")
        for kind, params in found:
            spec = registry.get(kind)
            if spec is None:
                raise invalid(
                    f"{where}.{kind}: this server has no '{kind}' adjustment "
                    f"(installed: {', '.join(sorted(registry)) or 'none'})"
                )
            if spec.validate is not None:
                try:
                    spec.validate(params)
                except ValueError as exc:
                    raise invalid(f"{where}.{kind}: {exc}") from exc


def apply_adjustments(
    pixels: np.ndarray, adjustments: Sequence[Any], registry: Mapping[str, AdjustmentSpec], *, path: str
) -> np.ndarray:
    """Run the adjustments in order on an H×W×C ``uint8`` image."""
    for position, adjustment in enumerate(adjustments):
        for kind, params in members(adjustment):
            apply = resolve(registry[kind].apply)
            try:
                pixels = apply(pixels, params)
            except ValueError as exc:
                raise invalid(f"{path}[{position}].{kind}: {exc}") from exc
            if pixels.ndim == 2:
                pixels = pixels[:, :, None]
    return pixels
