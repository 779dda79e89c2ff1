"""Cross-request batching on tiny-sd: 8 concurrent Generate requests (64×64, 4 steps).

Three servers side by side, measured in interleaved rounds (medians and spread over
rounds, so load from other processes hits every case alike):
  * the default configuration (max_batch_size 8, batch_mode left at its default),
  * batch_mode "sequential" (byte-identical results, one pipeline call per image),
  * max_batch_size 1.
Targets (issue 17): default-config throughput ≥ 2.5× batch size 1; one request over HTTP
≤ 1.10× the same diffusers pipeline called directly in this process (same parameters).
Run: ``python bench/bench_batching.py [--rounds N] [--direct-only] [--check]`` (``--check``: exit 1
when a median misses its target, as a regression check).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_load import run_load  # noqa: E402
from sfumato.testing import RequestBuilder, RunningServer, start_server  # noqa: E402

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
{options}
"""

CASES = {
    "max_batch_size 8, default batch_mode": dict(batch=8, window=5, options=""),
    "max_batch_size 8, batch_mode sequential": dict(batch=8, window=5, options='options = { batch_mode = "sequential" }'),
    "max_batch_size 1": dict(batch=1, window=0, options=""),
}


# Every request's prompt is new (the server keeps prompt encodings: a resent prompt would skip the
# text encoder, which the direct call never does); the empty negative prompt is reused, as in use.
_PROMPTS = itertools.count()


def body(n: int) -> dict:
    return RequestBuilder().prompt(f"prompt {next(_PROMPTS)}").size(64, 64).seeds(n).steps(4).cfg_scale(6.0).build()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def caller():
    counter = iter(range(1 << 30))

    def call(client: httpx.Client) -> str:
        response = client.post("/grpcgateway/generate", json=body(next(counter)))
        return "ok" if response.status_code == 200 else str(response.status_code)

    return call


def direct_pipeline(cache: str):
    """The same tiny pipeline called directly in this process, same parameters (the peer)."""
    import torch
    from diffusers import StableDiffusionPipeline
    from sfumato_diffusers.threads import apply_thread_settings

    # The thread pools the engine gives torch inside the server (options.cpu_threads auto): on a
    # busy machine two OpenMP threads wait on each other's time slices, so a peer with torch's
    # default pool is far slower than the server, not faster.
    apply_thread_settings(0, torch.device("cpu"))
    pipe = StableDiffusionPipeline.from_pretrained(Path(cache) / "tiny-sd", local_files_only=True, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)

    def seconds(repeats: int) -> float:
        times = []
        for n in range(repeats):
            began = time.perf_counter()
            pipe(f"prompt {n % 5}", height=64, width=64, num_inference_steps=4, guidance_scale=6.0,
                 generator=torch.Generator().manual_seed(n), output_type="np")
            times.append(time.perf_counter() - began)
        return statistics.median(times)

    seconds(3)  # warm-up
    return seconds


def http_over_direct(url: str, direct, calls: int) -> float:
    """Median HTTP latency over median direct-call time, the two alternating call by call
    so that a shared machine's drift falls on both alike."""
    http_times, direct_times = [], []
    call = caller()
    with httpx.Client(base_url=url, timeout=120.0) as client:
        for _ in range(calls):
            began = time.perf_counter()
            assert call(client) == "ok"
            http_times.append(time.perf_counter() - began)
            direct_times.append(direct(1))
    return statistics.median(http_times) / statistics.median(direct_times)


HTTP_OVER_DIRECT_LIMIT = 1.10
BATCHING_GAIN_TARGET = 2.5


def finish(missed: list[str], check: bool) -> None:
    for line in missed:
        print(f"MISSED: {line}")
    if check and missed:
        sys.exit(1)


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}× (min {min(values):.2f}, max {max(values):.2f}, {len(values)} rounds)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=48, help="requests per case per round")
    parser.add_argument("--direct-only", action="store_true", help="only the HTTP vs direct-call comparison")
    parser.add_argument("--check", action="store_true", help="exit 1 when a median misses its target")
    arguments = parser.parse_args()
    missed: list[str] = []
    if arguments.direct_only:
        for name in list(CASES)[:2]:
            del CASES[name]
    cache = os.environ.get("SFUMATO_CACHE_DIR") or tempfile.mkdtemp(prefix="sfumato-bench-")
    servers: dict[str, RunningServer] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for position, (name, case) in enumerate(CASES.items()):
                folder = Path(tmp) / str(position)
                folder.mkdir()
                servers[name] = start_server(folder, config=CONFIG.format(**case), plugins=["diffusers"],
                                             env={"SFUMATO_CACHE_DIR": cache}, timeout=600)
                run_load(servers[name].url, caller(), concurrency=8, requests=16)  # warm-up
            direct = direct_pipeline(cache)
            rates: dict[str, list[float]] = {name: [] for name in CASES}
            p50s: dict[str, list[float]] = {name: [] for name in CASES}
            over_http: list[float] = []
            for _ in range(arguments.rounds):
                for name, server in servers.items() if not arguments.direct_only else ():
                    result = run_load(server.url, caller(), concurrency=8, requests=arguments.requests)
                    assert set(result.outcomes) == {"ok"}, result.outcomes
                    rates[name].append(result.rate)
                    p50s[name].append(result.p50)
                over_http.append(http_over_direct(servers["max_batch_size 1"].url, direct, 12))
            if statistics.median(over_http) > HTTP_OVER_DIRECT_LIMIT:
                missed.append(f"HTTP / direct {statistics.median(over_http):.2f}× > {HTTP_OVER_DIRECT_LIMIT}×")
            if arguments.direct_only:
                print(f"one request over HTTP / direct pipeline call, alternating (medians): {spread(over_http)} (target ≤ 1.10×)")
                return finish(missed, arguments.check)
            print(f"{'8 concurrent clients, tiny-sd 64², 4 steps':<44}{'req/s':>8}{'p50 ms':>9}  (medians of rounds)")
            for name in CASES:
                print(f"{name:<44}{statistics.median(rates[name]):>8.1f}{statistics.median(p50s[name]) * 1000:>9.1f}")
            unbatched = rates["max_batch_size 1"]
            for name in list(CASES)[:2]:
                ratios = [a / b for a, b in zip(rates[name], unbatched)]
                print(f"throughput {name} / batch size 1: {spread(ratios)}")
                if name == "max_batch_size 8, default batch_mode" and statistics.median(ratios) < BATCHING_GAIN_TARGET:
                    missed.append(f"default-config batching {statistics.median(ratios):.2f}× < {BATCHING_GAIN_TARGET}×")
            print(f"one request over HTTP / direct pipeline call, alternating (medians): {spread(over_http)} (target ≤ 1.10×)")
            print(f"server peak RSS (default config): {rss_mib(servers['max_batch_size 8, default batch_mode'].process.pid):.0f} MiB")
            finish(missed, arguments.check)
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
