"""The Engine contract: a protocol, a base class with defaults, and the descriptions engines give.

Engine *kinds* come from plugins (``register_engines``); engine *instances* come
from the config file (:class:`EngineConfig`). The host builds an instance with
``kind.factory(config, services)``, calls :meth:`Engine.load` on the engine's worker
thread, then hands it batches of :class:`~sfumato.jobs.job.ImageTask`.

Subclass :class:`Engine` and implement ``describe`` and ``generate``; the rest has
defaults. Any object with the methods of :class:`EngineProtocol` works too.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import msgspec

from sfumato.jobs.cancel import CancelSignal
from sfumato.jobs.job import GeneratedImage, GenerationJob, ImageTask
from sfumato.records import ExtensionParam, SamplerSpec

# The request parameters an engine can declare it uses (EngineDescription.uses), with
# where a client sets them; a request setting one the engine does not use is a 501.
STANDARD_PARAMETERS: Mapping[str, str] = {
    "negative_prompt": "prompt[].weight < 0",
    "init_image": "prompt[].artifact ARTIFACT_IMAGE",
    "mask": "prompt[].artifact ARTIFACT_MASK",
    "strength": "image.parameters[].schedule.start",
    "cfg_scale": "image.parameters[].sampler.cfgScale",
    "seed": "image.seed",
    "steps": "image.steps",
    "sampler": "image.transform.diffusion",
}


class EngineLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Per-engine bounds (the config's ``[engines.limits]``), enforced with a 400 before work is accepted."""

    max_width: int = 2048
    max_height: int = 2048
    max_pixels: int = 2048 * 2048
    size_multiple: int = 8
    max_steps: int = 150
    max_samples: int = 16


@dataclass(frozen=True)
class EngineConfig:
    """One ``[[engines]]`` entry of the config file."""

    id: str
    kind: str
    name: str = ""
    description: str = ""
    model: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    default_sampler: str | None = None
    default_steps: int | None = None
    limits: EngineLimits = field(default_factory=EngineLimits)
    max_batch_size: int = 4
    # Jobs waiting for this engine before 429; None = the server's jobs.queue_size.
    queue_size: int | None = None
    visible: bool = True


@dataclass(frozen=True)
class EngineServices:
    """What the host offers an engine: the samplers registered for its kind, a cache folder."""

    samplers: Mapping[str, SamplerSpec]
    cache_dir: str


@dataclass(frozen=True)
class EngineDescription:
    """What an engine can do, known once it is loaded (before: the config's values)."""

    native_width: int = 512
    native_height: int = 512
    default_steps: int = 50
    default_sampler: str = "SAMPLER_K_EULER"
    samplers: Sequence[str] = ()
    extensions: Sequence[ExtensionParam] = ()
    supports_init_image: bool = True
    supports_mask: bool = True
    supports_lora: bool = False
    supports_hires: bool = False
    supports_tiling: bool = False
    supports_clip_guidance: bool = False
    tokenizer_max_tokens: int | None = None
    device: str = "cpu"
    # The STANDARD_PARAMETERS names this engine honours; None = all of them (the default,
    # as before the field existed). Requests that set any other one are refused.
    uses: frozenset[str] | None = None
    # Non-image requestedTypes the engine returns (sfumato.jobs.outputs.ENGINE_OUTPUT_TYPES).
    output_types: frozenset[str] = frozenset()
    # Latent space, for latent outputs and ARTIFACT_LATENT/ARTIFACT_TENSOR prompts: channels and the
    # pixel-per-latent factor; None = the engine takes no latent inputs.
    latent_channels: int | None = None
    latent_scale: int | None = None
    # prompt.tokens: whether the engine takes token ids, the id of its tokenizer and its vocabulary
    # size (None = not known yet, e.g. before loading: the engine then checks ids itself).
    supports_token_prompts: bool = False
    tokenizer_id: str | None = None
    vocabulary_size: int | None = None
    # Upscalers (image.transform.upscaler names) the engine serves, its default first: such an engine
    # upscales the init image, kept at its own size, to the requested one (docs/upscale.md). Factors
    # (output side ÷ input side) run from 1 to max_upscale_factor; default_upscale_factor is used
    # when a request sets neither width nor height.
    upscalers: Sequence[str] = ()
    max_upscale_factor: float = 4.0
    default_upscale_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.uses is not None:
            unknown = set(self.uses) - set(STANDARD_PARAMETERS)
            if unknown:
                raise ValueError(
                    f"EngineDescription.uses: unknown parameter names {', '.join(sorted(unknown))} "
                    f"(known: {', '.join(STANDARD_PARAMETERS)})"
                )
            object.__setattr__(self, "uses", frozenset(self.uses))

    def accepts(self, parameter: str) -> bool:
        """Whether the engine honours the standard parameter ``parameter``."""
        return self.uses is None or parameter in self.uses


