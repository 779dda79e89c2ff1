"""The sfumato-samplers-extra distribution: visible only once installed, and its samplers work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _support import one
from sfumato.jobs.job import SamplerSettings

EXTRA_DIST = Path(__file__).resolve().parents[2] / "sfumato-samplers-extra"
EXTRA_NAMES = {"SAMPLER_UNIPC", "SAMPLER_DEIS", "SAMPLER_LCM", "SAMPLER_TCD", "SAMPLER_DPMPP_2M_SDE"}

_PROBE = """
import json, importlib.metadata as md
from sfumato.plugins import load_plugins
names = sorted(ep.name for ep in md.entry_points(group="sfumato"))
# Strict for our own plugins; other first-party plugins are not this test's concern.
plugins = load_plugins(strict=True, only=[n for n in ("diffusers", "samplers_extra") if n in names])
print(json.dumps({"entry_points": names, "samplers": sorted(plugins.samplers_for("diffusers"))}))
"""


@pytest.fixture(scope="session")
def extra_install_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real ``pip install`` of the extra distribution into a private folder, once per session."""
    target = tmp_path_factory.mktemp("extra-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(EXTRA_DIST)],
        check=True,
        capture_output=True,
        text=True,
    )
    return str(target)


def _probe(extra_path: str | None) -> dict:
    env = dict(os.environ)
    paths = [p for p in (extra_path, *sys.path) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_extra_samplers_appear_only_once_installed(extra_install_dir):
    without = _probe(None)
    assert "samplers_extra" not in without["entry_points"]
    assert not EXTRA_NAMES & set(without["samplers"])
    assert "SAMPLER_K_EULER" in without["samplers"]

    installed = _probe(extra_install_dir)
    assert "samplers_extra" in installed["entry_points"]
    assert EXTRA_NAMES <= set(installed["samplers"])
    assert "SAMPLER_K_EULER" in installed["samplers"]


@pytest.fixture(scope="module")
def extra_specs(extra_install_dir):
    sys.path.insert(0, extra_install_dir)
    try:
        from sfumato_samplers_extra.plugin import SAMPLERS
    finally:
        sys.path.remove(extra_install_dir)
    return {spec.name: spec for spec in SAMPLERS}


@pytest.fixture(scope="module")
def extra_engine(extra_specs, tiny_model_dir, cache_dir):
    from sfumato.engines import EngineConfig, EngineServices

    from _support import SAMPLER_SPECS
    from sfumato_diffusers.engine import DiffusersEngine

    engine = DiffusersEngine(
        EngineConfig(id="extra", kind="diffusers", model=tiny_model_dir),
        EngineServices(samplers={**SAMPLER_SPECS, **extra_specs}, cache_dir=cache_dir),
    )
    engine.load(lambda line: None)
    return engine


FLAG_VALUES = {
    "supports_eta": ({"eta": 0.1}, {"eta": 0.9}),
    "supports_sigma_limits": ({"sigma_min": 0.1, "sigma_max": 10.0}, {"sigma_min": 0.5, "sigma_max": 4.0}),
    "supports_karras_rho": ({"karras_rho": 3.0}, {"karras_rho": 9.0}),
    "supports_churn": ({"churn": 0.0}, {"churn": 2.0}),
}


@pytest.mark.parametrize("name", sorted(EXTRA_NAMES))
def test_extra_samplers_run_with_honest_flags(extra_engine, extra_specs, name):
    assert name in extra_engine.describe().samplers
    image = one(extra_engine, sampler=SamplerSettings(name, cfg_scale=6.0))
    assert image.std() > 1.0
    for flag, (first, second) in FLAG_VALUES.items():
        a = one(extra_engine, check=False, sampler=SamplerSettings(name, cfg_scale=6.0, **first))
        b = one(extra_engine, check=False, sampler=SamplerSettings(name, cfg_scale=6.0, **second))
        assert (not np.array_equal(a, b)) == getattr(extra_specs[name], flag), (name, flag)
