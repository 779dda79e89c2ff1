"""Plugin discovery: entry points of the ``sfumato`` group, one plugin at a time.

A plugin that fails to import, fails hook validation or raises inside a hook is
recorded (name, error) and skipped; the others still load. A single record that
cannot be used (a name another plugin already holds, a sampler whose factory does
not resolve or breaks its engine kind's contract) is refused and reported under its
plugin, and the plugin's other records stay. ``strict=True`` turns any such failure
into :class:`PluginLoadError` (use it in tests and CI).

Plugins load in precedence order, which decides name clashes: first-party
distributions (those shipped with sfumato, :data:`FIRST_PARTY`) first, then the
others by distribution name, then plugins without a distribution; within one
distribution, by entry-point name. The first to register a name keeps it.

A plugin's entry-point module may declare the plugin API versions it supports,
``SFUMATO_PLUGIN_API = ">=1.0,<2"`` (a PEP 440 specifier); a plugin whose range
excludes this host's :data:`sfumato.PLUGIN_API_VERSION` is refused as a whole. A plugin
that declares nothing is accepted (declaring becomes required with plugin API 2.0).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import FrameType
from typing import Any

import pluggy

from sfumato import PLUGIN_API_VERSION, __version__, hookspecs
from sfumato.records import AdjustmentSpec, EngineKind, SamplerSpec, resolve

log = logging.getLogger("sfumato.plugins")

ENTRY_POINT_GROUP = "sfumato"

# Distributions built from this repository; they take precedence in name clashes.
FIRST_PARTY = frozenset({"sfumato", "sfumato-diffusers", "sfumato-samplers-extra", "sfumato-upscale"})

HOOKS = ("register_engines", "register_samplers", "register_adjustments")

# The module attribute a plugin declares its supported plugin API range with.
API_ATTRIBUTE = "SFUMATO_PLUGIN_API"


class PluginLoadError(Exception):
    """Raised in strict mode when any plugin failed to load or register."""


def normalize_distribution(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@dataclass
class PluginInfo:
    name: str
    distribution: str = ""
    version: str = ""
    module: str = ""
    # The plugin API range the plugin declared (SFUMATO_PLUGIN_API), "" if none.
    plugin_api: str = ""
    engines: list[str] = field(default_factory=list)
    samplers: list[str] = field(default_factory=list)
    # engine kind → names of the samplers this plugin added to it
    samplers_by_kind: dict[str, list[str]] = field(default_factory=dict)
    adjustments: list[str] = field(default_factory=list)
    error: str | None = None
    # Records refused while the rest of the plugin loaded (clashes, broken samplers).
    problems: list[str] = field(default_factory=list)
    # Worth a look but not a failure (samplers for an engine kind nobody provides).
    warnings: list[str] = field(default_factory=list)

    @property
    def first_party(self) -> bool:
        return normalize_distribution(self.distribution) in FIRST_PARTY

    @property
    def label(self) -> str:
        """``plugin 'x' (distribution y 1.0)``: how messages name a plugin."""
        if not self.distribution:
            return f"plugin {self.name!r} (no distribution)"
        version = f" {self.version}" if self.version else ""
        return f"plugin {self.name!r} (distribution {self.distribution}{version})"

    @property
    def failed(self) -> bool:
        return bool(self.error or self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "plugin_api": self.plugin_api,
            "engines": self.engines,
            "samplers": self.samplers,
            "samplers_by_kind": self.samplers_by_kind,
            "adjustments": self.adjustments,
            "error": self.error,
            "problems": self.problems,
            "warnings": self.warnings,
        }


@dataclass
class _Registered:
    """Who registered a record, and where in their own code."""

    info: PluginInfo
    where: str


@dataclass
class Plugins:
    """What the loaded plugins registered."""

    manager: pluggy.PluginManager
    infos: list[PluginInfo]
    engine_kinds: dict[str, EngineKind] = field(default_factory=dict)
    # engine kind → sampler name → spec; the factories of checked kinds are resolved.
    samplers: dict[str, dict[str, SamplerSpec]] = field(default_factory=dict)
    adjustments: dict[str, AdjustmentSpec] = field(default_factory=dict)
    strict: bool = False
    _kind_owners: dict[str, _Registered] = field(default_factory=dict, repr=False)
    _sampler_owners: dict[tuple[str, str], _Registered] = field(default_factory=dict, repr=False)
    _adjustment_owners: dict[str, _Registered] = field(default_factory=dict, repr=False)
    _checked_kinds: set[str] = field(default_factory=set, repr=False)

    @property
    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos if info.failed]

    def failure_lines(self) -> list[dict[str, str]]:
        """One entry per failure: a whole plugin, or one record it could not register."""
        lines = []
        for info in self.infos:
            for error in ([info.error] if info.error else []) + info.problems:
                lines.append({"name": info.name, "distribution": info.distribution, "error": error})
        return lines

    def samplers_for(self, engine_kind: str) -> dict[str, SamplerSpec]:
        """The usable samplers of a kind, factories resolved and checked against its contract."""
        if engine_kind in self.engine_kinds and engine_kind not in self._checked_kinds:
            self.check_samplers([engine_kind])
        return self.samplers.get(engine_kind, {})

    def sampler_numbers(self) -> dict[int, str]:
        """Enum numbers clients may send for sampler names, across engine kinds."""
        numbers: dict[int, str] = {}
        for by_name in self.samplers.values():
            for spec in by_name.values():
                if spec.number is not None:
                    numbers.setdefault(spec.number, spec.name)
        return numbers

    def check_samplers(self, kinds: Iterable[str] | None = None, *, strict: bool | None = None) -> None:
        """Resolve each sampler factory of ``kinds`` (all installed kinds: None), one at a time.

        A sampler whose factory does not import or breaks the kind's contract is dropped
        and reported under its own plugin; the kind's other samplers are unaffected.
        """
        failed = []
        for kind_name in list(self.engine_kinds) if kinds is None else list(kinds):
            kind = self.engine_kinds.get(kind_name)
            if kind is None or kind_name in self._checked_kinds:
                continue
            self._checked_kinds.add(kind_name)
            by_name = self.samplers.get(kind_name, {})
            for name, spec in list(by_name.items()):
                owner = self._sampler_owners.get((kind_name, name))
                where = owner.where if owner else ""
                try:
                    factory = resolve(spec.factory)
                    try:
                        kind.sampler_contract.verify(factory)
                    except Exception as exc:
                        # The fault is the sampler's, not the contract's code: point at its registration.
                        raise _Located(exc, where) from None
                except Exception as exc:
                    del by_name[name]
                    message = (f"sampler {name!r} for engine kind {kind_name!r} refused: its factory "
                               f"{_describe_target(spec.factory)} failed the check: {_failure_text(exc, where)}")
                    if owner is not None:
                        owner.info.samplers.remove(name)
                        owner.info.samplers_by_kind[kind_name].remove(name)
                        if not owner.info.samplers_by_kind[kind_name]:
                            del owner.info.samplers_by_kind[kind_name]
                        owner.info.problems.append(message)
                        log.error("%s: %s", owner.info.label, message)
                    failed.append(message)
                    continue
                by_name[name] = dataclasses.replace(spec, factory=factory)
        if failed and (self.strict if strict is None else strict):
            raise PluginLoadError(f"plugin load failed (strict mode): {'; '.join(failed)}")


def _describe_target(target: object) -> str:
    if isinstance(target, str):
        return repr(target)
    return repr(getattr(target, "__qualname__", type(target).__name__))


def _entry_points() -> list[metadata.EntryPoint]:
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    # Deduplicate (a package on sys.path twice shows up twice).
    unique: dict[str, metadata.EntryPoint] = {}
    for entry_point in found:
        unique.setdefault(entry_point.name, entry_point)
    return list(unique.values())


def _precedence(info: PluginInfo) -> tuple[int, str, str]:
    rank = 0 if info.first_party else 1 if info.distribution else 2
    return rank, normalize_distribution(info.distribution), info.name


# Frames in these files are machinery, not the plugin's code: error locations skip them.
_INTERNAL_DIRS = tuple(
    os.path.dirname(module.__file__) + os.sep for module in (pluggy, importlib) if module.__file__
)
_INTERNAL_FILES = frozenset({__file__, sys.modules[resolve.__module__].__file__})


def _is_internal(filename: str) -> bool:
    return filename.startswith("<frozen") or filename.startswith(_INTERNAL_DIRS) or filename in _INTERNAL_FILES


def _location(filename: str, lineno: int | None) -> str:
    return f"{filename}:{lineno}"


def _caller_location() -> str:
    """Where the plugin called ``register``: the first frame outside the machinery."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return _location(frame.f_code.co_filename, frame.f_lineno) if frame is not None else ""


