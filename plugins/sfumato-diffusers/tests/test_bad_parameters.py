"""Extreme but valid-looking sampler parameters: a clear 400 or a finite image, never a crash or NaN."""

from __future__ import annotations

import numpy as np
import pytest
import sfumato_diffusers.engine as engine_module
from _support import SAMPLER_SPECS, make_job, one
from sfumato.errors import Code, RpcError
from sfumato.jobs.job import SamplerSettings, WeightedText
from sfumato.records import resolve

from sfumato_diffusers.samplers.helpers import karras_sigmas

KARRAS_SAMPLERS = sorted(name for name, spec in SAMPLER_SPECS.items() if spec.supports_sigma_limits)


@pytest.fixture
def finite_only(monkeypatch):
    """Fail on NaN/inf pixels before they are quietly cast to uint8."""
    original = engine_module._to_uint8

    def checked(images: np.ndarray) -> np.ndarray:
        assert np.isfinite(images).all(), "the pipeline produced NaN or infinite pixels"
        return original(images)

    monkeypatch.setattr(engine_module, "_to_uint8", checked)


def _run(engine, name: str, steps: int, job: dict | None = None, **params) -> np.ndarray:
    job_fields = dict(sampler=SamplerSettings(name, cfg_scale=6.0, **params), steps=steps, width=16, height=16)
    job_fields.update(job or {})
    engine.validate(make_job(**job_fields))
    return one(engine, **job_fields)


@pytest.mark.parametrize("name", KARRAS_SAMPLERS)
@pytest.mark.parametrize(
    ("steps", "params"),
    [
        # Beyond the model's noise range (0.029..14.6): the top timesteps repeat (999, 999, …),
        # which made diffusers start at the wrong step and index past the end.
        (4, {"sigma_min": 20.0, "sigma_max": 100.0}),
        (4, {"sigma_min": 0.0001, "sigma_max": 0.01}),
        (12, {"sigma_min": 0.1, "sigma_max": 16.0}),
        # A small rho used to cancel to a negative base (NaN noise levels).
        (4, {"karras_rho": 0.1}),
        (4, {"sigma_min": 0.1, "sigma_max": 10.0, "karras_rho": 0.1}),
    ],
    ids=["above-range", "below-range", "top-repeats", "small-rho", "small-rho-limits"],
)
def test_karras_samplers_run_extreme_sigma_settings(engine, finite_only, name, steps, params):
    image = _run(engine, name, steps, **params)
    assert image.shape == (16, 16, 3)


@pytest.mark.parametrize("name", ["SAMPLER_K_DPMPP_2M", "SAMPLER_K_EULER"])
def test_img2img_with_repeated_top_timesteps_keeps_its_own_start(engine, finite_only, name):
    init = np.full((16, 16, 3), 100, np.uint8)
    image = _run(engine, name, 4, {"init_image": init, "strength": 0.5}, sigma_min=20.0, sigma_max=100.0)
    assert image.shape == (16, 16, 3)


def test_in_range_limits_give_the_same_images_as_before(engine):
    # The start fix must not move ordinary schedules: t0 is unique there, so index 0 either way.
    settings = SamplerSettings("SAMPLER_K_DPMPP_2M", cfg_scale=6.0, sigma_min=0.5, sigma_max=4.0)
    scheduler = resolve(SAMPLER_SPECS[settings.name].factory)(engine._base_scheduler_config, settings)
    scheduler.set_timesteps(6)
    first = scheduler.timesteps[0]
    assert int((scheduler.timesteps == first).sum()) == 1 and scheduler.begin_index == 0


def test_dpm2_ancestral_schedule_that_breaks_is_a_400(engine):
    # Admission cannot afford a dry run of every scheduler; the pipeline's own
    # set_timesteps finds it, before any model call.
    settings = SamplerSettings("SAMPLER_K_DPM_2_ANCESTRAL", sigma_min=0.001, sigma_max=1000.0)
    engine.validate(make_job(sampler=settings, steps=4))
    with pytest.raises(RpcError) as caught:
        one(engine, sampler=settings, steps=4)
    message = caught.value.message
    assert caught.value.code == Code.INVALID_ARGUMENT
    assert "sigmaMin 0.001" in message and "sigmaMax 1000" in message and "noise range 0.02917..14.61" in message


def test_karras_sigmas_stay_finite_and_ordered_for_small_rho():
    for rho in (0.1, 0.5, 7.0, 100.0):
        sigmas = karras_sigmas(1e-4, 1000.0, rho, 150)
        assert np.isfinite(sigmas).all() and sigmas[0] == pytest.approx(1000.0) and sigmas[-1] == pytest.approx(1e-4)
        assert (np.diff(sigmas) <= 0).all()


@pytest.mark.parametrize("name", KARRAS_SAMPLERS)
def test_default_karras_schedules_are_usable_at_the_step_limit(engine, name):
    scheduler = resolve(SAMPLER_SPECS[name].factory)(engine._base_scheduler_config, SamplerSettings(name, karras_rho=7.0))
    scheduler.set_timesteps(150)  # raises UnusableSchedule if NaN
    assert scheduler.begin_index == 0


@pytest.mark.parametrize("eta", [1.5, 10.0])
def test_ddim_eta_above_one_is_a_400(engine, eta):
    with pytest.raises(RpcError) as caught:
        engine.validate(make_job(sampler=SamplerSettings("SAMPLER_DDIM", eta=eta)))
    assert caught.value.code == Code.INVALID_ARGUMENT
    assert "sampler.eta" in caught.value.message and "0..1" in caught.value.message


def test_ddim_eta_one_runs(engine, finite_only):
    assert _run(engine, "SAMPLER_DDIM", 4, eta=1.0).shape == (16, 16, 3)


@pytest.mark.parametrize(("weight", "which"), [(1.0, "positive"), (-1.0, "negative")])
def test_prompt_over_the_token_limit_names_it_in_plain_words(engine, weight, which):
    limit = engine._encoder.max_tokens
    fragment = WeightedText("red cat " * limit, abs(weight))
    job = make_job(prompt=[fragment]) if weight > 0 else make_job(negative_prompt=[fragment])
    with pytest.raises(RpcError) as caught:
        one(engine, prompt=job.prompt, negative_prompt=job.negative_prompt)
    message = caught.value.message
    assert caught.value.code == Code.INVALID_ARGUMENT
    assert f"a {which} prompt text" in message and f"at most {limit} tokens" in message
    assert "window" not in message and "red cat" in message and len(message) < 400


def test_prompt_at_the_token_limit_is_accepted(engine):
    limit = engine._encoder.max_tokens
    text = " ".join(["red"] * limit)
    assert engine._encoder.count_tokens(text) == limit
    assert one(engine, prompt=[WeightedText(text)]).shape == (64, 64, 3)
