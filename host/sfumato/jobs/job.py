"""A validated generation job: what an engine is asked to do, free of wire details."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sfumato.jobs.cancel import CancelToken


@dataclass(frozen=True)
class WeightedText:
    """One prompt fragment; weights are positive (negative prompts keep |weight|)."""

    text: str
    weight: float = 1.0
    # A token prompt (prompt.tokens): ids for the engine's tokenizer, used instead of ``text``.
    tokens: tuple[int, ...] | None = None
    tokenizer_id: str | None = None


@dataclass(frozen=True)
class LoraInput:
    """A LoRA requested for this job.

    Either ``safetensors`` (the bytes of a ``.safetensors`` file, any key layout) or
    ``tensors`` (the API page's ``lora{target, tensors[]}`` form as numpy arrays) is set.
    ``key`` is a content hash, stable across requests, for caching parsed adapters.
    """

    weight: float
    target: str = "LORA_UNET"
    safetensors: bytes | None = None
    tensors: tuple[np.ndarray, ...] = ()
    key: str = ""

    @staticmethod
    def content_key(*parts: bytes) -> str:
        digest = hashlib.sha256()
        for part in parts:
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
        return digest.hexdigest()[:32]


@dataclass(frozen=True)
class SamplerSettings:
    """Sampler parameters as requested; ``None`` = the sampler's own default."""

    name: str
    cfg_scale: float = 7.5
    eta: float | None = None
    churn: float | None = None
    churn_tmin: float | None = None
    churn_tmax: float | None = None
    sigma_min: float | None = None
    sigma_max: float | None = None
    karras_rho: float | None = None
    noise_type: str | None = None


@dataclass(frozen=True)
class HiresSettings:
    enable: bool
    oos_fraction: float = 0.0


@dataclass
class GenerationJob:
    """One Request, validated against its engine's capabilities.

    Images are numpy ``uint8`` arrays: ``init_image`` is H×W×3 RGB (or ×4 RGBA),
    ``mask`` is H×W ``float32`` in 0..1 with white (1) = regenerate, already resized
    to the output size. ``composite_mask`` is the mask after ``postAdjustments`` too:
    the host composites ``init·(1−m) + generated·m`` with it after the engine ran.
    """

    request_id: str
    engine_id: str
    width: int
    height: int
    seeds: list[int]
    steps: int
    sampler: SamplerSettings
    prompt: list[WeightedText] = field(default_factory=list)
    negative_prompt: list[WeightedText] = field(default_factory=list)
    init_image: np.ndarray | None = None
    mask: np.ndarray | None = None
    composite_mask: np.ndarray | None = None
    strength: float = 1.0
    loras: list[LoraInput] = field(default_factory=list)
    clip_guidance: float = 0.0
    # CLIP guidance over the steps run: ((share, strength factor), ...) segments; () = constant.
    clip_guidance_schedule: tuple[tuple[float, float], ...] = ()
    clip_cutouts: int | None = None  # None = the engine's default
    hires: HiresSettings | None = None
    tiling: bool = False
    extensions: dict[str, Any] = field(default_factory=dict)
    cancel: CancelToken = field(default_factory=CancelToken)
    # requestedType: ARTIFACT_IMAGE, or a non-image type (sfumato.jobs.outputs).
    requested_type: str = "ARTIFACT_IMAGE"
    # An initial latent (ARTIFACT_LATENT/ARTIFACT_TENSOR prompt): C×h×w float32, used instead of init_image.
    init_latent: np.ndarray | None = None
    # schedule.end: stop when this fraction of the schedule is left (0 = denoise fully).
    schedule_end: float = 0.0
    # cfgScale keyed by scaledStep, sorted: ((position 0..1, value), ...); empty = constant sampler.cfg_scale.
    cfg_schedule: tuple[tuple[float, float], ...] = ()
    # image.transform.upscaler of an upscale job: init_image is then at its own size, not width×height.
    upscaler: str | None = None

    @property
    def samples(self) -> int:
        return len(self.seeds)

    def positive_text(self) -> str:
        return ", ".join(fragment.text for fragment in self.prompt)

    def negative_text(self) -> str:
        return ", ".join(fragment.text for fragment in self.negative_prompt)

    def describe(self) -> dict[str, Any]:
        """The generation parameters, without binaries (stored in the PNG text chunk)."""
        return {
            "engine": self.engine_id,
            "prompt": [[f.text, f.weight] for f in self.prompt],
            "negative_prompt": [[f.text, f.weight] for f in self.negative_prompt],
            "width": self.width,
            "height": self.height,
            "steps": self.steps,
            "sampler": self.sampler.name,
            "cfg_scale": self.sampler.cfg_scale,
            "strength": self.strength if self.init_image is not None else None,
            "loras": [[lora.key, lora.weight] for lora in self.loras],
            "tiling": self.tiling,
            "hires": None if self.hires is None else [self.hires.enable, self.hires.oos_fraction],
            "extensions": self.extensions,
            "upscaler": self.upscaler,
        }


@dataclass(frozen=True)
class ImageTask:
    """One image to produce: sample ``index`` of ``job``, generated from ``seed``.

    A batch handed to an engine is a list of tasks, possibly from several jobs that
    share the engine's batch key; each task's result must depend only on the task.
    """

    job: GenerationJob
    index: int
    seed: int


@dataclass
class GeneratedImage:
    """An engine's output for one task: H×W×3 (or ×4) ``uint8`` pixels.

    ``info`` is free-form engine detail for logs and debugging; it is not sent to clients.
    """

    pixels: np.ndarray
    filtered: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    # Non-image results for a job whose requested_type asks for them (sfumato.jobs.outputs).
    outputs: tuple[Any, ...] = ()
