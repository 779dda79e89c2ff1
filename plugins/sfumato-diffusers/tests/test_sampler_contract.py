"""The diffusers kind's sampler contract: every catalog factory passes, a scheduler class does not."""

from __future__ import annotations

import pytest
from sfumato.plugins import load_plugins

from sfumato_diffusers.samplers import SAMPLER_CONTRACT
from sfumato_diffusers.samplers.catalog import SAMPLERS


def test_every_catalog_sampler_passes_the_contract():
    plugins = load_plugins(only=["diffusers"], strict=True)
    samplers = plugins.samplers_for("diffusers")
    assert {spec.name for spec in SAMPLERS} <= set(samplers)
    assert all(callable(spec.factory) for spec in samplers.values())
    assert plugins.engine_kinds["diffusers"].owner == "sfumato-diffusers"


def test_a_scheduler_class_is_not_a_factory():
    from diffusers import DDIMScheduler

    with pytest.raises(TypeError, match="the class DDIMScheduler; give a function build"):
        SAMPLER_CONTRACT.verify(DDIMScheduler)


def test_a_factory_with_the_wrong_arguments_is_refused():
    with pytest.raises(TypeError, match=r"cannot be called as build\(base_config"):
        SAMPLER_CONTRACT.verify(lambda base_config: None)
