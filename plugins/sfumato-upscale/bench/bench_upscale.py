#!/usr/bin/env python3
"""Upscaling benchmarks (issue #16), medians of repeated runs, ratios against a named peer in the same run.

1. ESRGAN-family ×4 of a 512² image, tiled vs untiled, through the esrgan engine: seconds
   and peak memory. Each mode runs in its own process (peak RSS is per process), with the
   same random-weight RealESRGAN-layout network; target: tiled ≤ 1.15× untiled.
2. UPSCALER_RGB ×4 of 512² (the rgb-upscale engine's kernel, sfumato._ops Lanczos3) against
   Pillow LANCZOS and OpenCV INTER_LANCZOS4, interleaved; target: ≤ 0.5× the faster peer.

    python plugins/sfumato-upscale/bench/bench_upscale.py [--features 32 --blocks 2] [--rounds 3]
    python plugins/sfumato-upscale/bench/bench_upscale.py --only rgb
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZE = 512
FACTOR = 4


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def esrgan_mode(checkpoint: str, tile: int, overlap: int, rounds: int, threads: int) -> dict:
    """One mode in this process: load, one warm-up, ``rounds`` timed runs; peak RSS above the loaded baseline."""
    import torch

    from sfumato.engine_testing import load_engine, request_body
    from sfumato_upscale import plugin

    torch.set_num_threads(threads)
    engine = load_engine("esrgan", plugin=plugin, model=checkpoint,
                         options={"device": "cpu", "tile_size": tile, "tile_overlap": overlap})
    image = np.random.default_rng(0).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    job = engine.job(request_body(prompt=None, init_image=image, width=SIZE * FACTOR))
    small = engine.job(request_body(prompt=None, init_image=image[:64, :64], width=64 * FACTOR))
    engine.run(small)  # warm-up on a small image keeps the peak for the measured size
    baseline = _peak_rss_mib()
    times, cpu_times = [], []
    steps = 0
    for _ in range(rounds):
        start, cpu_start = time.perf_counter(), time.process_time()
        run = engine.run(job)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)  # all threads: steadier than wall time on a busy host
        steps = len(run.progress)
    return {"median_s": statistics.median(times), "median_cpu_s": statistics.median(cpu_times), "times": times,
            "tiles": steps, "peak_mib_above_load": _peak_rss_mib() - baseline}


def bench_esrgan(args: argparse.Namespace) -> None:
    import torch

    from sfumato_upscale.tiny import realesrgan_state_dict, save_checkpoint

    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = save_checkpoint(
            realesrgan_state_dict(scale=4, features=args.features, blocks=args.blocks, seed=0),
            Path(scratch) / "bench_x4.safetensors",
        )
        params = sum(v.numel() for v in realesrgan_state_dict(scale=4, features=args.features, blocks=args.blocks).values())
        print(f"ESRGAN ×4 of {SIZE}² → {SIZE * FACTOR}², RRDBNet features={args.features} blocks={args.blocks} "
              f"({params / 1e6:.2f} M parameters, random weights), CPU, torch {torch.__version__}, "
              f"{args.threads} thread(s), median of {args.rounds}")
        modes = [("untiled", 0, 0), ("tiled 272/32 (2×2 tiles)", 272, 32), ("tiled 256/32 (3×3 tiles)", 256, 32)]
        results = {}
        for name, tile, overlap in modes:
            command = [sys.executable, __file__, "--child", str(checkpoint), str(tile), str(overlap),
                       str(args.rounds), str(args.threads)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            results[name] = json.loads(output.strip().splitlines()[-1])
        base = results["untiled"]
        print("| mode | tiles | median wall s | × untiled | median CPU s | × untiled | peak MiB above load | × untiled |")
        print("|---|---|---|---|---|---|---|---|")
        for name, result in results.items():
            print(f"| {name} | {result['tiles']} | {result['median_s']:.2f} | {result['median_s'] / base['median_s']:.2f} | "
                  f"{result['median_cpu_s']:.2f} | {result['median_cpu_s'] / base['median_cpu_s']:.2f} | "
                  f"{result['peak_mib_above_load']:.0f} | {result['peak_mib_above_load'] / max(base['peak_mib_above_load'], 1):.2f} |")


def bench_rgb(args: argparse.Namespace) -> None:
    import cv2
    from PIL import Image

    from sfumato import _ops
    from sfumato.engine_testing import load_engine, request_body
    from sfumato_upscale import plugin

    image = np.random.default_rng(1).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    target = SIZE * FACTOR
    engine = load_engine("rgb-upscale", plugin=plugin)
    job = engine.job(request_body(prompt=None, init_image=image, width=target))
    pil = Image.fromarray(image)
    for threads in (0, 1):
        _ops.set_num_threads(threads)
        cv2.setNumThreads(threads if threads else -1)
        calls = {
            "sfumato engine (rgb-upscale)": lambda: engine.images(job),
            "sfumato._ops.rescale lanczos": lambda: _ops.rescale(image, target, target, 0, "lanczos"),
            "Pillow LANCZOS": lambda: pil.resize((target, target), Image.LANCZOS),
            "OpenCV INTER_LANCZOS4": lambda: cv2.resize(image, (target, target), interpolation=cv2.INTER_LANCZOS4),
        }
        samples = {name: [] for name in calls}
        for fn in calls.values():
            fn()
        for round_index in range(args.rgb_rounds):
            names = list(calls)
            names = names[round_index % len(names):] + names[:round_index % len(names)]  # rotate the order
            for name in names:
                start = time.perf_counter()
                calls[name]()
                samples[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(values) for name, values in samples.items()}
        faster_peer = min(("Pillow LANCZOS", "OpenCV INTER_LANCZOS4"), key=medians.get)
        label = "all cores" if threads == 0 else "1 thread"
        print(f"\nUPSCALER_RGB ×4 of {SIZE}² RGB → {target}², {label} (Pillow is single-threaded), "
              f"median of {args.rgb_rounds}; ratio against the faster peer, {faster_peer}")
        print("| implementation | median ms | ratio |")
        print("|---|---|---|")
        for name, value in medians.items():
            print(f"| {name} | {value * 1e3:.1f} | {value / medians[faster_peer]:.2f} |")
    _ops.set_num_threads(0)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        checkpoint, tile, overlap, rounds, threads = sys.argv[2:7]
        print(json.dumps(esrgan_mode(checkpoint, int(tile), int(overlap), int(rounds), int(threads))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("esrgan", "rgb"))
    parser.add_argument("--features", type=int, default=32, help="RRDBNet width (RealESRGAN x4plus: 64)")
    parser.add_argument("--blocks", type=int, default=2, help="RRDB blocks (RealESRGAN x4plus: 23, anime_6B: 6)")
    parser.add_argument("--rounds", type=int, default=3, help="timed ESRGAN runs per mode")
    parser.add_argument("--rgb-rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()
    if args.only in (None, "rgb"):
        bench_rgb(args)
    if args.only in (None, "esrgan"):
        print()
        bench_esrgan(args)


if __name__ == "__main__":
    main()
