"""The diffusers plugin's tiny-sd engine through a real server: generation, LoRA, cross-request batching."""

from __future__ import annotations

import base64
import concurrent.futures
import time
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from sfumato.testing import RequestBuilder, RunningServer, start_server
from tests.conftest import decode_png

pytestmark = pytest.mark.torch

TINY_CONFIG = """
[quotas]
# These tests poll a loading server from one address for as long as loading takes.
requests_per_minute = 0

[jobs]
batch_window_ms = 30

[[engines]]
id = "tiny-sd"
kind = "diffusers"
model = "tiny-sd"
default_steps = 4
max_batch_size = 4
# Byte-identical results however requests are batched (the default "batched" mode may move a value by 1).
options = { batch_mode = "sequential" }
[engines.limits]
max_width = 256
max_height = 256
max_pixels = 65536
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    folder = tmp_path_factory.mktemp("tiny")
    server = start_server(folder, config=TINY_CONFIG, plugins=["diffusers"])
    yield server, folder / "cache" / "tiny-sd"
    server.stop()


def png(answer: dict) -> bytes:
    return base64.b64decode(answer["artifacts"][0]["binary"])


def body(prompt: str, seed: int) -> dict:
    return RequestBuilder().prompt(prompt).size(64, 64).seeds(seed).steps(4).cfg_scale(6.0).build()


def test_tiny_sd_generates_deterministically(tiny):
    server, _ = tiny
    first = server.generate(body("a red cat", 3))[0]
    again = server.generate(body("a red cat", 3))[0]
    other = server.generate(body("a red cat", 4))[0]
    assert first["meta"]["engineId"] == "tiny-sd"
    assert png(first) == png(again) and png(first) != png(other)


def test_concurrent_requests_are_batched_and_identical_to_single_runs(tiny):
    server, _ = tiny
    requests = [body(f"prompt number {n}", 100 + n) for n in range(6)]
    alone = [png(server.generate(request)[0]) for request in requests]

    def batch_count() -> tuple[float, float]:
        text = httpx.get(server.url + "/metrics").text
        total = float(re.search(r'sfumato_batch_size_sum\{engine="tiny-sd"\} (\S+)', text).group(1))
        count = float(re.search(r'sfumato_batch_size_count\{engine="tiny-sd"\} (\S+)', text).group(1))
        return total, count

    images_before, batches_before = batch_count()
    blocker = RequestBuilder().prompt("warm").size(64, 64).seeds(1).steps(40).build()
    with concurrent.futures.ThreadPoolExecutor(7) as pool:
        busy = pool.submit(server.generate, blocker)  # keeps the worker busy so the rest queue up
        together = list(pool.map(lambda request: png(server.generate(request)[0]), requests))
        busy.result()
    images_after, batches_after = batch_count()
    assert together == alone
    images, batches = images_after - images_before, batches_after - batches_before
    assert images == 7 and batches < images, f"{images} images in {batches} batches: nothing was batched"


def test_lora_per_request(tiny):
    server, model_path = tiny
    from sfumato_diffusers.tiny import make_tiny_lora

    lora = make_tiny_lora(model_path, layout="kohya", seed=1, scale=2.0)
    base = png(server.generate(body("a lora cat", 9))[0])
    zero = RequestBuilder().prompt("a lora cat").size(64, 64).seeds(9).steps(4).cfg_scale(6.0).lora(lora, 0.0).build()
    full = RequestBuilder().prompt("a lora cat").size(64, 64).seeds(9).steps(4).cfg_scale(6.0).lora(lora, 1.0).build()
    # compare pixels: the PNG text chunk records the LoRA, so the files differ anyway
    assert np.array_equal(decode_png(png(server.generate(zero)[0])), decode_png(base))
    assert not np.array_equal(decode_png(png(server.generate(full)[0])), decode_png(base))
    assert png(server.generate(body("a lora cat", 9))[0]) == base  # the adapter was removed afterwards


def test_bad_lora_is_a_clear_400(tiny):
    server, _ = tiny
    from safetensors.numpy import save

    junk = save({"lora_unet_nothing_here.lora_down.weight": np.zeros((2, 3), dtype=np.float32)})
    request = RequestBuilder().prompt("x").size(64, 64).seeds(1).steps(2).lora(junk).build()
    response = server.post("/grpcgateway/generate", request)
    assert response.status_code == 400 and response.json()["code"] == 3
    assert "LoRA" in response.json()["message"]
    assert len(server.generate(body("still fine", 1))) == 1


def test_list_engines_reports_loading_truthfully(tmp_path):
    server = start_server(tmp_path, config=TINY_CONFIG, plugins=["diffusers"], wait_ready=False,
                          env={"SFUMATO_CACHE_DIR": str(tmp_path / "fresh-cache")})
    try:
        seen, ready_codes = [], []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            engines = httpx.get(server.url + "/grpcgateway/engines").json()["engine"]
            seen.append(engines[0]["ready"] if engines[0].get("ready") else False)
            ready_codes.append(httpx.get(server.url + "/readyz").status_code)
            if seen[-1]:
                break
            time.sleep(0.05)
        # the server answers while the model loads (torch import, building tiny-sd), then flips to ready
        assert seen[0] is False and seen[-1] is True
        assert ready_codes[0] == 503 and ready_codes[-1] == 200
        assert len(server.generate(body("after loading", 1))) == 1
    finally:
        server.stop()


def test_an_engine_that_fails_to_load_is_reported_and_the_rest_still_serve(tmp_path):
    config = TINY_CONFIG.replace('model = "tiny-sd"', 'model = "/nonexistent/model/folder"') + """
[[engines]]
id = "test-pattern"
kind = "test-pattern"
"""
    server = start_server(tmp_path, config=config, plugins=["diffusers", "test_pattern"], wait_ready=False)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            report = {e["id"]: e for e in httpx.get(server.url + "/plugins").json()["engines"]}
            if report["tiny-sd"]["error"]:
                break
            time.sleep(0.1)
        assert "/nonexistent/model/folder" in report["tiny-sd"]["error"]
        assert httpx.get(server.url + "/readyz").status_code == 503
        refused = server.post("/grpcgateway/generate", body("x", 1))
        assert refused.status_code == 503 and refused.json()["code"] == 14
        assert "failed to load" in refused.json()["message"]
        working = RequestBuilder().engine("test-pattern").prompt("ok").size(16, 16).build()
        assert len(server.generate(working)) == 1
    finally:
        server.stop()
