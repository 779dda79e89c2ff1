"""The safety checker, on tiny random checkers whose verdict is forced both ways."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _support import make_engine, make_job, tasks_of
from sfumato.jobs.outputs import CLASSIFICATIONS
from sfumato_diffusers.tiny import build_tiny_pipeline


@pytest.fixture(scope="module")
def checked_models(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, str]:
    folder = tmp_path_factory.mktemp("safety")
    return {flags: str(build_tiny_pipeline(folder / f"flags-{flags}", safety_flags=flags)) for flags in (True, False)}


def run(engine, **fields):
    job = make_job(**fields)
    engine.validate(job)
    return engine.generate(tasks_of(job), lambda done, total: None, job.cancel)


@pytest.mark.parametrize("mode", ["flag", "block"])
def test_a_flagged_image_is_marked_and_blocked_only_in_block_mode(checked_models, cache_dir, mode):
    engine = make_engine(checked_models[True], cache_dir, safety_checker=mode)
    (image,) = run(engine, requested_type=CLASSIFICATIONS)
    assert image.filtered
    verdict = json.loads(image.outputs[0].text)
    assert verdict["exceeds"] and verdict["exceeds"][0]["name"] == "nsfw" and image.outputs[0].flagged
    if mode == "block":
        assert not image.pixels.any() and verdict["realizedAction"] == "ACTION_OBFUSCATE"
    else:
        assert image.pixels.std() > 1.0 and verdict["realizedAction"] == "ACTION_PASSTHROUGH"
    assert CLASSIFICATIONS in engine.describe().output_types


def test_an_unflagged_image_passes_untouched(checked_models, cache_dir):
    engine = make_engine(checked_models[False], cache_dir, safety_checker="block")
    unchecked = make_engine(checked_models[False], cache_dir, safety_checker="off")
    (image,) = run(engine, requested_type=CLASSIFICATIONS, seeds=[4])
    (plain,) = run(unchecked, seeds=[4])
    assert not image.filtered and json.loads(image.outputs[0].text)["exceeds"] == []
    assert np.array_equal(image.pixels, plain.pixels)
    assert CLASSIFICATIONS not in unchecked.describe().output_types
