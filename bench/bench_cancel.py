"""Cancel latency on tiny-sd: a running job must stop within one sampler step of AsyncCancel.

Measures how long after AsyncCancel the engine's worker is free again (a 1-step job
queued right behind the cancelled one finishes), minus that job's own time, and compares
it with the duration of one sampler step; and, in-process, the time from the job's
CancelToken firing mid-step to the engine giving up. Run: ``python bench/bench_cancel.py``.
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


def engine_cancel_latency(cache: str, runs: int = 8) -> tuple[float, list[float]]:
    """In-process: time from CancelToken.cancel() to generate() raising, vs one step's time."""
    import threading

    from sfumato.engines import EngineConfig, EngineServices
    from sfumato.errors import Cancelled
    from sfumato.jobs.job import GenerationJob, ImageTask, SamplerSettings, WeightedText
    from sfumato.plugins import load_plugins
    from sfumato_diffusers.engine import DiffusersEngine

    samplers = load_plugins(strict=True, only=["diffusers"]).samplers_for("diffusers")
    engine = DiffusersEngine(EngineConfig(id="tiny-sd", kind="diffusers", model="tiny-sd"),
                             EngineServices(samplers=samplers, cache_dir=cache))
    engine.load(lambda line: None)
    step_times: list[float] = []
    latencies: list[float] = []
    for run in range(runs):
        job = GenerationJob(request_id=f"c{run}", engine_id="tiny-sd", width=64, height=64, seeds=[run],
                            steps=LONG_STEPS, sampler=SamplerSettings("SAMPLER_K_EULER"), prompt=[WeightedText("c")])
        stamps: list[float] = []
        cancelled_at: list[float] = []
        go = threading.Event()

        def canceller() -> None:  # another thread, like the event loop serving AsyncCancel
            go.wait()
            time.sleep(step_guess / 3)  # land mid-step
            job.cancel.cancel()
            cancelled_at.append(time.perf_counter())

        threading.Thread(target=canceller, daemon=True).start()
        step_guess = statistics.median(step_times) if step_times else 0.004

        def progress(step: int, total: int) -> None:
            stamps.append(time.perf_counter())
            if step == 40:
                go.set()

        try:
            engine.generate([ImageTask(job, 0, run)], progress, job.cancel)
        except Cancelled:
            stopped = time.perf_counter()
        else:
            raise AssertionError("the job was not cancelled")
        step_times.append(statistics.median(b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)))
        latencies.append(stopped - cancelled_at[0])
    return statistics.median(step_times), latencies


def main() -> None:
    cache = tempfile.mkdtemp(prefix="sfumato-cancel-")
    step, latencies = engine_cancel_latency(cache)
    print(f"engine: one sampler step {step * 1000:.2f} ms; cancel → generate() raises: "
          + ", ".join(f"{x * 1000:.2f}" for x in latencies) + " ms")
    print(f"  worst {max(latencies) * 1000:.2f} ms = {max(latencies) / step:.2f} steps (target ≤ 1 step)")
    http_main()


def http_main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), config=CONFIG, plugins=["diffusers"])
        try:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                timed_generate(client, 1, 0)
                one_step_job = statistics.median(timed_generate(client, 1, n) for n in range(5))
                long_job = timed_generate(client, LONG_STEPS, 1)
                step = (long_job - one_step_job) / (LONG_STEPS - 1)
                latencies = []
                for n in range(8):
                    body = RequestBuilder().prompt("long").size(64, 64).seeds(n).steps(LONG_STEPS).build()
                    handle = client.post("/grpcgateway/asyncGenerate", json=body).json()
                    time.sleep(0.5)
                    began = time.perf_counter()
                    assert client.post("/grpcgateway/asyncCancel", json=handle).status_code == 200
                    timed_generate(client, 1, 100 + n)
                    latencies.append(time.perf_counter() - began - one_step_job)
        finally:
            server.stop()
    print(f"HTTP: one sampler step {step * 1000:.1f} ms; a 1-step job end to end {one_step_job * 1000:.1f} ms; "
          "AsyncCancel → the next job done, minus that job's own time (includes the cancel round trip): "
          + ", ".join(f"{latency * 1000:.1f}" for latency in latencies) + " ms")


if __name__ == "__main__":
    main()
