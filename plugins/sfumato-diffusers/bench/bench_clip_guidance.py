"""CLIP guidance cost per step on tiny-sd (CPU): guided vs unguided generation, same job otherwise.

Run: python plugins/sfumato-diffusers/bench/bench_clip_guidance.py
Prints the median time per step of each (BENCH_ROUNDS runs), their ratio, and the peak RSS
growth the guided runs add (the tensors kept for the backward pass through VAE and CLIP).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _support import make_engine, make_job, tasks_of  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "10"))
STEPS, SIZE = 8, 64


def median_seconds(engine, guidance: float) -> float:
    job = make_job(steps=STEPS, width=SIZE, height=SIZE, clip_guidance=guidance)
    engine.generate(tasks_of(job), lambda done, total: None, job.cancel)  # warm-up
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        engine.generate(tasks_of(job), lambda done, total: None, job.cancel)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    engine = make_engine("tiny-sd", tempfile.mkdtemp(prefix="bench-clip-"))
    plain = median_seconds(engine, 0.0)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    guided = median_seconds(engine, 1.0)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"tiny-sd {SIZE}x{SIZE}, {STEPS} steps, K_EULER, median of {ROUNDS}:")
    print(f"  unguided {plain / STEPS * 1000:.1f} ms/step")
    print(f"  guided   {guided / STEPS * 1000:.1f} ms/step  ({engine.options.clip_cutouts} cutouts)")
    print(f"  ratio guided/unguided {guided / plain:.2f}x")
    print(f"  peak RSS growth during guided runs {(rss_after - rss_before) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
