"""SDXL on a tiny random-weight pipeline built offline: generation, outputs, token prompts, weights."""

from __future__ import annotations

import numpy as np
import pytest
from _support import make_engine, make_job, tasks_of
from sfumato.jobs.job import WeightedText
from sfumato_diffusers.tiny import build_tiny_xl_pipeline


@pytest.fixture(scope="module")
def xl(tmp_path_factory: pytest.TempPathFactory, cache_dir: str):
    folder = build_tiny_xl_pipeline(tmp_path_factory.mktemp("xl") / "tiny-xl")
    return make_engine(str(folder), cache_dir)


def run(engine, **fields):
    job = make_job(**fields)
    engine.validate(job)
    return engine.generate(tasks_of(job), lambda done, total: None, job.cancel)


def test_tiny_xl_loads_as_xl_and_generates_deterministically(xl):
    assert xl._xl and type(xl.pipe).__name__ == "StableDiffusionXLPipeline"
    (first,) = run(xl, seeds=[2])
    (again,) = run(xl, seeds=[2])
    (other,) = run(xl, seeds=[3])
    assert first.pixels.shape == (64, 64, 3) and first.pixels.std() > 1.0
    assert np.array_equal(first.pixels, again.pixels) and not np.array_equal(first.pixels, other.pixels)


def test_xl_latent_output_and_round_trip(xl):
    (image,) = run(xl, seeds=[5])
    (latent,) = run(xl, seeds=[5], requested_type="ARTIFACT_LATENT")
    assert latent.outputs[0].tensor.shape == (1, 4, 8, 8)
    assert np.array_equal(image.pixels, latent.pixels)
    (back,) = run(xl, seeds=[1], init_latent=latent.outputs[0].tensor[0], strength=0.5)
    assert back.pixels.shape == (64, 64, 3)


def test_xl_embedding_concatenates_both_encoders_and_weights_scale_it(xl):
    (plain,) = run(xl, requested_type="ARTIFACT_EMBEDDING", prompt=[WeightedText("a red cat")])
    (half,) = run(xl, requested_type="ARTIFACT_EMBEDDING", prompt=[WeightedText("a red cat", 0.5)])
    (empty,) = run(xl, requested_type="ARTIFACT_EMBEDDING", prompt=[WeightedText("")])
    assert plain.outputs[0].tensor.shape == (1, 16, 32)  # 16-token window, 16 + 16 features
    np.testing.assert_allclose(half.outputs[0].tensor, (plain.outputs[0].tensor + empty.outputs[0].tensor) / 2,
                               atol=1e-5)


def test_xl_token_prompt_matches_its_text(xl):
    (tokens,) = run(xl, requested_type="ARTIFACT_TOKENS", prompt=[WeightedText("a blue sky")])
    ids = tuple(token_id for token_id, _ in tokens.outputs[0].tokens)
    (by_text,) = run(xl, seeds=[8], prompt=[WeightedText("a blue sky")])
    (by_ids,) = run(xl, seeds=[8], prompt=[WeightedText("", tokens=ids)])
    assert np.array_equal(by_text.pixels, by_ids.pixels)