LoadProgress = Callable[[str], None]
# A preview function returns one H×W×3 uint8 image per task of the batch (any size: the host scales it down).
PreviewFunction = Callable[[], Sequence[Any]]


class StepProgress(Protocol):
    """``progress(step, total)`` after each sampler step; engines that can show the current state pass
    ``preview=`` a function the host calls only while a listener wants a preview (throttled by ``[events]``)."""

    def __call__(self, step: int, total: int, preview: PreviewFunction | None = None) -> None: ...


@runtime_checkable
class EngineProtocol(Protocol):
    """What the host calls on an engine (subclass :class:`Engine` to get defaults).

    ``load``, ``generate`` and ``close`` run on the engine's worker thread, one at a
    time. ``describe``, ``validate`` and ``batch_key`` are called while requests are
    accepted (event loop or request threads), possibly while ``generate`` runs: they
    must be fast, thread-safe and must not touch the model.
    """

    def describe(self) -> EngineDescription:
        """Capabilities; must be cheap and callable before :meth:`load`."""
        ...

    def load(self, report: LoadProgress) -> None:
        """Load weights (may take minutes); ``report`` takes human-readable progress lines."""
        ...

    def validate(self, job: GenerationJob) -> None:
        """Raise :class:`sfumato.errors.RpcError` for a job this engine cannot honour.

        Runs on a request thread before the job is accepted, possibly while
        ``generate`` runs, so it must be fast and must not touch the model.
        """
        ...

    def batch_key(self, job: GenerationJob) -> Hashable:
        """Jobs with equal keys may share a batch (same size, steps, sampler, cfg, LoRAs…)."""
        ...

    def generate(
        self,
        tasks: Sequence[ImageTask],
        progress: StepProgress,
        cancel: CancelSignal,
    ) -> list[GeneratedImage]:
        """Produce one image per task, in order.

        Call ``progress(step, total)`` after each sampler step (optionally with
        ``preview=``, see :class:`StepProgress`) and
        ``cancel.raise_if_cancelled()`` at least once per step; a cancelled batch
        raises :class:`sfumato.errors.Cancelled` and returns no images.
        """
        ...

    def close(self) -> None:
        """Release the model (called at shutdown)."""
        ...


def default_batch_key(job: GenerationJob) -> Hashable:
    """Everything of a job that a batched denoising loop could share: all but seeds and prompts.

    Conservative: jobs that differ in any of these never share a batch.
    """
    return (
        job.width,
        job.height,
        job.steps,
        job.sampler,  # frozen: name, cfg and every sampler parameter
        job.init_image is not None,
        job.mask is not None,
        job.strength if job.init_image is not None else None,
        job.tiling,
        None if job.hires is None else (job.hires.enable, job.hires.oos_fraction),
        tuple((lora.key or id(lora), lora.target, lora.weight) for lora in job.loras),
        job.clip_guidance,
        tuple(sorted(job.extensions.items())),
        job.requested_type,
        job.init_latent is not None,
        job.schedule_end,
        job.cfg_schedule,
        job.upscaler,
        job.clip_guidance_schedule,
        job.clip_cutouts,
    )


class Engine:
    """A base class for engines: implement :meth:`describe` and :meth:`generate`.

    The defaults: the constructor keeps ``config``, ``services`` and ``samplers``
    (the samplers registered for the kind); ``load``, ``validate`` and ``close`` do
    nothing; ``batch_key`` is :func:`default_batch_key`. See :class:`EngineProtocol`
    for which thread calls what.
    """

    def __init__(self, config: EngineConfig, services: EngineServices) -> None:
        self.config = config
        self.services = services
        self.samplers: Mapping[str, SamplerSpec] = services.samplers

    def describe(self) -> EngineDescription:
        raise NotImplementedError(f"{type(self).__name__} must implement describe()")

    def load(self, report: LoadProgress) -> None:
        return None

    def validate(self, job: GenerationJob) -> None:
        return None

    def batch_key(self, job: GenerationJob) -> Hashable:
        return default_batch_key(job)

    def generate(
        self,
        tasks: Sequence[ImageTask],
        progress: StepProgress,
        cancel: CancelSignal,
    ) -> list[GeneratedImage]:
        raise NotImplementedError(f"{type(self).__name__} must implement generate()")

    def close(self) -> None:
        return None
