"""The engine answers diffusers' per-call device and signature questions once, with diffusers' own answers."""

from __future__ import annotations

import inspect
import types

import numpy as np
import pytest
from diffusers import DiffusionPipeline

from _support import generate, make_engine, make_job
from sfumato_diffusers.call_overhead import attention_processors, is_pinned, unpin_placement


def _views(engine) -> list:
    return [view for view in (engine.pipe, engine._text2img, engine._img2img, engine._inpaint) if view is not None]


def _derived_signature(function: types.FunctionType) -> inspect.Signature:
    """The signature inspect derives from the code, ignoring any stored ``__signature__``."""
    copy = types.FunctionType(function.__code__, function.__globals__, function.__name__,
                              function.__defaults__, function.__closure__)
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__annotations__ = function.__annotations__
    return inspect.signature(copy)


def test_pinned_pipelines_answer_what_diffusers_computes(engine):
    for view in _views(engine):
        assert is_pinned(view)
        original = type(view).__mro__[1]
        assert isinstance(view, original) and type(view).__name__ == original.__name__
        assert view.device == DiffusionPipeline.device.fget(view)
        assert view._execution_device == DiffusionPipeline._execution_device.fget(view)
        assert view._execution_device == engine.pipe.unet.device


def test_pinning_changes_no_image(cache_dir):
    engine = make_engine("tiny-sd", cache_dir)
    jobs = [make_job(seeds=[3, 4]), make_job(init_image=np.full((64, 64, 3), 90, np.uint8), strength=0.6)]
    pinned = [generate(engine, job) for job in jobs]
    for view in _views(engine):
        original = type(view).__mro__[1]
        unpin_placement(view)
        assert not is_pinned(view) and type(view) is original
    plain = [generate(engine, job) for job in jobs]
    for first, second in zip(pinned, plain, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_offloaded_pipelines_keep_diffusers_answers(cache_dir):
    engine = make_engine("tiny-sd", cache_dir, cpu_offload="model")
    assert not any(is_pinned(view) for view in _views(engine))
    assert generate(engine, make_job())[0].shape == (64, 64, 3)


@pytest.mark.parametrize("fuse_qkv", [False, True])
def test_attention_processor_signatures_are_stored_and_exact(cache_dir, fuse_qkv):
    engine = make_engine("tiny-sd", cache_dir, fuse_qkv=fuse_qkv)
    processors = attention_processors([engine.pipe.unet, engine.pipe.vae]) + engine._acceleration.saved_processors()
    classes = {type(processor) for processor in processors}
    assert len(classes) == (2 if fuse_qkv else 1)  # fused ones, and the plain ones kept for LoRA requests
    for cls in classes:
        call = cls.__call__
        assert "__signature__" in vars(call)
        assert call.__signature__ == _derived_signature(call)
