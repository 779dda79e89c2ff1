"""The built-in ``test-pattern`` engine kind and its samplers, registered like any plugin."""

from __future__ import annotations

from collections.abc import Callable

from sfumato.hookspecs import hookimpl
from sfumato.records import EngineKind, SamplerContract, SamplerSpec

KIND = "test-pattern"

# The sfumato plugin API versions this plugin is written for (docs/plugins.md).
SFUMATO_PLUGIN_API = ">=1.0,<2"

_ENGINE = "sfumato.builtin.test_pattern_engine"

# A sampler of this kind finishes the pattern: called once per image before clipping.
SAMPLER_CONTRACT = SamplerContract(
    signature="shade(image: ndarray[H, W, 3] float64 about 0..1, rng: numpy.random.Generator, "
    "settings: SamplerSettings) -> ndarray[H, W, 3] float64",
    arguments=("image", "rng", "settings"),
)


@hookimpl
def register_engines(register: Callable[[EngineKind], None]) -> None:
    register(
        EngineKind(
            name=KIND,
            factory="sfumato.builtin.test_pattern_engine:TestPatternEngine",
            description="Deterministic procedural images in milliseconds, no model or GPU: for client development and CI.",
            sampler_contract=SAMPLER_CONTRACT,
        )
    )


@hookimpl
def register_samplers(register: Callable[[SamplerSpec], None]) -> None:
    register(SamplerSpec(name="SAMPLER_K_EULER", number=2, engine_kind=KIND, factory=f"{_ENGINE}:smooth",
                         description="Smooth interference waves."))
    register(SamplerSpec(name="SAMPLER_K_EULER_ANCESTRAL", number=3, engine_kind=KIND, factory=f"{_ENGINE}:grain",
                         description="Waves plus seeded grain; eta scales the grain.", supports_eta=True))
    register(SamplerSpec(name="SAMPLER_DDIM", number=0, engine_kind=KIND, factory=f"{_ENGINE}:posterize",
                         description="Waves posterized to eight levels per channel."))
