"""Tiny random-weight checkpoints built offline, and a real server with the upscaling engines."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import torch  # noqa: E402 - a dependency of this plugin

# One intra-op thread: the tiny networks gain little from more, and the cores are shared.
torch.set_num_threads(int(os.environ.get("SFUMATO_TEST_THREADS", "1")))

from sfumato.testing import RunningServer, start_server  # noqa: E402
from sfumato_upscale.tiny import realesrgan_state_dict, save_checkpoint  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.torch)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One ×4 network saved both ways (.pth with params_ema, .safetensors) and a ×2 network."""
    folder = tmp_path_factory.mktemp("checkpoints")
    x4 = realesrgan_state_dict(scale=4, seed=1)
    return {
        "x4_pth": save_checkpoint(x4, folder / "RealESRGAN_tiny_x4.pth"),
        "x4_safetensors": save_checkpoint(x4, folder / "RealESRGAN_tiny_x4.safetensors"),
        "x2_pth": save_checkpoint(realesrgan_state_dict(scale=2, seed=2), folder / "RealESRGAN_tiny_x2.pth"),
    }


def server_config(checkpoints: dict[str, Path]) -> str:
    return f"""
[server]
default_engine = "rgb"

[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[[engines]]
id = "rgb"
kind = "rgb-upscale"
[engines.limits]
max_width = 1024
max_height = 1024
max_pixels = 1048576

[[engines]]
id = "esrgan"
kind = "esrgan"
model = "{checkpoints['x4_pth']}"
[engines.options]
device = "cpu"
tile_size = 0

[[engines]]
id = "esrgan-tiled"
kind = "esrgan"
model = "{checkpoints['x4_safetensors']}"
[engines.options]
device = "cpu"
tile_size = 40
tile_overlap = 16

[[engines]]
id = "esrgan-x2"
kind = "esrgan"
model = "{checkpoints['x2_pth']}"
[engines.options]
device = "cpu"

[[engines]]
id = "pattern"
kind = "test-pattern"
"""


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, checkpoints: dict[str, Path]) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("upscale-server"), config=server_config(checkpoints),
        plugins=["upscale", "test_pattern"], env={"SFUMATO_IMAGE_THREADS": "1"},
    )
    yield running
    running.stop()
