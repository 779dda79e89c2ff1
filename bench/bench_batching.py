"""Cross-request batching on tiny-sd: 8 concurrent Generate requests (64×64, 4 steps).

Same server stack twice in one run: max_batch_size 8 vs 1. Target (issue: scheduling):
throughput with batching ≥ 2.5× batch size 1. Also reports the HTTP path against the
same diffusers pipeline called directly in-process (target ≤ 1.10×) and peak RSS.
Run: ``python bench/bench_batching.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_load import run_load  # noqa: E402
from sfumato.testing import RequestBuilder, start_server  # noqa: E402

CONFIG = """
# One client sends everything here: per-client quotas would throttle the measurement.
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[jobs]
batch_window_ms = {window}
queue_size = 64
[[engines]]
id = "tiny-sd"
kind = "diffusers"
model = "tiny-sd"
max_batch_size = {batch}
options = {{ batch_mode = "{mode}" }}
"""


def body(n: int) -> dict:
    return RequestBuilder().prompt(f"prompt {n % 5}").size(64, 64).seeds(n).steps(4).cfg_scale(6.0).build()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(batch: int, cache: str, mode: str = "sequential", requests: int = 96) -> tuple[float, float, float, float]:
    counter = iter(range(1 << 30))

    def call(client: httpx.Client) -> str:
        response = client.post("/grpcgateway/generate", json=body(next(counter)))
        return "ok" if response.status_code == 200 else str(response.status_code)

    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), config=CONFIG.format(batch=batch, window=5 if batch > 1 else 0, mode=mode),
                              plugins=["diffusers"], env={"SFUMATO_CACHE_DIR": cache})
        try:
            run_load(server.url, call, concurrency=8, requests=16)  # warm-up
            result = run_load(server.url, call, concurrency=8, requests=requests)
            assert set(result.outcomes) == {"ok"}, result.outcomes
            single = run_load(server.url, call, concurrency=1, requests=24)
            return result.rate, result.p50, result.p99, single.p50 if batch == 1 else rss_mib(server.process.pid)
        finally:
            server.stop()


def direct_pipeline_seconds(cache: str, repeats: int = 24) -> float:
    """The same tiny pipeline called directly, same parameters (the in-process peer)."""
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(Path(cache) / "tiny-sd", local_files_only=True, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    times = []
    for n in range(repeats + 3):
        began = time.perf_counter()
        pipe(f"prompt {n % 5}", height=64, width=64, num_inference_steps=4, guidance_scale=6.0,
             generator=torch.Generator().manual_seed(n), output_type="np")
        times.append(time.perf_counter() - began)
    times = sorted(times[3:])
    return times[len(times) // 2]


def main() -> None:
    cache = os.environ.get("SFUMATO_CACHE_DIR") or tempfile.mkdtemp(prefix="sfumato-bench-")
    batched = measure(8, cache, "batched")
    sequential = measure(8, cache, "sequential")
    unbatched = measure(1, cache)
    print(f"{'8 concurrent clients, tiny-sd 64², 4 steps':<52}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for name, result in (("max_batch_size 8, batch_mode batched (one call)", batched),
                         ("max_batch_size 8, batch_mode sequential", sequential),
                         ("max_batch_size 1", unbatched)):
        print(f"{name:<52}{result[0]:>8.1f}{result[1] * 1000:>9.1f}{result[2] * 1000:>9.1f}")
    print(f"throughput ratio batched / batch size 1 = {batched[0] / unbatched[0]:.2f}× (target ≥ 2.5×); "
          f"sequential-mode batches: {sequential[0] / unbatched[0]:.2f}×")
    direct = direct_pipeline_seconds(cache)
    print(f"single request over HTTP p50 {unbatched[3] * 1000:.1f} ms vs direct pipeline call {direct * 1000:.1f} ms "
          f"= {unbatched[3] / direct:.2f}× (target ≤ 1.10×)")
    print(f"server peak RSS (batched run): {batched[3]:.0f} MiB")


if __name__ == "__main__":
    main()
