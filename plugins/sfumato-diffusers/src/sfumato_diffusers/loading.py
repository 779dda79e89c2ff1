"""Loading a pipeline through diffusers' own loaders, and placing it on a device."""

from __future__ import annotations

import json
import pickle
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sfumato_diffusers.model_source import ModelSource, hub_offline, is_git_lfs_pointer, safetensors_keys
from sfumato_diffusers.options import EngineOptions

# Held by whatever builds modules: from_pretrained swaps in accelerate's process-wide
# empty-weights patch, so a module built meanwhile on another thread (a model, fused QKV
# layers, a LoRA's adapter layers) would come out with meta tensors.
MODEL_LOADING = threading.Lock()


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


def _config_is_xl(config: str) -> bool | None:
    """Whether ``options.config`` is an SDXL folder; None for a hub id (diffusers fetches it)."""
    folder = Path(config).expanduser()
    if not folder.is_dir():
        if config.startswith(("/", ".", "~")):
            raise ModelLoadError(f"options.config {config} does not exist; point it at a local diffusers folder")
        return None
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise ModelLoadError(f"options.config {config} is not a diffusers model folder (no model_index.json)")
    return "text_encoder_2" in json.loads(index_path.read_text(encoding="utf-8"))


def _architecture(is_xl: bool) -> str:
    return "SDXL" if is_xl else "SD 1.x/2.x"


def _chain(exc: BaseException) -> list[BaseException]:
    chain = [exc]
    while (inner := chain[-1].__cause__ or chain[-1].__context__) is not None and inner not in chain:
        chain.append(inner)
    return chain


def _root_cause(exc: BaseException) -> str:
    """The first failure in an exception chain, in a line: diffusers re-raises read errors generically."""
    root = next(e for e in reversed(_chain(exc)) if not isinstance(e, UnicodeDecodeError))
    text = str(root)
    if isinstance(root, pickle.UnpicklingError):
        # torch's weights_only refusal: name what the pickle wanted to run, drop the advice to disable it.
        blocked = next((line for line in text.splitlines() if "GLOBAL" in line or "Unsupported" in line), "")
        return (
            "it holds pickled objects other than tensors, which are never run (torch.load with "
            f"weights_only=True refused them{': ' + blocked.strip() if blocked else ''}); "
            "convert the file to .safetensors where you trust its source"
        )
    if isinstance(root, KeyError):  # a converter looked for a weight the file does not have
        return f"it has no weight {root} that the configured architecture needs"
    if "meta tensor" in text:  # diffusers left the weights the file lacks empty, then touched them
        return "it lacks weights that the configured architecture needs (some layers were left empty)"
    # The first sentence says what failed; diffusers and torch follow it with advice that does not apply.
    first = re.split(r"(?<=\.)\s+(?=[A-Z])", " ".join(text.split()), maxsplit=1)[0]
    return first[:600].rstrip(".") or type(root).__name__


def _missing_weights(pipe: Any) -> dict[str, list[str]]:
    """Per component, the weights no tensor of the file reached (left on the meta device)."""
    missing: dict[str, list[str]] = {}
    for name, component in pipe.components.items():
        if isinstance(component, torch.nn.Module):
            tensors = list(component.named_parameters()) + list(component.named_buffers())
            empty = [key for key, tensor in tensors if tensor.is_meta]
            if empty:
                missing[name] = empty
    return missing


def _from_single_file(path: str, dtype: torch.dtype, options: EngineOptions) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    file = Path(path)
    if not file.is_file():
        raise ModelLoadError(f"single-file checkpoint {path} does not exist")
    if file.suffix != file.suffix.lower():  # diffusers picks its reader by the exact, lowercase suffix
        raise ModelLoadError(f"single-file checkpoint {path}: rename it to end in {file.suffix.lower()}")
    try:
        if is_git_lfs_pointer(file):
            raise ValueError(f"{path} is a Git LFS pointer, not the weights; fetch them with 'git lfs pull'")
        file_is_xl = None
        if file.suffix.lower() == ".safetensors":
            file_is_xl = any(k.startswith("conditioner.embedders.1") for k in safetensors_keys(file))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not read single-file checkpoint {path}: {exc}") from exc
    config_is_xl = _config_is_xl(options.config) if options.config else None
    if file_is_xl is not None and config_is_xl is not None and file_is_xl != config_is_xl:
        raise ModelLoadError(
            f"single-file checkpoint {path} is an {_architecture(file_is_xl)} model but options.config "
            f"{options.config} is an {_architecture(config_is_xl)} folder; point options.config at a diffusers "
            "folder of the same architecture"
        )
    # A .ckpt is only read by diffusers itself, so its kind comes from the config (SD 1.x without one).
    is_xl = file_is_xl if file_is_xl is not None else bool(config_is_xl)
    cls = StableDiffusionXLPipeline if is_xl else StableDiffusionPipeline
    kwargs: dict[str, Any] = {"torch_dtype": dtype}
    if options.config:
        kwargs["config"] = str(Path(options.config).expanduser()) if config_is_xl is not None else options.config
    if hub_offline():
        kwargs["local_files_only"] = True
    if options.prediction_type:
        kwargs["prediction_type"] = options.prediction_type
    try:
        pipe = cls.from_single_file(str(file), **kwargs)
    except Exception as exc:  # diffusers raises many kinds; each becomes a load error naming the file
        if any(type(e).__module__.startswith("huggingface_hub") for e in _chain(exc)):
            hint = (" diffusers needs the configs of a diffusers model of the same architecture and could not "
                    f"get them from the Hugging Face {'cache (offline)' if hub_offline() else 'hub'}: set "
                    "options.config to a local diffusers folder of the same architecture.")
        elif isinstance(exc, OSError):  # diffusers' wrapper for a file it could not read
            hint = ""
        elif options.config:
            hint = f" Its architecture must match options.config {options.config}."
        else:
            hint = ""
        raise ModelLoadError(f"could not load single-file checkpoint {path}: {_root_cause(exc)}.{hint}") from exc
    missing = _missing_weights(pipe)
    if missing:
        # diffusers leaves weights the file lacks uninitialised (meta) and only fails later, on use.
        detail = "; ".join(f"{name}: {len(keys)} (e.g. {keys[0]})" for name, keys in sorted(missing.items()))
        against = f"options.config {options.config}" if options.config else "the architecture diffusers inferred"
        raise ModelLoadError(
            f"single-file checkpoint {path} does not match {against}: it has no weights for {detail}"
        )
    return pipe


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
