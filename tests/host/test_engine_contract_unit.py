"""The engine contract in-process: the base class's defaults, standard parameters, plugin-bug errors."""

from __future__ import annotations

import json
import types

import msgspec
import numpy as np
import pytest

from sfumato import hookimpl, wire
from sfumato.adjust import ImageLimit, apply_adjustments, plan_adjustments, validate_adjustments
from sfumato.config import LimitSettings, load_settings
from sfumato.engine_pool import build_pool
from sfumato.engines import (
    Engine,
    EngineConfig,
    EngineDescription,
    EngineLimits,
    EngineProtocol,
    EngineServices,
    default_batch_key,
)
from sfumato.errors import Code, RpcError
from sfumato.jobs.build import build_job
from sfumato.jobs.cancel import BatchCancelToken, CancelSignal, CancelToken
from sfumato.jobs.job import GeneratedImage, GenerationJob, HiresSettings, LoraInput, SamplerSettings
from sfumato.plugins import load_plugins
from sfumato.records import AdjustmentSpec, EngineKind, ExtensionParam, SamplerSpec
from sfumato.wire_codec import decode_message

SAMPLERS = {"SAMPLER_K_EULER": SamplerSpec(name="SAMPLER_K_EULER", engine_kind="k", factory="m:f")}


class Minimal(Engine):
    def describe(self) -> EngineDescription:
        return EngineDescription(samplers=tuple(self.samplers))

    def generate(self, tasks, progress, cancel):
        return [GeneratedImage(np.zeros((t.job.height, t.job.width, 3), np.uint8)) for t in tasks]


def minimal() -> Minimal:
    return Minimal(EngineConfig(id="m", kind="k"), EngineServices(samplers=SAMPLERS, cache_dir="/tmp"))


def job(**changes) -> GenerationJob:
    fields = dict(request_id="r", engine_id="m", width=64, height=64, seeds=[1], steps=10,
                  sampler=SamplerSettings(name="SAMPLER_K_EULER"))
    return GenerationJob(**{**fields, **changes})


def test_the_base_class_needs_only_describe_and_generate():
    engine = minimal()
    assert isinstance(engine, EngineProtocol)
    assert engine.samplers is SAMPLERS and engine.config.id == "m"
    engine.load(lambda line: None)
    engine.validate(job())
    engine.close()
    assert isinstance(engine.batch_key(job()), tuple)


def test_the_tokens_engines_receive_are_cancel_signals():
    token = CancelToken()
    assert isinstance(token, CancelSignal) and isinstance(BatchCancelToken([token]), CancelSignal)


def test_default_batch_key_ignores_seeds_and_prompts_only():
    base = default_batch_key(job())
    assert default_batch_key(job(seeds=[5, 6], prompt=[], negative_prompt=[])) == base
    different = [
        job(width=128), job(height=128), job(steps=11),
        job(sampler=SamplerSettings(name="SAMPLER_K_EULER", cfg_scale=3.0)),
        job(sampler=SamplerSettings(name="SAMPLER_K_EULER", eta=0.5)),
        job(init_image=np.zeros((64, 64, 3), np.uint8)),
        job(init_image=np.zeros((64, 64, 3), np.uint8), strength=0.5),
        job(mask=np.zeros((64, 64), np.float32)),
        job(tiling=True), job(hires=HiresSettings(enable=True, oos_fraction=0.5)),
        job(loras=[LoraInput(weight=1.0, key="abc")]), job(clip_guidance=0.5), job(extensions={"x": 1}),
    ]
    keys = [default_batch_key(other) for other in different]
    assert base not in keys and len(set(keys)) == len(keys)
    for key in keys:
        hash(key)


def test_uses_rejects_unknown_names():
    with pytest.raises(ValueError, match="cfg_scal"):
        EngineDescription(uses=frozenset({"cfg_scal"}))
    assert EngineDescription().accepts("cfg_scale")
    assert not EngineDescription(uses=frozenset({"seed"})).accepts("cfg_scale")


def build(body: dict, description: EngineDescription):
    request = decode_message(json.dumps(body).encode(), wire.Request)
    return build_job(request, engine_id="m", description=description, limits=EngineLimits(), samplers=SAMPLERS,
                     input_limits=LimitSettings(), adjustments={})


@pytest.mark.parametrize(
    ("image", "path", "parameter"),
    [
        ({"parameters": [{"sampler": {"cfgScale": 5}}]}, "image.parameters[0].sampler.cfgScale", "cfg_scale"),
        ({"parameters": [{}, {"schedule": {"start": 0.5}}]}, "image.parameters[1].schedule.start", "strength"),
        ({"seed": [3]}, "image.seed", "seed"),
        ({"steps": "4"}, "image.steps", "steps"),
        ({"transform": {"diffusion": "SAMPLER_K_EULER"}}, "image.transform.diffusion", "sampler"),
    ],
)
def test_a_sent_parameter_the_engine_does_not_use_is_unimplemented(image, path, parameter):
    description = EngineDescription(uses=frozenset())
    with pytest.raises(RpcError) as error:
        build({"prompt": [{"text": "x"}], "image": image}, description)
    assert error.value.code == Code.UNIMPLEMENTED
    assert error.value.message.startswith(f"{path}: engine 'm' does not use {parameter}")
    # Declared: accepted.
    build({"prompt": [{"text": "x"}], "image": image}, EngineDescription(uses=frozenset({parameter})))


def test_defaults_are_never_refused():
    built = build({"prompt": [{"text": "x"}]}, EngineDescription(uses=frozenset()))
    assert built.sampler.cfg_scale == 7.5 and built.steps == 50 and len(built.seeds) == 1


