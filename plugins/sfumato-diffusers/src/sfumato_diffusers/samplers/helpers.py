"""Public helpers for sampler factories: Karras schedules, step-argument overrides, model sigma ranges.

Third-party sampler plugins may import these (the old name ``samplers._common`` still works).
"""

from __future__ import annotations

import copy
import functools
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
from sfumato.jobs.job import SamplerSettings

DEFAULT_KARRAS_RHO = 7.0  # Karras et al. 2022, the value diffusers hard-codes


_PROTOTYPES: OrderedDict[tuple[type, str], Any] = OrderedDict()
_PROTOTYPES_LOCK = threading.Lock()
_MAX_PROTOTYPES = 64


def from_base(scheduler_cls: type, base_config: Mapping[str, Any], **overrides: Any) -> Any:
    """A new scheduler of ``scheduler_cls`` with the model's betas/prediction type and ``overrides``.

    Each request needs its own (schedulers keep per-run state), and ``from_config`` inspects
    signatures on every call (about 1.9 ms, 4 % of a tiny model's request), so a fresh
    prototype is built once per configuration and copied (about 0.4 ms)."""
    key = (scheduler_cls, repr(sorted(dict(base_config, **overrides).items())))
    with _PROTOTYPES_LOCK:
        prototype = _PROTOTYPES.get(key)
        if prototype is not None:
            _PROTOTYPES.move_to_end(key)
    if prototype is None:
        prototype = scheduler_cls.from_config(dict(base_config), **overrides)
        with _PROTOTYPES_LOCK:
            _PROTOTYPES[key] = prototype
            while len(_PROTOTYPES) > _MAX_PROTOTYPES:
                _PROTOTYPES.popitem(last=False)
    return copy.deepcopy(prototype)


def wants_karras(settings: SamplerSettings) -> bool:
    return any(v is not None for v in (settings.sigma_min, settings.sigma_max, settings.karras_rho))


def karras_sigmas(sigma_min: float, sigma_max: float, rho: float, count: int) -> np.ndarray:
    """The Karras et al. (2022) noise levels from ``sigma_max`` down to ``sigma_min``."""
    ramp = np.linspace(0.0, 1.0, count)
    inv_max = sigma_max ** (1.0 / rho)
    inv_min = sigma_min ** (1.0 / rho)
    # Weighted, not inv_max + ramp·(inv_min − inv_max): with a small rho the powers differ by
    # many orders of magnitude and that form cancels to a tiny negative base (NaN).
    return ((1.0 - ramp) * inv_max + ramp * inv_min) ** rho


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
    return _start_at_the_top(scheduler)


class UnusableSchedule(ValueError):
    """The requested sigma limits / rho give this scheduler NaN noise levels or timesteps."""


def _start_at_the_top(scheduler: Any) -> Any:
    """Make a fresh schedule start at its first step, and refuse one that came out NaN.

    Sigmas beyond the model's range map to one clamped timestep (999 or 0), and on
    repeated timesteps diffusers guesses the wrong start (the second occurrence, meant
    for img2img) and steps past the end. img2img pipelines still set their own start
    after ``set_timesteps``. Extreme limits can also break a scheduler's float32
    arithmetic (DPM2 ancestral takes the log of a noise level that rounds to 0); the
    check runs where the pipeline computes the schedule anyway, before any model call.
    """
    original = scheduler.set_timesteps

    @functools.wraps(original)
    def set_timesteps(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        for values in (getattr(scheduler, "sigmas", None), scheduler.timesteps):
            if values is not None and not _all_finite(values):
                raise UnusableSchedule("the noise schedule has NaN entries")
        scheduler.set_begin_index(0)
        return result

    scheduler.set_timesteps = set_timesteps
    return scheduler


def _all_finite(values: Any) -> bool:
    if hasattr(values, "detach"):  # a torch tensor, possibly on an accelerator without float64
        values = values.detach().cpu().double().numpy()
    return bool(np.isfinite(np.asarray(values, dtype=np.float64)).all())


def model_sigma_range(base_config: Mapping[str, Any]) -> tuple[float, float]:
    """The smallest and largest noise level the model was trained on."""
    from diffusers import EulerDiscreteScheduler

    sigmas = np.asarray(EulerDiscreteScheduler.from_config(dict(base_config)).sigmas, dtype=np.float64)
    positive = sigmas[sigmas > 0]
    return float(positive.min()), float(positive.max())


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
