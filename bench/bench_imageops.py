#!/usr/bin/env python3
"""Benchmark sfumato's native image kernels against peers.

Two parts:

1. The shared peer benchmark (not part of this repository), driven with our adapter
   ``bench/sfumato_adapter.py``; it prints per-case tables and, with ``--vs sfumato``,
   our time as a ratio to the best peer. Point ``--peers`` (or ``SFUMATO_PEERS_SCRIPT``)
   at ``imageops_peers.py``; by default ``../shared/bench/imageops_peers.py`` next to the
   repository is used.
2. Targeted checks the peer script does not cover: directional UP/DOWN against the same
   256 rounds done with OpenCV float32, blur cost across sigma and at 2048² (RGBA, RGB,
   grey), the memory-speed kernels by minima, PNG sizes, and resize with one and two
   threads against fast_image_resize (cykooz.resizer) single-threaded.

    python bench/bench_imageops.py                 # both parts
    python bench/bench_imageops.py --skip-peers    # only part 2
    python bench/bench_imageops.py --rows --check  # issue #17's kernel rows against their limits
"""

from __future__ import annotations

import argparse
import io
import math
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def best_time(fn, rounds=7, warmup=1):
    for _ in range(warmup):
        fn()
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def median_times(calls: dict, rounds: int = 15, target_s: float = 0.02) -> dict:
    """Median seconds per call of each function, timed round-robin (each round runs
    every function back to back, in a rotating order, enough times to fill ~target_s)."""
    for fn in calls.values():
        fn()
    inner = {}
    for name, fn in calls.items():
        start = time.perf_counter()
        fn()
        inner[name] = max(1, int(target_s / max(time.perf_counter() - start, 1e-6)))
    samples = {name: [] for name in calls}
    names = list(calls)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            fn, n = calls[name], inner[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: sorted(v)[len(v) // 2] for name, v in samples.items()}


def load_peers_module(script: Path):
    """The shared peer script as a module (for its test images), or None."""
    if not script.exists():
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("imageops_peers", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Issue #17's kernel rows: (row, limit on our time ÷ the peer's). A ratio above its
# limit fails `--check`: a later change that loses the gain shows up here.
ROW_LIMITS = {
    # Target 1.0, met with room (0.35–0.46 on an idle 2-core AVX2 host): 0.75 flags a
    # change that loses most of the fixed-point exact kernel's gain.
    "blur σ4 1024² RGBA vs vips": 0.75,
    # σ 2–8 run the exact kernel (σ 3.5–8 the recursive filter on CPUs without AVX2, as
    # σ16 does everywhere): 15 % for the noise between calls of one filter.
    "blur σ2–8 1024² RGBA, slowest vs σ16 (ours)": 1.15,
    "resize 1024→512 area vs cv2 INTER_AREA": 1.0,
    "resize 1024→2048 bilinear vs cv2": 1.0,
    "resize 1024→2048 bicubic vs cv2": 1.0,
    "png fast 1024² RGB vs fpng (time)": 1.2,
    "png fast 1024² RGB vs fpng (size)": 1.03,
}


def kernel_rows(peers_script: Path, rounds: int) -> list[tuple[str, float, float, float]]:
    """Issue #17's rows on the peer script's test image: (row, peer ms, ours ms, ratio),
    medians of round-robin rounds. Rows whose peer is not installed are left out."""
    import cv2

    from sfumato import _ops

    peers = load_peers_module(peers_script)
    rgba = peers.make_image(1024, 4) if peers else photo(1024, 4)
    rgb = peers.make_image(1024, 3) if peers else photo(1024, 3)
    rows = []

    def row(name, peer_fn, ours_fn):
        t = median_times({"peer": peer_fn, "ours": ours_fn}, rounds)
        rows.append((name, t["peer"] * 1e3, t["ours"] * 1e3, t["ours"] / t["peer"]))

    try:
        import pyvips

        pyvips.cache_set_max(0)
        v = pyvips.Image.new_from_array(rgba).copy_memory()
        row("blur σ4 1024² RGBA vs vips", lambda: v.gaussblur(4).copy_memory(),
            lambda: _ops.blur(rgba, 4, include_alpha=True))
    except ImportError:
        print("# pyvips not installed: skipping the blur σ4 row", file=sys.stderr)
    sigmas = (2, 3, 4, 5, 6, 7, 7.9, 16)
    t = median_times({s: (lambda s=s: _ops.blur(rgba, s, include_alpha=True)) for s in sigmas}, rounds)
    slowest = max(sigmas[:-1], key=lambda s: t[s])
    print("# blur ms by σ: " + ", ".join(f"σ{s} {t[s] * 1e3:.2f}" for s in sigmas), file=sys.stderr)
    rows.append((f"blur σ2–8 1024² RGBA, slowest vs σ16 (ours)", t[16] * 1e3, t[slowest] * 1e3, t[slowest] / t[16]))
    row("resize 1024→512 area vs cv2 INTER_AREA", lambda: cv2.resize(rgba, (512, 512), interpolation=cv2.INTER_AREA),
        lambda: _ops.rescale(rgba, 512, 512, 0, "area"))
    for method, inter in (("bilinear", cv2.INTER_LINEAR), ("bicubic", cv2.INTER_CUBIC)):
        row(f"resize 1024→2048 {method} vs cv2", lambda inter=inter: cv2.resize(rgba, (2048, 2048), interpolation=inter),
            lambda method=method: _ops.rescale(rgba, 2048, 2048, 0, method))
    try:
        import fpng

        row("png fast 1024² RGB vs fpng (time)", lambda: fpng.from_ndarray(rgb), lambda: _ops.encode_png(rgb, fast=True))
        theirs, ours = len(fpng.from_ndarray(rgb)), len(_ops.encode_png(rgb, fast=True))
        rows.append(("png fast 1024² RGB vs fpng (size)", theirs / 1024, ours / 1024, ours / theirs))
    except ImportError:
        print("# fpng not installed: skipping the PNG rows", file=sys.stderr)
    return rows


def print_kernel_rows(rows) -> bool:
    """Prints the rows as a table; returns whether every ratio is within its limit."""
    print("\n| row | peer | sfumato | ratio | limit | ok |\n|---|---|---|---|---|---|")
    ok = True
    for name, peer, ours, ratio in rows:
        limit = ROW_LIMITS[name]
        ok &= ratio <= limit
        unit = "KiB" if name.endswith("(size)") else "ms"
        print(f"| {name} | {peer:.2f} {unit} | {ours:.2f} {unit} | {ratio:.2f} | ≤ {limit} | {'yes' if ratio <= limit else 'NO'} |")
    return ok


def run_peers(script: Path, sizes: str, extra: list[str]) -> int:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    cmd = [sys.executable, str(script), "--impl", "bench.sfumato_adapter", "--vs", "sfumato", "--sizes", sizes, *extra]
    print("$", " ".join(cmd), flush=True)
    return subprocess.call(cmd, env=env, cwd=REPO)


def photo(size: int, channels: int, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    base = rng.random((size // 16 + 2, size // 16 + 2, channels)).astype(np.float32) * 255
    img = cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC)
    img = img.reshape(size, size, channels) + rng.normal(0, 6, (size, size, channels))
    return np.clip(img, 0, 255).astype(np.uint8)


def stack_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """cv2.stackBlur with the radius whose box-pyramid variance matches sigma."""
    import cv2

    r = max(1, int(round(math.sqrt(6 * sigma * sigma + 1) - 1)))
    return cv2.stackBlur(img, (2 * r + 1, 2 * r + 1))


def mask(size: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    m = np.zeros((size, size), bool)
    for _ in range(5):
        cx, cy = rng.uniform(0.2, 0.8, 2) * size
        ax, ay = rng.uniform(0.05, 0.18, 2) * size
        m |= ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 < 1
    return (m * 255).astype(np.uint8)


def targeted() -> None:
    import cv2
    from PIL import Image

    from sfumato import _ops

    rows = []

    # Directional UP/DOWN: ours vs 256 rounds of cv2 float32 blur + max/min.
    m = mask(1024)
    sigma = 32.0
    s = sigma / 16
    k = math.ceil(6 * s)
    k += 1 - k % 2

    def cv_rounds(up):
        x0 = m.astype(np.float32) / 255
        x = x0.copy()
        pick = np.maximum if up else np.minimum
        for _ in range(256):
            x = cv2.GaussianBlur(x, (k, k), s, borderType=cv2.BORDER_REFLECT_101)
            pick(x, x0, out=x)
        return x

    for direction, up in ((1, True), (2, False)):
        ref = np.rint(cv_rounds(up) * 255)
        ours = _ops.blur(m, sigma, direction)
        t_ours = best_time(lambda: _ops.blur(m, sigma, direction), rounds=3)
        t_cv = best_time(lambda: cv_rounds(up), rounds=2, warmup=0)
        err = int(np.abs(ours.astype(int) - ref).max())
        rows.append((f"blur {'UP' if up else 'DOWN'} σ32 1024² mask", "cv2 f32 ×256", t_cv, t_ours, f"max err {err}"))

    # Blur cost across sigma, vs cv2.GaussianBlur and cv2.stackBlur.
    img = photo(1024, 4)
    for sg in (1, 2, 8, 16, 32, 64):
        t_ours = best_time(lambda: _ops.blur(img, sg, include_alpha=True))
        t_gauss = best_time(lambda: cv2.GaussianBlur(img, (0, 0), sg, borderType=cv2.BORDER_REFLECT_101), rounds=3)
        t_stack = best_time(lambda: stack_blur(img, sg))
        peer, t_peer = ("cv2.GaussianBlur", t_gauss) if sg <= 2 else ("cv2.stackBlur", t_stack)
        rows.append((f"blur σ{sg} 1024² RGBA", peer, t_peer, t_ours, f"GaussianBlur {t_gauss * 1e3:.2f} ms"))

    # Large images, where the recursive blur's intermediate outgrows the cache:
    # 2048² RGBA (the target), and RGB and grey for comparison.
    for size, channels, sg in ((2048, 4, 16), (2048, 4, 64), (2048, 3, 16), (2048, 1, 16)):
        img = photo(size, channels)
        t_ours = best_time(lambda: _ops.blur(img, sg, include_alpha=True), rounds=15)
        t_stack = best_time(lambda: stack_blur(img, sg), rounds=15)
        name = {4: "RGBA", 3: "RGB", 1: "grey"}[channels]
        rows.append((f"blur σ{sg} {size}² {name}", "cv2.stackBlur", t_stack, t_ours, ""))

    # Memory-speed kernels, by minima (the peer script reports medians, which
    # follow page faults and the other core's load).
    for size in (1024, 2048):
        img = photo(size, 4)
        x = np.arange(256) / 255
        lut = np.rint(255 * np.clip((x - 0.1) / 0.8 * 0.9 + 0.05, 0, 1)).astype(np.uint8)
        for case, ours, peer, peer_name in (
            ("levels", lambda: _ops.levels(img, 0.1, 0.9, 0.05, 0.95, include_alpha=True),
             lambda: cv2.LUT(img, lut), "cv2.LUT"),
            ("invert", lambda: _ops.invert(img, include_alpha=True), lambda: cv2.bitwise_not(img), "cv2"),
            ("RGBA→BGRA", lambda: _ops.channels(img, [2, 1, 0, 3]),
             lambda: cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA), "cv2"),
            ("crop 512²", lambda: _ops.crop(img, 256, 256, 512, 512),
             lambda: img[256:768, 256:768].copy(), "numpy"),
        ):
            rows.append((f"{case} {size}² RGBA", peer_name, best_time(peer, rounds=50),
                         best_time(ours, rounds=50), ""))

    # PNG encode: default vs Pillow level 1 + Z_RLE; fast vs fpng (sizes too).
    rgb = photo(1024, 3)

    def pillow_rle():
        b = io.BytesIO()
        Image.fromarray(rgb).save(b, format="PNG", compress_level=1, compress_type=zlib.Z_RLE)
        return b.getvalue()

    ours_default, ours_fast = _ops.encode_png(rgb), _ops.encode_png(rgb, fast=True)
    ref = pillow_rle()
    rows.append(("png encode default 1024² RGB", "pillow L1+RLE", best_time(pillow_rle, 3),
                 best_time(lambda: _ops.encode_png(rgb)), f"size ×{len(ours_default) / len(ref):.3f}"))
    try:
        import fpng

        fp = fpng.from_ndarray(rgb)
        rows.append(("png encode fast 1024² RGB", "fpng", best_time(lambda: fpng.from_ndarray(rgb)),
                     best_time(lambda: _ops.encode_png(rgb, fast=True)), f"size ×{len(ours_fast) / len(fp):.3f}"))
    except ImportError:
        print("# fpng not installed: skipping the fast-mode comparison", file=sys.stderr)

    # Resize: fir single-threaded vs ours with 1 and 2 threads.
    try:
        from cykooz_resizer import FilterType, ResizeAlg, ResizeOptions, Resizer

        rgba = photo(2048, 4)
        src = Image.frombuffer("RGBa", (2048, 2048), rgba.tobytes(), "raw", "RGBa", 0, 1)
        resizer = Resizer()
        for target, method, filt in ((1024, "lanczos", FilterType.lanczos3), (1024, "bilinear", FilterType.bilinear)):
            dst = Image.new("RGBa", (target, target))
            opts = ResizeOptions(resize_alg=ResizeAlg.convolution(filt))
            t_fir = best_time(lambda: resizer.resize_pil(src, dst, opts))
            for threads in (1, 2):
                _ops.set_num_threads(threads)
                t = best_time(lambda: _ops.rescale(rgba, target, target, 0, method))
                rows.append((f"resize 2048→{target} {method} ({threads} thr)", "fir 1 thread", t_fir, t, ""))
            _ops.set_num_threads(0)
    except ImportError:
        print("# cykooz.resizer not installed: skipping the resize thread comparison", file=sys.stderr)

    print("\n| case | peer | peer ms | sfumato ms | ratio | note |\n|---|---|---|---|---|---|")
    for case, peer, tp, to, note in rows:
        print(f"| {case} | {peer} | {tp * 1e3:.2f} | {to * 1e3:.2f} | {to / tp:.2f} | {note} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_peers = os.environ.get("SFUMATO_PEERS_SCRIPT", str(REPO.parent / "shared" / "bench" / "imageops_peers.py"))
    ap.add_argument("--peers", default=default_peers, help="path to imageops_peers.py")
    ap.add_argument("--sizes", default="1024,2048")
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--skip-targeted", action="store_true")
    ap.add_argument("--rows", action="store_true", help="only issue #17's kernel rows (ratios against limits)")
    ap.add_argument("--check", action="store_true", help="with --rows: exit 1 when a ratio is over its limit")
    ap.add_argument("--rounds", type=int, default=15, help="round-robin rounds per row (medians)")
    ap.add_argument("peer_args", nargs="*", help="extra arguments for the peer script (after --)")
    a = ap.parse_args()
    if a.rows:
        ok = print_kernel_rows(kernel_rows(Path(a.peers), a.rounds))
        sys.exit(0 if ok or not a.check else 1)
    if not a.skip_peers:
        script = Path(a.peers)
        if script.exists():
            run_peers(script, a.sizes, a.peer_args)
        else:
            print(f"# peer script not found at {script}; pass --peers", file=sys.stderr)
    if not a.skip_targeted:
        targeted()


if __name__ == "__main__":
    main()
