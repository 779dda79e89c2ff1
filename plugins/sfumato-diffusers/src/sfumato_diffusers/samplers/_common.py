"""Shared helpers for building schedulers that honour the sampler parameters."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
from sfumato.jobs.job import SamplerSettings

DEFAULT_KARRAS_RHO = 7.0  # Karras et al. 2022, the value diffusers hard-codes


def from_base(scheduler_cls: type, base_config: Mapping[str, Any], **overrides: Any) -> Any:
    """A scheduler of ``scheduler_cls`` with the model's betas/prediction type and ``overrides``."""
    return scheduler_cls.from_config(dict(base_config), **overrides)


def wants_karras(settings: SamplerSettings) -> bool:
    return any(v is not None for v in (settings.sigma_min, settings.sigma_max, settings.karras_rho))


def karras_sigmas(sigma_min: float, sigma_max: float, rho: float, count: int) -> np.ndarray:
    """The Karras et al. (2022) noise levels from ``sigma_max`` down to ``sigma_min``."""
    ramp = np.linspace(0.0, 1.0, count)
    inv_max = sigma_max ** (1.0 / rho)
    inv_min = sigma_min ** (1.0 / rho)
    return (inv_max + ramp * (inv_min - inv_max)) ** rho


def build_with_karras(
    scheduler_cls: type, base_config: Mapping[str, Any], settings: SamplerSettings, **overrides: Any
) -> Any:
    """Build a scheduler; when sigma limits or rho are requested, switch it to a Karras schedule.

    diffusers' Karras conversion fixes rho at 7 and takes limits from the model's
    sigma range; the instance's converter is replaced so the request's values apply.
    """
    if not wants_karras(settings):
        return from_base(scheduler_cls, base_config, **overrides)
    scheduler = from_base(scheduler_cls, base_config, use_karras_sigmas=True, **overrides)
    rho = settings.karras_rho if settings.karras_rho is not None else DEFAULT_KARRAS_RHO

    def convert(in_sigmas: Any, num_inference_steps: int | None = None) -> np.ndarray:
        values = np.asarray(in_sigmas, dtype=np.float64)
        count = num_inference_steps or scheduler.num_inference_steps or len(values)
        low = settings.sigma_min if settings.sigma_min is not None else float(values[-1])
        high = settings.sigma_max if settings.sigma_max is not None else float(values[0])
        return karras_sigmas(low, high, rho, count).astype(np.asarray(in_sigmas).dtype)

    scheduler._convert_to_karras = convert
    return scheduler


def override_step_arguments(scheduler: Any, **values: Any) -> Any:
    """Make ``scheduler.step`` use ``values`` whatever the pipeline passes for them.

    Pipelines only forward ``eta`` and ``generator`` to ``step``; parameters such as
    Euler's churn would otherwise never reach it. ``functools.wraps`` keeps the
    signature visible, so pipelines still see which arguments ``step`` accepts.
    """
    if not values:
        return scheduler
    original = scheduler.step

    @functools.wraps(original)
    def step(*args: Any, **kwargs: Any) -> Any:
        kwargs.update(values)
        return original(*args, **kwargs)

    scheduler.step = step
    return scheduler


def seed_brownian_noise(scheduler: Any, seeds: list[int]) -> None:
    """Give Brownian-tree schedulers one tree per image, seeded from that image's seed.

    Without it diffusers draws a random seed, and a shared tree would make an image
    depend on its batch neighbours.
    """
    if hasattr(scheduler, "noise_sampler_seed"):
        scheduler.noise_sampler_seed = list(seeds)
