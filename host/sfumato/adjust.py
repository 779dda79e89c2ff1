"""Applying a list of ``ImageAdjustment``s through the adjustment registry.

Every intermediate image is planned from shapes alone (:func:`plan_adjustments`) and
checked against the size limit before any pixel is allocated; a chain stops between
steps once its job is cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sfumato.errors import Cancelled, Code, RpcError, invalid
from sfumato.origins import describe_origin
from sfumato.records import AdjustmentSpec, resolve

log = logging.getLogger("sfumato.adjust")

BUILTIN_KINDS = ("blur", "invert", "levels", "channels", "rescale", "crop")

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class ImageLimit:
    """The bound every image a request makes must respect (decoded or adjusted)."""

    max_pixels: int
    max_side: int

    def allows(self, shape: Shape) -> bool:
        height, width = shape[0], shape[1]
        return 0 < width <= self.max_side and 0 < height <= self.max_side and width * height <= self.max_pixels

    def check(self, shape: Shape, what: str) -> None:
        height, width = shape[0], shape[1]
        if width <= 0 or height <= 0:
            raise invalid(f"{what}: the image would be empty ({width}×{height})")
        if width > self.max_side or height > self.max_side or width * height > self.max_pixels:
            raise invalid(
                f"{what}: the image would be {width}×{height}; the limit is {self.max_side} pixels per side "
                f"and {self.max_pixels} pixels in all (limits.max_input_side, limits.max_input_pixels)"
            )


def _plugin_failure(spec: AdjustmentSpec, hook: str, where: str, exc: Exception) -> RpcError:
    """A plugin bug (anything but ``ValueError``) in one of an adjustment's hooks: INTERNAL naming it."""
    origin = describe_origin(spec.apply if hook == "apply" else getattr(spec, hook) or spec.apply)
    log.error("%s: adjustment %r (%s) failed in %s()", where, spec.name, origin, hook, exc_info=exc)
    return RpcError(
        Code.INTERNAL, f"{where}: adjustment {spec.name!r} ({origin}) failed in {hook}(): {type(exc).__name__}: {exc}"
    )


def _call_hook(spec: AdjustmentSpec, hook: str, where: str, function: Any, *args: Any) -> Any:
    """Call one of an adjustment's hooks: ``ValueError`` is the client's 400, anything else the plugin's bug."""
    try:
        return function(*args)
    except ValueError as exc:
        raise invalid(f"{where}: {exc}") from exc
    except (RpcError, Cancelled):
        raise
    except Exception as exc:
        raise _plugin_failure(spec, hook, where, exc) from exc


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
                _call_hook(spec, "validate", f"{where}.{kind}", spec.validate, params)


def _next_shape(shape: Shape, spec: AdjustmentSpec, params: Any, where: str) -> Shape:
    if spec.output_shape is None:
        return shape
    output_shape = spec.output_shape
    result = _call_hook(spec, "output_shape", where, lambda: tuple(int(n) for n in output_shape(shape, params)))
    if len(result) != 3:
        raise _plugin_failure(spec, "output_shape", where, TypeError(f"returned {len(result)} numbers, not 3"))
    return result  # type: ignore[return-value]


def plan_adjustments(
    shape: Shape, adjustments: Sequence[Any], registry: Mapping[str, AdjustmentSpec], *, path: str, limit: ImageLimit
) -> tuple[Shape, int]:
    """The chain's final shape and its peak working memory in bytes, from shapes alone.

    Raises a 400 naming the step whose result would break ``limit``.
    """
    peak = _nbytes(shape)
    for position, adjustment in enumerate(adjustments):
        for kind, params in members(adjustment):
            where = f"{path}[{position}].{kind}"
            spec = registry[kind]
            result = _next_shape(shape, spec, params, where)
            limit.check(result, where)
            out = _nbytes(result)
            peak = max(peak, _nbytes(shape) + out + int(spec.work_factor * max(out, _nbytes(shape))))
            shape = result
    return shape, peak


def _nbytes(shape: Shape) -> int:
    return shape[0] * shape[1] * shape[2]


def apply_adjustments(
    pixels: np.ndarray,
    adjustments: Sequence[Any],
    registry: Mapping[str, AdjustmentSpec],
    *,
    path: str,
    limit: ImageLimit | None = None,
    cancel: Any = None,
) -> np.ndarray:
    """Run the adjustments in order on an H×W×C ``uint8`` image.

    With ``limit``, each step's planned result is checked before it runs, and its real
    result after (a plugin's ``output_shape`` may be missing or wrong).
    """
    for position, adjustment in enumerate(adjustments):
        for kind, params in members(adjustment):
            if cancel is not None:
                cancel.raise_if_cancelled()
            where = f"{path}[{position}].{kind}"
            spec = registry[kind]
            shape: Shape = (pixels.shape[0], pixels.shape[1], pixels.shape[2] if pixels.ndim == 3 else 1)
            if limit is not None:
                limit.check(_next_shape(shape, spec, params, where), where)
            try:
                apply = resolve(spec.apply)
            except Exception as exc:  # a lazy reference that does not import: the plugin's fault
                raise _plugin_failure(spec, "apply", where, exc) from exc
            result = _call_hook(spec, "apply", where, apply, pixels, params)
            if (
                not isinstance(result, np.ndarray)
                or result.dtype != np.uint8
                or result.ndim not in (2, 3)
                or (result.ndim == 3 and result.shape[2] not in (1, 3, 4))
            ):
                got = f"{result.dtype} array of shape {result.shape}" if isinstance(result, np.ndarray) else type(result).__name__
                raise _plugin_failure(spec, "apply", where, TypeError(f"returned a {got}, expected an H×W×C uint8 array"))
            pixels = result
            if pixels.ndim == 2:
                pixels = pixels[:, :, None]
            if limit is not None:
                limit.check(pixels.shape, where)  # type: ignore[arg-type]
    return pixels
