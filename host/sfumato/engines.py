"""The Engine protocol and the descriptions engines give of themselves.

Engine *kinds* come from plugins (``register_engines``); engine *instances* come
from the config file (:class:`EngineConfig`). The host builds an instance with
``kind.factory(config, services)``, calls :meth:`Engine.load` on the engine's worker
thread, then hands it batches of :class:`~sfumato.jobs.job.ImageTask`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import msgspec

from sfumato.jobs.job import GeneratedImage, GenerationJob, ImageTask
from sfumato.records import ExtensionParam, SamplerSpec


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


LoadProgress = Callable[[str], None]
StepProgress = Callable[[int, int], None]


@runtime_checkable
class Engine(Protocol):
    """A generation backend.

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
        cancel: Any,
    ) -> list[GeneratedImage]:
        """Produce one image per task, in order.

        Call ``progress(step, total)`` after each sampler step and
        ``cancel.raise_if_cancelled()`` at least once per step; a cancelled batch
        raises :class:`sfumato.errors.Cancelled` and returns no images.
        """
        ...

    def close(self) -> None:
        """Release the model (called at shutdown)."""
        ...
