"""Entry point: registers the ``diffusers`` engine kind and its samplers (no torch import)."""

from __future__ import annotations

from collections.abc import Callable

from sfumato.hookspecs import hookimpl
from sfumato.records import EngineKind

from sfumato_diffusers.samplers import SAMPLER_CONTRACT
from sfumato_diffusers.samplers.catalog import SAMPLERS

# The sfumato plugin API versions this plugin is written for (docs/plugins.md).
SFUMATO_PLUGIN_API = ">=1.0,<2"

ENGINE_KIND = "diffusers"


@hookimpl
def register_engines(register: Callable[..., None]) -> None:
    register(
        EngineKind(
            name=ENGINE_KIND,
            factory="sfumato_diffusers.engine:DiffusersEngine",
            description="Stable Diffusion 1.x/2.x/XL through Hugging Face diffusers",
            sampler_contract=SAMPLER_CONTRACT,
        )
    )


@hookimpl
def register_samplers(register: Callable[..., None]) -> None:
    for spec in SAMPLERS:
        register(spec)
