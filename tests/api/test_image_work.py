"""Image work under a bound: every intermediate image is checked before it exists, N hostile
requests at once stay within limits.image_work_bytes, and a chain stops when its client goes."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import socket
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from sfumato.testing import RequestBuilder, start_server
from tests.api.conftest import TEST_PATTERN_CONFIG
from tests.conftest import png_bytes

GEN = "/grpcgateway/generate"
TINY_RGBA = png_bytes(np.full((8, 8, 4), 200, dtype=np.uint8))
MIB = 1 << 20


def rescale(width: int, height: int) -> dict:
    return {"rescale": {"width": str(width), "height": str(height)}}


BLUR = {"blur": {"sigma": 8}}
LEVELS = {"levels": {"inputLow": 0.1, "inputHigh": 0.9, "outputHigh": 1}}


def bomb(side: int, *, as_mask: bool = False) -> dict:
    """The probe's request: a tiny image blown up by a rescale, then blurred and levelled."""
    chain = [rescale(side, side), BLUR, LEVELS]
    builder = RequestBuilder().prompt("bomb").size(64, 64)
    builder.init_image(TINY_RGBA, adjustments=chain)
    if as_mask:
        builder.mask(TINY_RGBA, adjustments=chain, post_adjustments=[BLUR])
    return builder.build()


@pytest.mark.parametrize(
    ("where", "make", "path"),
    [
        ("init image", lambda: bomb(16384), "prompt[1].artifact.adjustments[0].rescale"),
        ("mask", lambda: RequestBuilder().prompt("m").size(64, 64).init_image(TINY_RGBA)
         .mask(TINY_RGBA, adjustments=[rescale(4096, 8192)]).build(), "prompt[2].artifact.adjustments[0].rescale"),
        ("mask post adjustment", lambda: RequestBuilder().prompt("m").size(64, 64).init_image(TINY_RGBA)
         .mask(TINY_RGBA, post_adjustments=[rescale(5000, 16)]).build(), "prompt[2].artifact.postAdjustments[0].rescale"),
    ],
)
def test_an_adjustment_may_not_make_an_image_beyond_the_limit(server, where, make, path):
    began = time.monotonic()
    response = server.post(GEN, make())
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["code"] == 3
    for words in (path, "limits.max_input_pixels", "limits.max_input_side"):
        assert words in payload["message"], payload["message"]
    assert time.monotonic() - began < 2.0  # refused from shapes alone, nothing allocated


def _peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


BUDGET = 1024 * MIB
# The default input limits (4096² at most), which the shared test config narrows.
BUDGET_CONFIG = TEST_PATTERN_CONFIG.replace(
    "[limits]\n", f"[limits]\nimage_work_bytes = {BUDGET}\nimage_work_slots = 2\nimage_work_wait_seconds = 120\n"
).replace("max_input_pixels = 4194304", "max_input_pixels = 16777216")
# The interpreter's allocator and the thread pools keep some memory after the first request.
SLACK = 200 * MIB


@pytest.mark.slow
def test_concurrent_adjustment_bombs_stay_within_the_image_work_budget(tmp_path):
    """Six of the worst requests the limits allow, at once: 4096² RGBA images made from 8×8 ones.

    Each chain peaks at ~380 MiB (the blur's float32 copy) and each request runs two
    (init image and mask): unbounded, six at once need several GiB; within the 1 GiB
    budget they take turns.
    """
    server = start_server(tmp_path, config=BUDGET_CONFIG, plugins=["test_pattern"])
    try:
        assert len(server.generate(RequestBuilder().prompt("warm").size(64, 64).init_image(TINY_RGBA).build())) == 1
        baseline = _rss_bytes(server.process.pid)
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(lambda _: server.post(GEN, bomb(4096, as_mask=True), timeout=300), range(6)))
        assert [response.status_code for response in responses] == [200] * 6, [r.text[:300] for r in responses if r.status_code != 200]
        growth = _peak_rss_bytes(server.process.pid) - baseline
        assert growth < BUDGET + SLACK, f"peak grew by {growth / MIB:.0f} MiB; budget {BUDGET / MIB:.0f} MiB"
    finally:
        server.stop()


def test_a_request_larger_than_the_whole_budget_is_refused(tmp_path):
    config = TEST_PATTERN_CONFIG.replace("[limits]\n", "[limits]\nimage_work_bytes = 52428800\n")
    server = start_server(tmp_path, config=config, plugins=["test_pattern"])
    try:
        response = server.post(GEN, bomb(2048))  # ~96 MiB at the blur
        assert response.status_code == 400
        assert "limits.image_work_bytes" in response.json()["message"]
        assert len(server.generate(bomb(1024))) == 1
    finally:
        server.stop()


def _send_and_drop(url: str, body: dict) -> None:
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(
            b"POST /grpcgateway/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
        )
        time.sleep(0.5)  # the chain is running now


@pytest.mark.slow
def test_a_chain_stops_when_its_client_goes(tmp_path):
    """With one work slot, a long chain whose client left must free it within about one step."""
    config = TEST_PATTERN_CONFIG.replace("[limits]\n", "[limits]\nimage_work_slots = 1\nimage_work_wait_seconds = 120\n")
    server = start_server(tmp_path, config=config, plugins=["test_pattern"])
    try:
        step = [{"blur": {"sigma": 24, "direction": "DIRECTION_UP"}}]  # 256 blur rounds: a slow step
        long_chain = [rescale(2048, 2048)] + step * 30
        one_step = RequestBuilder().prompt("one").size(64, 64).init_image(TINY_RGBA, adjustments=[rescale(2048, 2048)] + step).build()
        server.generate(one_step)  # warm up the thread pools
        began = time.monotonic()
        server.generate(one_step)
        step_seconds = time.monotonic() - began
        _send_and_drop(server.url, RequestBuilder().prompt("long").size(64, 64).init_image(TINY_RGBA, adjustments=long_chain).build())
        began = time.monotonic()
        server.generate(one_step)
        waited = time.monotonic() - began
        # The long chain takes ~30 steps; once its client is gone it must stop at the next one.
        assert waited < 3 * step_seconds + 0.5, (waited, step_seconds)
    finally:
        server.stop()
