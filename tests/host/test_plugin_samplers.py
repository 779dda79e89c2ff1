"""Third-party plugin sets installed as real distributions: sampler checks, name clashes, owners.

Each plugin is written to a private folder with its own ``*.dist-info`` (METADATA and
entry_points.txt), so the host discovers it through the ``sfumato`` entry-point group with
a real distribution name, exactly as it would after ``pip install``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from sfumato.api.app import create_app
from sfumato.config import load_settings
from sfumato.plugins import PluginLoadError, load_plugins
from sfumato.testing import RunningServer, free_port, parse_stream, stop_process

BUILTINS = ["test_pattern", "adjustments"]

PACK = '''
from sfumato import hookimpl
from sfumato.records import SamplerSpec


def shade_good(image, rng, settings):
    return 1.0 - image


def shade_two_arguments(image, rng):
    return image


@hookimpl
def register_samplers(register):
    register(SamplerSpec(name="SAMPLER_PACK_GOOD", number=4100, engine_kind="test-pattern",
                         factory="pack_plugin:shade_good"))
    register(SamplerSpec(name="SAMPLER_PACK_BROKEN", number=4101, engine_kind="test-pattern",
                         factory="pack_broken:shade"))
    register(SamplerSpec(name="SAMPLER_PACK_WRONG_SHAPE", engine_kind="test-pattern",
                         factory=shade_two_arguments))
    register(SamplerSpec(name="SAMPLER_PACK_ORPHAN", engine_kind="not-installed-kind", factory="pack_plugin:shade_good"))
'''

# The sampler module imports a dependency nobody installed: the whole point of the test.
PACK_BROKEN = '''import a_dependency_that_is_not_installed


def shade(image, rng, settings):
    return image
'''

# Two third-party distributions registering the same names. The entry-point names run the
# other way round from the distribution names, so the rule (distribution name) is what decides.
CLASH = '''
from sfumato import hookimpl
from sfumato.records import AdjustmentSpec, EngineKind, SamplerSpec

import msgspec


class TintParams(msgspec.Struct):
    amount: float = 1.0


def shade(image, rng, settings):
    return image


@hookimpl
def register_engines(register):
    register(EngineKind(name="shared-kind", factory="nowhere:Engine", description="{label}"{owner}))


@hookimpl
def register_samplers(register):
    register(SamplerSpec(name="SAMPLER_SHARED", engine_kind="test-pattern", factory=shade, description="{label}"))
    register(SamplerSpec(name="SAMPLER_K_EULER", engine_kind="test-pattern", factory=shade))


@hookimpl
def register_adjustments(register):
    register(AdjustmentSpec(name="tint", params=TintParams, apply=lambda pixels, params: pixels, description="{label}"))
'''


def add_distribution(site: Path, distribution: str, entry_point: str, modules: dict[str, str]) -> None:
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{distribution.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    first = next(iter(modules))
    (info / "entry_points.txt").write_text(f"[sfumato]\n{entry_point} = {first}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in [m for m in sys.modules if m.startswith(("pack_", "clash_"))]:
        del sys.modules[name]


@pytest.fixture
def pack(site):
    add_distribution(site, "sfumato-sampler-pack", "pack", {"pack_plugin": PACK, "pack_broken": PACK_BROKEN})
    return site


@pytest.fixture
def clash(site):
    # "zeta-plugins" holds entry point "a_clash"; "alpha-plugins" holds "z_clash": alpha wins.
    add_distribution(site, "zeta-plugins", "a_clash",
                     {"clash_zeta": CLASH.format(label="zeta", owner=", owner='Zeta Labs'")})
    add_distribution(site, "alpha-plugins", "z_clash", {"clash_alpha": CLASH.format(label="alpha", owner="")})
    return site


def infos(plugins):
    return {info.name: info for info in plugins.infos}


def test_a_broken_sampler_is_refused_alone_and_reported_under_its_plugin(pack, caplog):
    caplog.set_level(logging.WARNING, logger="sfumato.plugins")
    plugins = load_plugins(only=[*BUILTINS, "pack"])
    samplers = plugins.samplers_for("test-pattern")
    assert set(samplers) == {"SAMPLER_K_EULER", "SAMPLER_K_EULER_ANCESTRAL", "SAMPLER_DDIM", "SAMPLER_PACK_GOOD"}
    assert callable(samplers["SAMPLER_PACK_GOOD"].factory)  # engines get resolved factories
    assert 4101 not in plugins.sampler_numbers()

    pack_info = infos(plugins)["pack"]
    assert pack_info.distribution == "sfumato-sampler-pack" and pack_info.error is None
    assert pack_info.samplers_by_kind == {"test-pattern": ["SAMPLER_PACK_GOOD"], "not-installed-kind": ["SAMPLER_PACK_ORPHAN"]}
    broken, wrong_shape = pack_info.problems
    assert broken.startswith("sampler 'SAMPLER_PACK_BROKEN' for engine kind 'test-pattern' refused")
    assert "ModuleNotFoundError: No module named 'a_dependency_that_is_not_installed'" in broken
    assert broken.endswith(f"(at {pack / 'pack_broken.py'}:1)")
    assert "cannot be called as shade(image: ndarray" in wrong_shape
    assert wrong_shape.split(" (at ")[0].endswith(": too many positional arguments")
    assert f"(at {pack / 'pack_plugin.py'}:" in wrong_shape
    (orphan,) = pack_info.warnings
    assert "'not-installed-kind', which no loaded plugin provides" in orphan
    assert [i.name for i in plugins.failures] == ["pack"]

    # One log line per failure (and per warning), naming the plugin and its distribution.
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert sum("SAMPLER_PACK_BROKEN" in line for line in lines) == 1
    assert all("plugin 'pack' (distribution sfumato-sampler-pack 1.0)" in line for line in lines)


def test_strict_mode_refuses_a_broken_sampler(pack):
    with pytest.raises(PluginLoadError, match="SAMPLER_PACK_BROKEN"):
        load_plugins(only=[*BUILTINS, "pack"], strict=True)


def test_only_the_kinds_asked_for_are_checked_at_load_and_the_rest_on_first_use(pack):
    plugins = load_plugins(only=[*BUILTINS, "pack"], sampler_kinds=[])
    assert not infos(plugins)["pack"].problems
    assert "SAMPLER_PACK_GOOD" in plugins.samplers_for("test-pattern")
    assert "SAMPLER_PACK_BROKEN" not in plugins.samplers_for("test-pattern")
    assert len(infos(plugins)["pack"].problems) == 2


def test_name_clashes_follow_first_party_then_distribution_name(clash, caplog):
    caplog.set_level(logging.WARNING, logger="sfumato.plugins")
    plugins = load_plugins(only=[*BUILTINS, "a_clash", "z_clash"])
    by_name = infos(plugins)
    # The order plugins load in is the rule: first-party, then by distribution name.
    assert [i.name for i in plugins.infos] == ["adjustments", "test_pattern", "z_clash", "a_clash"]
    assert plugins.engine_kinds["shared-kind"].description == "alpha"
    assert plugins.samplers_for("test-pattern")["SAMPLER_SHARED"].description == "alpha"
    assert plugins.adjustments["tint"].description == "alpha"
    # First-party keeps its names against any third party.
    assert plugins.samplers_for("test-pattern")["SAMPLER_K_EULER"].factory.__module__ == "sfumato.builtin.test_pattern_engine"

    alpha, zeta = by_name["z_clash"], by_name["a_clash"]
    assert alpha.engines == ["shared-kind"] and alpha.adjustments == ["tint"]
    assert alpha.samplers == ["SAMPLER_SHARED"] and zeta.engines == [] and zeta.samplers == []
    assert zeta.error is None  # refused records do not take the rest of the plugin down
    kind, shared, euler, tint = zeta.problems
    zeta_file = clash / "clash_zeta.py"
    for message, what in [(kind, "engine kind 'shared-kind'"), (shared, "sampler 'SAMPLER_SHARED'"),
                          (tint, "adjustment 'tint'")]:
        assert message.startswith(f"{what}")
        assert "already registered by plugin 'z_clash' (distribution alpha-plugins 1.0)" in message
        assert "precedence over plugin 'a_clash' (distribution zeta-plugins 1.0)" in message
        assert f"(at {clash / 'clash_alpha.py'}:" in message and f"(at {zeta_file}:" in message
    assert "this plugin's engine kind 'shared-kind' was refused" not in shared
    assert "already registered by plugin 'test_pattern' (distribution sfumato " in euler
    assert "importlib" not in " ".join(zeta.problems) and "pluggy" not in " ".join(zeta.problems)
    assert len([r for r in caplog.records if "a_clash" in r.getMessage()]) == 4


def test_a_refused_engine_kind_takes_its_samplers_for_that_kind_along(site):
    source = '''
    from sfumato import hookimpl
    from sfumato.records import EngineKind, SamplerSpec

    @hookimpl
    def register_engines(register):
        register(EngineKind(name="test-pattern", factory="nowhere:Engine"))

    @hookimpl
    def register_samplers(register):
        register(SamplerSpec(name="SAMPLER_MINE", engine_kind="test-pattern", factory="nowhere:build"))
    '''
    add_distribution(site, "copycat", "copycat", {"clash_copycat": source})
    plugins = load_plugins(only=[*BUILTINS, "copycat"])
    kind, sampler = infos(plugins)["copycat"].problems
    assert "already registered by plugin 'test_pattern' (distribution sfumato" in kind
    assert "this plugin's engine kind 'test-pattern' was refused" in sampler
    assert "SAMPLER_MINE" not in plugins.samplers_for("test-pattern")


def test_import_errors_point_into_the_plugins_own_file(site):
    add_distribution(site, "sfumato-crash", "crash", {"pack_crash": "import os\nraise RuntimeError('bad\\nstate')\n"})
    add_distribution(site, "sfumato-missing", "missing", {"pack_missing_stub": ""})
    entry_points = site / "sfumato_missing-1.0.dist-info" / "entry_points.txt"
    entry_points.write_text("[sfumato]\nmissing = pack_module_that_does_not_exist\n")
    plugins = load_plugins(only=["crash", "missing"])
    crash, missing = infos(plugins)["crash"], infos(plugins)["missing"]
    assert crash.error == f"RuntimeError: bad state (at {site / 'pack_crash.py'}:2)"
    assert missing.error == "ModuleNotFoundError: No module named 'pack_module_that_does_not_exist'"


def test_owner_is_the_distribution_unless_the_kind_sets_it(clash):
    plugins = load_plugins(only=[*BUILTINS, "a_clash", "z_clash"])
    assert plugins.engine_kinds["test-pattern"].owner == "sfumato"
    assert plugins.engine_kinds["shared-kind"].owner == "alpha-plugins"
    other = load_plugins(only=["a_clash"])
    assert other.engine_kinds["shared-kind"].owner == "Zeta Labs"


CONFIG = '''
[[engines]]
id = "tp"
kind = "test-pattern"
default_steps = 2
'''

REQUEST = {"engineId": "tp", "prompt": [{"text": "x"}],
           "image": {"width": "32", "height": "32", "seed": [7], "transform": {"diffusion": "SAMPLER_PACK_GOOD"}}}


def test_the_engine_and_the_good_sampler_serve(pack, tmp_path):
    config = tmp_path / "sfumato.toml"
    config.write_text(CONFIG)
    plugins = load_plugins(only=[*BUILTINS, "pack"], sampler_kinds=["test-pattern"])
    with TestClient(create_app(load_settings(config, environ={}), plugins)) as client:
        (engine,) = client.get("/grpcgateway/engines").json()["engine"]
        assert engine["owner"] == "sfumato"
        offered = {s.get("sampler", "SAMPLER_DDIM") for s in engine["supportedSamplers"]}
        assert "SAMPLER_PACK_GOOD" in offered and "SAMPLER_PACK_BROKEN" not in offered
        response = client.post("/grpcgateway/generate", json=REQUEST)
        assert response.status_code == 200, response.text
        answers, error = parse_stream(response.content)
        assert error is None and len(answers) == 1
        refused = client.post("/grpcgateway/generate",
                              json={**REQUEST, "image": {**REQUEST["image"], "transform": {"diffusion": "SAMPLER_PACK_BROKEN"}}})
        assert refused.status_code == 400
        report = client.get("/plugins").json()
        failures = [f for f in report["failures"] if f["name"] == "pack"]
        assert len(failures) == 2 and failures[0]["distribution"] == "sfumato-sampler-pack"
        assert "SAMPLER_PACK_BROKEN" in failures[0]["error"]


def _serve(site: Path, tmp_path: Path, plugins: list[str]) -> RunningServer:
    """``sfumato serve`` without --strict (start_server is always strict), with ``site`` installed."""
    port = free_port()
    config = tmp_path / "sfumato.toml"
    config.write_text(CONFIG)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), *sys.path]),
               SFUMATO_CACHE_DIR=str(tmp_path / "cache"))
    log_path = tmp_path / "server.log"
    command = [sys.executable, "-m", "sfumato", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--config", str(config), "--only-plugins", ",".join([*BUILTINS, *plugins])]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    server = RunningServer(f"http://127.0.0.1:{port}", process, log_path, None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, server.log()
        try:
            if httpx.get(server.url + "/readyz", timeout=2.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    stop_process(process)
    raise AssertionError(f"server did not become ready:\n{server.log()}")


def test_a_real_server_keeps_serving_next_to_a_broken_sampler_and_a_clash(pack, clash, tmp_path):
    server = _serve(pack, tmp_path, ["pack", "a_clash", "z_clash"])
    try:
        (answer,) = server.generate(REQUEST)
        assert answer["artifacts"][0]["seed"] == 7
        report = server.client().get("/plugins").json()
        by_name = {p["name"]: p for p in report["plugins"]}
        assert by_name["pack"]["samplers_by_kind"]["test-pattern"] == ["SAMPLER_PACK_GOOD"]
        assert any("SAMPLER_PACK_BROKEN" in p for p in by_name["pack"]["problems"])
        assert len(by_name["a_clash"]["problems"]) == 4
        log = server.log()
    finally:
        server.stop()
    # Each failure once in the log, each on its own line.
    assert log.count("SAMPLER_PACK_BROKEN") == 1
    assert log.count("engine kind 'shared-kind' refused") == 1


def test_sfumato_plugins_shows_target_kinds_and_failures(pack, clash):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(pack), *sys.path]))
    out = subprocess.run([sys.executable, "-m", "sfumato", "plugins", "--only-plugins", "test_pattern,pack,a_clash,z_clash"],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 1
    text = out.stdout
    assert "pack (sfumato-sampler-pack 1.0)" in text
    assert "    samplers for test-pattern: SAMPLER_PACK_GOOD\n" in text
    assert "    samplers for not-installed-kind: SAMPLER_PACK_ORPHAN\n" in text
    assert "    FAILED: sampler 'SAMPLER_PACK_BROKEN' for engine kind 'test-pattern' refused" in text
    assert "    warning: sampler 'SAMPLER_PACK_ORPHAN' is for engine kind 'not-installed-kind'" in text
    assert "    samplers for test-pattern: SAMPLER_K_EULER, SAMPLER_K_EULER_ANCESTRAL, SAMPLER_DDIM\n" in text
    # Logged once on stderr, listed once on stdout.
    assert out.stderr.count("SAMPLER_PACK_BROKEN") == 1


def test_a_kind_without_a_contract_takes_any_callable_but_not_other_objects():
    from sfumato.records import ANY_CALLABLE

    ANY_CALLABLE.verify(lambda config, services, extra: None)
    ANY_CALLABLE.verify(dict)
    with pytest.raises(TypeError, match="factory is a str, not a callable"):
        ANY_CALLABLE.verify("smooth")
