"""Plugin discovery: isolation of broken plugins, strict mode, duplicate names."""

from __future__ import annotations

import types

import msgspec
import pytest

from sfumato import hookimpl
from sfumato.plugins import PluginLoadError, load_plugins
from sfumato.records import AdjustmentSpec, EngineKind, SamplerSpec


def plugin_module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def engines_hook(*names):
    def register_engines(register):
        for name in names:
            register(EngineKind(name=name, factory="nowhere:Nothing"))

    return register_engines


class SepiaParams(msgspec.Struct):
    amount: float = 1.0


def test_builtins_register_through_entry_points():
    plugins = load_plugins(strict=True, only=["test_pattern", "adjustments"])
    assert "test-pattern" in plugins.engine_kinds
    assert {"blur", "invert", "levels", "channels", "rescale", "crop"} <= set(plugins.adjustments)
    assert set(plugins.samplers_for("test-pattern")) == {"SAMPLER_K_EULER", "SAMPLER_K_EULER_ANCESTRAL", "SAMPLER_DDIM"}
    info = {i.name: i for i in plugins.infos}["test_pattern"]
    assert info.distribution == "sfumato" and info.version and info.error is None


def test_a_broken_plugin_is_reported_and_the_others_still_load():
    def explode(register):
        raise RuntimeError("boom")

    good = plugin_module("good", register_engines=engines_hook("alpha"))
    bad = plugin_module("bad", register_engines=explode)
    plugins = load_plugins(use_entry_points=False, extra=[("bad", bad), ("good", good)])
    assert list(plugins.engine_kinds) == ["alpha"]
    failure = {i.name: i for i in plugins.infos}["bad"]
    assert "RuntimeError: boom" in failure.error
    assert [f.name for f in plugins.failures] == ["bad"]


def test_a_failing_plugin_leaves_nothing_half_registered():
    def register_engines(register):
        register(EngineKind(name="half", factory="x:y"))
        raise ValueError("second step failed")

    plugins = load_plugins(use_entry_points=False, extra=[("half", plugin_module("half", register_engines=register_engines))])
    assert "half" not in plugins.engine_kinds
    assert plugins.failures[0].name == "half"


def test_strict_mode_makes_any_failure_fatal():
    def explode(register):
        raise RuntimeError("boom")

    with pytest.raises(PluginLoadError, match="bad: RuntimeError: boom"):
        load_plugins(use_entry_points=False, strict=True, extra=[("bad", plugin_module("bad", register_engines=explode))])


def test_duplicate_engine_kind_is_refused_for_the_later_plugin_only():
    first = plugin_module("first", register_engines=engines_hook("same"))
    second = plugin_module("second", register_engines=engines_hook("same", "own"))
    plugins = load_plugins(use_entry_points=False, extra=[("first", first), ("second", second)])
    infos = {i.name: i for i in plugins.infos}
    assert infos["first"].engines == ["same"] and infos["second"].engines == ["own"]
    assert infos["second"].error is None
    (problem,) = infos["second"].problems
    assert "engine kind 'same' refused: already registered by plugin 'first'" in problem


def test_wrong_record_type_is_reported():
    def register_samplers(register):
        register({"name": "SAMPLER_X"})

    plugins = load_plugins(use_entry_points=False, extra=[("w", plugin_module("w", register_samplers=register_samplers))])
    assert "expects SamplerSpec" in plugins.failures[0].error


def test_hook_with_a_misspelled_argument_is_rejected():
    def register_engines(registr):  # pluggy validates hook signatures against the spec
        pass

    plugins = load_plugins(use_entry_points=False, extra=[("typo", plugin_module("typo", register_engines=register_engines))])
    assert plugins.failures and "registr" in plugins.failures[0].error


def shade(image, rng, settings):
    return image


def test_third_party_samplers_and_adjustments_are_collected():
    def register_samplers(register):
        register(SamplerSpec(name="SAMPLER_FANCY", number=1001, engine_kind="test-pattern", factory=f"{__name__}:shade"))

    def register_adjustments(register):
        register(AdjustmentSpec(name="sepia", params=SepiaParams, apply=lambda pixels, params: pixels))

    extra = plugin_module("extra", register_samplers=register_samplers, register_adjustments=register_adjustments)
    plugins = load_plugins(strict=True, only=["test_pattern", "adjustments"], extra=[("extra", extra)])
    assert plugins.samplers_for("test-pattern")["SAMPLER_FANCY"].factory is shade
    assert plugins.sampler_numbers()[1001] == "SAMPLER_FANCY"
    assert plugins.adjustments["sepia"].params is SepiaParams


def test_unknown_only_name_is_reported():
    plugins = load_plugins(only=["does_not_exist"])
    assert plugins.failures[0].name == "does_not_exist"
    with pytest.raises(PluginLoadError):
        load_plugins(only=["does_not_exist"], strict=True)


def test_sampler_number_clash_is_reported():
    def first(register):
        register(SamplerSpec(name="SAMPLER_ONE", number=1500, engine_kind="k", factory="x:y"))

    def second(register):
        register(SamplerSpec(name="SAMPLER_TWO", number=1500, engine_kind="other", factory="x:y"))

    plugins = load_plugins(use_entry_points=False, extra=[("a", plugin_module("a", register_samplers=first)),
                                                          ("b", plugin_module("b", register_samplers=second))])
    assert plugins.sampler_numbers() == {1500: "SAMPLER_ONE"}
    (problem,) = {i.name: i for i in plugins.infos}["b"].problems
    assert "number 1500, held by 'SAMPLER_ONE'" in problem and "plugin 'a'" in problem
