"""Loading a model by hub id, offline, from a local Hugging Face cache holding the tiny model."""

from __future__ import annotations

import base64
import shutil

import numpy as np
import pytest

from sfumato.testing import RequestBuilder, start_server
from tests.conftest import decode_png

pytestmark = [pytest.mark.torch, pytest.mark.slow]  # each starts its own server and loads two models

CONFIG = """
[quotas]
requests_per_minute = 0

[[engines]]
id = "embedded"
kind = "diffusers"
model = "tiny-sd"
default_steps = 3

[[engines]]
id = "from-hub"
kind = "diffusers"
model = "sfumato-test/tiny-sd"
default_steps = 3
"""
REVISION = "0123456789abcdef0123456789abcdef01234567"


def hub_cache_with_tiny_model(root) -> str:
    """The layout huggingface_hub reads offline: refs/main names a snapshot folder holding the files."""
    from sfumato_diffusers.tiny import build_tiny_pipeline

    built = build_tiny_pipeline(root / "built" / "tiny-sd")
    repo = root / "hub" / "models--sfumato-test--tiny-sd"
    shutil.copytree(built, repo / "snapshots" / REVISION)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    return str(root / "hub")


def test_a_hub_id_loads_offline_from_the_local_cache(tmp_path):
    cache = hub_cache_with_tiny_model(tmp_path)
    server = start_server(tmp_path, config=CONFIG, plugins=["diffusers"],
                          env={"HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1"})
    try:
        def image(engine: str) -> np.ndarray:
            body = RequestBuilder().engine(engine).prompt("a red cat").size(64, 64).seeds(3).build()
            answer = server.generate(body)[0]
            return decode_png(base64.b64decode(answer["artifacts"][0]["binary"]))

        # The same seed-0 weights, reached through the hub cache and built in place.
        assert np.array_equal(image("from-hub"), image("embedded"))
    finally:
        server.stop()


def test_a_hub_id_missing_from_the_offline_cache_fails_to_load_with_a_clear_message(tmp_path):
    (tmp_path / "empty-hub").mkdir()
    config = CONFIG.replace("sfumato-test/tiny-sd", "sfumato-test/not-there")
    server = start_server(tmp_path, config=config, plugins=["diffusers"], wait_ready=False,
                          env={"HF_HUB_CACHE": str(tmp_path / "empty-hub"), "HF_HUB_OFFLINE": "1"})
    try:
        import time

        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            engines = httpx.post(server.url + "/grpcgateway/engines", json={}).json()
            log = server.log()
            if "not in the local Hugging Face cache" in log:
                break
            time.sleep(0.5)
        assert "not in the local Hugging Face cache" in server.log()
        assert any(engine["id"] == "embedded" for engine in engines["engine"])
    finally:
        server.stop()
