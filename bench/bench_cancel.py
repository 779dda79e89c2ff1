"""Cancel latency on tiny-sd: a running job must stop within one sampler step of AsyncCancel.

Measures how long after AsyncCancel the engine's worker is free again (a 1-step job
queued right behind the cancelled one finishes), minus that job's own time, and compares
it with the duration of one sampler step. Run: ``python bench/bench_cancel.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sfumato.testing import RequestBuilder, start_server  # noqa: E402

CONFIG = """
[[engines]]
id = "tiny-sd"
kind = "diffusers"
model = "tiny-sd"
[engines.limits]
max_steps = 1000
"""
LONG_STEPS = 400


def timed_generate(client: httpx.Client, steps: int, seed: int) -> float:
    began = time.perf_counter()
    response = client.post("/grpcgateway/generate", json=RequestBuilder().prompt("c").size(64, 64).seeds(seed).steps(steps).build())
    assert response.status_code == 200, response.text
    return time.perf_counter() - began


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), config=CONFIG, plugins=["diffusers"])
        try:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                timed_generate(client, 1, 0)
                one_step_job = statistics.median(timed_generate(client, 1, n) for n in range(5))
                long_job = timed_generate(client, LONG_STEPS, 1)
                step = (long_job - one_step_job) / (LONG_STEPS - 1)
                latencies = []
                for n in range(5):
                    body = RequestBuilder().prompt("long").size(64, 64).seeds(n).steps(LONG_STEPS).build()
                    handle = client.post("/grpcgateway/asyncGenerate", json=body).json()
                    time.sleep(0.5)
                    began = time.perf_counter()
                    assert client.post("/grpcgateway/asyncCancel", json=handle).status_code == 200
                    timed_generate(client, 1, 100 + n)
                    latencies.append(time.perf_counter() - began - one_step_job)
        finally:
            server.stop()
    worst = max(latencies)
    print(f"one sampler step: {step * 1000:.1f} ms; 1-step job end to end: {one_step_job * 1000:.1f} ms")
    print(f"cancel → worker free: median {statistics.median(latencies) * 1000:.1f} ms, worst {worst * 1000:.1f} ms "
          f"= {worst / step:.2f} steps (target ≤ 1 step)")


if __name__ == "__main__":
    main()
