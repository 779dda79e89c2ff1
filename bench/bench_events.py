"""What live events cost: tiny-sd with an event listener and with previews, and 200 listeners on one job.

1. tiny-sd in process: the engine with the host's event path (step events, previews
   projected and JPEG-encoded every step) against the engine alone.
   Then over HTTP, generation time (AsyncGenerate → complete), in interleaved rounds:
   no listener (the peer), one listener of ``GET /jobs/{id}/events`` (one ``step`` event
   per step), and one with ``?previews=1`` and the throttle off (a preview every step).
   Budget: events ≤ +2 %, previews ≤ +5 % (medians).
2. Generate p50 on a test-pattern engine while another engine runs a long job, without
   and with 200 concurrent SSE listeners on that job (each step fans out to all of them).

Run: ``python bench/bench_events.py [--rounds N] [--skip-tiny-sd]``. Real servers on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sfumato.testing import RequestBuilder, start_server  # noqa: E402

TINY_CONFIG = """
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0
[events]
preview_every_steps = 1
preview_min_interval_ms = 0
[jobs]
async_poll_wait_seconds = 5
[[engines]]
id = "tiny-sd"
kind = "diffusers"
model = "tiny-sd"
# One torch thread: the event loop keeps a core, so what is measured is the events' cost,
# not OpenMP threads fighting anything else that runs on a small machine.
options = { cpu_threads = 1 }
"""

FANOUT_CONFIG = """
[quotas]
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0
[events]
max_listeners = 1000
[server]
max_connections = 2000
[[engines]]
id = "fast"
kind = "test-pattern"
[[engines]]
id = "long"
kind = "test-pattern"
[engines.limits]
max_steps = 2000
"""


def _listen(url: str, handle: str, previews: bool, counted: list[int]) -> None:
    params = {"previews": "1"} if previews else {}
    with httpx.Client(base_url=url, timeout=120) as client:
        with client.stream("GET", f"/jobs/{handle}/events", params=params) as response:
            for line in response.iter_lines():
                if line.startswith("event:"):
                    counted.append(1)


def _timed_job(client: httpx.Client, url: str, seed: int, mode: str, steps: int, size: int) -> tuple[float, int]:
    body = RequestBuilder().prompt("a red cat").size(size, size).seeds(seed).steps(steps).build()
    began = time.perf_counter()
    handle = client.post("/grpcgateway/asyncGenerate", json=body).json()
    counted: list[int] = []
    listener = None
    if mode != "none":
        listener = threading.Thread(target=_listen, args=(url, handle["asyncHandle"], mode == "previews", counted))
        listener.start()
    while True:
        result = client.post("/grpcgateway/asyncResult", json=handle).json()
        if result.get("complete"):
            break
    elapsed = time.perf_counter() - began
    if listener is not None:
        listener.join(30)
    return elapsed, len(counted)


def bench_tiny_sd_in_process(rounds: int, steps: int = 30, size: int = 128) -> None:
    """The host's event path alone: the real engine, the scheduler's progress callback, JobEvents
    and JPEG previews, no HTTP client competing for the cores."""
    import torch

    from sfumato.engines import EngineConfig, EngineServices
    from sfumato.jobs.events import JobEvents, PreviewSettings
    from sfumato.jobs.job import GenerationJob, ImageTask, SamplerSettings, WeightedText
    from sfumato.plugins import load_plugins
    from sfumato_diffusers.engine import DiffusersEngine

    torch.set_num_threads(1)
    samplers = load_plugins(strict=True, only=["diffusers"]).samplers_for("diffusers")
    with tempfile.TemporaryDirectory() as cache:
        engine = DiffusersEngine(EngineConfig(id="tiny-sd", kind="diffusers", model="tiny-sd"),
                                 EngineServices(samplers=samplers, cache_dir=cache))
        engine.load(lambda line: None)
        settings = PreviewSettings(every_steps=1, min_interval_ms=0, max_side=256)

        def run(mode: str, seed: int) -> float:
            job = GenerationJob(request_id="b", engine_id="tiny-sd", width=size, height=size, seeds=[seed],
                                steps=steps, sampler=SamplerSettings("SAMPLER_K_EULER"), prompt=[WeightedText("a red cat")])
            events = JobEvents(None)
            events.listeners = 1 if mode != "none" else 0
            events.preview_listeners = 1 if mode == "previews" else 0

            def progress(step: int, total: int, preview: Any = None) -> None:
                if mode == "none":
                    return
                events.emit("step", {"step": step, "total": total, "elapsedSeconds": 0.0, "etaSeconds": 0.0})
                if preview is not None and events.wants_preview(step, settings):
                    events.add_preview(step, 0, preview()[0], settings.max_side)

            began = time.perf_counter()
            engine.generate([ImageTask(job, 0, seed)], progress, job.cancel)
            return time.perf_counter() - began

        times: dict[str, list[float]] = {"none": [], "events": [], "previews": []}
        run("previews", 999)
        for round_ in range(rounds):
            order = ["none", "events", "previews"]
            for mode in order[round_ % 3:] + order[:round_ % 3]:
                times[mode].append(run(mode, round_))
    base = statistics.median(times["none"])
    print(f"tiny-sd in process, {size}×{size}, {steps} steps, 1 torch thread, {rounds} interleaved rounds (median seconds)")
    print(f"  no events (peer)       {base:.4f}")
    for mode, budget in (("events", 2.0), ("previews", 5.0)):
        median = statistics.median(times[mode])
        print(f"  {mode:<22} {median:.4f}  ratio {median / base:.3f} ({(median / base - 1) * 100:+.1f} %, budget +{budget:.0f} %)")


def bench_tiny_sd(rounds: int, steps: int = 30, size: int = 128) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), config=TINY_CONFIG, plugins=["diffusers"], timeout=600)
        try:
            times: dict[str, list[float]] = {"none": [], "events": [], "previews": []}
            events: dict[str, list[int]] = {"none": [], "events": [], "previews": []}
            with httpx.Client(base_url=server.url, timeout=120) as client:
                for warmup in range(2):
                    _timed_job(client, server.url, 1000 + warmup, "previews", steps, size)
                for round_ in range(rounds):
                    order = ["none", "events", "previews"]
                    order = order[round_ % 3:] + order[:round_ % 3]  # rotate: no mode always runs first
                    for mode in order:
                        elapsed, count = _timed_job(client, server.url, round_, mode, steps, size)
                        times[mode].append(elapsed)
                        events[mode].append(count)
        finally:
            server.stop()
    base = statistics.median(times["none"])
    print(f"tiny-sd {size}×{size}, {steps} steps, {rounds} interleaved rounds (median seconds, job submit → complete)")
    print(f"  no listener (peer)     {base:.4f}")
    for mode, budget in (("events", 2.0), ("previews", 5.0)):
        median = statistics.median(times[mode])
        overhead = (median / base - 1.0) * 100.0
        print(f"  {mode:<22} {median:.4f}  ratio {median / base:.3f} ({overhead:+.1f} %, budget +{budget:.0f} %), "
              f"{statistics.median(events[mode]):.0f} events per job")


def _fanout_process(url: str, handle: str, count: int, opened: Any, frames: Any) -> None:
    """The listeners, in a process of their own (not competing with the bench's requests for the GIL)."""
    asyncio.run(_fanout_listeners(url, handle, count, opened, frames))


async def _fanout_listeners(url: str, handle: str, count: int, opened: Any, frames: Any) -> None:
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        ready = 0

        async def one() -> None:
            nonlocal ready
            async with client.stream("GET", f"/jobs/{handle}/events") as response:
                ready += 1
                if ready == count:
                    opened.set()
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        with frames.get_lock():
                            frames.value += 1

        await asyncio.gather(*(one() for _ in range(count)))


def _generate_p50(client: httpx.Client, requests: int) -> float:
    times = []
    body = RequestBuilder().engine("fast").prompt("p").size(64, 64).steps(10).build()
    for _ in range(requests):
        began = time.perf_counter()
        response = client.post("/grpcgateway/generate", json=body)
        assert response.status_code == 200, response.text
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bench_fanout(listeners: int = 200, requests: int = 40, step_ms: int = 10) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), config=FANOUT_CONFIG, plugins=["test_pattern"])
        try:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                _generate_p50(client, 5)  # warm up
                long_job = (RequestBuilder().engine("long").prompt("long").size(32, 32).steps(2000)
                            .extension("step_delay_ms", step_ms).build())
                results: dict[str, list[float]] = {"no listeners": [], f"{listeners} listeners": []}
                # Alternating phases, so a change of the machine's load hits both alike.
                for mode in ["no listeners", f"{listeners} listeners"] * 3 + ["no listeners"]:
                    handle = client.post("/grpcgateway/asyncGenerate", json=long_job).json()
                    opened = multiprocessing.Event()
                    frames = multiprocessing.Value("l", 0)
                    process = None
                    if mode.startswith(str(listeners)):
                        process = multiprocessing.Process(
                            target=_fanout_process, args=(server.url, handle["asyncHandle"], listeners, opened, frames),
                            daemon=True,
                        )
                        process.start()
                        if not opened.wait(60):
                            raise RuntimeError("the listeners did not all connect")
                    time.sleep(0.5)
                    before = frames.value
                    began = time.perf_counter()
                    results[mode].append(_generate_p50(client, requests))
                    rate = (frames.value - before) / (time.perf_counter() - began)
                    client.post("/grpcgateway/asyncCancel", json=handle)
                    if process is not None:
                        process.join(30)
                        print(f"  ({listeners} listeners received {rate:.0f} events/s in all while measuring)")
        finally:
            server.stop()
    base = statistics.median(results["no listeners"])
    print(f"Generate p50 (test-pattern 64×64, 10 steps, {requests} requests per phase) while a long job "
          f"({1000 / max(step_ms, 1):.0f} steps/s) runs on another engine; median of the phases' p50s")
    for mode, p50s in results.items():
        p50 = statistics.median(p50s)
        phases = ", ".join(f"{value * 1000:.1f}" for value in p50s)
        print(f"  {mode:<18} {p50 * 1000:7.2f} ms  ratio {p50 / base:.3f}   (phases: {phases} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--listeners", type=int, default=200)
    parser.add_argument("--long-step-ms", type=int, default=10, help="the listened job's step time")
    parser.add_argument("--skip-tiny-sd", action="store_true")
    args = parser.parse_args()
    if not args.skip_tiny_sd:
        bench_tiny_sd_in_process(args.rounds)
        bench_tiny_sd(args.rounds)
    bench_fanout(args.listeners, step_ms=args.long_step_ms)


if __name__ == "__main__":
    main()
