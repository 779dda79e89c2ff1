"""Registration records that plugins hand to the ``register`` callables of the hooks.

Records are plain, immutable descriptions. Anything expensive is referenced lazily,
as a ``"module:attribute"`` string or a zero-argument callable, and only resolved
when the host actually needs it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal


def resolve(target: str | Callable[..., Any]) -> Any:
    """Resolve a lazy ``"package.module:attribute"`` reference (callables pass through)."""
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"lazy reference {target!r} must look like 'package.module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class SamplerContract:
    """What an engine kind's sampler factories are: how the engine calls them, what they return.

    Declared once by the engine kind, so every plugin adding samplers to that kind
    follows the same convention. ``signature`` documents the call (shown to plugin
    authors and in error messages); ``arguments`` are the positional arguments the
    engine passes, and the host refuses a factory that cannot be called with that many;
    ``check(factory)`` may look further and raise ``TypeError``/``ValueError`` with a
    message saying what is wrong. The host runs :meth:`verify` on every resolved
    factory before any engine of the kind sees it.
    """

    signature: str
    arguments: tuple[str, ...] | None = None  # None: any call signature
    check: Callable[[Callable[..., Any]], None] | None = None

    def verify(self, factory: Any) -> None:
        if not callable(factory):
            raise TypeError(f"factory is a {type(factory).__name__}, not a callable {self.signature}")
        if self.arguments is not None:
            try:
                parameters = inspect.signature(factory)
            except (TypeError, ValueError):  # some builtins have no signature: nothing more to check
                parameters = None
            if parameters is not None:
                try:
                    parameters.bind(*self.arguments)
                except TypeError as exc:
                    raise TypeError(
                        f"factory {getattr(factory, '__qualname__', factory)!r} cannot be called as "
                        f"{self.signature}: {exc}"
                    ) from None
        if self.check is not None:
            self.check(factory)


# A kind that declares no contract still gets importable, callable factories.
ANY_CALLABLE = SamplerContract(signature="factory(...)")


@dataclass(frozen=True)
class EngineKind:
    """A kind of engine (a generation backend) that config entries can instantiate.

    ``factory`` is called as ``factory(config: EngineConfig, services: EngineServices)``
    and must return an object implementing :class:`sfumato.engines.Engine`.
    ``sampler_contract`` says what the ``factory`` of a :class:`SamplerSpec` for this
    kind must be. ``owner`` is reported in ListEngines; unset, the host fills in the
    plugin's distribution name.
    """

    name: str
    factory: str | Callable[..., Any]
    description: str = ""
    sampler_contract: SamplerContract = ANY_CALLABLE
    owner: str | None = None


ExtensionType = Literal["float", "int", "str"]


@dataclass(frozen=True)
class ExtensionParam:
    """An ``image.extension.parameters[]`` entry an engine accepts.

    Values arrive validated: the right type, inside ``[minimum, maximum]`` and one of
    ``choices`` when those are given.
    """

    name: str
    type: ExtensionType
    description: str
    default: float | int | str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    # Only for testing servers (delays, fault injection): refused with a 400 and hidden from
    # /plugins unless the server runs with ``[server] test_controls = true``.
    test_control: bool = False


NoiseType = Literal["SAMPLER_NOISE_NORMAL", "SAMPLER_NOISE_BROWNIAN"]


@dataclass(frozen=True)
class SamplerSpec:
    """A sampler an engine kind can run.

    ``name`` is what clients send in ``image.transform.diffusion``: one of the API's
    ``DiffusionSampler`` names, or a new name for samplers the enum lacks. ``number``
    is the enum value clients may send instead of the name (``None``: names only).
    ``factory`` is a callable (or a lazy ``"module:attribute"`` reference to one)
    following the target kind's :class:`SamplerContract`; the host resolves and checks
    it once plugins are loaded, and engines receive only samplers whose factory passed,
    already resolved. The ``supports_*`` flags are
    reported in ListEngines and must be true exactly when changing that parameter
    changes the image.
    """

    name: str
    engine_kind: str
    factory: str | Callable[..., Any]
    number: int | None = None
    description: str = ""
    supports_eta: bool = False
    supports_churn: bool = False
    supports_sigma_limits: bool = False
    supports_karras_rho: bool = False
    noise_types: tuple[NoiseType, ...] = ("SAMPLER_NOISE_NORMAL",)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AdjustmentSpec:
    """An image adjustment kind (a member of the ``ImageAdjustment`` oneof).

    ``params`` is the msgspec Struct type its JSON object decodes into; ``apply`` is
    called as ``apply(pixels, params) -> pixels`` on an H×W×C ``uint8`` numpy array
    (C = 1, 3 or 4) and must not modify its input. ``validate(params)`` may raise
    ``ValueError`` with a human message; it runs before any work is accepted.

    ``output_shape(shape, params) -> shape`` tells the (height, width, channels) of the
    result from those of the input without touching pixels, so the host can check every
    intermediate image against its limits before anything is allocated. Leave it unset
    for adjustments that keep the shape. ``work_factor`` is the adjustment's scratch
    memory in bytes per output byte (a float32 intermediate is 4), for the image-work budget.
    """

    name: str
    params: type
    apply: str | Callable[..., Any]
    validate: Callable[[Any], None] | None = None
    description: str = ""
    output_shape: Callable[[tuple[int, int, int], Any], tuple[int, int, int]] | None = None
    work_factor: float = 0.0
