"""Admission checks for diffusers jobs: fast, model-free, with messages for humans (no torch)."""

from __future__ import annotations

from collections.abc import Mapping

from sfumato.errors import Code, RpcError
from sfumato.jobs.job import GenerationJob
from sfumato.records import SamplerSpec

LORA_TENSOR_TARGETS = ("LORA_UNET", "LORA_TEXT_ENCODER")
MAX_ETA = 1.0


def _supporting(samplers: Mapping[str, SamplerSpec], flag: str) -> str:
    names = sorted(name for name, spec in samplers.items() if getattr(spec, flag))
    return ", ".join(names) if names else "none"


def check_sampler(job: GenerationJob, samplers: Mapping[str, SamplerSpec]) -> None:
    settings = job.sampler
    spec = samplers.get(settings.name)
    if spec is None:
        raise RpcError(
            Code.INVALID_ARGUMENT,
            f"sampler {settings.name!r} is not available on this engine; available: {', '.join(sorted(samplers))}",
        )
    requested = [
        ("eta", settings.eta is not None, "supports_eta"),
        ("churn", any(v is not None for v in (settings.churn, settings.churn_tmin, settings.churn_tmax)),
         "supports_churn"),
        ("sigma limits", settings.sigma_min is not None or settings.sigma_max is not None,
         "supports_sigma_limits"),
        ("karrasRho", settings.karras_rho is not None, "supports_karras_rho"),
    ]
    for label, is_set, flag in requested:
        if is_set and not getattr(spec, flag):
            raise RpcError(
                Code.UNIMPLEMENTED,
                f"sampler {spec.name} does not use {label}; samplers that do: {_supporting(samplers, flag)}",
            )
    if settings.noise_type is not None and settings.noise_type not in spec.noise_types:
        raise RpcError(
            Code.UNIMPLEMENTED,
            f"sampler {spec.name} supports noise types {', '.join(spec.noise_types)}, not {settings.noise_type}",
        )
    if settings.eta is not None and settings.eta > MAX_ETA:
        # DDIM's variance term goes negative above 1: every pixel would come out NaN.
        raise RpcError(
            Code.INVALID_ARGUMENT,
            f"sampler.eta: {spec.name} takes eta in 0..{MAX_ETA:g} (0 = deterministic, 1 = full noise), "
            f"got {settings.eta:g}",
        )
    for name in ("sigma_min", "sigma_max", "karras_rho", "churn", "eta"):
        value = getattr(settings, name)
        if value is None:
            continue
        if value < 0 or (name in ("sigma_min", "sigma_max", "karras_rho") and value == 0):
            raise RpcError(Code.INVALID_ARGUMENT, f"sampler.{name} must be positive, got {value}")
    if settings.sigma_min is not None and settings.sigma_max is not None and settings.sigma_min >= settings.sigma_max:
        raise RpcError(
            Code.INVALID_ARGUMENT,
            f"sampler.sigma.min ({settings.sigma_min}) must be below sampler.sigma.max ({settings.sigma_max})",
        )


def check_loras(job: GenerationJob) -> None:
    for i, lora in enumerate(job.loras):
        if lora.safetensors is None and not lora.tensors:
            raise RpcError(Code.INVALID_ARGUMENT, f"LoRA {i} has neither a .safetensors file nor tensors")
        if lora.safetensors is None and lora.target not in LORA_TENSOR_TARGETS:
            raise RpcError(
                Code.INVALID_ARGUMENT,
                f"LoRA {i}: target {lora.target!r} is not supported; use one of {', '.join(LORA_TENSOR_TARGETS)}",
            )
        if lora.tensors and len(lora.tensors) % 2:
            raise RpcError(
                Code.INVALID_ARGUMENT,
                f"LoRA {i}: tensors come in (down, up) pairs, got an odd count {len(lora.tensors)}",
            )


def check_job(
    job: GenerationJob,
    samplers: Mapping[str, SamplerSpec],
) -> None:
    if job.width % 8 or job.height % 8:
        raise RpcError(
            Code.INVALID_ARGUMENT,
            f"width and height must be multiples of 8 for this model, got {job.width}×{job.height}",
        )
    if job.steps < 1:
        raise RpcError(Code.INVALID_ARGUMENT, f"steps must be at least 1, got {job.steps}")
    if not 0.0 <= job.strength <= 1.0:
        raise RpcError(Code.INVALID_ARGUMENT, f"schedule.start (strength) must be in [0, 1], got {job.strength}")
    if job.mask is not None and job.init_image is None:
        raise RpcError(Code.INVALID_ARGUMENT, "a mask needs an init image to inpaint")
    if job.hires is not None and job.hires.enable:
        if job.mask is not None:
            raise RpcError(
                Code.UNIMPLEMENTED,
                "hires fix applies to text-to-image and img2img requests; this request has a mask (inpainting)",
            )
        if job.init_latent is not None:
            raise RpcError(
                Code.UNIMPLEMENTED, "hires fix needs pixels to rescale; this request starts from a latent"
            )
        if not 0.0 <= job.hires.oos_fraction <= 1.0:
            raise RpcError(
                Code.INVALID_ARGUMENT, f"hires.oosFraction must be in [0, 1], got {job.hires.oos_fraction}"
            )
    if job.extensions:
        raise RpcError(
            Code.INVALID_ARGUMENT,
            f"the diffusers engine accepts no extension parameters, got {sorted(job.extensions)}",
        )
    check_sampler(job, samplers)
    check_loras(job)
