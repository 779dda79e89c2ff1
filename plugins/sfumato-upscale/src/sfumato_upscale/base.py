"""What both upscaling kinds share: the description, request checks, and the work loop."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np

from sfumato.engines import Engine, EngineConfig, EngineDescription, EngineServices, StepProgress
from sfumato.errors import invalid, unimplemented
from sfumato.jobs.cancel import CancelSignal
from sfumato.jobs.job import GeneratedImage, GenerationJob, ImageTask

# Standard parameters upscalers accept: init_image is the input. stability-sdk's upscale()
# always sends seed, steps and cfgScale; they are accepted and have no effect (docs/upscale.md).
USES = frozenset({"init_image", "seed", "steps", "cfg_scale"})

Step = Callable[[], None]


class UpscaleEngine(Engine):
    """An engine that serves ``upscalers``; subclasses implement :meth:`units` and :meth:`upscale`."""

    upscalers: tuple[str, ...] = ()

    def __init__(self, config: EngineConfig, services: EngineServices, options: object) -> None:
        super().__init__(config, services)
        self.options = options

    def describe(self) -> EngineDescription:
        return EngineDescription(
            default_steps=1,
            default_sampler="",
            samplers=(),
            supports_init_image=True,
            supports_mask=False,
            device=self.device_name(),
            uses=USES,
            upscalers=self.upscalers,
            max_upscale_factor=self.options.max_upscale_factor,
            default_upscale_factor=self.options.default_upscale_factor,
        )

    def device_name(self) -> str:
        return "cpu"

    def validate(self, job: GenerationJob) -> None:
        if job.upscaler not in self.upscalers:
            raise invalid(
                f"image.transform.upscaler: engine {self.config.id!r} serves {', '.join(self.upscalers)}, "
                f"not {job.upscaler}"
            )
        if job.prompt or job.negative_prompt:
            raise unimplemented(
                f"prompt: engine {self.config.id!r} upscales the init image and uses no text prompt; leave text prompts out"
            )

    def batch_key(self, job: GenerationJob) -> Hashable:
        # Every task is upscaled on its own; tasks of any jobs may share a batch.
        return ("upscale", job.upscaler)

    def units(self, job: GenerationJob) -> int:
        """Work units (progress steps) :meth:`upscale` will report for ``job``."""
        raise NotImplementedError

    def work_key(self, task: ImageTask) -> Hashable:
        """Tasks with equal keys give the same image and run once: by default the samples of one
        job (upscaling takes no seed)."""
        return id(task.job)

    def upscale(self, task: ImageTask, step: Step, cancel: CancelSignal) -> np.ndarray:
        """The task's init image upscaled to its job's width × height; ``step()`` after each work
        unit, ``cancel.raise_if_cancelled()`` before each."""
        raise NotImplementedError

    def generate(self, tasks: Sequence[ImageTask], progress: StepProgress, cancel: CancelSignal) -> list[GeneratedImage]:
        work = {self.work_key(task): task for task in tasks}
        total = sum(self.units(task.job) for task in work.values())
        done = 0

        def step() -> None:
            nonlocal done
            done += 1
            progress(done, total)

        results = {key: self.upscale(task, step, cancel) for key, task in work.items()}
        cancel.raise_if_cancelled()  # a cancel during the last unit still discards the batch
        return [
            GeneratedImage(pixels=results[self.work_key(task)], info={"upscaler": task.job.upscaler}) for task in tasks
        ]
