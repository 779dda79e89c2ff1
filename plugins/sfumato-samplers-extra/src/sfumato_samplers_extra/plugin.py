"""Entry point: registers the extra samplers (no torch import)."""

from __future__ import annotations

from collections.abc import Callable

from sfumato.hookspecs import hookimpl
from sfumato.records import SamplerSpec

# The sfumato plugin API versions this plugin is written for (docs/plugins.md).
SFUMATO_PLUGIN_API = ">=1.0,<2"

_BUILD = "sfumato_samplers_extra.schedulers"

SAMPLERS = (
    SamplerSpec(
        name="SAMPLER_UNIPC", number=1000, engine_kind="diffusers", factory=f"{_BUILD}:build_unipc",
        description="UniPC multistep predictor-corrector (UniPCMultistepScheduler)",
        supports_sigma_limits=True, supports_karras_rho=True,
    ),
    SamplerSpec(
        name="SAMPLER_DEIS", number=1001, engine_kind="diffusers", factory=f"{_BUILD}:build_deis",
        description="DEIS multistep (DEISMultistepScheduler)",
        supports_sigma_limits=True, supports_karras_rho=True,
    ),
    SamplerSpec(
        name="SAMPLER_LCM", number=1002, engine_kind="diffusers", factory=f"{_BUILD}:build_lcm",
        description="Latent consistency sampling (LCMScheduler); meant for LCM-distilled models",
    ),
    SamplerSpec(
        name="SAMPLER_TCD", number=1003, engine_kind="diffusers", factory=f"{_BUILD}:build_tcd",
        description="Trajectory consistency sampling (TCDScheduler); eta is TCD's gamma (default 0.3)",
        supports_eta=True,
    ),
    SamplerSpec(
        name="SAMPLER_DPMPP_2M_SDE", number=1004, engine_kind="diffusers", factory=f"{_BUILD}:build_dpmpp_2m_sde",
        description="DPM++ 2M SDE (DPMSolverMultistepScheduler, sde-dpmsolver++)",
        supports_sigma_limits=True, supports_karras_rho=True,
    ),
)


@hookimpl
def register_samplers(register: Callable[..., None]) -> None:
    for spec in SAMPLERS:
        register(spec)
