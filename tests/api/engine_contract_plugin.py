"""A third-party-style plugin for the engine-contract tests: a minimal engine, faulty ones, a faulty adjustment.

test_engine_contract.py installs it as the distribution ``sfumato-contract-fixture``
(a dist-info folder on PYTHONPATH) and serves it from a real ``sfumato serve``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import msgspec
import numpy as np

from sfumato import hookimpl
from sfumato.engines import Engine, EngineConfig, EngineDescription, EngineServices, StepProgress
from sfumato.jobs.cancel import CancelSignal
from sfumato.jobs.job import GeneratedImage, GenerationJob, ImageTask
from sfumato.records import AdjustmentSpec, EngineKind, SamplerSpec

SAMPLER = "SAMPLER_CONTRACT_FLAT"


def flat(*args: object, **kwargs: object) -> None:
    """The sampler factory (these engines never call it)."""
    return None


class MinimalEngine(Engine):
    """describe + generate and nothing else: the base class supplies the rest."""

    def describe(self) -> EngineDescription:
        return EngineDescription(
            native_width=32,
            native_height=32,
            default_steps=2,
            default_sampler=self.config.default_sampler or SAMPLER,
            samplers=tuple(self.samplers),
            uses=frozenset({"seed", "steps", "sampler"}),  # no cfg_scale, negative prompts, init images…
        )

    def generate(self, tasks: Sequence[ImageTask], progress: StepProgress, cancel: CancelSignal) -> list[GeneratedImage]:
        for step in range(tasks[0].job.steps):
            cancel.raise_if_cancelled()
            progress(step + 1, tasks[0].job.steps)
        return [
            GeneratedImage(np.full((task.job.height, task.job.width, 3), task.seed % 256, dtype=np.uint8))
            for task in tasks
        ]


class FaultyEngine(MinimalEngine):
    """Breaks the contract the way ``options.fault`` says: validate, batch_key, count or shape."""

    def __init__(self, config: EngineConfig, services: EngineServices) -> None:
        super().__init__(config, services)
        self.fault = str(config.options.get("fault", ""))

    def describe(self) -> EngineDescription:
        return EngineDescription(
            native_width=32, native_height=32, default_steps=2, default_sampler=SAMPLER, samplers=tuple(self.samplers)
        )

    def validate(self, job: GenerationJob) -> None:
        if self.fault == "validate":
            raise KeyError("a bug in the admission check")

    def batch_key(self, job: GenerationJob) -> Hashable:
        if self.fault == "batch_key":
            raise RuntimeError("the key went missing")
        return super().batch_key(job)

    def generate(self, tasks: Sequence[ImageTask], progress: StepProgress, cancel: CancelSignal) -> list[GeneratedImage]:
        images = super().generate(tasks, progress, cancel)
        if self.fault == "count":
            return images + images[:1]
        if self.fault == "shape":
            return [GeneratedImage(image.pixels[:, :-8]) for image in images]
        return images


class ExplodeParams(msgspec.Struct, forbid_unknown_fields=True):
    force: float = 1.0


def explode(pixels: np.ndarray, params: ExplodeParams) -> np.ndarray:
    raise RuntimeError("kaboom")


@hookimpl
def register_engines(register: Callable[[EngineKind], None]) -> None:
    register(EngineKind(name="contract-minimal", factory=MinimalEngine))
    register(EngineKind(name="contract-faulty", factory=FaultyEngine))


@hookimpl
def register_samplers(register: Callable[[SamplerSpec], None]) -> None:
    for kind in ("contract-minimal", "contract-faulty"):
        register(SamplerSpec(name=SAMPLER, engine_kind=kind, factory="engine_contract_plugin:flat"))


@hookimpl
def register_adjustments(register: Callable[[AdjustmentSpec], None]) -> None:
    register(AdjustmentSpec(name="explode", params=ExplodeParams, apply="engine_contract_plugin:explode"))
