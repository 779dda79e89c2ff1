"""The plugin contract.

A plugin is a module (or object) exposed through the ``sfumato`` entry-point group.
Each hook receives a ``register`` callable and calls it with lazy registration
records from :mod:`sfumato.records`; nothing heavy (torch, model weights) should be
imported at registration time.

    from sfumato import hookimpl
    from sfumato.records import EngineKind

    @hookimpl
    def register_engines(register):
        register(EngineKind(name="my-engine", factory="my_plugin.engine:MyEngine"))
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT = "sfumato"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_engines(register: Callable[..., None]) -> None:
    """Register engine kinds: call ``register(EngineKind(...))`` once per kind."""


@hookspec
def register_samplers(register: Callable[..., None]) -> None:
    """Register samplers: call ``register(SamplerSpec(...))`` once per sampler."""


@hookspec
def register_adjustments(register: Callable[..., None]) -> None:
    """Register image adjustments: call ``register(AdjustmentSpec(...))`` once per kind."""
