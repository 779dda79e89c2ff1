"""The GPU-path options on CPU: they parse, refuse bad values, and leave images as the plain engine
makes them (within stated tolerances), LoRA included; compilation falls back to eager on failure.

Tolerances, in 8-bit levels against the plain float32 engine (tiny-sd 64², 4 Euler steps):
channels-last and fused QKV change the order of float32 sums only: max |Δ| ≤ 1. A float16 VAE
decoder: ≤ 2; bfloat16 (8 mantissa bits): ≤ 6.
"""

from __future__ import annotations

import logging
import os
import re

import numpy as np
import pytest
import torch
from _support import make_engine, one
from sfumato.jobs.job import LoraInput

from sfumato_diffusers.acceleration import COMPILE_CACHE_FOLDER, compile_cache_dir
from sfumato_diffusers.options import parse_options
from sfumato_diffusers.tiny import make_tiny_lora
from sfumato_diffusers.vae_precision import GuardedDecode, decoder_modules

SUMMATION_ORDER_LEVELS = 1


def _max_levels(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


@pytest.fixture(scope="module")
def lora(tiny_model_dir) -> LoraInput:
    data = make_tiny_lora(tiny_model_dir, "peft", seed=5)  # scale 0.5: strong, not chaotic
    return LoraInput(weight=1.0, safetensors=data, key=LoraInput.content_key(data))


# -- options ------------------------------------------------------------------------------------


def test_the_options_parse():
    options = parse_options({
        "compile": "unet+vae", "compile_mode": "max-autotune-no-cudagraphs", "compile_backend": "inductor",
        "compile_dynamic": False, "compile_warmup_sizes": [512, "768x512", [640, 384]],
        "channels_last": True, "fuse_qkv": True, "vae_dtype": "bfloat16",
    })
    assert options.compile == "unet+vae" and options.compile_mode == "max-autotune-no-cudagraphs"
    assert options.compile_dynamic == "false"
    assert options.compile_warmup_sizes == ((512, 512), (768, 512), (640, 384))
    assert options.channels_last and options.fuse_qkv and options.vae_dtype == "bfloat16"
    defaults = parse_options({})
    assert (defaults.compile, defaults.channels_last, defaults.fuse_qkv, defaults.vae_dtype) == (
        "off", False, False, "auto")


@pytest.mark.parametrize(("raw", "message"), [
    ({"compile": "yes"}, "options.compile = 'yes'; allowed: off, unet, unet+vae"),
    ({"compile": "unet", "compile_mode": "fast"}, "options.compile_mode = 'fast'; allowed"),
    ({"compile": "unet", "compile_dynamic": "maybe"}, "options.compile_dynamic = 'maybe'"),
    ({"compile": "unet", "compile_backend": ""}, "options.compile_backend must be"),
    ({"compile": "unet", "compile_warmup_sizes": 512}, "options.compile_warmup_sizes must be a list"),
    ({"compile": "unet", "compile_warmup_sizes": [500]}, "multiples of 8"),
    ({"compile": "unet", "compile_warmup_sizes": ["big"]}, "is not a size"),
    ({"compile_mode": "default"}, "options.compile_mode only applies with options.compile"),
    ({"compile_warmup_sizes": [64]}, "options.compile_warmup_sizes only applies"),
    ({"channels_last": "yes"}, "options.channels_last must be true or false"),
    ({"fuse_qkv": 1}, "options.fuse_qkv must be true or false"),
    ({"vae_dtype": "fp16"}, "options.vae_dtype = 'fp16'; allowed: auto, float16, bfloat16, float32"),
    ({"fuse_qkv": True, "attention_slicing": True}, "options.fuse_qkv and options.attention_slicing exclude"),
])
def test_bad_values_are_refused_naming_the_option(raw, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_options(raw)


# -- the default stays plain --------------------------------------------------------------------


def test_the_default_engine_is_plain_diffusers_with_sdpa(engine):
    unet = engine.pipe.unet
    # torch 2's scaled_dot_product_attention is diffusers' default processor: nothing to switch on.
    assert {type(p).__name__ for p in unet.attn_processors.values()} == {"AttnProcessor2_0"}
    assert not isinstance(engine.pipe.vae.decode, GuardedDecode)
    assert unet._compiled_call_impl is None
    assert unet.conv_in.weight.is_contiguous()


# -- layout options -----------------------------------------------------------------------------


def test_channels_last_gives_the_plain_image(engine, cache_dir):
    fast = make_engine("tiny-sd", cache_dir, channels_last=True)
    assert fast.pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert fast.pipe.vae.decoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert _max_levels(one(fast), one(engine)) <= SUMMATION_ORDER_LEVELS


def test_fused_qkv_gives_the_plain_image(engine, cache_dir):
    fused = make_engine("tiny-sd", cache_dir, fuse_qkv=True)
    assert {type(p).__name__ for p in fused.pipe.unet.attn_processors.values()} == {"FusedAttnProcessor2_0"}
    assert _max_levels(one(fused), one(engine)) <= SUMMATION_ORDER_LEVELS


@pytest.mark.parametrize(("options", "levels"), [
    ({"channels_last": True}, SUMMATION_ORDER_LEVELS),
    ({"fuse_qkv": True}, SUMMATION_ORDER_LEVELS),
    ({"channels_last": True, "fuse_qkv": True}, SUMMATION_ORDER_LEVELS),
    ({"vae_dtype": "float16"}, 2),
])
def test_lora_works_with_each_option(engine, cache_dir, lora, options, levels):
    fast = make_engine("tiny-sd", cache_dir, **options)
    base, styled = one(engine), one(engine, loras=[lora])
    assert _max_levels(styled, base) > 10  # the LoRA changes the image a lot ...
    assert _max_levels(one(fast, loras=[lora]), styled) <= levels  # ... and the same way with the option
    assert _max_levels(one(fast), base) <= levels  # switched off again afterwards
    if options.get("fuse_qkv"):
        # the fused processors are back once the request's adapters are off
        assert {type(p).__name__ for p in fast.pipe.unet.attn_processors.values()} == {"FusedAttnProcessor2_0"}


# -- VAE dtype ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "levels"), [("float16", 2), ("bfloat16", 6), ("float32", 0)])
def test_a_vae_dtype_decodes_close_to_float32(engine, cache_dir, dtype, levels):
    other = make_engine("tiny-sd", cache_dir, vae_dtype=dtype)
    assert next(other.pipe.vae.decoder.parameters()).dtype == getattr(torch, dtype)
    # the encoder (img2img) stays in the pipeline's dtype
    assert next(other.pipe.vae.encoder.parameters()).dtype == torch.float32
    assert _max_levels(one(other), one(engine)) <= levels


def _overflowing(engine) -> None:
    """Scale the decoder's first conv so its activations pass float16's 65504 (a float32 decode
    still normalises them away in the next GroupNorm)."""
    with torch.no_grad():
        for parameter in engine.pipe.vae.decoder.conv_in.parameters():
            parameter.mul_(1e5)


def test_a_float16_overflow_is_decoded_again_in_float32(cache_dir, caplog):
    half = make_engine("tiny-sd", cache_dir, vae_dtype="float16")
    full = make_engine("tiny-sd", cache_dir, vae_dtype="float32")
    _overflowing(half)
    _overflowing(full)
    with torch.no_grad():  # the same weights in both: the float16 ones, widened
        for mine, theirs in zip(decoder_modules(full.pipe.vae), decoder_modules(half.pipe.vae)):
            for ours, halved in zip(mine.parameters(), theirs.parameters()):
                ours.copy_(halved.float())
    # the overflow is real: a plain float16 decode of these weights is not finite
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    plain = half.pipe.vae.decode.original(latents.half(), return_dict=False)[0]
    assert not torch.isfinite(plain).all()

    with caplog.at_level(logging.WARNING, logger="sfumato.diffusers"):
        first, second = one(half), one(half, seeds=[8])
    assert np.array_equal(first, one(full)) and np.array_equal(second, one(full, seeds=[8]))
    assert half.pipe.vae.decode.fallbacks == 2
    warnings = [r for r in caplog.records if "overflowed in float16" in r.getMessage()]
    assert len(warnings) == 1  # once per engine
    # and the decoder is back in float16 after each re-decode
    assert {p.dtype for m in decoder_modules(half.pipe.vae) for p in m.parameters()} == {torch.float16}


# -- compilation --------------------------------------------------------------------------------


def test_a_failing_compile_falls_back_to_eager_with_a_warning(engine, cache_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="sfumato.diffusers"):
        fallback = make_engine("tiny-sd", cache_dir, compile="unet", compile_backend="no-such-backend")
    assert any("torch.compile failed, running without it" in r.getMessage() and "no-such-backend" in r.getMessage()
               for r in caplog.records)
    assert fallback.pipe.unet._compiled_call_impl is None
    assert np.array_equal(one(fallback), one(engine))


def test_the_compile_cache_goes_under_the_cache_dir_unless_the_environment_names_one(tmp_path, monkeypatch):
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    assert compile_cache_dir(str(tmp_path)) == str(tmp_path / COMPILE_CACHE_FOLDER)
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / COMPILE_CACHE_FOLDER)
    # inductor writes its default into the environment once used: that is not a user's choice
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())
    assert compile_cache_dir(str(tmp_path)) == str(tmp_path / COMPILE_CACHE_FOLDER)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "chosen"))
    assert compile_cache_dir(str(tmp_path)) == str(tmp_path / "chosen")


def test_cuda_graphs_mode_compiles_in_default_mode_off_cuda_with_one_info_line(cache_dir, caplog):
    # the unknown backend stops it before any compiling: only the mode choice is under test here
    with caplog.at_level(logging.INFO, logger="sfumato.diffusers"):
        make_engine("tiny-sd", cache_dir, compile="unet", compile_mode="reduce-overhead",
                    compile_backend="no-such-backend")
    lines = [r.getMessage() for r in caplog.records if "reduce-overhead" in r.getMessage()]
    assert lines == ["engine 'test': compile_mode 'reduce-overhead' is CUDA graphs; on cpu it compiles in "
                     "'default' mode"]
