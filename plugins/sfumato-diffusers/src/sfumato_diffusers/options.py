"""The ``options`` table of a diffusers engine's config entry, parsed and checked (no torch)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float16", "bfloat16", "float32")
SAFETY_MODES = ("off", "flag", "block")
CPU_OFFLOAD_MODES = ("off", "model", "sequential")
# "auto" is kept for older configs: it now means "batched" on every device.
BATCH_MODES = ("batched", "sequential", "auto")


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
    cpu_threads: int = 0  # torch intra-op threads; 0 = auto (sfumato_diffusers.threads)
    native_size: int | None = None  # override for single files whose size cannot be read
    prediction_type: str | None = None  # "epsilon" / "v_prediction" for single files
    config: str | None = None  # a local diffusers folder giving configs for a single file
    # CLIP guidance: a local CLIP folder (CLIPModel + tokenizer) or "tiny-clip" (random, built offline);
    # unset = none, except that the embedded tiny-sd model carries "tiny-clip".
    clip_model: str | None = None
    clip_cutouts: int = 4  # random crops of the decoded image the CLIP loss averages over
    clip_max_cutouts: int = 32  # the most a request (cutouts.count or a preset) may ask for


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = str(value).lower()
    if text not in allowed and not (name == "device" and text.startswith("cuda:")):
        raise ValueError(f"options.{name} = {value!r}; allowed: {', '.join(allowed)}")
    return text


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"options.{name} must be true or false, got {value!r}")


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
        elif key in ("attention_slicing", "vae_tiling"):
            values[key] = _flag(key, value)
        elif key == "cpu_threads":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"options.cpu_threads must be 0 (auto) or a positive integer, got {value!r}")
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
    return EngineOptions(**values)
