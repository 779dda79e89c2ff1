"""The engine conformance kit on both kinds, with the properties that do not apply to upscalers left out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sfumato.engine_testing import EngineConformance, EngineUnderTest, load_engine, request_body
from sfumato.jobs.job import GenerationJob
from sfumato_upscale import plugin

from _upscale_support import noise_image


class _UpscaleConformance(EngineConformance):
    upscaler = ""

    def conformance_make_job(self, under_test: EngineUnderTest, **keywords: Any) -> GenerationJob:
        width, height = self.conformance_size
        keywords.pop("prompt", None)  # upscalers take no text prompt
        body = request_body(
            prompt=None, init_image=noise_image(height // 2, width // 2, seed=6), width=width,
            seeds=keywords.pop("seeds", [self.conformance_seeds[0]]), **keywords,
        )
        body["image"]["transform"] = {"upscaler": self.upscaler}
        return under_test.job(body)

    def test_conformance_is_an_engine(self, conformance_engine: EngineUnderTest) -> None:
        description = conformance_engine.describe()
        assert self.upscaler in description.upscalers
        assert not description.samplers, "an upscale-only engine lists no samplers"
        missing = [name for name in ("describe", "load", "validate", "batch_key", "generate", "close")
                   if not callable(getattr(conformance_engine.engine, name, None))]
        assert not missing

    def test_conformance_seed_changes_the_image(self, conformance_engine: EngineUnderTest) -> None:
        pytest.skip("upscaling is deterministic: the seed does not enter (test_seed_does_not_matter checks that)")

    def test_seed_does_not_matter(self, conformance_engine: EngineUnderTest) -> None:
        one, other = self.conformance_seeds[:2]
        first = conformance_engine.images(self.conformance_make_job(conformance_engine, seeds=[one]))[0]
        second = conformance_engine.images(self.conformance_make_job(conformance_engine, seeds=[other]))[0]
        np.testing.assert_array_equal(first, second)


class TestRgbConformance(_UpscaleConformance):
    upscaler = "UPSCALER_RGB"

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_engine(cls) -> EngineUnderTest:
        return load_engine("rgb-upscale", plugin=plugin)


class TestEsrganConformance(_UpscaleConformance):
    upscaler = "UPSCALER_ESRGAN"
    # A 64×48 input: 3×2 tiles of 32, one a pass, so runs have steps to cancel between.
    conformance_size = (128, 96)

    def test_runs_in_several_tiles(self, conformance_engine: EngineUnderTest) -> None:
        run = conformance_engine.run(self.conformance_make_job(conformance_engine))
        assert [step for step, _ in run.progress] == [1, 2, 3, 4, 5, 6]

    def test_batched_tiles_step_once_per_pass(self, conformance_engine: EngineUnderTest, checkpoints) -> None:
        # The six tiles are 27×28: three a pass make two passes, and the same image as one a pass.
        batched = load_engine("esrgan", plugin=plugin, model=str(checkpoints["x4_pth"]),
                              options={"device": "cpu", "tile_size": 32, "tile_overlap": 8,
                                       "tile_batch_pixels": 3 * 27 * 28})
        run = batched.run(self.conformance_make_job(batched))
        assert run.progress == [(1, 2), (2, 2)] and len(run.cancel_checks) >= 2
        one_by_one = conformance_engine.images(self.conformance_make_job(conformance_engine))[0]
        assert np.abs(run.pixels[0].astype(int) - one_by_one.astype(int)).max() <= 1

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_engine(cls, checkpoints) -> EngineUnderTest:
        return load_engine("esrgan", plugin=plugin, model=str(checkpoints["x4_pth"]),
                           options={"device": "cpu", "tile_size": 32, "tile_overlap": 8, "tile_batch_pixels": 0})
