"""Engine overhead on tiny-sd (CPU): DiffusersEngine.generate vs the bare diffusers pipeline.

Run: PYTHONPATH=host:plugins/sfumato-diffusers/src python plugins/sfumato-diffusers/bench/bench_engine_overhead.py
Prints the median time of each, their ratio (target <= 1.10), the cost of applying and
removing a cached LoRA as a fraction of one generation (target <= 10%), and peak RSS.
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

from _support import SAMPLER_SPECS, make_engine, make_job, tasks_of  # noqa: E402
from sfumato.jobs.job import LoraInput, SamplerSettings  # noqa: E402

from sfumato_diffusers.tiny import make_tiny_lora  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
STEPS, SIZE, CFG, PROMPT = 4, 64, 6.0, "a red cat"


def median_seconds(fn, rounds: int = ROUNDS) -> float:
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    cache = tempfile.mkdtemp()
    engine = make_engine("tiny-sd", cache)
    pipe = engine.pipe
    sampler = SamplerSettings("SAMPLER_K_EULER", cfg_scale=CFG)
    job = make_job(sampler=sampler, steps=STEPS, width=SIZE, height=SIZE)
    scheduler_factory = __import__("sfumato.records", fromlist=["resolve"]).resolve(
        SAMPLER_SPECS["SAMPLER_K_EULER"].factory
    )

    def through_engine() -> None:
        engine.generate(tasks_of(job), lambda done, total: None, job.cancel)

    def bare_pipeline() -> None:
        pipe.scheduler = scheduler_factory(dict(pipe.scheduler.config), sampler)
        pipe(
            PROMPT,
            num_inference_steps=STEPS,
            guidance_scale=CFG,
            width=SIZE,
            height=SIZE,
            generator=torch.Generator().manual_seed(7),
            output_type="np",
        )

    # Interleave to share any drift in machine load fairly.
    engine_times, bare_times = [], []
    through_engine(), bare_pipeline()
    for _ in range(ROUNDS):
        for fn, sink in ((through_engine, engine_times), (bare_pipeline, bare_times)):
            start = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - start)
    t_engine, t_bare = statistics.median(engine_times), statistics.median(bare_times)

    data = make_tiny_lora(Path(cache) / "tiny-sd", "peft")
    lora = LoraInput(weight=0.8, safetensors=data, key=LoraInput.content_key(data))
    engine._loras.ensure([lora])  # cached, as for a repeated LoRA

    def apply_and_remove() -> None:
        with engine._loras.active([lora]):
            pass

    t_lora = median_seconds(apply_and_remove)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"torch threads           {torch.get_num_threads()}, rounds {ROUNDS}")
    print(f"engine.generate          {t_engine * 1e3:8.2f} ms (median)")
    print(f"bare diffusers pipeline  {t_bare * 1e3:8.2f} ms (median)")
    print(f"overhead ratio           {t_engine / t_bare:8.3f}  (target <= 1.10)")
    print(f"LoRA apply+remove        {t_lora * 1e3:8.2f} ms = {t_lora / t_engine:.1%} of a generation (target <= 10%)")
    print(f"peak RSS                 {peak_mib:8.0f} MiB")


if __name__ == "__main__":
    main()
