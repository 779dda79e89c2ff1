"""The ``gradient`` engine: a seeded two-colour gradient, rendered step by step.

It stands in for a real model while showing everything the Engine protocol asks
for: capabilities in ``describe``, cheap checks in ``validate``, a batch key,
per-image seeds, a per-step loop with progress and cancellation, init images with
strength, a sampler chosen per request and an extension parameter.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from sfumato.engines import Engine, EngineConfig, EngineDescription, EngineServices, LoadProgress, StepProgress
from sfumato.errors import unimplemented
from sfumato.jobs.cancel import CancelSignal
from sfumato.jobs.job import GeneratedImage, GenerationJob, ImageTask
from sfumato.records import ExtensionParam

ANGLE = ExtensionParam(
    name="angle",
    type="float",
    description="Direction of the gradient in degrees: 0 runs left to right, 90 top to bottom.",
    default=0.0,
    minimum=0.0,
    maximum=360.0,
)

OPTIONS = {"native_size": 512, "step_delay_ms": 0}

Easing = Callable[[np.ndarray], np.ndarray]


def linear(t: np.ndarray) -> np.ndarray:
    return t


def smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


class GradientEngine(Engine):
    """Built by the host as ``GradientEngine(config, services)`` for each ``kind = "gradient"`` entry.

    The base class keeps ``self.config``, ``self.services`` and ``self.samplers``; only
    ``describe`` and ``generate`` are required, the rest is overridden to show it.
    """

    def __init__(self, config: EngineConfig, services: EngineServices) -> None:
        unknown = sorted(set(config.options) - set(OPTIONS))
        if unknown:
            # Raised here, the message reaches the operator at startup (sfumato serve exits with it).
            raise ValueError(f"unknown options {', '.join(unknown)}; accepted: {', '.join(OPTIONS)}")
        super().__init__(config, services)
        options = {**OPTIONS, **config.options}
        self.native_size = int(options["native_size"])
        self.step_delay = float(options["step_delay_ms"]) / 1000.0
        self.easings: dict[str, Easing] = {}

    # --- protocol ----------------------------------------------------------------------------

    def describe(self) -> EngineDescription:
        return EngineDescription(
            native_width=self.native_size,
            native_height=self.native_size,
            default_steps=self.config.default_steps or 12,
            default_sampler=self.config.default_sampler or "SAMPLER_GRADIENT_SMOOTH",
            samplers=tuple(self.samplers),
            extensions=(ANGLE,),
            supports_init_image=True,
            supports_mask=True,  # the host composites the mask after generate()
            supports_lora=False,
            supports_hires=False,
            supports_tiling=False,
            supports_clip_guidance=False,
            device="cpu",
        )

    def load(self, report: LoadProgress) -> None:
        # A real engine loads weights here. The host has already resolved each sampler's factory
        # and checked it against the kind's sampler contract (plugin.py): a broken one never gets here.
        self.easings = {name: spec.factory for name, spec in self.samplers.items()}
        report(f"{len(self.easings)} samplers ready")

    def validate(self, job: GenerationJob) -> None:
        if job.negative_prompt:
            raise unimplemented(
                f"engine {job.engine_id!r} (gradient) has no negative prompts; send only prompts with weight > 0"
            )

    def batch_key(self, job: GenerationJob) -> Hashable:
        # Everything the batch's shared step loop depends on; the rest (seed, prompt, angle) is per task.
        return (job.width, job.height, job.steps)

    def generate(self, tasks: Sequence[ImageTask], progress: StepProgress, cancel: CancelSignal) -> list[GeneratedImage]:
        steps = tasks[0].job.steps
        targets = [
            render_target(task, self.easings[task.job.sampler.name], grain=self.samplers[task.job.sampler.name].supports_eta)
            for task in tasks
        ]
        canvases = [start_noise(task) for task in tasks]
        for step in range(steps):
            cancel.raise_if_cancelled()
            remaining = steps - step
            for canvas, target in zip(canvases, targets, strict=True):
                canvas += (target - canvas) / remaining  # lands exactly on the target at the last step
            if self.step_delay:
                time.sleep(self.step_delay)
            progress(step + 1, steps)
        return [GeneratedImage(to_uint8(canvas)) for canvas in canvases]

    def close(self) -> None:
        self.easings = {}


# --- rendering: pure functions of one task ---------------------------------------------------


NOISE_STREAM, COLOUR_STREAM = 0, 1


def task_rng(task: ImageTask, stream: int) -> np.random.Generator:
    """A random stream of one image: from its seed and prompt only, never from the batch it is in."""
    prompt = "\x1f".join(f"{fragment.text}\x1e{fragment.weight:g}" for fragment in task.job.prompt)
    digest = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "little")
    return np.random.default_rng([task.seed, digest, stream])


def start_noise(task: ImageTask) -> np.ndarray:
    return task_rng(task, NOISE_STREAM).uniform(0.0, 255.0, size=(task.job.height, task.job.width, 3))


def gradient_ramp(width: int, height: int, angle_degrees: float) -> np.ndarray:
    """H×W positions in 0..1 along the direction ``angle_degrees`` (0 = left→right, 90 = top→bottom)."""
    radians = math.radians(angle_degrees)
    dx, dy = math.cos(radians), math.sin(radians)
    x = (np.arange(width, dtype=np.float64) + 0.5) / width - 0.5
    y = (np.arange(height, dtype=np.float64) + 0.5) / height - 0.5
    along = x[None, :] * dx + y[:, None] * dy
    extent = 0.5 * (abs(dx) + abs(dy))
    return np.clip(along / extent * 0.5 + 0.5, 0.0, 1.0)


def render_target(task: ImageTask, ease: Easing, grain: bool = False) -> np.ndarray:
    """The final image of one task as H×W×3 float64 in 0..255; ``grain``: eta adds noise (samplers claiming eta)."""
    job = task.job
    rng = task_rng(task, COLOUR_STREAM)
    first, second = rng.uniform(0.0, 1.0, size=(2, 3))
    contrast = min(job.sampler.cfg_scale, 15.0) / 7.5  # cfg 7.5 (the default) = the drawn colours
    first, second = (np.clip(0.5 + (colour - 0.5) * contrast, 0.0, 1.0) for colour in (first, second))
    ramp = ease(gradient_ramp(job.width, job.height, float(job.extensions.get("angle", 0.0))))
    image = first + (second - first) * ramp[:, :, None]
    if grain and job.sampler.eta:
        image = image + rng.normal(0.0, 0.05 * job.sampler.eta, size=image.shape)
    image = np.clip(image, 0.0, 1.0) * 255.0
    if job.init_image is not None:
        # strength is the share of the schedule re-run: 0 keeps the init image, 1 ignores it.
        image = job.init_image[:, :, :3].astype(np.float64) * (1.0 - job.strength) + image * job.strength
    return image


def to_uint8(canvas: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
