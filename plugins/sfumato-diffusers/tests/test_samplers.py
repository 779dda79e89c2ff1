"""Every sampler runs, and every capability flag is true exactly when its parameter changes the image."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _support import SAMPLER_SPECS, make_job, one
from sfumato.errors import Code, RpcError
from sfumato.jobs.job import SamplerSettings

# Two different values per parameter group, and the SamplerSpec flag that claims it.
VARIATIONS = {
    "supports_eta": ({"eta": 0.0}, {"eta": 1.0}),
    "supports_churn": ({"churn": 0.0}, {"churn": 2.0}),
    "supports_sigma_limits": ({"sigma_min": 0.1, "sigma_max": 10.0}, {"sigma_min": 0.5, "sigma_max": 4.0}),
    "supports_karras_rho": ({"karras_rho": 3.0}, {"karras_rho": 9.0}),
}


def _image(engine, name: str, **params) -> np.ndarray:
    settings = SamplerSettings(name, cfg_scale=6.0, **params)
    # check=False: the test runs parameters validate() would refuse, to see what they do
    return one(engine, check=False, sampler=settings, steps=4, seeds=[21])


@pytest.mark.parametrize("name", sorted(SAMPLER_SPECS))
def test_sampler_runs_and_is_deterministic(engine, name):
    a = _image(engine, name)
    assert a.shape == (64, 64, 3) and a.std() > 1.0
    assert np.array_equal(a, _image(engine, name))


@pytest.mark.parametrize("name", sorted(SAMPLER_SPECS))
@pytest.mark.parametrize("flag", sorted(VARIATIONS))
def test_capability_flag_is_honest(engine, name, flag):
    first, second = VARIATIONS[flag]
    changed = not np.array_equal(_image(engine, name, **first), _image(engine, name, **second))
    assert changed == getattr(SAMPLER_SPECS[name], flag), (
        f"{name}.{flag} is {getattr(SAMPLER_SPECS[name], flag)} but changing it "
        f"{'changed' if changed else 'did not change'} the image"
    )


@pytest.mark.parametrize("name", sorted(SAMPLER_SPECS))
def test_validate_refuses_parameters_a_sampler_ignores(engine, name):
    spec = SAMPLER_SPECS[name]
    for flag, (_, values) in VARIATIONS.items():
        job = make_job(sampler=SamplerSettings(name, **values))
        if getattr(spec, flag):
            engine.validate(job)
        else:
            with pytest.raises(RpcError) as caught:
                engine.validate(job)
            assert caught.value.code == Code.UNIMPLEMENTED


@pytest.mark.parametrize("name", sorted(SAMPLER_SPECS))
def test_noise_types_are_the_ones_listed(engine, name):
    spec = SAMPLER_SPECS[name]
    for noise in ("SAMPLER_NOISE_NORMAL", "SAMPLER_NOISE_BROWNIAN"):
        job = make_job(sampler=SamplerSettings(name, noise_type=noise))
        if noise in spec.noise_types:
            engine.validate(job)
        else:
            with pytest.raises(RpcError):
                engine.validate(job)


def test_brownian_noise_is_seeded_per_image(engine):
    # Brownian-tree samplers: same seed same image, different seed different image.
    a = _image(engine, "SAMPLER_K_DPMPP_SDE")
    b = one(engine, sampler=SamplerSettings("SAMPLER_K_DPMPP_SDE", cfg_scale=6.0), steps=4, seeds=[22])
    assert not np.array_equal(a, b)


def test_every_api_sampler_value_is_registered():
    expected = {
        "SAMPLER_DDIM": 0, "SAMPLER_DDPM": 1, "SAMPLER_K_EULER": 2, "SAMPLER_K_EULER_ANCESTRAL": 3,
        "SAMPLER_K_HEUN": 4, "SAMPLER_K_DPM_2": 5, "SAMPLER_K_DPM_2_ANCESTRAL": 6, "SAMPLER_K_LMS": 7,
        "SAMPLER_K_DPMPP_2S_ANCESTRAL": 8, "SAMPLER_K_DPMPP_2M": 9, "SAMPLER_K_DPMPP_SDE": 10,
        "SAMPLER_DPMSOLVERPP_1ORDER": 500, "SAMPLER_DPMSOLVERPP_2ORDER": 501,
        "SAMPLER_DPMSOLVERPP_3ORDER": 502, "SAMPLER_DPM_FAST": 550, "SAMPLER_DPM_ADAPTIVE": 551,
        "SAMPLER_DPMSOLVERPP_2S_ANCESTRAL": 552, "SAMPLER_DPMSOLVERPP_SDE": 553, "SAMPLER_DPMSOLVERPP_2M": 554,
    }
    assert {name: spec.number for name, spec in SAMPLER_SPECS.items()} == expected
    assert all(spec.engine_kind == "diffusers" for spec in SAMPLER_SPECS.values())


def test_register_samplers_hook_registers_the_catalog():
    from sfumato_diffusers import plugin

    seen = []
    plugin.register_samplers(seen.append)
    assert [dataclasses.astuple(s)[:2] for s in seen] == [(n, "diffusers") for n in SAMPLER_SPECS]
    kinds = []
    plugin.register_engines(kinds.append)
    assert [k.name for k in kinds] == ["diffusers"]


def test_from_base_gives_each_caller_a_fresh_scheduler_equal_to_from_config():
    from diffusers import DPMSolverMultistepScheduler
    from sfumato_diffusers.samplers.helpers import from_base

    base = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "prediction_type": "epsilon"}
    first = from_base(DPMSolverMultistepScheduler, base, use_karras_sigmas=True)
    second = from_base(DPMSolverMultistepScheduler, base, use_karras_sigmas=True)
    reference = DPMSolverMultistepScheduler.from_config(base, use_karras_sigmas=True)
    assert first is not second
    assert dict(first.config) == dict(second.config) == dict(reference.config)
    first.set_timesteps(7)
    reference.set_timesteps(7)
    assert np.array_equal(first.sigmas.numpy(), reference.sigmas.numpy())
    # Running one leaves the next caller's scheduler untouched.
    assert second.num_inference_steps is None and from_base(DPMSolverMultistepScheduler, base,
                                                            use_karras_sigmas=True).num_inference_steps is None
    assert from_base(DPMSolverMultistepScheduler, base).config.use_karras_sigmas is False
