"""DPM++ SDE with Brownian-tree noise (needs torchsde)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from diffusers import DPMSolverSDEScheduler
from sfumato.jobs.job import SamplerSettings

from sfumato_diffusers.samplers.helpers import build_with_karras


def build_dpmpp_sde(base_config: Mapping[str, Any], settings: SamplerSettings) -> DPMSolverSDEScheduler:
    # The engine seeds the Brownian tree per image (seed_brownian_noise) before sampling.
    return build_with_karras(DPMSolverSDEScheduler, base_config, settings)
