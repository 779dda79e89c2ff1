"""Answering diffusers' per-call bookkeeping questions once, for a pipeline whose placement is fixed.

Each pipeline call asks ``pipe._execution_device`` and ``pipe.device``. diffusers answers both
by walking every submodule of every model, looking for offloading hooks (1.8 ms and 0.8 ms on
tiny-sd's 430 modules, more on a real model's). Each attention layer also asks
``inspect.signature`` of its processor on every forward (about 30 µs each, 33 times a call on
tiny-sd). Together that was 8 % of a tiny-sd request on a CPU.

When the engine has moved the whole pipeline to one device (no CPU offload), neither answer can
change until the engine is loaded again, so it computes them once, through diffusers' own code.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

_PINNED_ATTRIBUTE = "_sfumato_placement"

# One subclass per pipeline class, shared by every engine that pins a pipeline of that class.
_pinned_classes: dict[type, type] = {}


def _pinned_class(cls: type) -> type:
    pinned = _pinned_classes.get(cls)
    if pinned is None:
        # Same name and module: diffusers maps pipelines by class name (AutoPipeline.from_pipe).
        pinned = type(cls.__name__, (cls,), {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "device": property(lambda self: getattr(self, _PINNED_ATTRIBUTE)[0]),
            "_execution_device": property(lambda self: getattr(self, _PINNED_ATTRIBUTE)[1]),
        })
        _pinned_classes[cls] = pinned
    return pinned


def pin_placement(pipelines: Iterable[Any]) -> None:
    """Give each pipeline constant ``device`` and ``_execution_device`` answers: diffusers' own,
    taken now. Only for pipelines moved whole to one device: offload hooks move models per call."""
    for pipe in pipelines:
        if is_pinned(pipe):
            continue
        answers = (pipe.device, pipe._execution_device)
        pipe.__class__ = _pinned_class(type(pipe))
        object.__setattr__(pipe, _PINNED_ATTRIBUTE, answers)


def is_pinned(pipe: Any) -> bool:
    return _PINNED_ATTRIBUTE in vars(pipe)


def unpin_placement(pipe: Any) -> None:
    """Back to diffusers' own answers (before moving or offloading a pinned pipeline)."""
    if is_pinned(pipe):
        object.__delattr__(pipe, _PINNED_ATTRIBUTE)
        pipe.__class__ = type(pipe).__mro__[1]


def sign_attention_processors(processors: Iterable[Any]) -> None:
    """Store each processor class's ``__call__`` signature on the function (PEP 362's
    ``__signature__``), which ``inspect.signature`` returns instead of re-deriving it. The stored
    value is exactly what it would derive, so nothing else that reads it changes."""
    for processor in processors:
        call = getattr(type(processor), "__call__", None)
        if inspect.isfunction(call) and "__signature__" not in vars(call):
            call.__signature__ = inspect.signature(call)


def attention_processors(modules: Iterable[Any]) -> list[Any]:
    """The attention processors inside ``modules`` (torch modules), as they are set now."""
    found = []
    for module in modules:
        for submodule in module.modules():
            processor = getattr(submodule, "processor", None)
            if processor is not None:
                found.append(processor)
    return found
