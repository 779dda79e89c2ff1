"""Previews from the diffusers engine (tiny-sd): the latent→RGB projection, in-process and over SSE."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from conftest import KEY_A
from events_sse import read_events
from PIL import Image

from sfumato.testing import RequestBuilder, start_server

pytest.importorskip("sfumato_diffusers", reason="the sfumato-diffusers plugin is not installed")
pytestmark = pytest.mark.torch

from sfumato_diffusers.previews import SD_LATENT_RGB, SDXL_LATENT_BIAS, SDXL_LATENT_RGB, BatchPreviews, project  # noqa: E402


def test_projection_matches_the_per_pixel_formula():
    rng = np.random.default_rng(0)
    latents = rng.normal(0, 1, size=(2, 4, 5, 7)).astype(np.float32)
    for xl, matrix, bias in ((False, SD_LATENT_RGB, np.zeros(3)), (True, SDXL_LATENT_RGB, SDXL_LATENT_BIAS)):
        images = project(latents, xl)
        assert len(images) == 2 and images[0].shape == (5, 7, 3) and images[0].dtype == np.uint8
        for b, y, x in ((0, 0, 0), (1, 4, 6), (0, 2, 3)):
            rgb = [sum(latents[b, c, y, x] * matrix[c, k] for c in range(4)) + bias[k] for k in range(3)]
            expected = np.clip((np.array(rgb) + 1.0) * 127.5, 0, 255).astype(np.uint8)
            assert np.abs(images[b][y, x].astype(int) - expected.astype(int)).max() <= 1


def test_other_channel_counts_still_give_an_image():
    images = project(np.random.default_rng(1).normal(size=(1, 16, 3, 3)), xl=False)
    assert images[0].shape == (3, 3, 3) and images[0].min() == 0 and images[0].max() == 255


def test_batch_previews_fill_tasks_not_yet_run_with_grey():
    import torch

    tasks = [object(), object(), object()]
    board = BatchPreviews(tasks, xl=False)
    preview = board.for_step([tasks[1]], torch.zeros(1, 4, 4, 4))
    images = preview()
    assert len(images) == 3 and (images[0] == 128).all() and (images[2] == 128).all()
    assert (images[1] == 127).all()  # zero latents: the middle of the range


def test_the_engine_offers_a_preview_function_each_step(tmp_path):
    """In-process: generate() passes preview=, and calling it gives one latent-size image per task."""
    from sfumato.engines import EngineConfig, EngineServices
    from sfumato.jobs.job import GenerationJob, ImageTask, SamplerSettings, WeightedText
    from sfumato.plugins import load_plugins
    from sfumato_diffusers.engine import DiffusersEngine

    samplers = load_plugins(strict=True, only=["diffusers"]).samplers_for("diffusers")
    engine = DiffusersEngine(EngineConfig(id="tiny-sd", kind="diffusers", model="tiny-sd"),
                             EngineServices(samplers=samplers, cache_dir=str(tmp_path)))
    engine.load(lambda line: None)
    job = GenerationJob(request_id="p", engine_id="tiny-sd", width=64, height=48, seeds=[1, 2], steps=4,
                        sampler=SamplerSettings("SAMPLER_K_EULER"), prompt=[WeightedText("a red cat")])
    seen: list[tuple[int, list[np.ndarray]]] = []
    calls: list[int] = []

    def progress(step: int, total: int, preview=None) -> None:
        calls.append(step)
        if preview is not None and step % 2 == 0:  # the host asks only sometimes
            seen.append((step, preview()))

    images = engine.generate([ImageTask(job, 0, 1), ImageTask(job, 1, 2)], progress, job.cancel)
    # One pipeline call for both, or one each (sequential on CPU): 4 or 8 steps in all.
    assert calls == list(range(1, len(calls) + 1)) and len(calls) in (4, 8)
    assert [step for step, _ in seen] == list(range(2, len(calls) + 1, 2))
    for _, previews in seen:
        assert len(previews) == 2 and all(p.shape == (6, 8, 3) and p.dtype == np.uint8 for p in previews)
    assert not np.array_equal(seen[-1][1][0], seen[-1][1][1]), "each task its own latents"
    assert len(images) == 2


TINY_CONFIG = """
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0
[events]
preview_every_steps = 2
preview_min_interval_ms = 0
send_interval_ms = 0
[[engines]]
id = "tiny-sd"
kind = "diffusers"
model = "tiny-sd"
"""


@pytest.mark.slow
def test_tiny_sd_previews_over_sse(tmp_path):
    server = start_server(tmp_path, config=TINY_CONFIG, plugins=["diffusers"], api_key=KEY_A, timeout=300)
    try:
        # Enough steps that the listener (previews are made only once it asks) connects mid-run on a fast machine.
        body = RequestBuilder().prompt("a red cat").size(128, 96).steps(60).samples(2).seeds(3).build()
        response = server.post("/grpcgateway/asyncGenerate", body)
        assert response.status_code == 200, response.text
        received = read_events(server.url, response.json()["asyncHandle"], api_key=KEY_A, previews=True)
    finally:
        server.stop()
    assert received.names()[-1] == "done", received.names()
    previews = received.named("preview")
    assert previews, received.names()
    assert {p.data["index"] for p in previews} == {0, 1}
    steps = sorted({p.data["step"] for p in previews})
    assert all(later - earlier >= 2 for earlier, later in zip(steps, steps[1:])), steps  # at most every 2nd step
    assert len(steps) >= 3, steps
    spread: dict[int, float] = {0: 0.0, 1: 0.0}
    for preview in previews:
        image = Image.open(io.BytesIO(base64.b64decode(preview.data["image"])))
        # Latent resolution: 1/8 of the image per side.
        assert image.size == (16, 12) == (preview.data["width"], preview.data["height"])
        index = preview.data["index"]
        spread[index] = max(spread[index], float(np.asarray(image).std()))
    # An image whose turn has not come (one pipeline call per image on CPU) is mid-grey; each gets a picture.
    assert min(spread.values()) > 0, spread
