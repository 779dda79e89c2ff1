"""The plugin API version: a plugin declaring a range that excludes the host's is refused alone.

Plugins are installed as real distributions in a private folder (``*.dist-info`` with
METADATA and entry_points.txt), so the host finds them through the ``sfumato`` entry-point
group, as after ``pip install``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from litestar.testing import TestClient

import sfumato
from sfumato.api.app import create_app
from sfumato.config import load_settings
from sfumato.plugins import PluginLoadError, load_plugins

BUILTINS = ["test_pattern", "adjustments"]

PLUGIN = '''
from sfumato import hookimpl
from sfumato.records import SamplerSpec

{declaration}


def shade(image, rng, settings):
    return 1.0 - image


@hookimpl
def register_samplers(register):
    register(SamplerSpec(name="{sampler}", engine_kind="test-pattern", factory=shade))
'''


def add_distribution(site: Path, distribution: str, entry_point: str, module: str, declaration: str, sampler: str) -> None:
    source = PLUGIN.format(declaration=declaration, sampler=sampler)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{distribution.replace('-', '_')}-2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 2.3\n")
    (info / "entry_points.txt").write_text(f"[sfumato]\n{entry_point} = {module}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    add_distribution(folder, "sfumato-future", "future", "api_future", 'SFUMATO_PLUGIN_API = ">=2.0,<3"',
                     "SAMPLER_FUTURE")
    add_distribution(folder, "sfumato-current", "current", "api_current", 'SFUMATO_PLUGIN_API = "~=1.0"',
                     "SAMPLER_CURRENT")
    add_distribution(folder, "sfumato-silent", "silent", "api_silent", "", "SAMPLER_SILENT")
    add_distribution(folder, "sfumato-garbled", "garbled", "api_garbled", 'SFUMATO_PLUGIN_API = "version one"',
                     "SAMPLER_GARBLED")
    yield folder
    for name in [m for m in sys.modules if m.startswith("api_")]:
        del sys.modules[name]


PLUGINS = [*BUILTINS, "future", "current", "silent", "garbled"]


def by_name(plugins):
    return {info.name: info for info in plugins.infos}


def test_an_incompatible_plugin_is_refused_and_the_others_load(site, caplog):
    caplog.set_level(logging.WARNING, logger="sfumato.plugins")
    plugins = load_plugins(only=PLUGINS)
    infos = by_name(plugins)
    future = infos["future"]
    assert future.error is not None and future.plugin_api == ">=2.0,<3"
    assert "wants plugin API >=2.0,<3" in future.error
    assert f"sfumato {sfumato.__version__} provides plugin API {sfumato.PLUGIN_API_VERSION}" in future.error
    assert "sfumato-future" in future.error
    # Nothing of the refused plugin is registered; compatible and undeclared plugins are.
    samplers = plugins.samplers_for("test-pattern")
    assert "SAMPLER_FUTURE" not in samplers
    assert {"SAMPLER_CURRENT", "SAMPLER_SILENT", "SAMPLER_K_EULER"} <= set(samplers)
    assert infos["current"].error is None and infos["current"].plugin_api == "~=1.0"
    assert infos["silent"].error is None and infos["silent"].plugin_api == ""
    # A specifier that does not parse is a failure too, naming the attribute.
    assert "'version one' is not a version specifier" in infos["garbled"].error
    assert {line["name"] for line in plugins.failure_lines()} == {"future", "garbled"}
    # One log line for the refusal, naming the plugin, its distribution, the range and the installed API.
    (line,) = [r.getMessage() for r in caplog.records if "future" in r.getMessage()]
    assert line.startswith("plugin 'future' (distribution sfumato-future 2.3) failed to load: incompatible plugin API")
    assert ">=2.0,<3" in line and f"plugin API {sfumato.PLUGIN_API_VERSION}" in line and "\n" not in line
    # Undeclared plugins are accepted silently (declaring becomes required with plugin API 2.0).
    assert not any("silent" in r.getMessage() for r in caplog.records)


def test_strict_mode_fails_on_an_incompatible_plugin(site):
    with pytest.raises(PluginLoadError, match=r"future: incompatible plugin API"):
        load_plugins(only=[*BUILTINS, "future"], strict=True)
    load_plugins(only=[*BUILTINS, "current", "silent"], strict=True)


def test_first_party_plugins_declare_a_range_that_includes_this_host():
    plugins = load_plugins(only=BUILTINS, strict=True)
    assert all(info.plugin_api for info in plugins.infos)
    from packaging.specifiers import SpecifierSet

    assert all(sfumato.PLUGIN_API_VERSION in SpecifierSet(info.plugin_api) for info in plugins.infos)


def test_plugins_route_reports_the_refusal_while_the_server_serves(site, tmp_path):
    config = tmp_path / "sfumato.toml"
    config.write_text('[[engines]]\nid = "tp"\nkind = "test-pattern"\ndefault_steps = 2\n')
    plugins = load_plugins(only=PLUGINS, sampler_kinds=["test-pattern"])
    with TestClient(create_app(load_settings(config, environ={}), plugins)) as client:
        report = client.get("/plugins").json()
        (failure,) = [f for f in report["failures"] if f["name"] == "future"]
        assert failure["distribution"] == "sfumato-future" and ">=2.0,<3" in failure["error"]
        entry = {p["name"]: p for p in report["plugins"]}["future"]
        assert entry["plugin_api"] == ">=2.0,<3"
        request = {"engineId": "tp", "prompt": [{"text": "x"}],
                   "image": {"width": "32", "height": "32", "seed": [7], "transform": {"diffusion": "SAMPLER_CURRENT"}}}
        assert client.post("/grpcgateway/generate", json=request).status_code == 200


def test_sfumato_plugins_shows_the_refusal_and_fails(site):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), *sys.path]))
    out = subprocess.run([sys.executable, "-m", "sfumato", "plugins", "--only-plugins", "test_pattern,future,current"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "future (sfumato-future 2.3)\n    FAILED: incompatible plugin API: it wants plugin API >=2.0,<3" in out.stdout
    assert "current (sfumato-current 2.3)\n    samplers for test-pattern: SAMPLER_CURRENT\n" in out.stdout
