"""Helpers shared by the engine tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sfumato.engines import EngineConfig, EngineServices
from sfumato.jobs.cancel import CancelToken
from sfumato.jobs.job import GenerationJob, ImageTask, SamplerSettings, WeightedText

from sfumato_diffusers.engine import DiffusersEngine
from sfumato_diffusers.samplers.catalog import SAMPLERS

SAMPLER_SPECS = {spec.name: spec for spec in SAMPLERS}


def make_engine(model: str, cache_dir: str, **options: Any) -> DiffusersEngine:
    # Keep the thread count conftest chose (the engine would otherwise size it to the cores).
    options.setdefault("cpu_threads", torch.get_num_threads())
    engine = DiffusersEngine(
        EngineConfig(id="test", kind="diffusers", model=model, options=options),
        EngineServices(samplers=SAMPLER_SPECS, cache_dir=cache_dir),
    )
    engine.load(lambda line: None)
    return engine


def make_job(**fields: Any) -> GenerationJob:
    sampler = fields.pop("sampler", None)
    if sampler is None or isinstance(sampler, str):
        sampler = SamplerSettings(sampler or "SAMPLER_K_EULER", cfg_scale=6.0)
    values: dict[str, Any] = dict(
        request_id="req",
        engine_id="test",
        width=64,
        height=64,
        seeds=[7],
        steps=4,
        sampler=sampler,
        prompt=[WeightedText("a red cat")],
    )
    values.update(fields)
    return GenerationJob(**values)


def tasks_of(job: GenerationJob) -> list[ImageTask]:
    return [ImageTask(job, i, seed) for i, seed in enumerate(job.seeds)]


def generate(engine: DiffusersEngine, job: GenerationJob, check: bool = True, **kwargs: Any) -> list[np.ndarray]:
    """Validate (unless ``check`` is false) and run a job; returns its images."""
    if check:
        engine.validate(job)
    images = engine.generate(tasks_of(job), kwargs.get("progress", lambda done, total: None),
                             kwargs.get("cancel", job.cancel))
    return [image.pixels for image in images]


def one(engine: DiffusersEngine, check: bool = True, **fields: Any) -> np.ndarray:
    (image,) = generate(engine, make_job(**fields), check=check)
    return image
