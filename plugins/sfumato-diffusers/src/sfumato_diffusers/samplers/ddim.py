"""DDIM and DDPM: the original discrete-time samplers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# The builders import diffusers (and torch) when called: listing and checking samplers stays fast.
if TYPE_CHECKING:
    from diffusers import DDIMScheduler, DDPMScheduler
from sfumato.jobs.job import SamplerSettings

from sfumato_diffusers.samplers.helpers import from_base, override_step_arguments


def build_ddim(base_config: Mapping[str, Any], settings: SamplerSettings) -> DDIMScheduler:
    from diffusers import DDIMScheduler
    scheduler = from_base(DDIMScheduler, base_config)
    return override_step_arguments(scheduler, eta=settings.eta if settings.eta is not None else 0.0)


def build_ddpm(base_config: Mapping[str, Any], settings: SamplerSettings) -> DDPMScheduler:
    from diffusers import DDPMScheduler
    return from_base(DDPMScheduler, base_config)
