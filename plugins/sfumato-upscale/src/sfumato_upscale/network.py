"""Finding and loading checkpoints through spandrel, which detects the architecture from the state dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY_MODEL = "tiny-upscaler"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


def model_path(model: str, cache_dir: str, *, option: str) -> Path:
    """The checkpoint file for ``model`` (``tiny-upscaler``: built into the cache on first use).

    ``ValueError`` (naming ``option``) when it is neither the tiny model nor an existing checkpoint file.
    """
    if model == TINY_MODEL:
        from sfumato_upscale.tiny import ensure_tiny_upscaler

        return ensure_tiny_upscaler(Path(cache_dir or ".") / TINY_MODEL)
    path = Path(model).expanduser()
    if not path.is_file():
        raise ValueError(f"{option} = {model!r}: no such file (an ESRGAN-family checkpoint, or {TINY_MODEL!r})")
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise ValueError(f"{option} = {model!r}: expected a checkpoint file ({', '.join(CHECKPOINT_SUFFIXES)})")
    return path


def load_network(path: Path, device: Any, *, purposes: tuple[str, ...], option: str) -> Any:
    """A spandrel ImageModelDescriptor in eval mode on ``device``, of one of ``purposes``.

    ``ValueError`` naming ``option`` for a file spandrel cannot read or a network of another purpose.
    """
    import spandrel

    try:
        descriptor = spandrel.ModelLoader(device=device).load_from_file(str(path))
    except spandrel.UnsupportedModelError:
        raise ValueError(
            f"{option}: {path.name} is not an architecture spandrel knows (ESRGAN, RealESRGAN, SwinIR, HAT, "
            "GFPGAN… see spandrel's list)"
        ) from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose not in purposes:
        purpose = getattr(descriptor, "purpose", type(descriptor).__name__)
        raise ValueError(
            f"{option}: {path.name} is a {descriptor.architecture.name} network for {purpose}; "
            f"this option takes one for {' or '.join(purposes)}"
        )
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise ValueError(
            f"{option}: {path.name} maps {descriptor.input_channels} to {descriptor.output_channels} channels; "
            "upscalers here take and give RGB (3)"
        )
    return descriptor.eval()
