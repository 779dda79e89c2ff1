"""Upscale jobs (``image.transform.upscaler``): which upscaler runs, and the output size.

An upscaling engine lists the upscalers it serves in ``EngineDescription.upscalers``.
The init image keeps its own size; the output size comes from ``image.width`` and/or
``image.height`` (one is enough: the other keeps the aspect ratio), or from the engine's
default factor when neither is set. The rules are documented in docs/upscale.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sfumato.engines import EngineDescription, EngineLimits
from sfumato.errors import invalid, unimplemented
from sfumato.jobs.step_params import StepValues

# Sampler values an upscaler has no use for (cfgScale is left to EngineDescription.uses: the
# reference client's upscale() always sends one).
_SAMPLER_VALUES = ("eta", "churn", "churn_tmin", "churn_tmax", "sigma_min", "sigma_max", "karras_rho", "noise_type")


def _name(value: Any) -> str | None:
    return None if value is None else getattr(value, "value", value)


def requested_upscaler(image: Any, description: EngineDescription, engine_id: str) -> str | None:
    """The upscaler this request runs on this engine, or None for a generation request."""
    transform = image.transform
    named = None if transform is None else _name(transform.upscaler)
    if named is None:
        if not description.upscalers or description.samplers:
            return None
        if transform is not None and transform.diffusion is not None:
            raise unimplemented(
                f"image.transform.diffusion: engine {engine_id!r} upscales and runs no sampler; send "
                f"transform.upscaler ({', '.join(description.upscalers)}) or leave transform out"
            )
        # An upscale-only engine upscales unasked: stability-sdk's upscale() sends no transform.
        return description.upscalers[0]
    if not description.upscalers:
        raise unimplemented(
            f"image.transform.upscaler: engine {engine_id!r} generates images and does not upscale; "
            f"send {named} to an upscaling engine (see ListEngines and docs/upscale.md)"
        )
    if named not in description.upscalers:
        raise invalid(
            f"image.transform.upscaler: engine {engine_id!r} does not serve {named}; "
            f"it serves {', '.join(description.upscalers)}"
        )
    return named


def upscale_size(
    image: Any, init: np.ndarray | None, description: EngineDescription, limits: EngineLimits
) -> tuple[int, int]:
    """(width, height) of the upscaled image, checked against the factor range and the engine's limits."""
    if init is None:
        raise invalid(
            "prompt: image.transform.upscaler upscales an init image; send one as a prompt artifact "
            "of type ARTIFACT_IMAGE"
        )
    source_height, source_width = int(init.shape[0]), int(init.shape[1])
    width = None if image.width is None else int(image.width)
    height = None if image.height is None else int(image.height)
    for name, value in (("width", width), ("height", height)):
        if value is not None and value <= 0:
            raise invalid(f"image.{name}: must be positive, got {value}")
    sent = "width" if width is not None else "height"
    if width is None and height is None:
        factor = description.default_upscale_factor
        width, height = round(source_width * factor), round(source_height * factor)
    elif height is None:
        height = max(1, round(source_height * width / source_width))
    elif width is None:
        width = max(1, round(source_width * height / source_height))
    elif width != round(source_width * height / source_height) and height != round(source_height * width / source_width):
        raise invalid(
            f"image.height: {width}×{height} changes the aspect ratio of the {source_width}×{source_height} "
            f"init image; upscalers scale both sides by one factor: send only image.width or only "
            f"image.height (or both at one factor)"
        )
    maximum = description.max_upscale_factor
    if width < source_width or height < source_height:
        raise invalid(
            f"image.{sent}: {width}×{height} is smaller than the {source_width}×{source_height} init image; "
            "upscalers enlarge (factor ≥ 1); shrink with a rescale adjustment instead"
        )
    # A side derived from the other is rounded: allow that half pixel.
    if width > source_width * maximum + 0.5 or height > source_height * maximum + 0.5:
        factor = max(width / source_width, height / source_height)
        raise invalid(
            f"image.{sent}: {width}×{height} is ×{factor:.3g} the {source_width}×{source_height} init image; "
            f"this engine upscales ×1 to ×{maximum:g}"
        )
    for name, value, limit in (("width", width, limits.max_width), ("height", height, limits.max_height)):
        if value > limit:
            raise invalid(f"image.{name}: the upscaled {name} {value} is above this engine's limit of {limit}")
    if width * height > limits.max_pixels:
        raise invalid(
            f"image.{sent}: {width}×{height} = {width * height} pixels is above this engine's limit of {limits.max_pixels}"
        )
    return width, height


def refuse_sampler_values(values: StepValues, upscaler: str) -> None:
    """An upscaler runs no sampler: sampler values it would ignore are refused."""
    for name in _SAMPLER_VALUES:
        if getattr(values, name) is not None:
            raise invalid(f"{values.path(name)}: {upscaler} runs no sampler; leave it unset")
