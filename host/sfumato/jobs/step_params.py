"""Resolving ``image.parameters[]``: each field comes from the first entry that sets it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sfumato.errors import invalid

DEFAULT_CFG_SCALE = 7.5
DEFAULT_STRENGTH_WITH_INIT = 0.75


@dataclass(frozen=True)
class StepValues:
    cfg_scale: float | None = None
    eta: float | None = None
    churn: float | None = None
    churn_tmin: float | None = None
    churn_tmax: float | None = None
    sigma_min: float | None = None
    sigma_max: float | None = None
    karras_rho: float | None = None
    noise_type: str | None = None
    schedule_start: float | None = None
    guidance_strength: float | None = None


def _finite(value: float | None, path: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise invalid(f"{path}: must be a finite number, got {value}")
    return value


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "value", value)


def resolve_step_values(parameters: Sequence[Any]) -> StepValues:
    found: dict[str, Any] = {}

    def take(key: str, value: Any, path: str, *, number: bool = True) -> None:
        if key not in found and value is not None:
            found[key] = _finite(value, path) if number else value

    for position, step in enumerate(parameters):
        base = f"image.parameters[{position}]"
        sampler = step.sampler
        if sampler is not None:
            take("cfg_scale", sampler.cfg_scale, f"{base}.sampler.cfgScale")
            take("eta", sampler.eta, f"{base}.sampler.eta")
            if sampler.churn is not None:
                take("churn", sampler.churn.churn, f"{base}.sampler.churn.churn")
                take("churn_tmin", sampler.churn.churn_tmin, f"{base}.sampler.churn.churnTmin")
                take("churn_tmax", sampler.churn.churn_tmax, f"{base}.sampler.churn.churnTmax")
            if sampler.sigma is not None:
                take("sigma_min", sampler.sigma.sigma_min, f"{base}.sampler.sigma.sigmaMin")
                take("sigma_max", sampler.sigma.sigma_max, f"{base}.sampler.sigma.sigmaMax")
                take("karras_rho", sampler.sigma.karras_rho, f"{base}.sampler.sigma.karrasRho")
            take("noise_type", _enum_name(sampler.noise_type), f"{base}.sampler.noiseType", number=False)
        if step.schedule is not None:
            take("schedule_start", step.schedule.start, f"{base}.schedule.start")
        if step.guidance is not None:
            for index, instance in enumerate(step.guidance.instances or ()):
                take(
                    "guidance_strength",
                    instance.guidance_strength,
                    f"{base}.guidance.instances[{index}].guidanceStrength",
                )
    values = StepValues(**found)
    _check_ranges(values)
    return values


def _check_ranges(values: StepValues) -> None:
    if values.cfg_scale is not None and not 0.0 <= values.cfg_scale <= 50.0:
        raise invalid(f"image.parameters[].sampler.cfgScale: must be in 0..50, got {values.cfg_scale}")
    if values.eta is not None and not 0.0 <= values.eta <= 10.0:
        raise invalid(f"image.parameters[].sampler.eta: must be in 0..10, got {values.eta}")
    if values.churn is not None and values.churn < 0:
        raise invalid(f"image.parameters[].sampler.churn.churn: must be ≥ 0, got {values.churn}")
    for name in ("sigma_min", "sigma_max", "karras_rho"):
        value = getattr(values, name)
        if value is not None and value <= 0:
            raise invalid(f"image.parameters[].sampler.sigma: {name} must be > 0, got {value}")
    if values.sigma_min is not None and values.sigma_max is not None and values.sigma_min >= values.sigma_max:
        raise invalid("image.parameters[].sampler.sigma: sigmaMin must be smaller than sigmaMax")
    if values.schedule_start is not None and not 0.0 <= values.schedule_start <= 1.0:
        raise invalid(f"image.parameters[].schedule.start: must be in 0..1, got {values.schedule_start}")
    if values.guidance_strength is not None and values.guidance_strength < 0:
        raise invalid("image.parameters[].guidance.instances[].guidanceStrength: must be ≥ 0")
