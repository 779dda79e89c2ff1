"""The module the ``sfumato`` entry point names: hook implementations only.

Importing it must stay cheap (the host imports every plugin at startup, and
``sfumato plugins`` imports them just to list them), so the engine and the sepia
kernel are referenced as ``"module:attribute"`` strings and imported only when a
config entry or a request needs them.
"""

from __future__ import annotations

from collections.abc import Callable

from sfumato import hookimpl
from sfumato.records import AdjustmentSpec, EngineKind, SamplerContract, SamplerSpec

from sfumato_example.sepia_params import SepiaParams, validate_sepia

# The sfumato plugin API versions this plugin is written for (docs/plugins.md).
SFUMATO_PLUGIN_API = ">=1.0,<2"

ENGINE_KIND = "gradient"

# What a sampler of the gradient kind is, for this plugin and any other adding samplers to it.
SAMPLER_CONTRACT = SamplerContract(
    signature="easing(t: numpy.ndarray of floats in 0..1) -> numpy.ndarray of the same shape, 0..1",
    arguments=("t",),
)


@hookimpl
def register_engines(register: Callable[[EngineKind], None]) -> None:
    register(
        EngineKind(
            name=ENGINE_KIND,
            factory="sfumato_example.engine:GradientEngine",
            description="A seeded two-colour gradient (example plugin; no model, no GPU).",
            sampler_contract=SAMPLER_CONTRACT,
        )
    )


@hookimpl
def register_samplers(register: Callable[[SamplerSpec], None]) -> None:
    # For this engine kind a factory is an easing curve (SAMPLER_CONTRACT); the host resolves
    # and checks each one, one at a time, once plugins are loaded.
    register(
        SamplerSpec(
            name="SAMPLER_GRADIENT_SMOOTH",
            number=1900,
            engine_kind=ENGINE_KIND,
            factory="sfumato_example.engine:smoothstep",
            description="Smoothstep easing between the two colours.",
        )
    )
    register(
        SamplerSpec(
            name="SAMPLER_GRADIENT_LINEAR",
            number=1901,
            engine_kind=ENGINE_KIND,
            factory="sfumato_example.engine:linear",
            description="Linear ramp between the two colours; eta adds seeded grain.",
            supports_eta=True,
        )
    )


@hookimpl
def register_adjustments(register: Callable[[AdjustmentSpec], None]) -> None:
    register(
        AdjustmentSpec(
            name="sepia",
            params=SepiaParams,
            apply="sfumato_example.sepia:apply_sepia",
            validate=validate_sepia,
            description="Sepia toning; amount 0 leaves the image unchanged, 1 is full sepia.",
        )
    )
