"""UPSCALER_RGB: model-free resampling (Lanczos3 by default) on sfumato's native kernels; no torch."""

from __future__ import annotations

import numpy as np

from sfumato import _ops
from sfumato.engines import EngineConfig, EngineServices
from sfumato.jobs.cancel import CancelSignal
from sfumato.jobs.job import GenerationJob, ImageTask

from sfumato_upscale.base import Step, UpscaleEngine
from sfumato_upscale.options import RgbOptions, parse
from sfumato_upscale.plugin import RGB_KIND

STRETCH = 0  # _ops.rescale mode: exactly width × height


class RgbUpscaleEngine(UpscaleEngine):
    upscalers = ("UPSCALER_RGB",)

    def __init__(self, config: EngineConfig, services: EngineServices) -> None:
        super().__init__(config, services, parse(RgbOptions, config.options, RGB_KIND))
        if config.model:
            raise ValueError(f"{RGB_KIND} engines use no model; remove model = {config.model!r}")

    def units(self, job: GenerationJob) -> int:
        return 1

    def upscale(self, task: ImageTask, step: Step, cancel: CancelSignal) -> np.ndarray:
        job = task.job
        cancel.raise_if_cancelled()
        pixels = _ops.rescale(job.init_image, job.width, job.height, STRETCH, self.options.filter)
        step()
        return pixels
