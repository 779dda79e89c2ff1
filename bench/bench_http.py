"""Generate on test-pattern at 512×512 vs the same server's trivial JSON route (the framework floor).

Target (issue: host): a Generate request's latency minus the engine's and the PNG
encoder's own time ≤ 2× the trivial route's latency. Run: ``make bench`` or
``python bench/bench_http.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_load import run_load  # noqa: E402
from sfumato.builtin.test_pattern_engine import render  # noqa: E402
from sfumato.images import encode_png  # noqa: E402
from sfumato.jobs.job import GenerationJob, ImageTask, SamplerSettings, WeightedText  # noqa: E402
from sfumato.testing import RequestBuilder, start_server  # noqa: E402
from tests.api.conftest import TEST_PATTERN_CONFIG  # noqa: E402

BODY = RequestBuilder().prompt("benchmark").size(512, 512).seeds(1).steps(1).build()


def engine_and_png_seconds(repeats: int = 30) -> float:
    job = GenerationJob(request_id="b", engine_id="test-pattern", width=512, height=512, seeds=[1], steps=1,
                        sampler=SamplerSettings("SAMPLER_K_EULER"), prompt=[WeightedText("benchmark")])
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        encode_png(render(ImageTask(job, 0, 1)), text={"sfumato": "{}"})
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def generate(client: httpx.Client) -> str:
    response = client.post("/grpcgateway/generate", json=BODY)
    return "ok" if response.status_code == 200 and response.content.startswith(b'{"result"') else str(response.status_code)


def trivial(client: httpx.Client) -> str:
    return "ok" if client.get("/healthz").status_code == 200 else "error"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), config=TEST_PATTERN_CONFIG.replace("queue_size = 6", "queue_size = 64"),
                              plugins=["test_pattern"])
        try:
            run_load(server.url, generate, concurrency=2, requests=10)  # warm-up
            own = engine_and_png_seconds()
            print(f"engine + PNG encode (in-process, 512²): {own * 1000:.2f} ms")
            print(f"{'case':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
            for concurrency in (1, 16):
                floor = run_load(server.url, trivial, concurrency=concurrency, requests=400)
                gen = run_load(server.url, generate, concurrency=concurrency, requests=120)
                assert set(gen.outcomes) == {"ok"}, gen.outcomes
                for name, result in ((f"trivial route, c={concurrency}", floor), (f"Generate 512², c={concurrency}", gen)):
                    print(f"{name:<34}{result.rate:>9.1f}{result.p50 * 1000:>9.2f}{result.p99 * 1000:>9.2f}")
                if concurrency == 1:
                    overhead = gen.p50 - own
                    print(f"  Generate overhead (p50 − engine − PNG) = {overhead * 1000:.2f} ms = "
                          f"{overhead / floor.p50:.2f}× the trivial route (target ≤ 2×)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
