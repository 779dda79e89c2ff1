"""The ``options`` table of a diffusers engine's config entry, parsed and checked (no torch)."""

from __future__ import annotations

from collections.abc import Mapping
import re
from dataclasses import dataclass
from typing import Any

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float16", "bfloat16", "float32")
SAFETY_MODES = ("off", "flag", "block")
CPU_OFFLOAD_MODES = ("off", "model", "sequential")
# "auto" is kept for older configs: it now means "batched" on every device.
BATCH_MODES = ("batched", "sequential", "auto")
# The GPU path (sfumato_diffusers.acceleration; docs/diffusers.md, "GPU path").
COMPILE_TARGETS = ("off", "unet", "unet+vae")
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead")
COMPILE_DYNAMIC = ("auto", "true", "false")
VAE_DTYPES = DTYPES
# Options that only mean something while options.compile is on.
COMPILE_SETTINGS = ("compile_mode", "compile_backend", "compile_dynamic", "compile_warmup_sizes")


@dataclass(frozen=True)
class EngineOptions:
    device: str = "auto"  # cuda:N also accepted
    dtype: str = "auto"
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: str = "off"
    safety_checker: str = "off"
    lora_cache_size: int = 8
    batch_mode: str = "batched"
    hires_strength: float = 0.55
    max_prompt_chunks: int = 8
    prompt_cache_size: int = 32  # prompt encodings kept for reuse (LRU); 0 = off (sfumato_diffusers.prompts)
    cpu_threads: int = 0  # torch intra-op threads; 0 = auto (sfumato_diffusers.threads)
    native_size: int | None = None  # override for single files whose size cannot be read
    prediction_type: str | None = None  # "epsilon" / "v_prediction" for single files
    config: str | None = None  # a local diffusers folder giving configs for a single file
    # CLIP guidance: a local CLIP folder (CLIPModel + tokenizer) or "tiny-clip" (random, built offline);
    # unset = none, except that the embedded tiny-sd model carries "tiny-clip".
    clip_model: str | None = None
    clip_cutouts: int = 4  # random crops of the decoded image the CLIP loss averages over
    clip_max_cutouts: int = 32  # the most a request (cutouts.count or a preset) may ask for
    # The GPU path: all off by default, so the default configuration runs as plain diffusers.
    compile: str = "off"  # torch.compile of the UNet ("unet") and the VAE decoder ("unet+vae")
    compile_mode: str = "default"
    compile_backend: str = "inductor"
    compile_dynamic: str = "auto"  # torch.compile(dynamic=None / True / False)
    # (width, height) pairs warmed up (compiled) at load; empty = the native size only.
    compile_warmup_sizes: tuple[tuple[int, int], ...] = ()
    channels_last: bool = False
    fuse_qkv: bool = False
    vae_dtype: str = "auto"  # "auto" = the pipeline's dtype


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = str(value).lower()
    if text not in allowed and not (name == "device" and text.startswith("cuda:")):
        raise ValueError(f"options.{name} = {value!r}; allowed: {', '.join(allowed)}")
    return text


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"options.{name} must be true or false, got {value!r}")


def _warmup_size(value: Any) -> tuple[int, int]:
    """512 (a square), "768x512" or [768, 512] → (width, height), each a positive multiple of 8."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = (value, value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+\s*[xX×]\s*\d+\s*", value):
        width, height = re.split(r"[xX×]", value)
        size = (int(width), int(height))
    elif (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        size = (value[0], value[1])
    else:
        raise ValueError(
            f"options.compile_warmup_sizes: {value!r} is not a size; give 512, \"768x512\" or [768, 512]"
        )
    if min(size) < 8 or size[0] % 8 or size[1] % 8:
        raise ValueError(f"options.compile_warmup_sizes: {value!r} must be positive multiples of 8 pixels")
    return size


def _warmup_sizes(value: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"options.compile_warmup_sizes must be a list of sizes, got {value!r}")
    return tuple(_warmup_size(item) for item in value)


def _dynamic(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _choice("compile_dynamic", value, COMPILE_DYNAMIC)


def parse_options(raw: Mapping[str, Any]) -> EngineOptions:
    known = set(EngineOptions.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown diffusers engine option(s) {unknown}; known: {sorted(known)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "device":
            values[key] = _choice(key, value, DEVICES)
        elif key == "dtype":
            values[key] = _choice(key, value, DTYPES)
        elif key == "safety_checker":
            values[key] = _choice(key, value, SAFETY_MODES)
        elif key == "batch_mode":
            values[key] = _choice(key, value, BATCH_MODES)
        elif key == "cpu_offload":
            values[key] = _choice(key, "off" if value is False else value, CPU_OFFLOAD_MODES)
        elif key == "compile":
            values[key] = _choice(key, "off" if value is False else value, COMPILE_TARGETS)
        elif key == "compile_mode":
            values[key] = _choice(key, value, COMPILE_MODES)
        elif key == "compile_dynamic":
            values[key] = _dynamic(value)
        elif key == "compile_warmup_sizes":
            values[key] = _warmup_sizes(value)
        elif key == "compile_backend":
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"options.compile_backend must be a torch.compile backend name, got {value!r}")
            values[key] = value.strip()
        elif key == "vae_dtype":
            values[key] = _choice(key, value, VAE_DTYPES)
        elif key in ("attention_slicing", "vae_tiling", "channels_last", "fuse_qkv"):
            values[key] = _flag(key, value)
        elif key in ("cpu_threads", "prompt_cache_size"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                meaning = "auto" if key == "cpu_threads" else "off"
                raise ValueError(f"options.{key} must be 0 ({meaning}) or a positive integer, got {value!r}")
            values[key] = value
        elif key in ("lora_cache_size", "max_prompt_chunks", "native_size", "clip_cutouts",
                     "clip_max_cutouts"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"options.{key} must be a positive integer, got {value!r}")
            values[key] = value
        elif key == "hires_strength":
            if not isinstance(value, (int, float)) or not 0.0 < float(value) <= 1.0:
                raise ValueError(f"options.hires_strength must be in (0, 1], got {value!r}")
            values[key] = float(value)
        elif key == "prediction_type":
            values[key] = _choice(key, value, ("epsilon", "v_prediction"))
        else:
            values[key] = str(value)
    if values.get("fuse_qkv") and values.get("attention_slicing"):
        # Both choose the attention processor; the fused one would silently replace the sliced one.
        raise ValueError("options.fuse_qkv and options.attention_slicing exclude each other; set one")
    if values.get("compile", "off") == "off":
        idle = [key for key in COMPILE_SETTINGS if key in raw]
        if idle:
            raise ValueError(
                f"options.{idle[0]} only applies with options.compile = \"unet\" or \"unet+vae\" "
                "(compile is off)"
            )
    return EngineOptions(**values)
