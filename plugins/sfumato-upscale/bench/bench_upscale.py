#!/usr/bin/env python3
"""Upscaling benchmarks (issue #16), medians of repeated runs, ratios against a named peer in the same run.

1. ESRGAN-family ×4 of a 512² image, tiled (tiles one a pass, and batched) vs untiled,
   through the esrgan engine, with the same random-weight RealESRGAN-layout network: times
   from interleaved rounds in one process (ratios paired per round), peak memory from each
   mode alone in its own process (peak RSS is per process); target: tiled ≤ 1.15× untiled.
2. UPSCALER_RGB ×4 of 512² (the rgb-upscale engine's kernel, sfumato._ops Lanczos3) against
   Pillow LANCZOS and OpenCV INTER_LANCZOS4, interleaved; target: ≤ 0.5× the faster peer.

    python plugins/sfumato-upscale/bench/bench_upscale.py [--features 32 --blocks 2] [--rounds 5] [--threads 2]
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


# (name, tile_size, tile_overlap, tile_batch_pixels); the first is the peer the others are divided by.
ESRGAN_MODES = [
    ("untiled (tile_size 0)", 0, 0, 0),
    ("272/32, 2×2 tiles, one a pass", 272, 32, 0),
    ("272/32, 2×2 tiles, batched", 272, 32, 512 * 512),
    ("256/32, 3×3 tiles, one a pass", 256, 32, 0),
    ("256/32, 3×3 tiles, batched", 256, 32, 512 * 512),
]


def _esrgan_engine(checkpoint: str, tile: int, overlap: int, batch_pixels: int) -> tuple[object, object, object]:
    from sfumato.engine_testing import load_engine, request_body
    from sfumato_upscale import plugin

    engine = load_engine("esrgan", plugin=plugin, model=checkpoint, options={
        "device": "cpu", "tile_size": tile, "tile_overlap": overlap, "tile_batch_pixels": batch_pixels})
    image = np.random.default_rng(0).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    job = engine.job(request_body(prompt=None, init_image=image, width=SIZE * FACTOR))
    small = engine.job(request_body(prompt=None, init_image=image[:64, :64], width=64 * FACTOR))
    return engine, job, small


def esrgan_peak(checkpoint: str, tile: int, overlap: int, batch_pixels: int, threads: int) -> dict:
    """One mode alone in this process: its peak RSS above the level after loading and a small warm-up."""
    import torch

    torch.set_num_threads(threads)
    engine, job, small = _esrgan_engine(checkpoint, tile, overlap, batch_pixels)
    engine.run(small)
    baseline = _peak_rss_mib()
    passes = len(engine.run(job).progress)  # one progress step per forward pass
    return {"peak_mib_above_load": _peak_rss_mib() - baseline, "passes": passes}


def esrgan_times(checkpoint: str, rounds: int, threads: int) -> dict[str, dict[str, list[float]]]:
    """All modes in this process, interleaved: each round runs every mode once, in a rotated order."""
    import torch

    torch.set_num_threads(threads)
    runs = {name: _esrgan_engine(checkpoint, tile, overlap, batch) for name, tile, overlap, batch in ESRGAN_MODES}
    for engine, job, _ in runs.values():
        engine.run(job)  # warm-up at the measured size: kernels for each tile shape, the allocator's pools
    samples: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in runs}
    for round_index in range(rounds):
        names = list(runs)
        names = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in names:
            engine, job, _ = runs[name]
            start, cpu_start = time.perf_counter(), time.process_time()
            engine.run(job)
            samples[name]["wall"].append(time.perf_counter() - start)
            samples[name]["cpu"].append(time.process_time() - cpu_start)  # all threads: steadier on a busy host
    return samples


def _ratio(values: list[float], peers: list[float]) -> str:
    """Median and range of the per-round ratios (each against the peer's run of the same round)."""
    ratios = [value / peer for value, peer in zip(values, peers)]
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"


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
              f"{args.threads} thread(s); times: {args.rounds} interleaved rounds after a warm-up, medians, "
              "ratios per round against the untiled run of that round (median and range)")
        peaks = {}
        for name, tile, overlap, batch in ESRGAN_MODES:  # each in its own process: peak RSS is per process
            command = [sys.executable, __file__, "--child", str(checkpoint), str(tile), str(overlap), str(batch),
                       str(args.threads)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            peaks[name] = json.loads(output.strip().splitlines()[-1])
        samples = esrgan_times(str(checkpoint), args.rounds, args.threads)
        peer = ESRGAN_MODES[0][0]
        print("| mode | passes | median wall s | × untiled | median CPU s | × untiled | peak MiB above load | × untiled |")
        print("|---|---|---|---|---|---|---|---|")
        for name, result in samples.items():
            peak = peaks[name]["peak_mib_above_load"]
            print(f"| {name} | {peaks[name]['passes']} | {statistics.median(result['wall']):.2f} | "
                  f"{_ratio(result['wall'], samples[peer]['wall'])} | {statistics.median(result['cpu']):.2f} | "
                  f"{_ratio(result['cpu'], samples[peer]['cpu'])} | {peak:.0f} | "
                  f"{peak / max(peaks[peer]['peak_mib_above_load'], 1):.2f} |")


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
        checkpoint, tile, overlap, batch_pixels, threads = sys.argv[2:7]
        print(json.dumps(esrgan_peak(checkpoint, int(tile), int(overlap), int(batch_pixels), int(threads))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("esrgan", "rgb"))
    parser.add_argument("--features", type=int, default=32, help="RRDBNet width (RealESRGAN x4plus: 64)")
    parser.add_argument("--blocks", type=int, default=2, help="RRDB blocks (RealESRGAN x4plus: 23, anime_6B: 6)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed ESRGAN rounds (each runs every mode)")
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
