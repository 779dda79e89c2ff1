"""REST v1 vs /grpcgateway on test-pattern: the same requests, interleaved, on one server.

Text-to-image at 512² and image-to-image with a 512² init PNG (multipart file part vs
base64 in JSON). Reports the median and p90 of each and the ratio REST / grpcgateway.
Run: ``python bench/bench_rest_v1.py [repeats]``.
"""

from __future__ import annotations

import base64
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sfumato.testing import start_server  # noqa: E402

CONFIG = """
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[grpc]
enabled = false
web_enabled = false

[[engines]]
id = "test-pattern"
kind = "test-pattern"
"""


def init_png() -> bytes:
    pixels = np.random.default_rng(1).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def cases(init: bytes) -> dict[str, tuple[Callable[[httpx.Client], httpx.Response], Callable[[httpx.Client], httpx.Response]]]:
    wire_init = {"artifact": {"type": "ARTIFACT_IMAGE", "binary": base64.b64encode(init).decode()}}
    return {
        "text-to-image 512²": (
            lambda c: c.post("/v1/generation/test-pattern/text-to-image", json={
                "text_prompts": [{"text": "bench"}], "seed": 1, "steps": 10, "width": 512, "height": 512}),
            lambda c: c.post("/grpcgateway/generate", json={
                "engineId": "test-pattern", "prompt": [{"text": "bench"}],
                "image": {"width": "512", "height": "512", "seed": [1], "samples": "1", "steps": "10",
                          "parameters": [{"sampler": {"cfgScale": 7}}]}}),
        ),
        f"image-to-image, {len(init) // 1024} KiB init PNG": (
            lambda c: c.post("/v1/generation/test-pattern/image-to-image", files={"init_image": init},
                             data={"text_prompts[0][text]": "bench", "seed": 1, "steps": 10}),
            lambda c: c.post("/grpcgateway/generate", json={
                "engineId": "test-pattern", "prompt": [{"text": "bench"}, wire_init],
                "image": {"seed": [1], "samples": "1", "steps": "10",
                          "parameters": [{"sampler": {"cfgScale": 7}, "schedule": {"start": 0.65}}]}}),
        ),
    }


def timed(call: Callable[[httpx.Client], httpx.Response], client: httpx.Client) -> float:
    began = time.perf_counter()
    response = call(client)
    elapsed = time.perf_counter() - began
    assert response.status_code == 200, response.text[:300]
    return elapsed


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main(repeats: int = 40) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), config=CONFIG, plugins=["test_pattern"], test_controls=False)
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for name, (rest, gateway) in cases(init_png()).items():
                    for _ in range(3):  # warm-up
                        timed(rest, client), timed(gateway, client)
                    rest_times, gateway_times = [], []
                    for _ in range(repeats):  # interleaved, so drift affects both alike
                        rest_times.append(timed(rest, client))
                        gateway_times.append(timed(gateway, client))
                    rest_median, gateway_median = statistics.median(rest_times), statistics.median(gateway_times)
                    print(f"{name}: REST v1 median {rest_median * 1000:.1f} ms (p90 {p90(rest_times) * 1000:.1f}), "
                          f"/grpcgateway median {gateway_median * 1000:.1f} ms (p90 {p90(gateway_times) * 1000:.1f}); "
                          f"REST / grpcgateway = {rest_median / gateway_median:.2f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
