"""DPM-Solver and DPM-Solver++ (multistep and singlestep)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# The builders import diffusers (and torch) when called: listing and checking samplers stays fast.
if TYPE_CHECKING:
    from diffusers import DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler
from sfumato.jobs.job import SamplerSettings

from sfumato_diffusers.samplers.helpers import build_with_karras


def _multistep(base_config: Mapping[str, Any], settings: SamplerSettings, order: int) -> Any:
    from diffusers import DPMSolverMultistepScheduler
    return build_with_karras(
        DPMSolverMultistepScheduler, base_config, settings, algorithm_type="dpmsolver++", solver_order=order
    )


def build_dpmpp_1(base_config: Mapping[str, Any], settings: SamplerSettings) -> DPMSolverMultistepScheduler:
    return _multistep(base_config, settings, 1)


def build_dpmpp_2m(base_config: Mapping[str, Any], settings: SamplerSettings) -> DPMSolverMultistepScheduler:
    return _multistep(base_config, settings, 2)


def build_dpmpp_3m(base_config: Mapping[str, Any], settings: SamplerSettings) -> DPMSolverMultistepScheduler:
    return _multistep(base_config, settings, 3)


def build_dpm_fast(base_config: Mapping[str, Any], settings: SamplerSettings) -> DPMSolverSinglestepScheduler:
    from diffusers import DPMSolverSinglestepScheduler
    return build_with_karras(
        DPMSolverSinglestepScheduler, base_config, settings, algorithm_type="dpmsolver", solver_order=3,
        final_sigmas_type="sigma_min",  # plain DPM-Solver cannot step to sigma 0
        lower_order_final=True,
    )


def build_dpm_adaptive(
    base_config: Mapping[str, Any], settings: SamplerSettings
) -> DPMSolverSinglestepScheduler:
    from diffusers import DPMSolverSinglestepScheduler
    return build_with_karras(
        DPMSolverSinglestepScheduler, base_config, settings, algorithm_type="dpmsolver++", solver_order=3,
        lower_order_final=True,
    )


def build_dpmpp_2s_ancestral(
    base_config: Mapping[str, Any], settings: SamplerSettings
) -> DPMSolverSinglestepScheduler:
    from diffusers import DPMSolverSinglestepScheduler
    return build_with_karras(
        DPMSolverSinglestepScheduler, base_config, settings, algorithm_type="sde-dpmsolver++", solver_order=2,
        lower_order_final=True,
    )
