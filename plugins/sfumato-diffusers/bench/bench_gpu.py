"""The GPU path against bare diffusers on the same card: SD 1.5-size UNet/VAE/CLIP with random
weights (built offline from the configs below, no hub), 512², 20 steps, batch 1 and 8.

Three rows per batch size, each the median of --repeats timed calls after an untimed one:
  bare     StableDiffusionPipeline, eager, the same scheduler (Euler) and guidance;
  engine   DiffusersEngine with its defaults (no GPU-path option);
  fast     DiffusersEngine with the GPU-path options (--options, JSON; default below).
it/s counts denoising steps of one call (a batch's images share each step); images/s is the batch
over the call's time. Ratios are against "bare". The target (issue #17): fast ≥ 1.5× bare at
batch 1, images/s near-linear up to batch 8. TensorRT's reference: ~0.75 s for 50 steps at 512²
on an H100 (≈ 67 it/s); the script says how far batch 1 is from it.

Run (GPU):  PYTHONPATH=host:plugins/sfumato-diffusers/src python plugins/sfumato-diffusers/bench/bench_gpu.py
            [--json out.json] [--options '{"compile": "unet+vae", ...}']
Smoke (CPU, tiny model, seconds): ... bench_gpu.py --smoke
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

PROMPT = "a red cat on a blue sky"
CFG = 7.5
SAMPLER = "SAMPLER_K_EULER"
TENSORRT_H100_S_PER_50_STEPS = 0.75
FAST_OPTIONS = {
    "compile": "unet+vae",
    "compile_mode": "max-autotune-no-cudagraphs",
    "channels_last": True,
    "fuse_qkv": True,
}

# Stable Diffusion 1.5's shapes (its published configs), random weights.
SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    cross_attention_dim=768, attention_head_dim=8,
)
SD15_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
)
SD15_CLIP = dict(
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
    num_attention_heads=12, projection_dim=768, hidden_act="quick_gelu", max_position_embeddings=77,
)
SD15_SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def build_sd15(folder: Path, dtype: torch.dtype) -> Path:
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from sfumato_diffusers.tiny import build_tokenizer

    tokenizer = build_tokenizer(max_length=77)  # a small offline vocabulary; the encoder keeps SD's width
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        unet = UNet2DConditionModel(**SD15_UNET)
        vae = AutoencoderKL(**SD15_VAE)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            **SD15_CLIP, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ))
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        scheduler=EulerDiscreteScheduler(**SD15_SCHEDULER),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.to(dtype).save_pretrained(folder, safe_serialization=True)
    log(f"SD 1.5-size model: UNet {sum(p.numel() for p in unet.parameters()) / 1e6:.0f} M parameters")
    return folder


def median_seconds(run: Callable[[], None], repeats: int) -> float:
    run()  # untimed: compilation of a new shape, cudnn autotuning, the allocator
    times = []
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model, tiny sizes, on CPU: checks the script runs")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, help="timed calls per row (default 5; 1 with --smoke)")
    parser.add_argument("--options", default=json.dumps(FAST_OPTIONS), help="GPU-path engine options, JSON")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.size, args.steps, args.batches = 64, 2, "1,2"
        args.repeats = args.repeats or 1
        if args.options == json.dumps(FAST_OPTIONS):  # a cold CPU compile takes minutes
            args.options = json.dumps({"channels_last": True, "fuse_qkv": True})
        torch.set_num_threads(1)  # the same pool for every row (the engine would size its own)
    args.repeats = args.repeats or 5
    fast_options = json.loads(args.options)
    batches = [int(b) for b in args.batches.split(",")]

    from diffusers import StableDiffusionPipeline
    from sfumato.engines import EngineConfig, EngineServices
    from sfumato.jobs.job import GenerationJob, ImageTask, SamplerSettings, WeightedText
    from sfumato.records import resolve

    from sfumato_diffusers.engine import DiffusersEngine
    from sfumato_diffusers.samplers.catalog import SAMPLERS

    cuda = torch.cuda.is_available()
    device_name = torch.cuda.get_device_name(0) if cuda else "CPU"
    log(f"torch {torch.__version__}, device {device_name}")
    if not cuda and not args.smoke:
        log("no CUDA: these are CPU numbers, not GPU ones")
    dtype = torch.float16 if cuda else torch.float32
    specs = {spec.name: spec for spec in SAMPLERS}
    workdir = Path(tempfile.mkdtemp(prefix="sfumato-bench-gpu-"))
    if args.smoke:
        from sfumato_diffusers.tiny import build_tiny_pipeline

        folder = build_tiny_pipeline(workdir / "tiny-sd")
    else:
        folder = build_sd15(workdir / "sd15-random", dtype)
    sampler = SamplerSettings(SAMPLER, cfg_scale=CFG)

    def engine_with(options: dict) -> DiffusersEngine:
        engine = DiffusersEngine(
            EngineConfig(id="bench", kind="diffusers", model=str(folder),
                         # No prompt reuse: every call encodes its prompt, as the bare pipeline does.
                         options={"dtype": str(dtype).removeprefix("torch."), "prompt_cache_size": 0,
                                  **({"cpu_threads": torch.get_num_threads()} if not cuda else {}), **options}),
            EngineServices(samplers=specs, cache_dir=str(workdir)),
        )
        started = time.perf_counter()
        engine.load(lambda line: log(f"  load: {line}"))
        log(f"  loaded in {time.perf_counter() - started:.1f} s")
        return engine

    def through(engine: DiffusersEngine, batch: int) -> Callable[[], None]:
        job = GenerationJob(request_id="bench", engine_id="bench", width=args.size, height=args.size,
                            seeds=list(range(1, batch + 1)), steps=args.steps, sampler=sampler,
                            prompt=[WeightedText(PROMPT)])
        engine.validate(job)
        tasks = [ImageTask(job, i, seed) for i, seed in enumerate(job.seeds)]
        return lambda: engine.generate(tasks, lambda done, total: None, job.cancel)

    bare = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=dtype, local_files_only=True,
                                                   safety_checker=None).to("cuda" if cuda else "cpu")
    bare.set_progress_bar_config(disable=True)
    factory = resolve(specs[SAMPLER].factory)

    def bare_call(batch: int) -> Callable[[], None]:
        def run() -> None:
            bare.scheduler = factory(dict(bare.scheduler.config), sampler)
            bare([PROMPT] * batch, num_inference_steps=args.steps, guidance_scale=CFG, width=args.size,
                 height=args.size, generator=[torch.Generator().manual_seed(s) for s in range(1, batch + 1)],
                 output_type="np")
        return run

    rows: list[dict] = []

    def measure(name: str, run_for: Callable[[int], Callable[[], None]]) -> None:
        for batch in batches:
            seconds = median_seconds(run_for(batch), args.repeats)
            rows.append({"row": name, "batch": batch, "s_per_call": seconds,
                         "it_per_s": args.steps / seconds, "images_per_s": batch / seconds})
            log(f"{name:>6} batch {batch}: {args.steps / seconds:7.2f} it/s, {batch / seconds:7.2f} images/s")

    log("bare diffusers, eager")
    measure("bare", bare_call)
    del bare
    log("engine, default options")
    plain = engine_with({})
    measure("engine", lambda batch: through(plain, batch))
    plain.close()
    log(f"engine, GPU-path options {fast_options}")
    fast = engine_with(fast_options)
    measure("fast", lambda batch: through(fast, batch))

    bare_rows = {r["batch"]: r for r in rows if r["row"] == "bare"}
    print(f"\n{device_name}, {args.size}², {args.steps} steps, fp{16 if cuda else 32}, medians of {args.repeats}")
    print(f"{'row':>6} {'batch':>5} {'it/s':>8} {'images/s':>9} {'× bare':>7}")
    for r in rows:
        r["vs_bare"] = r["images_per_s"] / bare_rows[r["batch"]]["images_per_s"]
        print(f"{r['row']:>6} {r['batch']:>5} {r['it_per_s']:8.2f} {r['images_per_s']:9.2f} {r['vs_bare']:7.2f}")
    fast_rows = {r["batch"]: r for r in rows if r["row"] == "fast"}
    summary: dict = {"device": device_name, "size": args.size, "steps": args.steps, "repeats": args.repeats,
                     "options": fast_options, "rows": rows}
    if 1 in fast_rows:
        fifty_steps = 50 / fast_rows[1]["it_per_s"]
        summary["s_per_50_steps_batch1"] = fifty_steps
        print(f"batch 1, 50 steps: {fifty_steps:.2f} s vs TensorRT's ~{TENSORRT_H100_S_PER_50_STEPS} s on an H100 "
              f"({fifty_steps / TENSORRT_H100_S_PER_50_STEPS:.2f}×)")
    if 1 in fast_rows and len(fast_rows) > 1:
        largest = max(fast_rows)
        scaling = fast_rows[largest]["images_per_s"] / fast_rows[1]["images_per_s"]
        summary["images_per_s_scaling"] = {"batch": largest, "ratio": scaling}
        print(f"images/s at batch {largest} vs batch 1: {scaling:.2f}× (linear: {largest}×)")
    if cuda:
        summary["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        print(f"peak GPU memory {summary['peak_gib']:.1f} GiB")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


if __name__ == "__main__":
    main()