def _error_text(exc: BaseException, fallback: str = "") -> str:
    """``Type: message (at file:line)`` on one line, the location in the plugin's own code."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _is_internal(f.filename)]
    where = _location(frames[-1].filename, frames[-1].lineno) if frames else fallback
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" + (f" (at {where})" if where else "")


def _hook_location(plugin: object, exc: BaseException) -> str:
    """For errors raised by pluggy about a hook: where that hook is defined, else the module."""
    for hook_name in HOOKS:
        function = getattr(plugin, hook_name, None)
        code = getattr(function, "__code__", None)
        if code is not None and hook_name in str(exc):
            return _location(code.co_filename, code.co_firstlineno)
    module_file = getattr(plugin, "__file__", None)
    return _location(module_file, 1) if module_file else ""


class _Registrar:
    """Collects one plugin's records so a failing plugin leaves nothing half-registered.

    A record clashing with one an earlier plugin holds is refused on its own (the
    plugin's mistake only if it registers the same name twice itself).
    """

    def __init__(self, plugins: Plugins, info: PluginInfo) -> None:
        self.plugins = plugins
        self.info = info
        self.engine_kinds: list[tuple[EngineKind, str]] = []
        self.samplers: list[tuple[SamplerSpec, str]] = []
        self.adjustments: list[tuple[AdjustmentSpec, str]] = []
        self.refused_kinds: set[str] = set()
        self.problems: list[str] = []

    def _refuse(self, what: str, holder: _Registered, where: str) -> None:
        self.problems.append(
            f"{what} refused: already registered by {holder.info.label} (at {holder.where}), which takes "
            f"precedence over {self.info.label} (first-party first, then by distribution name) (at {where})"
        )

    def engine(self, record: EngineKind) -> None:
        if not isinstance(record, EngineKind):
            raise TypeError(f"register_engines expects EngineKind records, got {type(record).__name__}")
        where = _caller_location()
        if any(k.name == record.name for k, _ in self.engine_kinds):
            raise ValueError(f"engine kind {record.name!r} is registered twice by this plugin")
        holder = self.plugins._kind_owners.get(record.name)
        if holder is not None:
            self.refused_kinds.add(record.name)
            self._refuse(f"engine kind {record.name!r}", holder, where)
            return
        self.engine_kinds.append((record, where))

    def sampler(self, record: SamplerSpec) -> None:
        if not isinstance(record, SamplerSpec):
            raise TypeError(f"register_samplers expects SamplerSpec records, got {type(record).__name__}")
        where = _caller_location()
        what = f"sampler {record.name!r} for engine kind {record.engine_kind!r}"
        if any(s.name == record.name and s.engine_kind == record.engine_kind for s, _ in self.samplers):
            raise ValueError(f"{what} is registered twice by this plugin")
        if record.engine_kind in self.refused_kinds:
            self.problems.append(f"{what} refused: this plugin's engine kind {record.engine_kind!r} was refused (at {where})")
            return
        holder = self.plugins._sampler_owners.get((record.engine_kind, record.name))
        if holder is not None:
            self._refuse(what, holder, where)
            return
        if record.number is not None:
            for kind_name, by_name in self.plugins.samplers.items():
                for name, spec in by_name.items():
                    if spec.number == record.number and name != record.name:
                        holder = self.plugins._sampler_owners[(kind_name, name)]
                        self._refuse(f"{what}: number {record.number}, held by {name!r},", holder, where)
                        return
            for other, _ in self.samplers:
                if other.number == record.number and other.name != record.name:
                    raise ValueError(f"{what} wants number {record.number}, already used by {other.name!r} of this plugin")
        self.samplers.append((record, where))

    def adjustment(self, record: AdjustmentSpec) -> None:
        if not isinstance(record, AdjustmentSpec):
            raise TypeError(f"register_adjustments expects AdjustmentSpec records, got {type(record).__name__}")
        where = _caller_location()
        if any(a.name == record.name for a, _ in self.adjustments):
            raise ValueError(f"adjustment {record.name!r} is registered twice by this plugin")
        holder = self.plugins._adjustment_owners.get(record.name)
        if holder is not None:
            self._refuse(f"adjustment {record.name!r}", holder, where)
            return
        self.adjustments.append((record, where))

    def commit(self) -> None:
        plugins, info = self.plugins, self.info
        for kind, where in self.engine_kinds:
            if kind.owner is None:  # ListEngines' owner: the distribution, unless the kind says otherwise
                kind = dataclasses.replace(kind, owner=info.distribution or info.name)
            plugins.engine_kinds[kind.name] = kind
            plugins._kind_owners[kind.name] = _Registered(info, where)
            info.engines.append(kind.name)
        for sampler, where in self.samplers:
            plugins.samplers.setdefault(sampler.engine_kind, {})[sampler.name] = sampler
            plugins._sampler_owners[(sampler.engine_kind, sampler.name)] = _Registered(info, where)
            info.samplers.append(sampler.name)
            info.samplers_by_kind.setdefault(sampler.engine_kind, []).append(sampler.name)
        for adjustment, where in self.adjustments:
            plugins.adjustments[adjustment.name] = adjustment
            plugins._adjustment_owners[adjustment.name] = _Registered(info, where)
            info.adjustments.append(adjustment.name)
        for problem in self.problems:
            info.problems.append(problem)
            log.error("%s: %s", info.label, problem)


class IncompatiblePluginAPI(Exception):
    """A plugin declared a plugin API range that excludes this host's."""


def check_plugin_api(plugin: object, info: PluginInfo) -> None:
    """Read the plugin's declared API range into ``info``; raise if it excludes this host's."""
    wanted = getattr(plugin, API_ATTRIBUTE, None)
    if wanted is None:
        return  # undeclared: accepted until plugin API 2.0
    where = f"{API_ATTRIBUTE} in {getattr(plugin, '__name__', info.module)}"
    if not isinstance(wanted, str):
        raise IncompatiblePluginAPI(f"{where} must be a version specifier string such as '>=1.0,<2', "
                                    f"not {type(wanted).__name__}")
    info.plugin_api = wanted
    try:
        # Imported here: only plugins that declare a range need it.
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:  # pragma: no cover - packaging comes with pip-installed environments
        log.warning("%s: cannot check its plugin API range %r: the 'packaging' library is not installed",
                    info.label, wanted)
        return
    try:
        specifier = SpecifierSet(wanted)
    except InvalidSpecifier:
        raise IncompatiblePluginAPI(f"{where} = {wanted!r} is not a version specifier (expected e.g. '>=1.0,<2')") from None
    if not specifier.contains(PLUGIN_API_VERSION, prereleases=True):
        dist = info.distribution or "the plugin"
        raise IncompatiblePluginAPI(
            f"incompatible plugin API: it wants plugin API {wanted} ({where}), but the installed "
            f"sfumato {__version__} provides plugin API {PLUGIN_API_VERSION}; install a release of {dist} "
            f"that supports plugin API {PLUGIN_API_VERSION}, or a sfumato whose plugin API is in {wanted}"
        )


def _register_one(plugins: Plugins, plugin: object, info: PluginInfo) -> None:
    manager = plugins.manager
    try:
        manager.register(plugin, name=info.name)
    except Exception as exc:
        raise _Located(exc, _hook_location(plugin, exc)) from exc
    try:
        try:
            manager.check_pending()
        except Exception as exc:
            raise _Located(exc, _hook_location(plugin, exc)) from exc
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


class _Located(Exception):
    """Carries an error raised by pluggy together with the plugin location it is about."""

    def __init__(self, error: BaseException, where: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.where = where


def _failure_text(exc: BaseException, fallback: str = "") -> str:
    if isinstance(exc, IncompatiblePluginAPI):
        return str(exc)  # about the declaration, not a line of code
    if isinstance(exc, _Located):
        return f"{type(exc.error).__name__}: {' '.join(str(exc.error).split())}" + (f" (at {exc.where})" if exc.where else "")
    return _error_text(exc, fallback)


def load_plugins(
    *,
    strict: bool = False,
    only: Iterable[str] | None = None,
    extra: Iterable[tuple[str, object] | tuple[str, object, str]] = (),
    use_entry_points: bool = True,
    sampler_kinds: Iterable[str] | None = None,
) -> Plugins:
    """Discover and load plugins, in precedence order (see the module docstring).

    ``only`` restricts entry points to those names (a plugin author's test server);
    ``extra`` adds ``(name, plugin)`` or ``(name, plugin, distribution)`` directly.
    ``sampler_kinds`` limits the sampler check to those engine kinds (``None``: every
    installed kind): resolving a factory imports its module, so a server checks only
    the kinds its config uses, and the others are checked on first use.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins = Plugins(manager=manager, infos=[], strict=strict)
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
    for name, plugin, *distribution in extra:
        module = getattr(plugin, "__name__", type(plugin).__name__)
        info = PluginInfo(name=name, module=module, distribution=distribution[0] if distribution else "")
        candidates.append((info, lambda plugin=plugin: plugin))
    candidates.sort(key=lambda candidate: _precedence(candidate[0]))

    for info, load in candidates:
        plugins.infos.append(info)
        try:
            plugin = load()
            check_plugin_api(plugin, info)
            _register_one(plugins, plugin, info)
        except Exception as exc:  # a broken plugin must not stop the others
            info.error = _failure_text(exc)
            log.error("%s failed to load: %s", info.label, info.error)

    for kind_name, by_name in plugins.samplers.items():
        if kind_name in plugins.engine_kinds:
            continue
        installed = ", ".join(sorted(plugins.engine_kinds)) or "none"
        for name in by_name:
            owner = plugins._sampler_owners[(kind_name, name)]
            warning = (f"sampler {name!r} is for engine kind {kind_name!r}, which no loaded plugin provides "
                       f"(loaded kinds: {installed}) (at {owner.where})")
            owner.info.warnings.append(warning)
            log.warning("%s: %s", owner.info.label, warning)
    if wanted is not None:
        missing = sorted(wanted - {info.name for info in plugins.infos})
        for name in missing:
            plugins.infos.append(PluginInfo(name=name, error="no such entry point in group 'sfumato'"))
            log.error("plugin %r failed to load: no such entry point in group 'sfumato'", name)
    plugins.check_samplers(sampler_kinds, strict=False)  # strict mode reports every failure at once, below
    if strict and plugins.failures:
        details = "; ".join(f"{line['name']}: {line['error']}" for line in plugins.failure_lines())
        raise PluginLoadError(f"plugin load failed (strict mode): {details}")
    return plugins
