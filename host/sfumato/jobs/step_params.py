"""Resolving ``image.parameters[]``: each field comes from the first entry that sets it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sfumato.errors import invalid, unimplemented

DEFAULT_CFG_SCALE = 7.5
DEFAULT_STRENGTH_WITH_INIT = 0.75
# guidancePreset → (CLIP guidance strength, cutout count), for what the instance does not give (docs/api.md).
GUIDANCE_PRESETS = {
    "GUIDANCE_PRESET_SIMPLE": (0.333, 4),
    "GUIDANCE_PRESET_FAST_BLUE": (0.25, 2),
    "GUIDANCE_PRESET_FAST_GREEN": (0.25, 2),
    "GUIDANCE_PRESET_SLOW": (0.5, 8),
    "GUIDANCE_PRESET_SLOWER": (0.75, 16),
    "GUIDANCE_PRESET_SLOWEST": (1.0, 32),
}


# Ranges the host accepts for any engine (docs/api.md, "Step parameter ranges").
CFG_SCALE_RANGE = (0.0, 50.0)
ETA_RANGE = (0.0, 10.0)
# Sigma limits and rho feed sigma ** (1 / rho): these bounds keep that finite in float64.
SIGMA_RANGE = (1e-4, 1000.0)
KARRAS_RHO_RANGE = (0.1, 100.0)


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
    schedule_end: float | None = None
    guidance_strength: float | None = None
    # guidance.instances[].schedule as ((share of the steps run, strength factor), ...) and the cutout count.
    guidance_schedule: tuple[tuple[float, float], ...] | None = None
    guidance_cutouts: int | None = None
    # cfgScale given at two or more scaledSteps: ((scaledStep, value), ...) sorted; else empty.
    cfg_schedule: tuple[tuple[float, float], ...] = ()
    # Where each value was found (``image.parameters[1].sampler.eta``), for messages.
    paths: Mapping[str, str] = field(default_factory=dict, compare=False)

    def path(self, name: str) -> str:
        return self.paths.get(name, f"image.parameters[].{name}")


def _finite(value: float | None, path: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise invalid(f"{path}: must be a finite number, got {value}")
    return value


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "value", value)


def resolve_step_values(parameters: Sequence[Any]) -> StepValues:
    """Each value from the first entry that sets it, except cfgScale: given at several
    ``scaledStep`` positions it becomes a schedule (:func:`value_at`)."""
    found: dict[str, Any] = {}
    paths: dict[str, str] = {}
    # Every value each field was given, with its entry's scaledStep: to tell a schedule from repeats.
    given: dict[str, list[tuple[float, Any, str]]] = {}

    def take(key: str, value: Any, path: str, *, number: bool = True) -> None:
        if value is None:
            return
        value = _finite(value, path) if number else value
        given.setdefault(key, []).append((scaled_step, value, path))
        if key not in found:
            found[key] = value
            paths[key] = path

    for position, step in enumerate(parameters):
        base = f"image.parameters[{position}]"
        scaled_step = _scaled_step(step, base)
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
            take("schedule_end", step.schedule.end, f"{base}.schedule.end")
        if step.guidance is not None:
            instances = step.guidance.instances or ()
            if len(instances) > 1:
                raise unimplemented(
                    f"{base}.guidance.instances: {len(instances)} instances; engines guide with one CLIP model, "
                    "so send one instance"
                )
            for index, instance in enumerate(instances):
                where = f"{base}.guidance.instances[{index}]"
                _refuse_unsupported_guidance(instance, where)
                take("guidance_strength", instance.guidance_strength, f"{where}.guidanceStrength")
                if instance.schedule:
                    take("guidance_schedule", _guidance_schedule(instance.schedule, where), f"{where}.schedule",
                         number=False)
                if instance.cutouts is not None and instance.cutouts.count is not None:
                    take("guidance_cutouts", int(instance.cutouts.count), f"{where}.cutouts.count", number=False)
            preset = _enum_name(step.guidance.guidance_preset)
            if preset not in (None, "GUIDANCE_PRESET_NONE"):
                strength, cutouts = GUIDANCE_PRESETS[preset]
                take("guidance_strength", strength, f"{base}.guidance.guidancePreset")
                take("guidance_cutouts", cutouts, f"{base}.guidance.guidancePreset", number=False)
    cfg_schedule = _schedule(given.pop("cfg_scale", []))
    if cfg_schedule:
        found["cfg_scale"] = value_at(cfg_schedule, 0.0)
    _refuse_varying(given)
    values = StepValues(**found, cfg_schedule=cfg_schedule, paths=paths)
    _check_ranges(values)
    return values


def _refuse_unsupported_guidance(instance: Any, where: str) -> None:
    """Guidance fields no engine honours yet are refused, never silently ignored."""
    cutouts = instance.cutouts
    nested = cutouts is not None and any(
        value for value in (cutouts.cutouts, cutouts.gray, cutouts.blur, cutouts.size_power)
    )
    for name, value in (("models", instance.models), ("prompt", instance.prompt), ("cutouts", nested)):
        if value:
            raise unimplemented(
                f"{where}.{name}: not supported; CLIP guidance uses the engine's CLIP model and the text "
                "prompt, and takes only cutouts.count of the cutout settings"
            )
    if cutouts is not None and cutouts.count is not None and cutouts.count < 1:
        raise invalid(f"{where}.cutouts.count: must be at least 1, got {cutouts.count}")


def _guidance_schedule(entries: Sequence[Any], where: str) -> tuple[tuple[float, float], ...]:
    """Segments in order, each lasting ``duration`` (shares of the steps run, normalised to sum 1)."""
    for index, entry in enumerate(entries):
        for name, value in (("duration", entry.duration), ("value", entry.value)):
            if not math.isfinite(value) or value < 0:
                raise invalid(f"{where}.schedule[{index}].{name}: must be a finite number ≥ 0, got {value}")
    total = sum(entry.duration for entry in entries)
    if total <= 0:
        raise invalid(f"{where}.schedule: the durations add up to 0; give at least one a positive duration")
    return tuple((entry.duration / total, float(entry.value)) for entry in entries)


def guidance_factor(schedule: Sequence[tuple[float, float]], position: float) -> float:
    """The schedule's value at ``position`` (0..1 over the steps run): the segment it falls in."""
    end = 0.0
    for share, value in schedule:
        end += share
        if position < end:
            return value
    return schedule[-1][1]


