"""The built-in test-pattern engine passes the engine conformance suite, and the harness itself behaves."""

from __future__ import annotations

import numpy as np
import pytest
from sfumato.errors import Cancelled, RpcError
from sfumato.jobs.job import GeneratedImage
from sfumato.records import SamplerSpec
from sfumato.testing import EngineConformance, EngineUnderTest, load_engine, make_job, request_body, run_engine


@pytest.fixture(scope="module")
def conformance_engine() -> EngineUnderTest:
    return load_engine("test-pattern", plugins=["test_pattern"])


class TestTestPatternConformance(EngineConformance):
    pass


class TestTestPatternOtherPatterns(EngineConformance):
    conformance_job = {"extensions": {"pattern": "rings"}}
    conformance_size = (32, 16)


def test_request_body_is_proto3_json():
    body = request_body(prompt=["a cat", ("fur", 0.5)], negative_prompt="blur", width=64, seeds=3, eta=0.5,
                        sigma_max=4.0, strength=0.4, extensions={"pattern": "rings"})
    assert body["prompt"][1] == {"text": "fur", "parameters": {"weight": 0.5}}
    assert body["prompt"][2]["parameters"]["weight"] == -1.0
    assert body["image"]["width"] == "64" and body["image"]["seed"] == [3] and body["image"]["samples"] == "1"
    step = body["image"]["parameters"][0]
    assert step == {"sampler": {"eta": 0.5, "sigma": {"sigmaMax": 4.0}}, "schedule": {"start": 0.4}}
    with pytest.raises(TypeError, match="unknown job keywords colour"):
        request_body(colour="red")


def test_jobs_go_through_the_hosts_validation(conformance_engine):
    job = conformance_engine.job(width=64, height=32, seeds=[1, 2], sampler="SAMPLER_DDIM", cfg_scale=3.0)
    assert (job.width, job.height, job.seeds, job.sampler.name, job.sampler.cfg_scale) == (64, 32, [1, 2], "SAMPLER_DDIM", 3.0)
    with pytest.raises(RpcError, match="does not support eta"):
        conformance_engine.job(sampler="SAMPLER_DDIM", eta=1.0)
    with pytest.raises(RpcError, match="no sampler"):
        conformance_engine.job(sampler="SAMPLER_NOT_THERE")
    with pytest.raises(TypeError, match="either a request or keywords"):
        make_job(conformance_engine, {"prompt": []}, width=64)


def test_init_images_travel_as_png(conformance_engine):
    init = np.random.default_rng(0).integers(0, 256, size=(16, 24, 3), dtype=np.uint8)
    job = conformance_engine.job(init_image=init, strength=0.25)
    assert (job.width, job.height) == (24, 16) and job.strength == 0.25
    np.testing.assert_array_equal(job.init_image, init)


class _SlowToCancel:
    """Checks the cancel only every other step: the suite must catch that."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, tasks, progress, cancel):
        steps = tasks[0].job.steps
        for step in range(1, steps + 1):
            if step % 3 == 1:
                cancel.raise_if_cancelled()
            progress(step, steps)
        return [GeneratedImage(np.zeros((task.job.height, task.job.width, 3), np.uint8)) for task in tasks]


def test_the_suite_catches_a_late_cancel(conformance_engine):
    slow = EngineUnderTest(_SlowToCancel(conformance_engine.engine), samplers=conformance_engine.samplers)
    job = slow.job(steps=8)
    run = run_engine(slow, job, cancel_after_steps=1)
    assert isinstance(run.error, Cancelled) and run.progress_after_cancel == 2
    with pytest.raises(AssertionError, match="more steps ran after the cancel|generate returned 1 images"):
        EngineConformance().test_conformance_cancel_within_one_step(slow)
    with pytest.raises(AssertionError, match="no cancel check between progress calls"):
        EngineConformance().test_conformance_progress_and_cancel_checks_every_step(slow)


def test_the_suite_catches_a_dishonest_flag(conformance_engine):
    honest = dict(conformance_engine.samplers)
    lying = dict(honest, SAMPLER_K_EULER=SamplerSpec(name="SAMPLER_K_EULER", engine_kind="test-pattern", factory="smooth",
                                                      supports_karras_rho=True))
    suite = EngineConformance()
    suite.conformance_samplers = ["SAMPLER_K_EULER"]
    with pytest.raises(AssertionError, match="claims supports_karras_rho"):
        suite.test_conformance_sampler_flags_are_honest(EngineUnderTest(conformance_engine.engine, samplers=lying))
