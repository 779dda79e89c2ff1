"""DPM++ SDE with Brownian-tree noise (needs torchsde)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# The builders import diffusers (and torch) when called: listing and checking samplers stays fast.
if TYPE_CHECKING:
    from diffusers import DPMSolverSDEScheduler
from sfumato.jobs.job import SamplerSettings

from sfumato_diffusers.samplers.helpers import build_with_karras


def build_dpmpp_sde(base_config: Mapping[str, Any], settings: SamplerSettings) -> DPMSolverSDEScheduler:
    # The engine seeds the Brownian tree per image (seed_brownian_noise) before sampling.
    from diffusers import DPMSolverSDEScheduler
    return build_with_karras(DPMSolverSDEScheduler, base_config, settings)
