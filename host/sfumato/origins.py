"""Which installed distribution a plugin's code comes from, for error messages that name a culprit."""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import metadata
from typing import Any


@functools.cache
def _distributions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    # Entry points first: editable installs (the usual way to develop a plugin) list no files.
    for entry_point in metadata.entry_points(group="sfumato"):
        if entry_point.dist is not None:
            top = entry_point.value.partition(":")[0].partition(".")[0]
            found.setdefault(top, []).append(entry_point.dist.name)
    for top, names in metadata.packages_distributions().items():
        found.setdefault(top, list(names))
    return found


def module_of(code: str | Callable[..., Any] | type | object) -> str:
    """The module of a lazy ``"module:attribute"`` reference, a function, a class or an instance."""
    if isinstance(code, str):
        return code.partition(":")[0]
    module = getattr(code, "__module__", None)
    if module is None:
        module = type(code).__module__
    return str(module or "")


def distribution_of(code: str | Callable[..., Any] | type | object) -> str:
    """``"name version"`` of the distribution that installed ``code``'s top-level package ("" if none)."""
    top = module_of(code).partition(".")[0]
    names = _distributions().get(top) if top else None
    if not names:
        return ""
    name = names[0]
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


def describe_origin(code: Any, *, plugin: str = "", distribution: str = "") -> str:
    """``plugin 'x', distribution d 1.0`` — whatever is known, for messages and logs."""
    distribution = distribution or distribution_of(code)
    parts = [f"plugin {plugin!r}"] if plugin else []
    if distribution:
        parts.append(f"distribution {distribution}")
    else:
        parts.append(f"module {module_of(code)}, not from an installed distribution")
    return ", ".join(parts)
