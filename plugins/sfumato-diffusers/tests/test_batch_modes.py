"""batch_mode: "batched" (the default) runs one pipeline call per batch, "sequential" one per image
and is byte-identical to single runs; classifier-free guidance runs both branches in one UNet call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from _support import generate, make_engine, make_job, one
from sfumato.jobs.job import HiresSettings, LoraInput, SamplerSettings

from sfumato_diffusers.tiny import make_tiny_lora

SEEDS = [3, 4, 5]


@pytest.fixture(scope="module")
def sequential_engine(cache_dir: str):
    return make_engine("tiny-sd", cache_dir, batch_mode="sequential")


@contextmanager
def unet_batches(engine) -> Iterator[list[int]]:
    """The batch dimension of every UNet forward call made inside the block."""
    seen: list[int] = []

    def record(module, args, kwargs) -> None:
        sample = args[0] if args else kwargs["sample"]
        seen.append(int(sample.shape[0]))

    handle = engine.pipe.unet.register_forward_pre_hook(record, with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


def test_the_default_is_batched_and_sequential_is_kept(engine, sequential_engine):
    assert engine.options.batch_mode == "batched" and not engine._sequential
    assert sequential_engine._sequential


@pytest.mark.parametrize("sampler", ["SAMPLER_K_EULER", "SAMPLER_K_EULER_ANCESTRAL", "SAMPLER_K_DPMPP_SDE"])
def test_sequential_mode_is_byte_identical_to_single_runs(sequential_engine, sampler):
    together = generate(sequential_engine, make_job(seeds=SEEDS, sampler=sampler))
    for seed, image in zip(SEEDS, together):
        assert np.array_equal(image, one(sequential_engine, seeds=[seed], sampler=sampler))
    assert not np.array_equal(together[0], together[1])


def test_batched_mode_stays_within_the_documented_difference(engine):
    # docs/diffusers.md: one call per batch moves a uint8 value by at most 1, in well under 1% of values.
    together = generate(engine, make_job(seeds=SEEDS))
    for seed, image in zip(SEEDS, together):
        delta = np.abs(image.astype(np.int16) - one(engine, seeds=[seed]).astype(np.int16))
        assert delta.max() <= 1 and (delta > 0).mean() < 0.01
    assert not np.array_equal(together[0], together[1])


def _init(size: int = 64) -> np.ndarray:
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    return np.stack([np.repeat(ramp[None, :], size, 0)] * 3, axis=-1).astype(np.uint8)


def _mask(size: int = 64) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    mask[:, : size // 2] = 1.0
    return mask


@pytest.fixture(scope="module")
def lora(tiny_model_dir) -> LoraInput:
    data = make_tiny_lora(tiny_model_dir, "peft", seed=3)
    return LoraInput(weight=1.0, safetensors=data, key=LoraInput.content_key(data))


# (job fields, UNet calls for 4 steps): txt2img runs every step, strength 0.5 half of them, the
# hires fix adds a refining pass at hires_strength 0.55 (int(4 × 0.55) = 2; with an init image
# min(0.55, strength 0.5) also gives 2).
PATHS = {
    "txt2img": (dict(), 4),
    "img2img": (dict(init_image=_init(), strength=0.5), 2),
    "inpainting": (dict(init_image=_init(), mask=_mask(), strength=1.0), 4),
    "hires": (dict(width=128, height=64, hires=HiresSettings(True, 0.0)), 4 + 2),
    "hires img2img": (dict(width=128, height=64, init_image=_init(64).repeat(2, axis=1), strength=0.5,
                           hires=HiresSettings(True, 0.0)), 2 + 2),
    "lora": (dict(), 4),
}


def _count_calls(target, **fields) -> list[int]:
    with unet_batches(target) as seen:
        generate(target, make_job(**fields))
    return seen


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("mode", ["batched", "sequential"])
def test_guidance_branches_share_one_unet_call(engine, sequential_engine, lora, path, mode):
    fields, calls = PATHS[path]
    fields = dict(fields, seeds=SEEDS[:2], steps=4)
    if path == "lora":
        fields["loras"] = [lora]
    seen = _count_calls(engine if mode == "batched" else sequential_engine, **fields)
    # Each call carries both guidance branches (negative and positive) of every image it runs:
    # batched, both images in one call per step; sequential, one image per call, twice as many calls.
    images_per_call = 2 if mode == "batched" else 1
    assert seen == [2 * images_per_call] * (calls * 2 // images_per_call), seen


def test_guidance_branches_share_one_call_on_an_inpainting_unet(inpaint_engine):
    seen = _count_calls(inpaint_engine, seeds=SEEDS[:2], steps=4, init_image=_init(), mask=_mask(), strength=1.0)
    assert seen == [4] * 4, seen


def test_guidance_scale_one_runs_a_single_branch(engine):
    # The count above is not vacuous: without guidance diffusers runs one branch, half the batch.
    seen = _count_calls(engine, seeds=SEEDS[:2], steps=4, sampler=SamplerSettings("SAMPLER_K_EULER", cfg_scale=1.0))
    assert seen == [2] * 4, seen
