"""Engine instances built from the config, each with its kind, state and worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sfumato.config import Settings
from sfumato.engines import Engine, EngineConfig, EngineDescription, EngineServices
from sfumato.errors import Code, RpcError
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
    engine: Engine
    samplers: dict[str, SamplerSpec]
    ready: bool = False
    load_error: str | None = None
    load_status: str = "waiting to load"
    worker: Worker | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return self.config.id

    def describe(self) -> EngineDescription:
        return self.engine.describe()

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
    for entry in settings.engines:
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
        slots.append(EngineSlot(config=config, kind=kind, engine=engine, samplers=samplers))
    default = settings.server.default_engine or (slots[0].id if slots else "")
    if slots and default not in {slot.id for slot in slots}:
        raise EngineSetupError(f"server.default_engine {default!r} is not one of the engines: {', '.join(s.id for s in slots)}")
    return EnginePool(slots, default, skipped)
