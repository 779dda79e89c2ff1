"""Scheduler factories, following the diffusers engine's ``build(base_config, settings)`` contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# The builders import diffusers (and torch) when called: listing and checking samplers stays fast.
if TYPE_CHECKING:
    from diffusers import (
        DEISMultistepScheduler,
        DPMSolverMultistepScheduler,
        LCMScheduler,
        TCDScheduler,
        UniPCMultistepScheduler,
    )
from sfumato.jobs.job import SamplerSettings
from sfumato_diffusers.samplers.helpers import build_with_karras, from_base, override_step_arguments


def build_unipc(base_config: Mapping[str, Any], settings: SamplerSettings) -> UniPCMultistepScheduler:
    from diffusers import UniPCMultistepScheduler
    return build_with_karras(UniPCMultistepScheduler, base_config, settings)


def build_deis(base_config: Mapping[str, Any], settings: SamplerSettings) -> DEISMultistepScheduler:
    from diffusers import DEISMultistepScheduler
    return build_with_karras(DEISMultistepScheduler, base_config, settings)


def build_lcm(base_config: Mapping[str, Any], settings: SamplerSettings) -> LCMScheduler:
    from diffusers import LCMScheduler
    return from_base(LCMScheduler, base_config)


def build_tcd(base_config: Mapping[str, Any], settings: SamplerSettings) -> TCDScheduler:
    from diffusers import TCDScheduler
    scheduler = from_base(TCDScheduler, base_config)
    return override_step_arguments(scheduler, eta=settings.eta if settings.eta is not None else 0.3)


def build_dpmpp_2m_sde(base_config: Mapping[str, Any], settings: SamplerSettings) -> DPMSolverMultistepScheduler:
    from diffusers import DPMSolverMultistepScheduler
    return build_with_karras(
        DPMSolverMultistepScheduler, base_config, settings, algorithm_type="sde-dpmsolver++", solver_order=2
    )
