"""Packaging settings that keep the wheels portable, checked without building anything."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import build_dists

REPO = build_dists.REPO


def test_the_extension_targets_the_stable_abi_of_the_oldest_supported_python() -> None:
    cargo = tomllib.loads((REPO / "rust_ops" / "Cargo.toml").read_text())
    features = cargo["dependencies"]["pyo3"].get("features", [])
    [abi3] = [f for f in features if f.startswith("abi3-py")]
    minor = re.fullmatch(r"abi3-py3(\d+)", abi3).group(1)  # type: ignore[union-attr]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert SpecifierSet(project["requires-python"]) == SpecifierSet(f">=3.{minor}")


@pytest.mark.parametrize("variable", ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"])
def test_a_cpu_specific_build_is_refused(variable: str) -> None:
    with pytest.raises(SystemExit, match=variable):
        build_dists.check_portable({variable: "-C target-cpu=native"})
    build_dists.check_portable({variable: "-C debuginfo=1"})


def test_every_plugin_directory_is_built() -> None:
    names = {d.name for d in build_dists.plugin_dirs()}
    assert {"sfumato-diffusers", "sfumato-samplers-extra", "example-plugin"} <= names


def test_first_party_plugins_are_extras_pinned_to_this_release_series() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = {
        Requirement(r).name: (extra, Requirement(r).specifier)
        for extra, requirements in project["optional-dependencies"].items()
        for r in requirements
    }
    for directory in build_dists.plugin_dirs():
        if directory.parent.name != "plugins":
            continue
        plugin = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
        assert plugin["name"] in extras, f"{plugin['name']} is not an extra of sfumato"
        _, pin = extras[plugin["name"]]
        assert plugin["version"] in pin and any(s.operator == "<" for s in pin), f"{plugin['name']}: {pin}"
