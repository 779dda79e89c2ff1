"""GPU check: a full-size SD 1.5 architecture (random weights, built offline) at 512×512,
20 steps, fp16, through DiffusersEngine and through a bare diffusers pipeline.

Run: PYTHONPATH=host:plugins/sfumato-diffusers/src python plugins/sfumato-diffusers/bench/gpu_check.py
Prints the device and it/s of both; exits non-zero on any failure. Takes ~30 s on an H200
(measured: engine 36.7 it/s, bare pipeline 34.0 it/s, 4.7 GiB peak).
GPU_CHECK_STEPS / GPU_CHECK_SIZE shrink it for a CPU dry run.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

STEPS = int(os.environ.get("GPU_CHECK_STEPS", "20"))
SIZE = int(os.environ.get("GPU_CHECK_SIZE", "512"))
CFG, RUNS = 7.5, 3
PROMPT = "a red cat on a blue sky"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def build_sd15_folder(folder: Path) -> None:
    """SD 1.5's UNet/VAE/text-encoder shapes with random weights; a small offline tokenizer."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from sfumato_diffusers.tiny import build_tokenizer

    tokenizer = build_tokenizer(max_length=77)
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        unet = UNet2DConditionModel(
            sample_size=64,
            block_out_channels=(320, 640, 1280, 1280),
            layers_per_block=2,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            cross_attention_dim=768,
            attention_head_dim=8,
        )
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2,
            latent_channels=4,
            sample_size=512,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=49408,
                hidden_size=768,
                intermediate_size=3072,
                num_hidden_layers=12,
                num_attention_heads=12,
                projection_dim=768,
                hidden_act="quick_gelu",
                max_position_embeddings=77,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    log(f"UNet parameters: {sum(p.numel() for p in unet.parameters()) / 1e6:.0f} M")


def seconds_per_run(fn) -> float:
    fn()  # warm-up (cudnn autotune, allocator)
    times = []
    for _ in range(RUNS):
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    started = time.perf_counter()
    log(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    if torch.cuda.is_available():
        log(f"device: {torch.cuda.get_device_name(0)}")
    else:
        log("device: CPU (no CUDA) - numbers are not GPU numbers")

    from diffusers import StableDiffusionPipeline
    from sfumato.engines import EngineConfig, EngineServices
    from sfumato.jobs.job import GenerationJob, ImageTask, SamplerSettings, WeightedText
    from sfumato.records import resolve

    from sfumato_diffusers.engine import DiffusersEngine
    from sfumato_diffusers.samplers.catalog import SAMPLERS

    specs = {spec.name: spec for spec in SAMPLERS}
    workdir = Path(tempfile.mkdtemp(prefix="sfumato-gpu-check-"))
    folder = workdir / "sd15-random"
    log("building the SD 1.5-shaped model (random weights)")
    build_sd15_folder(folder)
    log(f"built and saved in {time.perf_counter() - started:.0f}s")

    dtype = "float16" if torch.cuda.is_available() else "float32"
    engine = DiffusersEngine(
        EngineConfig(id="sd15", kind="diffusers", model=str(folder), options={"dtype": dtype}),
        EngineServices(samplers=specs, cache_dir=str(workdir)),
    )
    engine.load(lambda line: log(f"engine: {line}"))
    sampler = SamplerSettings("SAMPLER_K_EULER", cfg_scale=CFG)
    job = GenerationJob(
        request_id="gpu-check", engine_id="sd15", width=SIZE, height=SIZE, seeds=[1], steps=STEPS,
        sampler=sampler, prompt=[WeightedText(PROMPT)],
    )
    engine.validate(job)

    def through_engine() -> None:
        engine.generate([ImageTask(job, 0, 1)], lambda done, total: None, job.cancel)

    t_engine = seconds_per_run(through_engine)
    log(f"engine: {STEPS / t_engine:.2f} it/s ({t_engine:.3f} s per image)")

    bare = StableDiffusionPipeline.from_pretrained(
        folder, torch_dtype=getattr(torch, dtype), local_files_only=True, safety_checker=None
    ).to(engine.pipe.device)
    bare.set_progress_bar_config(disable=True)
    factory = resolve(specs["SAMPLER_K_EULER"].factory)

    def bare_pipeline() -> None:
        bare.scheduler = factory(dict(bare.scheduler.config), sampler)
        bare(PROMPT, num_inference_steps=STEPS, guidance_scale=CFG, width=SIZE, height=SIZE,
             generator=torch.Generator().manual_seed(1), output_type="np")

    t_bare = seconds_per_run(bare_pipeline)
    log(f"bare diffusers pipeline: {STEPS / t_bare:.2f} it/s ({t_bare:.3f} s per image)")
    log(f"engine / bare time ratio: {t_engine / t_bare:.3f}")
    if torch.cuda.is_available():
        log(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    log(f"total {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
