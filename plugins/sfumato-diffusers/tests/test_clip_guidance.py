"""CLIP guidance on the tiny model with its tiny random CLIP: it changes the image and lowers the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _support import make_job, tasks_of
from sfumato.errors import RpcError
from sfumato.jobs.job import SamplerSettings


def run(engine, **fields):
    job = make_job(**fields)
    engine.validate(job)
    return engine.generate(tasks_of(job), lambda done, total: None, job.cancel)


def clip_loss(engine, latent: np.ndarray, text: str) -> float:
    """The guidance loss of a final latent, with fixed cutouts: what guidance should have lowered."""
    guide = engine._clip_guide()
    with torch.no_grad():
        decoded = engine.pipe.vae.decode(torch.from_numpy(latent) / engine.pipe.vae.config.scaling_factor).sample
        pixels = (decoded / 2 + 0.5).clamp(0, 1)
        return float(guide.loss(pixels, guide.target(text), 16, torch.Generator().manual_seed(0)))


def test_tiny_sd_carries_a_tiny_clip(engine):
    assert engine.describe().supports_clip_guidance and engine._clip_guide() is not None


def test_guided_image_differs_and_has_a_lower_clip_loss(engine):
    (plain,) = run(engine, steps=6, requested_type="ARTIFACT_LATENT", seeds=[2])
    (guided,) = run(engine, steps=6, requested_type="ARTIFACT_LATENT", seeds=[2], clip_guidance=5.0)
    (again,) = run(engine, steps=6, requested_type="ARTIFACT_LATENT", seeds=[2], clip_guidance=5.0)
    assert not np.array_equal(plain.pixels, guided.pixels)
    assert np.array_equal(guided.pixels, again.pixels)
    before = clip_loss(engine, plain.outputs[0].tensor, "a red cat")
    after = clip_loss(engine, guided.outputs[0].tensor, "a red cat")
    assert after < before, (before, after)


def test_each_nudge_lowers_the_loss_it_follows(engine):
    guide = engine._clip_guide()
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    target = guide.target("a blue sky")

    def loss_of(x: torch.Tensor) -> float:
        with torch.no_grad():
            pixels = (engine.pipe.vae.decode(x / engine.pipe.vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1)
            return float(guide.loss(pixels, target, 8, torch.Generator().manual_seed(3)))

    x = latents
    losses = [loss_of(x)]
    for _ in range(5):  # the same cutouts each time: plain gradient descent on one loss
        x = guide.nudge(engine.pipe.vae, x, 1.0, target, 0.05, 8, torch.Generator().manual_seed(3))
        losses.append(loss_of(x))
    assert all(b < a for a, b in zip(losses, losses[1:])), losses


def test_guidance_with_a_sampler_without_sigmas_is_a_501(engine):
    with pytest.raises(RpcError) as caught:
        run(engine, clip_guidance=1.0, sampler=SamplerSettings("SAMPLER_DDIM", cfg_scale=6.0))
    assert caught.value.code.name == "UNIMPLEMENTED" and "σ" in caught.value.message


def test_guidance_schedule_scales_the_strength_per_segment(engine):
    (plain,) = run(engine, steps=6, seeds=[4])
    (off,) = run(engine, steps=6, seeds=[4], clip_guidance=5.0, clip_guidance_schedule=((1.0, 0.0),))
    (full,) = run(engine, steps=6, seeds=[4], clip_guidance=5.0)
    (ones,) = run(engine, steps=6, seeds=[4], clip_guidance=5.0, clip_guidance_schedule=((0.5, 1.0), (0.5, 1.0)))
    (late,) = run(engine, steps=6, seeds=[4], clip_guidance=5.0, clip_guidance_schedule=((0.5, 0.0), (0.5, 1.0)))
    assert np.array_equal(off.pixels, plain.pixels)  # factor 0 throughout: no nudge at all
    assert np.array_equal(ones.pixels, full.pixels)  # factor 1 throughout: plain guidance
    assert not np.array_equal(late.pixels, full.pixels) and not np.array_equal(late.pixels, plain.pixels)


def test_cutout_count_is_used_and_bounded(engine):
    (four,) = run(engine, steps=4, seeds=[4], clip_guidance=5.0, clip_cutouts=4)
    (eight,) = run(engine, steps=4, seeds=[4], clip_guidance=5.0, clip_cutouts=8)
    assert not np.array_equal(four.pixels, eight.pixels)
    with pytest.raises(RpcError) as caught:
        run(engine, clip_guidance=1.0, clip_cutouts=engine.options.clip_max_cutouts + 1)
    assert caught.value.code.name == "INVALID_ARGUMENT" and "options.clip_max_cutouts" in caught.value.message