def test_without_uses_every_standard_parameter_is_accepted():
    body = {"prompt": [{"text": "x"}, {"text": "y", "parameters": {"weight": -1}}],
            "image": {"seed": [1], "steps": "3", "parameters": [{"sampler": {"cfgScale": 5}}]}}
    assert build(body, EngineDescription()).negative_prompt


def test_extension_type_message_grammar():
    description = EngineDescription(extensions=(ExtensionParam("count", "int", "n"), ExtensionParam("s", "str", "s")))
    body = {"prompt": [{"text": "x"}], "image": {"extension": {"parameters": [{"name": "count", "str": "a"}]}}}
    with pytest.raises(RpcError, match="'count' takes an int value"):
        build(body, description)
    body["image"]["extension"]["parameters"] = [{"name": "s", "int": "1"}]
    with pytest.raises(RpcError, match="'s' takes a str value"):
        build(body, description)


# ---- adjustments: anything but ValueError is a plugin bug, named ----


class Params(msgspec.Struct):
    amount: float = 1.0


def _fail(*args):
    raise RuntimeError("kaboom")


@pytest.mark.parametrize("hook", ["validate", "output_shape", "apply"])
def test_an_adjustment_raising_a_non_value_error_is_internal_naming_it(hook, caplog):
    fields = {"validate": None, "output_shape": None, "apply": lambda pixels, params: pixels}
    fields[hook] = _fail
    registry = {"boom": AdjustmentSpec(name="boom", params=Params, **fields)}
    chain = [wire.ImageAdjustment(extra={"boom": Params()})]
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(RpcError) as error:
        validate_adjustments(chain, registry, path="a")
        plan_adjustments((4, 4, 3), chain, registry, path="a", limit=ImageLimit(max_pixels=100, max_side=10))
        apply_adjustments(image, chain, registry, path="a")
    assert error.value.code == Code.INTERNAL
    message = error.value.message
    assert message.startswith(f"a[0].boom: adjustment 'boom' (") and f"failed in {hook}(): RuntimeError: kaboom" in message
    assert "not from an installed distribution" in message  # defined here, in no distribution
    assert "kaboom" in caplog.text and caplog.records[-1].exc_info is not None


def test_an_adjustment_returning_no_image_is_internal():
    registry = {"none": AdjustmentSpec(name="none", params=Params, apply=lambda pixels, params: None)}
    with pytest.raises(RpcError, match="adjustment 'none' .* returned a NoneType") as error:
        apply_adjustments(np.zeros((4, 4, 3), np.uint8), [wire.ImageAdjustment(extra={"none": Params()})], registry,
                          path="a")
    assert error.value.code == Code.INTERNAL


def test_built_in_adjustments_name_the_sfumato_distribution():
    registry = dict(load_plugins(strict=True, only=["adjustments"]).adjustments)
    registry["invert"] = AdjustmentSpec(name="invert", params=registry["invert"].params, apply="sfumato.images:nothing")
    with pytest.raises(RpcError, match=r"adjustment 'invert' \(distribution sfumato [0-9.]+\) failed in apply\(\)"):
        apply_adjustments(np.zeros((4, 4, 3), np.uint8), [wire.ImageAdjustment(invert=wire.ImageAdjustmentInvert())],
                          registry, path="a")


# ---- the default sampler is checked when the pool is built ----


class OwnDefault(Minimal):
    def describe(self) -> EngineDescription:
        return EngineDescription(default_sampler=self.config.default_sampler or "SAMPLER_MISSING",
                                 samplers=tuple(self.samplers))


def _plugin():
    module = types.ModuleType("default_sampler_plugin")

    def register_engines(register):
        register(EngineKind(name="own-default", factory=OwnDefault))

    def register_samplers(register):
        register(SamplerSpec(name="SAMPLER_K_EULER", engine_kind="own-default", factory="sfumato.engines:Engine"))

    module.register_engines = hookimpl(register_engines)
    module.register_samplers = hookimpl(register_samplers)
    return module


def pool_for(tmp_path, entries: str):
    config = tmp_path / "sfumato.toml"
    config.write_text(entries)
    plugins = load_plugins(use_entry_points=False, extra=[("own", _plugin())])
    return build_pool(load_settings(config, environ={}), plugins)


def test_a_configured_default_sampler_the_engine_lacks_fails_the_engine(tmp_path):
    pool = pool_for(tmp_path, '[[engines]]\nid = "a"\nkind = "own-default"\ndefault_sampler = "SAMPLER_K_EULER"\n'
                              '[[engines]]\nid = "b"\nkind = "own-default"\ndefault_sampler = "SAMPLER_DDIM"\n')
    assert pool.slots["a"].load_error is None
    slot = pool.slots["b"]
    assert slot.load_status == "failed"
    assert slot.load_error.startswith("engines[1].default_sampler = 'SAMPLER_DDIM' (engine 'b')")
    assert slot.load_error.endswith("set it to one of: SAMPLER_K_EULER")
    with pytest.raises(RpcError) as error:
        slot.check_available()
    assert error.value.code == Code.UNAVAILABLE


def test_an_engine_whose_own_default_sampler_is_missing_names_its_plugin(tmp_path):
    slot = pool_for(tmp_path, '[[engines]]\nid = "a"\nkind = "own-default"\n').slots["a"]
    assert "the default sampler 'SAMPLER_MISSING' of engine 'a' (kind 'own-default'; plugin 'own'" in slot.load_error
    assert "set engines[0].default_sampler to one of them" in slot.load_error
