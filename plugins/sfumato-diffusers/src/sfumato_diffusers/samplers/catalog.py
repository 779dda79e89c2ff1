"""The DiffusionSampler values of the API, mapped to scheduler families (no torch import).

Capability flags must be true exactly when changing that parameter changes the
image; ``tests/test_samplers.py`` checks every flag of every sampler.
"""

from __future__ import annotations

from sfumato.records import SamplerSpec

ENGINE_KIND = "diffusers"
_PKG = "sfumato_diffusers.samplers"


def _spec(
    name: str,
    number: int,
    factory: str,
    description: str,
    *,
    eta: bool = False,
    churn: bool = False,
    karras: bool = False,
    noise_types: tuple[str, ...] = ("SAMPLER_NOISE_NORMAL",),
) -> SamplerSpec:
    # Sigma limits and rho both shape the Karras schedule, so they come together.
    return SamplerSpec(
        name=name,
        number=number,
        engine_kind=ENGINE_KIND,
        factory=f"{_PKG}.{factory}",
        description=description,
        supports_eta=eta,
        supports_churn=churn,
        supports_sigma_limits=karras,
        supports_karras_rho=karras,
        noise_types=noise_types,  # type: ignore[arg-type]
    )


BROWNIAN = ("SAMPLER_NOISE_BROWNIAN",)

SAMPLERS: tuple[SamplerSpec, ...] = (
    _spec("SAMPLER_DDIM", 0, "ddim:build_ddim", "DDIM (DDIMScheduler); eta > 0 adds noise", eta=True),
    _spec("SAMPLER_DDPM", 1, "ddim:build_ddpm", "DDPM ancestral sampling (DDPMScheduler)"),
    _spec(
        "SAMPLER_K_EULER", 2, "euler:build_euler",
        "Euler (EulerDiscreteScheduler); churn and a Karras schedule are supported",
        churn=True, karras=True,
    ),
    _spec(
        "SAMPLER_K_EULER_ANCESTRAL", 3, "euler:build_euler_ancestral",
        "Euler ancestral (EulerAncestralDiscreteScheduler)",
    ),
    _spec("SAMPLER_K_HEUN", 4, "heun:build_heun", "Heun, 2nd order (HeunDiscreteScheduler)", karras=True),
    _spec("SAMPLER_K_DPM_2", 5, "heun:build_dpm2", "DPM2 (KDPM2DiscreteScheduler)", karras=True),
    _spec(
        "SAMPLER_K_DPM_2_ANCESTRAL", 6, "heun:build_dpm2_ancestral",
        "DPM2 ancestral (KDPM2AncestralDiscreteScheduler)", karras=True,
    ),
    _spec("SAMPLER_K_LMS", 7, "lms:build_lms", "Linear multistep (LMSDiscreteScheduler)", karras=True),
    _spec(
        "SAMPLER_K_DPMPP_2S_ANCESTRAL", 8, "dpmsolver:build_dpmpp_2s_ancestral",
        "DPM++ 2S ancestral: singlestep 2nd-order SDE DPM-Solver++ (closest diffusers analogue)",
        karras=True,
    ),
    _spec(
        "SAMPLER_K_DPMPP_2M", 9, "dpmsolver:build_dpmpp_2m",
        "DPM++ 2M (DPMSolverMultistepScheduler, order 2)", karras=True,
    ),
    _spec(
        "SAMPLER_K_DPMPP_SDE", 10, "sde:build_dpmpp_sde",
        "DPM++ SDE with Brownian-tree noise (DPMSolverSDEScheduler)", karras=True, noise_types=BROWNIAN,
    ),
    _spec(
        "SAMPLER_DPMSOLVERPP_1ORDER", 500, "dpmsolver:build_dpmpp_1",
        "DPM-Solver++ order 1 (DPMSolverMultistepScheduler)", karras=True,
    ),
    _spec(
        "SAMPLER_DPMSOLVERPP_2ORDER", 501, "dpmsolver:build_dpmpp_2m",
        "DPM-Solver++ order 2 (DPMSolverMultistepScheduler)", karras=True,
    ),
    _spec(
        "SAMPLER_DPMSOLVERPP_3ORDER", 502, "dpmsolver:build_dpmpp_3m",
        "DPM-Solver++ order 3 (DPMSolverMultistepScheduler)", karras=True,
    ),
    _spec(
        "SAMPLER_DPM_FAST", 550, "dpmsolver:build_dpm_fast",
        "DPM-Solver (not ++) singlestep order 3, fixed step count (DPMSolverSinglestepScheduler)",
        karras=True,
    ),
    _spec(
        "SAMPLER_DPM_ADAPTIVE", 551, "dpmsolver:build_dpm_adaptive",
        "Stand-in: DPM-Solver++ singlestep order 3 with the requested step count; diffusers has no "
        "adaptive step-size DPM-Solver, so `steps` is honoured instead of an error tolerance",
        karras=True,
    ),
    _spec(
        "SAMPLER_DPMSOLVERPP_2S_ANCESTRAL", 552, "dpmsolver:build_dpmpp_2s_ancestral",
        "DPM++ 2S ancestral: singlestep 2nd-order SDE DPM-Solver++ (closest diffusers analogue)",
        karras=True,
    ),
    _spec(
        "SAMPLER_DPMSOLVERPP_SDE", 553, "sde:build_dpmpp_sde",
        "DPM++ SDE with Brownian-tree noise (DPMSolverSDEScheduler)", karras=True, noise_types=BROWNIAN,
    ),
    _spec(
        "SAMPLER_DPMSOLVERPP_2M", 554, "dpmsolver:build_dpmpp_2m",
        "DPM++ 2M (DPMSolverMultistepScheduler, order 2)", karras=True,
    ),
)
