"""How far one pipeline call per batch (batch_mode "batched") moves pixels from single runs.

tiny-sd, 64², 4 steps, cfg 6: every seed is generated alone and inside a batch of 8 with
seven others; reports max and mean |Δ| over all uint8 channel values and the share of
pixels (any channel) that differ. ``batch_mode = "sequential"`` gives Δ = 0 by construction.
Run: ``python bench/bench_batch_difference.py [--batches N] [--sampler NAME]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins" / "sfumato-diffusers" / "tests"))

from _support import SAMPLER_SPECS, generate, make_engine, make_job  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8, help="batches of 8 seeds (default 8: 64 seeds)")
    parser.add_argument("--sampler", default="SAMPLER_K_EULER", choices=sorted(SAMPLER_SPECS))
    parser.add_argument("--size", type=int, default=64)
    arguments = parser.parse_args()
    cache = os.environ.get("SFUMATO_CACHE_DIR") or tempfile.mkdtemp(prefix="sfumato-bench-")
    engine = make_engine("tiny-sd", cache)  # default options: batch_mode "batched"
    deltas, differing, pixels = [], 0, 0
    for batch in range(arguments.batches):
        seeds = list(range(batch * 8, batch * 8 + 8))
        common = dict(width=arguments.size, height=arguments.size, sampler=arguments.sampler)
        together = generate(engine, make_job(seeds=seeds, **common))
        for seed, image in zip(seeds, together):
            (alone,) = generate(engine, make_job(seeds=[seed], **common))
            delta = np.abs(image.astype(np.int16) - alone.astype(np.int16))
            deltas.append(delta.ravel())
            differing += int((delta.max(axis=2) > 0).sum())
            pixels += delta.shape[0] * delta.shape[1]
    values = np.concatenate(deltas)
    print(f"{arguments.sampler}, {len(deltas)} seeds, {arguments.size}², batches of 8 vs alone: "
          f"max |Δ| {values.max()}, mean |Δ| {values.mean():.5f}, "
          f"pixels differing {100 * differing / pixels:.3f}%, channel values differing {100 * (values > 0).mean():.3f}%")


if __name__ == "__main__":
    main()
