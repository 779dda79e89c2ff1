"""The built-in image adjustments (API.md §6), backed by the native ``sfumato._ops`` kernels.

Registered like any third-party plugin, through the ``sfumato`` entry-point group. The
``params`` types are the wire Structs; this module only reads their attributes, and maps
enum names (``GaussianDirection.DIRECTION_UP.value == "DIRECTION_UP"``) to the kernels'
integer codes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sfumato.hookspecs import hookimpl
from sfumato.records import AdjustmentSpec

# The sfumato plugin API versions this plugin is written for (docs/plugins.md).
SFUMATO_PLUGIN_API = ">=1.0,<2"

DIRECTION_CODES = {"DIRECTION_NONE": 0, "DIRECTION_UP": 1, "DIRECTION_DOWN": 2}
CHANNEL_CODES = {
    "CHANNEL_R": 0,
    "CHANNEL_G": 1,
    "CHANNEL_B": 2,
    "CHANNEL_A": 3,
    "CHANNEL_ZERO": 4,
    "CHANNEL_ONE": 5,
    "CHANNEL_DISCARD": 6,
}
RESCALE_MODE_CODES = {"RESCALE_STRICT": 0, "RESCALE_CROP": 2, "RESCALE_FIT": 3}
RESAMPLING_FILTERS = ("lanczos", "bicubic", "bilinear", "nearest", "area")
DEFAULT_FILTER = "lanczos"
# An unset channels field keeps the channel it names (r←R, g←G, b←B, a←A).
KEEP_CHANNEL = {"r": "CHANNEL_R", "g": "CHANNEL_G", "b": "CHANNEL_B", "a": "CHANNEL_A"}


def _ops() -> Any:
    # Imported on first use so registering the plugin stays cheap.
    from sfumato import _ops

    return _ops


def _code(value: Any, codes: dict[str, int], what: str) -> int:
    """An enum member, its proto name or its number → the kernel's integer code."""
    name = getattr(value, "value", value)
    if isinstance(name, str):
        if name not in codes:
            raise ValueError(f"unknown {what} {name!r} (expected one of {', '.join(codes)})")
        return codes[name]
    if isinstance(name, int) and name in codes.values():
        return name
    raise ValueError(f"unknown {what} {value!r}")


# --- blur -----------------------------------------------------------------------------------


def validate_blur(params: Any) -> None:
    sigma = float(params.sigma)
    if not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number of pixels >= 0, not {params.sigma}")
    _code(params.direction, DIRECTION_CODES, "blur direction")


def apply_blur(pixels: np.ndarray, params: Any) -> np.ndarray:
    direction = _code(params.direction, DIRECTION_CODES, "blur direction")
    return _ops().blur(pixels, float(params.sigma), direction)


# --- invert ---------------------------------------------------------------------------------


def apply_invert(pixels: np.ndarray, params: Any) -> np.ndarray:
    return _ops().invert(pixels)


# --- levels ---------------------------------------------------------------------------------


def validate_levels(params: Any) -> None:
    values = [params.input_low, params.input_high, params.output_low, params.output_high]
    if not all(math.isfinite(float(v)) for v in values):
        raise ValueError("levels values must be finite numbers")
    if float(params.input_high) <= float(params.input_low):
        raise ValueError(
            f"inputHigh ({params.input_high}) must be greater than inputLow ({params.input_low})"
        )


def apply_levels(pixels: np.ndarray, params: Any) -> np.ndarray:
    return _ops().levels(
        pixels,
        float(params.input_low),
        float(params.input_high),
        float(params.output_low),
        float(params.output_high),
    )


# --- channels -------------------------------------------------------------------------------


def channel_sources(params: Any) -> list[int]:
    """The four ChannelSource codes for outputs r, g, b, a."""
    sources = []
    for field, keep in KEEP_CHANNEL.items():
        value = getattr(params, field, None)
        sources.append(_code(keep if value is None else value, CHANNEL_CODES, f"channel source for {field}"))
    return sources


def validate_channels(params: Any) -> None:
    kept = [s for s in channel_sources(params) if s != CHANNEL_CODES["CHANNEL_DISCARD"]]
    if len(kept) not in (1, 3, 4):
        raise ValueError(
            f"channels would leave {len(kept)} channels; keep 1, 3 or 4 (DISCARD drops a channel)"
        )