def _scaled_step(step: Any, base: str) -> float:
    scaled = float(getattr(step, "scaled_step", 0.0) or 0.0)
    if not (math.isfinite(scaled) and 0.0 <= scaled <= 1.0):
        raise invalid(f"{base}.scaledStep: must be in 0..1 (0 = the first step run, 1 = the last), got {scaled}")
    return scaled


def _schedule(entries: list[tuple[float, Any, str]]) -> tuple[tuple[float, float], ...]:
    """Keys for a value given at two or more distinct scaledSteps; () when it is one constant."""
    if len({scaled for scaled, _, _ in entries}) < 2:
        return ()  # one position: the first value wins, as for every other field
    by_step: dict[float, tuple[float, str]] = {}
    for scaled, value, path in entries:
        if scaled in by_step and by_step[scaled][0] != value:
            raise invalid(
                f"{path}: {value:g} at scaledStep {scaled:g}, where {by_step[scaled][1]} already gives "
                f"{by_step[scaled][0]:g}; give each scaledStep one value"
            )
        by_step.setdefault(scaled, (value, path))
    for scaled, (value, path) in by_step.items():
        low, high = CFG_SCALE_RANGE
        if not low <= value <= high:
            raise invalid(f"{path}: must be in {low:g}..{high:g}, got {value:g}")
        if value <= 1.0:
            # Guidance needs the unconditional pass from the first step on: a schedule cannot switch it off.
            raise invalid(f"{path}: a cfgScale that changes over scaledStep must stay above 1 at every key, got {value:g}")
    return tuple(sorted((scaled, value) for scaled, (value, _) in by_step.items()))


def _refuse_varying(given: Mapping[str, list[tuple[float, Any, str]]]) -> None:
    """Only cfgScale follows scaledStep; another field given different values at different steps is refused."""
    for entries in given.values():
        first_step, first_value, _ = entries[0]
        for scaled, value, path in entries[1:]:
            if scaled != first_step and value != first_value:
                raise invalid(
                    f"{path}: only sampler.cfgScale can change over scaledStep; this field is "
                    f"{first_value} at scaledStep {first_step:g} and {value} at {scaled:g}"
                )


def value_at(schedule: Sequence[tuple[float, float]], position: float) -> float:
    """The scheduled value at ``position`` (0 = first step run, 1 = last): linear between the
    nearest keys, the first key's value before it and the last key's after it."""
    if not schedule:
        raise ValueError("value_at needs at least one key")
    keys = [key for key, _ in schedule]
    values = [value for _, value in schedule]
    return float(np.interp(min(max(position, 0.0), 1.0), keys, values))


def _check_range(values: StepValues, name: str, bounds: tuple[float, float]) -> None:
    value = getattr(values, name)
    low, high = bounds
    if value is not None and not low <= value <= high:
        raise invalid(f"{values.path(name)}: must be in {low:g}..{high:g}, got {value:g}")


def _check_at_least_zero(values: StepValues, name: str) -> None:
    value = getattr(values, name)
    if value is not None and value < 0:
        raise invalid(f"{values.path(name)}: must be ≥ 0, got {value:g}")


def _check_ranges(values: StepValues) -> None:
    _check_range(values, "cfg_scale", CFG_SCALE_RANGE)
    _check_range(values, "eta", ETA_RANGE)
    for name in ("churn", "churn_tmin", "churn_tmax"):
        _check_at_least_zero(values, name)
    if values.churn_tmin is not None and values.churn_tmax is not None and values.churn_tmin > values.churn_tmax:
        raise invalid(
            f"{values.path('churn_tmin')}: churnTmin ({values.churn_tmin:g}) must not be above "
            f"churnTmax ({values.churn_tmax:g}), or churn never applies"
        )
    _check_range(values, "sigma_min", SIGMA_RANGE)
    _check_range(values, "sigma_max", SIGMA_RANGE)
    if values.sigma_min is not None and values.sigma_max is not None and values.sigma_min >= values.sigma_max:
        raise invalid(
            f"{values.path('sigma_min')}: sigmaMin ({values.sigma_min:g}) must be smaller than "
            f"sigmaMax ({values.sigma_max:g})"
        )
    _check_range(values, "karras_rho", KARRAS_RHO_RANGE)
    _check_range(values, "schedule_start", (0.0, 1.0))
    _check_range(values, "schedule_end", (0.0, 1.0))
    _check_at_least_zero(values, "guidance_strength")
