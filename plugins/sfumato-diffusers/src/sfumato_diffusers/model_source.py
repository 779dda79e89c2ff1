"""Where a model comes from and what can be known about it without loading it (no torch)."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

TINY_MODEL = "tiny-sd"
TINY_MAX_TOKENS = 16  # the tiny tokenizer's model_max_length
TINY_NATIVE_SIZE = 64
TINY_DEFAULT_STEPS = 8

SourceKind = Literal["tiny", "folder", "single_file", "hub"]
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")


@dataclass(frozen=True)
class ModelSource:
    kind: SourceKind
    location: str  # a folder, a file or a hub id

    @property
    def is_tiny(self) -> bool:
        return self.kind == "tiny"


def resolve_source(model: str, cache_dir: str) -> ModelSource:
    """Classify the config's ``model`` string.

    ``tiny-sd`` is the embedded random-weight smoke-test model, built into
    ``<cache_dir>/tiny-sd`` on first load; an existing folder is a diffusers folder;
    a ``.safetensors``/``.ckpt`` path is a single-file checkpoint; anything else
    shaped like ``owner/name`` is a Hugging Face hub id.
    """
    if model == TINY_MODEL:
        return ModelSource("tiny", str(Path(cache_dir) / TINY_MODEL))
    path = Path(model).expanduser()
    if path.suffix.lower() in SINGLE_FILE_SUFFIXES:
        return ModelSource("single_file", str(path))
    if path.is_dir() or model.startswith(("/", ".", "~")):
        return ModelSource("folder", str(path))
    if model.count("/") == 1 and all(model.split("/")):
        return ModelSource("hub", model)
    raise ValueError(
        f"model {model!r} is neither 'tiny-sd', an existing diffusers folder, a "
        ".safetensors/.ckpt file nor a Hugging Face hub id ('owner/name')"
    )


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ModelFacts:
    """What a cheap look at the files tells: enough for describe() before load()."""

    native_size: int | None = None
    is_xl: bool | None = None
    inpaint_unet: bool | None = None


def peek_facts(source: ModelSource, config: str | None = None) -> ModelFacts:
    """Read small JSON configs or a safetensors header; never loads weights.

    ``config`` is a single file's ``options.config``: the loaded model takes its configs from
    that folder, so the folder's facts are the model's.
    """
    if source.is_tiny:
        return ModelFacts(native_size=TINY_NATIVE_SIZE, is_xl=False, inpaint_unet=False)
    try:
        if source.kind == "folder":
            return _peek_folder(Path(source.location))
        if source.kind == "single_file" and config and Path(config).expanduser().is_dir():
            return _peek_folder(Path(config).expanduser())
        if source.kind == "single_file" and source.location.lower().endswith(".safetensors"):
            return _peek_safetensors(Path(source.location))
    except (OSError, ValueError, KeyError):
        pass  # unreadable here: load() will report the real problem
    return ModelFacts()


def _peek_folder(folder: Path) -> ModelFacts:
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    vae = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
    scale = 2 ** (len(vae.get("block_out_channels", [0, 0, 0, 0])) - 1)
    sample = unet.get("sample_size")
    return ModelFacts(
        native_size=int(sample) * scale if isinstance(sample, int) else None,
        is_xl="text_encoder_2" in index,
        inpaint_unet=unet.get("in_channels") == 9,
    )


GIT_LFS_POINTER = b"version https://git-lfs"
SAFETENSORS_MAX_HEADER = 100_000_000  # the safetensors format's own bound on its JSON header


def is_git_lfs_pointer(path: Path) -> bool:
    """A clone made without git-lfs leaves small text pointers where the weights should be."""
    with path.open("rb") as handle:
        return handle.read(len(GIT_LFS_POINTER)) == GIT_LFS_POINTER


def read_safetensors_header(path: Path) -> dict:
    """The JSON header of a ``.safetensors`` file, checked against the file's size.

    Raises ValueError saying what is wrong (too short, not safetensors, truncated) instead of
    trusting a length field: a damaged file must not make us allocate what its first bytes say.
    """
    size = path.stat().st_size
    if is_git_lfs_pointer(path):
        raise ValueError(f"{path} is a Git LFS pointer, not the weights; fetch them with 'git lfs pull'")
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ValueError(f"{path} is {size} bytes, too short to be a safetensors file")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(size - 8, SAFETENSORS_MAX_HEADER):
            raise ValueError(
                f"{path} is not a safetensors file, or is truncated: its header length field says "
                f"{length} bytes but the file has {size}"
            )
        raw = handle.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a safetensors file: its header is not JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a safetensors file: its header is not a JSON object")
    ends = [_data_end(entry) for key, entry in header.items() if key != "__metadata__"]
    if None in ends:
        raise ValueError(f"{path} is not a safetensors file: its header lacks tensor data offsets")
    needed = 8 + length + max(ends, default=0)
    if needed > size:
        raise ValueError(
            f"{path} is truncated (an interrupted download or copy?): its header describes "
            f"{needed} bytes but the file has {size}"
        )
    return header


def _data_end(entry: object) -> int | None:
    offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
    if isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(n, int) for n in offsets):
        return offsets[1]
    return None


def safetensors_keys(path: Path) -> list[str]:
    return [key for key in read_safetensors_header(path) if key != "__metadata__"]


def _peek_safetensors(path: Path) -> ModelFacts:
    keys = safetensors_keys(path)
    is_xl = any(key.startswith("conditioner.embedders.1") for key in keys)
    return ModelFacts(native_size=1024 if is_xl else None, is_xl=is_xl)