def channels_shape(shape: tuple[int, int, int], params: Any) -> tuple[int, int, int]:
    sources = channel_sources(params)
    if shape[2] < 4 and getattr(params, "a", None) is None:
        sources[3] = CHANNEL_CODES["CHANNEL_DISCARD"]
    return shape[0], shape[1], sum(1 for s in sources if s != CHANNEL_CODES["CHANNEL_DISCARD"])


def apply_channels(pixels: np.ndarray, params: Any) -> np.ndarray:
    sources = channel_sources(params)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels < 4 and getattr(params, "a", None) is None:
        # "keep alpha" on an image without one keeps it without one, rather than adding an opaque plane
        sources[3] = CHANNEL_CODES["CHANNEL_DISCARD"]
    return _ops().channels(pixels, sources)


# --- rescale --------------------------------------------------------------------------------


def rescale_filter(hints: Sequence[str] | None) -> str:
    """The first hint this server knows; unknown hints are skipped, none known → lanczos."""
    for hint in hints or ():
        name = str(hint).strip().lower()
        if name in RESAMPLING_FILTERS:
            return name
    return DEFAULT_FILTER


def validate_rescale(params: Any) -> None:
    width, height = int(params.width), int(params.height)
    if width <= 0 or height <= 0:
        raise ValueError(f"rescale width and height must both be positive, not {width}x{height}")
    _code(params.mode, RESCALE_MODE_CODES, "rescale mode")


def rescale_shape(shape: tuple[int, int, int], params: Any) -> tuple[int, int, int]:
    return int(params.height), int(params.width), shape[2]


def apply_rescale(pixels: np.ndarray, params: Any) -> np.ndarray:
    width, height = int(params.width), int(params.height)
    if pixels.shape[0] == height and pixels.shape[1] == width:
        return pixels.copy()  # already that size: nothing to resample
    mode = _code(params.mode, RESCALE_MODE_CODES, "rescale mode")
    return _ops().rescale(pixels, width, height, mode, rescale_filter(params.algorithm_hint))


# --- crop -----------------------------------------------------------------------------------


def validate_crop(params: Any) -> None:
    if int(params.width) <= 0 or int(params.height) <= 0:
        raise ValueError(f"crop width and height must both be positive, not {params.width}x{params.height}")
    if int(params.top) < 0 or int(params.left) < 0:
        raise ValueError("crop top and left must not be negative")


def crop_shape(shape: tuple[int, int, int], params: Any) -> tuple[int, int, int]:
    return int(params.height), int(params.width), shape[2]


def apply_crop(pixels: np.ndarray, params: Any) -> np.ndarray:
    # Whether the region fits depends on the image, so it is checked here (ValueError → 400).
    return _ops().crop(pixels, int(params.top), int(params.left), int(params.width), int(params.height))


def _wire(name: str) -> type:
    from sfumato import wire

    return getattr(wire, name)


# Scratch memory per output byte: the blur and the resampler keep a float32 copy of the image.
FLOAT_SCRATCH = 4.0

SPECS: tuple[AdjustmentSpec, ...] = (
    AdjustmentSpec("blur", "ImageAdjustmentGaussian", apply_blur, validate_blur,
                   "Gaussian blur (sigma in pixels, reflected borders); UP/DOWN grow bright/dark areas softly.",
                   work_factor=FLOAT_SCRATCH),
    AdjustmentSpec("invert", "ImageAdjustmentInvert", apply_invert, None, "1 - x on colour channels."),
    AdjustmentSpec("levels", "ImageAdjustmentLevels", apply_levels, validate_levels,
                   "Linear remap of [inputLow, inputHigh] to [outputLow, outputHigh], clamped."),
    AdjustmentSpec("channels", "ImageAdjustmentChannels", apply_channels, validate_channels,
                   "Rebuild r, g, b, a from named source channels, constants, or drop them.",
                   output_shape=channels_shape),
    AdjustmentSpec("rescale", "ImageAdjustmentRescale", apply_rescale, validate_rescale,
                   "Resample to a size: stretch (STRICT), cover and crop (CROP) or fit and pad (FIT).",
                   output_shape=rescale_shape, work_factor=FLOAT_SCRATCH),
    AdjustmentSpec("crop", "ImageAdjustmentCrop", apply_crop, validate_crop, "Cut out a region inside the image.",
                   output_shape=crop_shape),
)


@hookimpl
def register_adjustments(register: Callable[[AdjustmentSpec], None]) -> None:
    # The params types are named as strings above so that importing this module stays cheap.
    for spec in SPECS:
        register(dataclasses.replace(spec, params=_wire(spec.params)))
