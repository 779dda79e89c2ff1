"""Loads tiny-sd with the options given as JSON in a fresh process and reports, as one JSON line,
what compilation did: load time, dynamo's graph count after load and after the first request,
the first two requests' times. Saves the images (plain and with a LoRA) to an .npz file.

Used by test_compile.py: a fresh process is what shows whether inductor's on-disk cache is reused.
Run: python compile_probe.py CACHE_DIR OUT.npz '{"compile": "unet"}'
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import json
import logging
import sys
import time

import numpy as np
import torch

torch.set_num_threads(1)

from _support import SAMPLER_SPECS, one  # noqa: E402
from sfumato.engines import EngineConfig, EngineServices  # noqa: E402
from sfumato.jobs.job import LoraInput  # noqa: E402

from sfumato_diffusers.engine import DiffusersEngine  # noqa: E402
from sfumato_diffusers.tiny import make_tiny_lora  # noqa: E402


def graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def main() -> None:
    cache_dir, out, raw = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = {"cpu_threads": 1, **raw}
    engine = DiffusersEngine(EngineConfig(id="probe", kind="diffusers", model="tiny-sd", options=options),
                             EngineServices(samplers=SAMPLER_SPECS, cache_dir=cache_dir))
    lines: list[str] = []
    started = time.perf_counter()
    engine.load(lines.append)
    report = {"load_s": time.perf_counter() - started, "graphs_after_load": graphs(), "load_report": lines}
    started = time.perf_counter()
    plain = one(engine)
    report["first_request_s"] = time.perf_counter() - started
    report["graphs_after_first_request"] = graphs()
    started = time.perf_counter()
    one(engine)
    report["second_request_s"] = time.perf_counter() - started
    data = make_tiny_lora(os.path.join(cache_dir, "tiny-sd"), "peft", seed=5)
    styled = one(engine, loras=[LoraInput(weight=1.0, safetensors=data, key=LoraInput.content_key(data))])
    report["compiled"] = engine.pipe.unet._compiled_call_impl is not None
    np.savez(out, plain=plain, styled=styled)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
