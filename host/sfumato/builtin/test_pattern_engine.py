"""A GPU-free engine that renders a deterministic pattern per (seed, prompt, size).

It honours the whole request surface the host validates — samples and seeds,
init image with schedule strength (a blend), masks (via the host's composite),
tiling (a truly periodic pattern), samplers, cfg (contrast) — so clients and CI can
exercise the API end to end. Extension parameters make it useful for testing
servers: a per-step delay and fault injection.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from sfumato.engines import Engine, EngineConfig, EngineDescription, EngineServices, LoadProgress, StepProgress
from sfumato.errors import Code, RpcError
from sfumato.jobs.cancel import CancelSignal
from sfumato.jobs.job import GeneratedImage, GenerationJob, ImageTask, SamplerSettings
from sfumato.records import ExtensionParam, resolve

EXTENSIONS = (
    ExtensionParam("pattern", "str", "Shape of the pattern.", default="waves", choices=("waves", "rings", "checker")),
    ExtensionParam("step_delay_ms", "int", "Sleep this long per step, to simulate a slow model.", default=0,
                   minimum=0, maximum=10_000, test_control=True),
    ExtensionParam("fail", "str", "Fault injection for server tests: the batch fails at its first step.",
                   default="none", choices=("none", "error", "out_of_memory", "crash", "kill_process"), test_control=True),
    ExtensionParam("fail_index", "int", "With 'fail': fail only batches that hold the image with this sample "
                   "index (unset: any batch). The whole batch fails, not that image alone.",
                   minimum=0, maximum=1024, test_control=True),
)


class SimulatedOutOfMemoryError(RuntimeError):
    """Stands in for a device running out of memory."""


class TestPatternEngine(Engine):
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, config: EngineConfig, services: EngineServices) -> None:
        super().__init__(config, services)
        self.native = int(config.options.get("native_size", 512))
        unknown = set(config.options) - {"native_size"}
        if unknown:
            raise ValueError(f"unknown options for test-pattern: {', '.join(sorted(unknown))} (accepted: native_size)")

    def describe(self) -> EngineDescription:
        return EngineDescription(
            native_width=self.native,
            native_height=self.native,
            default_steps=self.config.default_steps or 20,
            default_sampler=self.config.default_sampler or "SAMPLER_K_EULER",
            samplers=tuple(self.samplers),
            extensions=EXTENSIONS,
            supports_init_image=True,
            supports_mask=True,
            supports_lora=False,
            supports_hires=False,
            supports_tiling=True,
            device="cpu",
        )

    def load(self, report: LoadProgress) -> None:
        report("nothing to load")

    def batch_key(self, job: GenerationJob) -> Hashable:
        return (job.width, job.height, job.steps, job.sampler, job.tiling, job.extensions.get("step_delay_ms", 0))

    def generate(self, tasks: Sequence[ImageTask], progress: StepProgress, cancel: CancelSignal) -> list[GeneratedImage]:
        steps = tasks[0].job.steps
        delay = max(int(task.job.extensions.get("step_delay_ms", 0)) for task in tasks) / 1000.0
        finals: list[np.ndarray] = []

        def preview_at(step: int) -> list[np.ndarray]:
            # The pattern fading in from grey: made only when a listener asks, once per batch.
            if not finals:
                finals.extend(render(task, self._shade(task.job)) for task in tasks)
            weight = step / steps
            return [np.rint(128.0 * (1.0 - weight) + final * weight).astype(np.uint8) for final in finals]

        for step in range(steps):
            cancel.raise_if_cancelled()
            for task in tasks:
                fault = task.job.extensions.get("fail", "none")
                if task.job.extensions.get("fail_index", -1) not in (-1, task.index):
                    continue
                if fault == "error":
                    raise RpcError(Code.INTERNAL, "test-pattern: fault injected by the 'fail' extension parameter")
                if fault == "out_of_memory":
                    raise SimulatedOutOfMemoryError("test-pattern: simulated out of memory")
                if fault == "crash":  # an unexpected bug inside a plugin
                    raise ZeroDivisionError("test-pattern: simulated plugin bug")
                if fault == "kill_process":  # what a segfault or the OOM killer does to the whole process
                    os._exit(70)
            if delay:
                time.sleep(delay)
            progress(step + 1, steps, preview=functools.partial(preview_at, step + 1))
        cancel.raise_if_cancelled()
        return [GeneratedImage(final) for final in finals] or [GeneratedImage(render(task, self._shade(task.job))) for task in tasks]

    def _shade(self, job: GenerationJob) -> Callable[..., np.ndarray] | None:
        spec = self.samplers.get(job.sampler.name)
        return resolve(spec.factory) if spec is not None else None


def _prompt_digest(job: GenerationJob) -> bytes:
    text = "\x1f".join(f"{f.text}\x1e{f.weight:g}" for f in job.prompt)
    negative = "\x1f".join(f"{f.text}\x1e{f.weight:g}" for f in job.negative_prompt)
    return hashlib.sha256(f"{text}\x1d{negative}".encode()).digest()


# The built-in samplers' factories (the kind's sampler contract is in test_pattern.py).
def smooth(image: np.ndarray, rng: np.random.Generator, settings: SamplerSettings) -> np.ndarray:
    return image


def grain(image: np.ndarray, rng: np.random.Generator, settings: SamplerSettings) -> np.ndarray:
    eta = 1.0 if settings.eta is None else settings.eta
    return image + rng.normal(0.0, 0.08 * eta, size=image.shape)


def posterize(image: np.ndarray, rng: np.random.Generator, settings: SamplerSettings) -> np.ndarray:
    return np.floor(np.clip(image, 0, 1) * 7.999) / 7.0


BUILTIN_SHADES = {"SAMPLER_K_EULER": smooth, "SAMPLER_K_EULER_ANCESTRAL": grain, "SAMPLER_DDIM": posterize}


def render(task: ImageTask, shade: Callable[..., np.ndarray] | None = None) -> np.ndarray:
    """The pattern for one task: H×W×3 uint8, a pure function of the task.

    ``shade`` is the chosen sampler's factory; unset, the built-in one of that name.
    """
    job = task.job
    digest = _prompt_digest(job)
    rng = np.random.default_rng([task.seed, int.from_bytes(digest[:8], "little")])
    height, width = job.height, job.width
    y = np.arange(height, dtype=np.float64)[:, None] / height
    x = np.arange(width, dtype=np.float64)[None, :] / width
    shape = job.extensions.get("pattern", "waves")

    channels = []
    for _ in range(3):
        if job.tiling:  # whole cycles across the image: the pattern repeats seamlessly
            fx, fy = rng.integers(1, 7, size=2).astype(np.float64) * rng.choice([-1, 1], size=2)
        else:
            fx, fy = rng.uniform(0.7, 6.3, size=2) * rng.choice([-1, 1], size=2)
        phase = rng.uniform(0, 2 * np.pi)
        if shape == "rings":
            field = np.cos(2 * np.pi * fx * x) + np.cos(2 * np.pi * fy * y)
            value = np.sin(np.pi * field + phase)
        elif shape == "checker":
            value = np.sign(np.sin(2 * np.pi * fx * x + phase) * np.sin(2 * np.pi * fy * y + phase)) * 0.8
        else:
            value = np.sin(2 * np.pi * (fx * x + fy * y) + phase) * np.cos(2 * np.pi * fy * y - phase)
        channels.append(value)
    tint = np.frombuffer(digest[8:11], dtype=np.uint8).astype(np.float64) / 255.0
    contrast = 0.25 + 0.5 * min(job.sampler.cfg_scale, 20.0) / 20.0
    image = np.stack(channels, axis=-1) * contrast + 0.5 * (0.5 + tint)

    image = (shade or BUILTIN_SHADES.get(job.sampler.name, smooth))(image, rng, job.sampler)
    pattern = np.clip(image, 0.0, 1.0) * 255.0

    if job.init_image is not None:
        pattern = job.init_image.astype(np.float64) * (1.0 - job.strength) + pattern * job.strength
    return np.clip(np.rint(pattern), 0, 255).astype(np.uint8)
