"""The ``options`` tables of the upscaling kinds, parsed and checked when the engine is created (no torch)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

# The rescale filters of sfumato._ops that make sense for enlarging.
RgbFilter = Literal["lanczos", "bicubic", "bilinear", "nearest"]


class _Factors(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Output side ÷ input side: requests outside 1..max_upscale_factor get a 400.
    max_upscale_factor: float = 4.0
    # Used when a request sets neither image.width nor image.height.
    default_upscale_factor: float = 2.0

    def __post_init__(self) -> None:
        if not 1.0 <= self.max_upscale_factor <= 16.0:
            raise ValueError(f"max_upscale_factor must be in 1..16, got {self.max_upscale_factor}")
        if not 1.0 <= self.default_upscale_factor <= self.max_upscale_factor:
            raise ValueError(
                f"default_upscale_factor must be in 1..max_upscale_factor ({self.max_upscale_factor:g}), "
                f"got {self.default_upscale_factor}"
            )


class RgbOptions(_Factors, forbid_unknown_fields=True, kw_only=True):
    filter: RgbFilter = "lanczos"
    max_upscale_factor: float = 8.0


class EsrganOptions(_Factors, forbid_unknown_fields=True, kw_only=True):
    # Tiles of at most tile_size × tile_size input pixels (0: never tile), neighbours overlapping
    # by at least tile_overlap input pixels; the overlaps are blended (docs/upscale.md).
    tile_size: int = 512
    tile_overlap: int = 32
    # Tiles (all of one size) share a forward pass up to this many input pixels (at least one
    # tile a pass; 0: one tile a pass). A pass's memory grows with it; one large pass per
    # tile grid is what fills a GPU. Unset: one default-size tile's worth (512²) on a GPU, one
    # tile a pass on the CPU, where batching measured slower and larger (docs/upscale.md).
    tile_batch_pixels: int | None = None
    # A GFPGAN checkpoint for UPSCALER_GFPGAN; empty: the engine answers UPSCALER_GFPGAN with 501.
    face_model: str = ""
    # "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
    device: str = "auto"
    # Run the networks in float16 (CUDA only; ignored elsewhere).
    half: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tile_size < 0 or 0 < self.tile_size < 32:
            raise ValueError(f"tile_size must be 0 (no tiling) or at least 32, got {self.tile_size}")
        if self.tile_size and not 0 <= self.tile_overlap <= self.tile_size // 2:
            raise ValueError(f"tile_overlap must be in 0..tile_size/2 ({self.tile_size // 2}), got {self.tile_overlap}")
        if self.tile_batch_pixels is not None and self.tile_batch_pixels < 0:
            raise ValueError(f"tile_batch_pixels must be 0 (one tile a pass) or more, got {self.tile_batch_pixels}")
        device = self.device.lower()
        if device not in ("auto", "cpu", "cuda", "mps") and not (device.startswith("cuda:") and device[5:].isdigit()):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")


def parse(options_type: type[msgspec.Struct], raw: Mapping[str, Any], kind: str) -> Any:
    """The options table as ``options_type``; ``ValueError`` naming the option on anything wrong."""
    try:
        return msgspec.convert(dict(raw), options_type)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ValueError(f"{kind} engine options: {exc}") from None
