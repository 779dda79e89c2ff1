"""The gradient engine under sfumato's engine harness: the conformance suite plus a few engine-specific checks."""

from __future__ import annotations

import numpy as np
import pytest
from sfumato.errors import RpcError
from sfumato.testing import EngineConformance, load_engine

from sfumato_example import plugin


@pytest.fixture(scope="module")
def conformance_engine():
    # The plugin module registered directly: no install or entry point needed.
    return load_engine("gradient", plugin=plugin)


class TestGradientConformance(EngineConformance):
    """Seeds, batches, sampler flags, progress and cancel, image shapes: the properties every engine needs."""

    conformance_job = {"extensions": {"angle": 30.0}}


def test_jobs_are_validated_like_the_server_does(conformance_engine):
    job = conformance_engine.job(prompt="a sunset", width=32, height=24, seeds=[7, 8], extensions={"angle": 90})
    assert (job.width, job.height, job.seeds, job.extensions["angle"]) == (32, 24, [7, 8], 90.0)
    with pytest.raises(RpcError, match="angle"):
        conformance_engine.job(extensions={"angle": 400.0})  # above the declared maximum
    with pytest.raises(RpcError, match="multiple of 8"):
        conformance_engine.job(width=30)


def test_a_wire_request_makes_the_same_job(conformance_engine):
    body = {
        "prompt": [{"text": "a sunset"}],
        "image": {"width": "32", "height": "24", "seed": [7], "steps": "4", "transform": {"diffusion": "SAMPLER_GRADIENT_LINEAR"}},
    }
    from_wire = conformance_engine.run(conformance_engine.job(body))
    from_keywords = conformance_engine.run(
        conformance_engine.job(prompt="a sunset", width=32, height=24, seeds=[7], steps=4, sampler="SAMPLER_GRADIENT_LINEAR")
    )
    np.testing.assert_array_equal(from_wire.pixels[0], from_keywords.pixels[0])


def test_a_run_records_progress_and_stops_at_the_cancel(conformance_engine):
    job = conformance_engine.job(width=32, height=24, steps=6)
    finished = conformance_engine.run(job)
    assert finished.progress == [(step, 6) for step in range(1, 7)]
    cancelled = conformance_engine.run(job, cancel_after_steps=3)
    assert cancelled.error is not None and cancelled.images == []
    assert cancelled.progress_after_cancel == 0
    assert conformance_engine.run(job).images, "the job itself was not cancelled"
