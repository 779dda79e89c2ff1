"""Loading a pipeline through diffusers' own loaders, and placing it on a device."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sfumato_diffusers.model_source import ModelSource, hub_offline, safetensors_keys
from sfumato_diffusers.options import EngineOptions


class ModelLoadError(RuntimeError):
    """The configured model cannot be loaded; the message says why and what to do."""


def choose_device(options: EngineOptions) -> torch.device:
    if options.device != "auto":
        if options.device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError(f"options.device = {options.device!r} but CUDA is not available")
        if options.device == "mps" and not torch.backends.mps.is_available():
            raise ModelLoadError("options.device = 'mps' but MPS is not available")
        return torch.device(options.device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def choose_dtype(options: EngineOptions, device: torch.device) -> torch.dtype:
    if options.dtype != "auto":
        return getattr(torch, options.dtype)
    # Half precision where the hardware is made for it; CPU half is slow and lossy.
    return torch.float16 if device.type in ("cuda", "mps") else torch.float32


@dataclass(frozen=True)
class Loaded:
    pipe: Any
    safety_components: dict[str, Any]


def _from_folder(folder: str, dtype: torch.dtype, keep_safety: bool, **kwargs: Any) -> Any:
    from diffusers import DiffusionPipeline

    index_path = Path(folder) / "model_index.json"
    if not index_path.exists():
        raise ModelLoadError(f"{folder} is not a diffusers model folder (no model_index.json)")
    index = json.loads(index_path.read_text(encoding="utf-8"))
    if not keep_safety and "safety_checker" in index:
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return DiffusionPipeline.from_pretrained(folder, torch_dtype=dtype, local_files_only=True, **kwargs)


def _from_hub(model_id: str, dtype: torch.dtype, keep_safety: bool) -> Any:
    from diffusers import DiffusionPipeline

    kwargs: dict[str, Any] = {}
    if not keep_safety:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    try:
        return DiffusionPipeline.from_pretrained(
            model_id, torch_dtype=dtype, local_files_only=hub_offline(), **kwargs
        )
    except (OSError, ValueError) as exc:
        if hub_offline():
            raise ModelLoadError(
                f"model {model_id!r} is a hub id but the hub is offline (HF_HUB_OFFLINE=1) and it is not "
                f"in the local Hugging Face cache; download it where there is network, or point "
                f"'model' at a local diffusers folder ({exc})"
            ) from exc
        raise ModelLoadError(f"could not load {model_id!r} from the Hugging Face hub: {exc}") from exc


def _from_single_file(path: str, dtype: torch.dtype, options: EngineOptions) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    file = Path(path)
    if not file.is_file():
        raise ModelLoadError(f"single-file checkpoint {path} does not exist")
    is_xl = file.suffix == ".safetensors" and any(
        k.startswith("conditioner.embedders.1") for k in safetensors_keys(file)
    )
    cls = StableDiffusionXLPipeline if is_xl else StableDiffusionPipeline
    kwargs: dict[str, Any] = {"torch_dtype": dtype}
    if options.config:
        kwargs["config"] = options.config
    if hub_offline():
        kwargs["local_files_only"] = True
    if options.prediction_type:
        kwargs["prediction_type"] = options.prediction_type
    try:
        return cls.from_single_file(str(file), **kwargs)
    except (OSError, ValueError) as exc:
        hint = (
            " Offline, diffusers needs the matching configs: set options.config to a local diffusers "
            "folder of the same architecture."
            if hub_offline() and not options.config
            else ""
        )
        raise ModelLoadError(f"could not load single-file checkpoint {path}: {exc}.{hint}") from exc


def load_pipeline(
    source: ModelSource, options: EngineOptions, dtype: torch.dtype, report: Callable[[str], None]
) -> Any:
    keep_safety = options.safety_checker != "off"
    if source.kind in ("tiny", "folder"):
        report(f"loading diffusers folder {source.location}")
        pipe = _from_folder(source.location, dtype, keep_safety)
    elif source.kind == "hub":
        report(f"loading {source.location} from the Hugging Face hub")
        pipe = _from_hub(source.location, dtype, keep_safety)
    else:
        report(f"loading single-file checkpoint {source.location}")
        pipe = _from_single_file(source.location, dtype, options)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def place_pipeline(pipe: Any, device: torch.device, options: EngineOptions, report: Callable[[str], None]) -> None:
    """Move to the device and apply the memory options."""
    if options.cpu_offload == "model":
        report("enabling model CPU offload")
        pipe.enable_model_cpu_offload(device=device)
    elif options.cpu_offload == "sequential":
        report("enabling sequential CPU offload")
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    if options.attention_slicing:
        pipe.enable_attention_slicing()
    if options.vae_tiling:
        pipe.vae.enable_tiling()
