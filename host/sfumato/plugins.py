"""Plugin discovery: entry points of the ``sfumato`` group, one plugin at a time.

A plugin that fails to import, fails hook validation or raises inside a hook is
recorded (name, error) and skipped; the others still load. ``strict=True`` turns
any such failure into :class:`PluginLoadError` (use it in tests and CI).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from sfumato import hookspecs
from sfumato.records import AdjustmentSpec, EngineKind, SamplerSpec

log = logging.getLogger("sfumato.plugins")

ENTRY_POINT_GROUP = "sfumato"


class PluginLoadError(Exception):
    """Raised in strict mode when any plugin failed to load or register."""


@dataclass
class PluginInfo:
    name: str
    distribution: str = ""
    version: str = ""
    module: str = ""
    engines: list[str] = field(default_factory=list)
    samplers: list[str] = field(default_factory=list)
    adjustments: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "engines": self.engines,
            "samplers": self.samplers,
            "adjustments": self.adjustments,
            "error": self.error,
        }


@dataclass
class Plugins:
    """What the loaded plugins registered."""

    manager: pluggy.PluginManager
    infos: list[PluginInfo]
    engine_kinds: dict[str, EngineKind] = field(default_factory=dict)
    # engine kind → sampler name → spec
    samplers: dict[str, dict[str, SamplerSpec]] = field(default_factory=dict)
    adjustments: dict[str, AdjustmentSpec] = field(default_factory=dict)

    @property
    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos if info.error]

    def samplers_for(self, engine_kind: str) -> dict[str, SamplerSpec]:
        return self.samplers.get(engine_kind, {})

    def sampler_numbers(self) -> dict[int, str]:
        """Enum numbers clients may send for sampler names, across engine kinds."""
        numbers: dict[int, str] = {}
        for by_name in self.samplers.values():
            for spec in by_name.values():
                if spec.number is not None:
                    numbers.setdefault(spec.number, spec.name)
        return numbers


def _entry_points() -> list[metadata.EntryPoint]:
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    # Deduplicate (a package on sys.path twice shows up twice) and keep a stable order.
    unique: dict[str, metadata.EntryPoint] = {}
    for entry_point in found:
        unique.setdefault(entry_point.name, entry_point)
    return sorted(unique.values(), key=lambda ep: ep.name)


def _error_text(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


class _Registrar:
    """Collects one plugin's records so a failing plugin leaves nothing half-registered."""

    def __init__(self, plugins: Plugins, info: PluginInfo) -> None:
        self.plugins = plugins
        self.info = info
        self.engine_kinds: list[EngineKind] = []
        self.samplers: list[SamplerSpec] = []
        self.adjustments: list[AdjustmentSpec] = []

    def engine(self, record: EngineKind) -> None:
        if not isinstance(record, EngineKind):
            raise TypeError(f"register_engines expects EngineKind records, got {type(record).__name__}")
        if record.name in self.plugins.engine_kinds or any(k.name == record.name for k in self.engine_kinds):
            raise ValueError(f"engine kind {record.name!r} is already registered")
        self.engine_kinds.append(record)

    def sampler(self, record: SamplerSpec) -> None:
        if not isinstance(record, SamplerSpec):
            raise TypeError(f"register_samplers expects SamplerSpec records, got {type(record).__name__}")
        existing = self.plugins.samplers.get(record.engine_kind, {})
        if record.name in existing or any(
            s.name == record.name and s.engine_kind == record.engine_kind for s in self.samplers
        ):
            raise ValueError(f"sampler {record.name!r} for engine kind {record.engine_kind!r} is already registered")
        if record.number is not None:
            for by_name in self.plugins.samplers.values():
                for other in [*by_name.values(), *self.samplers]:
                    if other.number == record.number and other.name != record.name:
                        raise ValueError(
                            f"sampler {record.name!r} wants number {record.number}, already used by {other.name!r}"
                        )
        self.samplers.append(record)

    def adjustment(self, record: AdjustmentSpec) -> None:
        if not isinstance(record, AdjustmentSpec):
            raise TypeError(f"register_adjustments expects AdjustmentSpec records, got {type(record).__name__}")
        if record.name in self.plugins.adjustments or any(a.name == record.name for a in self.adjustments):
            raise ValueError(f"adjustment {record.name!r} is already registered")
        self.adjustments.append(record)

    def commit(self) -> None:
        for kind in self.engine_kinds:
            self.plugins.engine_kinds[kind.name] = kind
            self.info.engines.append(kind.name)
        for sampler in self.samplers:
            self.plugins.samplers.setdefault(sampler.engine_kind, {})[sampler.name] = sampler
            self.info.samplers.append(sampler.name)
        for adjustment in self.adjustments:
            self.plugins.adjustments[adjustment.name] = adjustment
            self.info.adjustments.append(adjustment.name)


def _register_one(plugins: Plugins, plugin: object, info: PluginInfo) -> None:
    manager = plugins.manager
    manager.register(plugin, name=info.name)
    try:
        manager.check_pending()
        registrar = _Registrar(plugins, info)
        hooks: list[tuple[str, Callable[[Any], None]]] = [
            ("register_engines", registrar.engine),
            ("register_samplers", registrar.sampler),
            ("register_adjustments", registrar.adjustment),
        ]
        for hook_name, register in hooks:
            caller = getattr(manager.hook, hook_name)
            for impl in caller.get_hookimpls():
                if impl.plugin_name == info.name:
                    impl.function(register=register)
        registrar.commit()
    except BaseException:
        manager.unregister(name=info.name)
        raise


def load_plugins(
    *,
    strict: bool = False,
    only: Iterable[str] | None = None,
    extra: Iterable[tuple[str, object]] = (),
    use_entry_points: bool = True,
) -> Plugins:
    """Discover and load plugins.

    ``only`` restricts entry points to those names (a plugin author's test server);
    ``extra`` adds ``(name, plugin)`` pairs directly, after the entry points.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins = Plugins(manager=manager, infos=[])
    wanted = set(only) if only is not None else None

    candidates: list[tuple[PluginInfo, Callable[[], object]]] = []
    if use_entry_points:
        for entry_point in _entry_points():
            if wanted is not None and entry_point.name not in wanted:
                continue
            dist = entry_point.dist
            info = PluginInfo(
                name=entry_point.name,
                distribution=dist.name if dist else "",
                version=dist.version if dist else "",
                module=entry_point.value,
            )
            candidates.append((info, entry_point.load))
    for name, plugin in extra:
        module = getattr(plugin, "__name__", type(plugin).__name__)
        candidates.append((PluginInfo(name=name, module=module), lambda plugin=plugin: plugin))

    for info, load in candidates:
        plugins.infos.append(info)
        try:
            _register_one(plugins, load(), info)
        except Exception as exc:  # a broken plugin must not stop the others
            info.error = _error_text(exc)
            log.error("plugin %s failed to load: %s", info.name, info.error)

    if wanted is not None:
        missing = sorted(wanted - {info.name for info in plugins.infos})
        for name in missing:
            plugins.infos.append(PluginInfo(name=name, error="no such entry point in group 'sfumato'"))
    if strict and plugins.failures:
        details = "; ".join(f"{info.name}: {info.error}" for info in plugins.failures)
        raise PluginLoadError(f"plugin load failed (strict mode): {details}")
    return plugins
