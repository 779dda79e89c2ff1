"""The ``sepia`` adjustment's parameters (imported at registration, so no numpy here)."""

from __future__ import annotations

import math

import msgspec


class SepiaParams(msgspec.Struct, forbid_unknown_fields=True):
    """``{"sepia": {"amount": 0.8}}`` inside an ``ImageAdjustment``."""

    amount: float = 1.0


def validate_sepia(params: SepiaParams) -> None:
    """Runs before the request is accepted; a ValueError becomes a 400 naming the adjustment."""
    if not math.isfinite(params.amount) or not 0.0 <= params.amount <= 1.0:
        raise ValueError(f"amount must be in 0..1, got {params.amount}")
