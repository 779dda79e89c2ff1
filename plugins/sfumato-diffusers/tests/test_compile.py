"""options.compile on CPU with inductor (gcc): the compiled engine's images match eager, the
warm-up compiles at load so the first request compiles nothing, the on-disk cache under the
server's cache dir is reused by a fresh process, and a missing C++ compiler falls back to eager.

Each case runs tiny-sd in fresh processes (tests/compile_probe.py); a cold compile of the tiny
UNet takes minutes on a small shared CPU, hence slow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _support import make_engine, one
from sfumato.jobs.job import LoraInput
from sfumato.testing import missing_component

from sfumato_diffusers.acceleration import COMPILE_CACHE_FOLDER
from sfumato_diffusers.tiny import make_tiny_lora

pytestmark = pytest.mark.slow
if shutil.which(os.environ.get("CXX", "g++")) is None:
    missing_component("torch.compile's inductor needs a C++ compiler (g++; Debian: build-essential)")
TESTS = Path(__file__).parent
# Compiled kernels reorder float32 sums (fused ops, vectorised reductions).
COMPILED_LEVELS = 1


def _probe(cache_dir: Path, options: dict, **env: str) -> tuple[dict, dict]:
    out = cache_dir / "probe.npz"
    environ = {key: value for key, value in os.environ.items() if key != "TORCHINDUCTOR_CACHE_DIR"}
    src = str(TESTS.parent / "src")
    environ["PYTHONPATH"] = os.pathsep.join([src, environ.get("PYTHONPATH", "")])
    environ.update(env)
    done = subprocess.run(
        [sys.executable, str(TESTS / "compile_probe.py"), str(cache_dir), str(out), json.dumps(options)],
        cwd=TESTS, env=environ, capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["log"] = done.stderr
    with np.load(out) as images:
        return report, {name: images[name] for name in images.files}


def _max_levels(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def test_compiled_unet_matches_eager_warms_up_at_load_and_reuses_its_cache(tmp_path, cache_dir):
    eager = make_engine("tiny-sd", cache_dir)
    data = make_tiny_lora(os.path.join(cache_dir, "tiny-sd"), "peft", seed=5)
    lora = LoraInput(weight=1.0, safetensors=data, key=LoraInput.content_key(data))
    plain, styled = one(eager), one(eager, loras=[lora])

    cold, images = _probe(tmp_path, {"compile": "unet"})
    assert cold["compiled"], cold["log"]
    assert any(line.startswith("compile warm-up 64×64") for line in cold["load_report"])
    # the warm-up compiled at load; the first request found its graphs ready
    assert cold["graphs_after_load"] > 0
    assert cold["graphs_after_first_request"] == cold["graphs_after_load"]
    assert _max_levels(images["plain"], plain) <= COMPILED_LEVELS
    assert _max_levels(images["styled"], styled) <= COMPILED_LEVELS  # LoRA on a compiled UNet
    cache = tmp_path / COMPILE_CACHE_FOLDER
    assert any((cache / "fxgraph").rglob("*")), "inductor's FX graph cache is empty"

    warm, again = _probe(tmp_path, {"compile": "unet"})
    assert np.array_equal(again["plain"], images["plain"])
    print(f"\ntiny-sd compile=unet load on CPU: cold {cold['load_s']:.1f} s, warm cache {warm['load_s']:.1f} s "
          f"({cold['load_s'] / warm['load_s']:.1f}×); first request {warm['first_request_s'] * 1000:.0f} ms, "
          f"second {warm['second_request_s'] * 1000:.0f} ms")
    assert warm["load_s"] < cold["load_s"] / 2


def test_a_missing_cxx_compiler_falls_back_to_eager(tmp_path, cache_dir):
    plain = one(make_engine("tiny-sd", cache_dir))
    report, images = _probe(tmp_path, {"compile": "unet"}, CXX=str(tmp_path / "no-such-g++"))
    assert not report["compiled"]
    assert "torch.compile failed, running without it" in report["log"]
    assert "C++ compiler" in report["log"]
    assert np.array_equal(images["plain"], plain)
