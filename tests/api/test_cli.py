"""The ``sfumato`` command line against a real server."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "sfumato", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_generate_writes_pngs_and_shows_progress(server, tmp_path):
    output = tmp_path / "out.png"
    result = run_cli("generate", "a red fox", "-o", str(output), "--server", server.url, "--seed", "7",
                     "--width", "64", "--height", "32", "--samples", "2", "--steps", "3")
    first, second = tmp_path / "out-0.png", tmp_path / "out-1.png"
    assert first.exists() and second.exists()
    assert np.asarray(Image.open(first)).shape == (32, 64, 3)
    assert "2/2 images" in result.stderr and "seed 8" in result.stderr


def test_generate_reports_api_errors(server, tmp_path):
    result = run_cli("generate", "x", "-o", str(tmp_path / "x.png"), "--server", server.url, "--steps", "0", check=False)
    assert result.returncode == 1 and "image.steps" in result.stderr and "HTTP 400" in result.stderr


def test_generate_without_a_server_is_a_clear_error(tmp_path):
    result = run_cli("generate", "x", "--server", "http://127.0.0.1:9", check=False)
    assert result.returncode == 1 and "cannot reach the server" in result.stderr


def test_engines_and_plugins_commands(server):
    remote = run_cli("engines", "--server", server.url).stdout
    assert "test-pattern" in remote and "ready" in remote and "SAMPLER_K_EULER" in remote
    plugins = run_cli("plugins", "--only-plugins", "test_pattern").stdout
    assert "test_pattern (sfumato" in plugins and "engines: test-pattern" in plugins
    local = run_cli("engines").stdout
    assert "test-pattern" in local and "tiny-sd" in local


def test_serve_refuses_a_bad_config(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 'nope'\n")
    result = run_cli("serve", "--config", str(bad), check=False)
    assert result.returncode == 2 and "port" in result.stderr and "Traceback" not in result.stderr


def test_generate_with_init_image_and_mask(server, tmp_path):
    init = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    Image.fromarray(init).save(tmp_path / "init.png")
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(tmp_path / "mask.png")
    output = tmp_path / "edited.png"
    run_cli("generate", "keep it", "-o", str(output), "--server", server.url, "--init-image", str(tmp_path / "init.png"),
            "--mask", str(tmp_path / "mask.png"), "--strength", "1.0")
    assert np.array_equal(np.asarray(Image.open(output)), init)  # an all-black mask keeps the init image
    missing = run_cli("generate", "x", "--server", server.url, "--init-image", str(tmp_path / "nope.png"), check=False)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_version_names_the_plugin_api():
    import sfumato

    result = run_cli("--version")
    assert result.stdout.strip() == f"sfumato {sfumato.__version__} (plugin API {sfumato.PLUGIN_API_VERSION})"


def test_help_does_not_import_torch():
    code = ("import sys\nfrom sfumato.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("[]")
