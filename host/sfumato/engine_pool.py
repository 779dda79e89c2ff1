"""Engine instances built from the config, each with its kind, state and worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sfumato.config import Settings
from sfumato.engines import EngineConfig, EngineDescription, EngineProtocol, EngineServices
from sfumato.errors import Code, RpcError
from sfumato.origins import describe_origin
from sfumato.plugins import Plugins
from sfumato.records import EngineKind, SamplerSpec, resolve

if TYPE_CHECKING:
    from sfumato.jobs.scheduler import Worker

log = logging.getLogger("sfumato.engines")


class EngineSetupError(Exception):
    """The config names an engine that cannot be built (unknown kind, factory failure)."""


@dataclass
class EngineSlot:
    config: EngineConfig
    kind: EngineKind
    engine: EngineProtocol
    samplers: dict[str, SamplerSpec]
    # "plugin 'x', distribution y 1.0": named in errors the engine's code causes.
    origin: str = ""
    ready: bool = False
    load_error: str | None = None
    load_status: str = "waiting to load"
    worker: Worker | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return self.config.id

    def describe(self) -> EngineDescription:
        return self.engine.describe()

    @property
    def culprit(self) -> str:
        """How errors name this engine's code: ``engine 'x' (kind k; plugin p, distribution d)``."""
        return f"engine {self.id!r} (kind {self.config.kind!r}; {self.origin or 'unknown origin'})"

    def fail_to_load(self, reason: str) -> None:
        """Mark the engine unusable before it loads: requests get 503, ``/plugins`` shows ``reason``."""
        self.load_error = reason
        self.load_status = "failed"

    def check_available(self) -> None:
        if self.load_error is not None:
            raise RpcError(Code.UNAVAILABLE, f"engine {self.id!r} failed to load: {self.load_error}")


class EnginePool:
    def __init__(self, slots: list[EngineSlot], default_engine: str, skipped: list[tuple[str, str]]) -> None:
        self.slots = {slot.id: slot for slot in slots}
        self.default_engine = default_engine
        self.skipped = skipped

    def get(self, engine_id: str) -> EngineSlot | None:
        return self.slots.get(engine_id or self.default_engine)

    def ids(self) -> list[str]:
        return [slot.id for slot in self.slots.values() if slot.config.visible]

    @property
    def all_ready(self) -> bool:
        return all(slot.ready for slot in self.slots.values())


def build_pool(settings: Settings, plugins: Plugins) -> EnginePool:
    """Instantiate every enabled engine of the config (weights are loaded later, by workers)."""
    slots: list[EngineSlot] = []
    skipped: list[tuple[str, str]] = []
    cache_dir = settings.cache_path()
    for position, entry in enumerate(settings.engines):
        if not entry.enabled:
            continue
        kind = plugins.engine_kinds.get(entry.kind)
        if kind is None:
            reason = f"no plugin provides engine kind {entry.kind!r} (installed: {', '.join(sorted(plugins.engine_kinds)) or 'none'})"
            if settings.skip_missing_kinds:
                log.info("skipping engine %s: %s", entry.id, reason)
                skipped.append((entry.id, reason))
                continue
            raise EngineSetupError(f"engine {entry.id!r}: {reason}")
        config = entry.to_engine_config()
        samplers = dict(plugins.samplers_for(entry.kind))
        services = EngineServices(samplers=samplers, cache_dir=str(cache_dir))
        try:
            engine = resolve(kind.factory)(config, services)
        except Exception as exc:
            raise EngineSetupError(f"engine {entry.id!r} (kind {entry.kind!r}) could not be created: {exc}") from exc
        slot = EngineSlot(config=config, kind=kind, engine=engine, samplers=samplers,
                          origin=_engine_origin(plugins, entry.kind, engine))
        problem = _default_sampler_problem(slot, position)
        if problem is not None:
            log.error("engine %s cannot serve: %s", entry.id, problem)
            slot.fail_to_load(problem)
        slots.append(slot)
    default = settings.server.default_engine or (slots[0].id if slots else "")
    if slots and default not in {slot.id for slot in slots}:
        raise EngineSetupError(f"server.default_engine {default!r} is not one of the engines: {', '.join(s.id for s in slots)}")
    return EnginePool(slots, default, skipped)


def _engine_origin(plugins: Plugins, kind: str, engine: object) -> str:
    for info in plugins.infos:
        if kind in info.engines and not info.error:
            distribution = f"{info.distribution} {info.version}".strip()
            return describe_origin(engine, plugin=info.name, distribution=distribution)
    return describe_origin(engine)


def _default_sampler_problem(slot: EngineSlot, position: int) -> str | None:
    """Why the engine's default sampler cannot run (None if it can): checked once, not per request."""
    try:
        description = slot.describe()
    except Exception as exc:  # a broken describe() fails the engine, not the server
        log.exception("engine %s: describe() failed", slot.id)
        return f"describe() of {slot.culprit} failed: {type(exc).__name__}: {exc}"
    if description.upscalers and not description.samplers:
        return None  # an upscale-only engine runs no sampler
    # Requests may name any sampler registered for the kind; ListEngines shows those the engine lists.
    offered = [name for name in description.samplers if name in slot.samplers] or sorted(slot.samplers)
    if description.default_sampler in offered:
        return None
    choices = ", ".join(offered) or "none"
    configured = slot.config.default_sampler
    if configured:
        return (
            f"engines[{position}].default_sampler = {configured!r} (engine {slot.id!r}) is not a sampler this engine "
            f"offers; set it to one of: {choices}"
        )
    return (
        f"the default sampler {description.default_sampler!r} of {slot.culprit} is not one it offers "
        f"(offered: {choices}); set engines[{position}].default_sampler to one of them"
    )
