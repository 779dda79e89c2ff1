"""Offline, CPU, tiny-model test setup for the diffusers engine."""

from __future__ import annotations

import os

# Before torch/diffusers/transformers are imported anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

import torch  # noqa: E402 - a dependency of this plugin
# One intra-op thread by default: the tiny model gains little from more, and OpenMP
# spin-waiting makes timings erratic when other processes share the cores.
torch.set_num_threads(int(os.environ.get("SFUMATO_TEST_THREADS", "1")))

from _support import make_engine  # noqa: E402
from sfumato_diffusers.tiny import build_tiny_pipeline  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.torch)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("engine-cache"))


@pytest.fixture(scope="session")
def engine(cache_dir: str):
    """The embedded tiny-sd model, built once into the session's cache folder."""
    return make_engine("tiny-sd", cache_dir)


@pytest.fixture(scope="session")
def tiny_model_dir(engine, cache_dir: str) -> str:
    return os.path.join(cache_dir, "tiny-sd")


@pytest.fixture(scope="session")
def inpaint_engine(tmp_path_factory: pytest.TempPathFactory, cache_dir: str):
    folder = build_tiny_pipeline(tmp_path_factory.mktemp("inpaint") / "tiny-inpaint", seed=1, inpaint=True)
    return make_engine(str(folder), cache_dir)
