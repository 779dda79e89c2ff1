"""Making a loaded pipeline faster on its device: channels-last, fused QKV projections and
torch.compile of the UNet / VAE decoder with a warm-up (docs/diffusers.md, "GPU path").

All of it is off by default. Compilation is best effort: when it fails (no C++ compiler, an unknown
backend, an op the compiler does not support) the engine logs one warning and runs eagerly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from sfumato_diffusers.options import EngineOptions

log = logging.getLogger("sfumato.diffusers")

# Under the server's cache dir, so compiled kernels survive restarts.
COMPILE_CACHE_FOLDER = "torch-compile"
_DYNAMIC = {"auto": None, "true": True, "false": False}


def compile_cache_dir(cache_dir: str) -> str:
    """Point inductor's on-disk caches (FX graphs, AOT autograd, kernels) under ``cache_dir``, unless
    TORCHINDUCTOR_CACHE_DIR names a folder of its own. Process-wide, like torch's setting."""
    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    # inductor writes its default back into the environment once used, so that one is not a choice.
    if not chosen or os.path.abspath(chosen) == _inductor_default_cache_dir():
        chosen = str(Path(cache_dir) / COMPILE_CACHE_FOLDER)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = chosen
    return chosen


def _inductor_default_cache_dir() -> str | None:
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # an older torch keeps it elsewhere and does not write it back
        return None
    return os.path.abspath(default_cache_dir())


class Acceleration:
    """The speed options of one engine's pipeline, applied at load."""

    def __init__(self, pipe: Any, options: EngineOptions, device: torch.device, engine_id: str) -> None:
        self.pipe = pipe
        self.options = options
        self.device = device
        self.engine_id = engine_id
        self.compiled: list[torch.nn.Module] = []
        self._fused_processors: dict[str, Any] | None = None
        self._plain_processors: dict[str, Any] | None = None

    # -- memory format and fused projections ---------------------------------------------------

    def apply_layout(self, report: Callable[[str], None]) -> None:
        if self.options.channels_last:
            for module in (self.pipe.unet, getattr(self.pipe, "vae", None)):
                if module is not None:
                    module.to(memory_format=torch.channels_last)
            report("UNet and VAE in channels-last memory format")
        if self.options.fuse_qkv:
            self._fuse(report)

    def _fuse(self, report: Callable[[str], None]) -> None:
        unet = self.pipe.unet
        plain = dict(unet.attn_processors)
        try:
            self.pipe.fuse_qkv_projections()
        except (AttributeError, ValueError) as exc:  # a pipeline or UNet diffusers cannot fuse
            log.warning("engine %r: options.fuse_qkv is not available for this model (%s); running unfused",
                        self.engine_id, exc)
            return
        self._plain_processors = plain
        self._fused_processors = dict(unet.attn_processors)
        report("fused QKV projections (UNet and VAE attention)")

    def saved_processors(self) -> list[Any]:
        """The attention processors ``for_loras`` swaps in and out (none unless QKV is fused)."""
        return [*(self._plain_processors or {}).values(), *(self._fused_processors or {}).values()]

    @contextlib.contextmanager
    def for_loras(self, active: bool) -> Iterator[None]:
        """LoRA adapters wrap ``to_q``/``to_k``/``to_v``, which the fused processors bypass: while a
        request's adapters are on, the UNet runs its unfused projections (the same weights, kept)."""
        if not active or self._fused_processors is None:
            yield
            return
        self.pipe.unet.set_attn_processor(self._plain_processors)
        try:
            yield
        finally:
            self.pipe.unet.set_attn_processor(self._fused_processors)

    # -- compilation ---------------------------------------------------------------------------

    def compile(self, cache_dir: str, report: Callable[[str], None]) -> None:
        options = self.options
        if options.compile == "off":
            return
        mode = options.compile_mode
        if mode == "reduce-overhead" and self.device.type != "cuda":
            log.info("engine %r: compile_mode 'reduce-overhead' is CUDA graphs; on %s it compiles in "
                     "'default' mode", self.engine_id, self.device.type)
            mode = "default"
        folder = compile_cache_dir(cache_dir)
        targets = [self.pipe.unet]
        if options.compile == "unet+vae":
            targets.append(self.pipe.vae.decoder)
        try:
            for module in targets:
                module.compile(backend=options.compile_backend, mode=None if mode == "default" else mode,
                               dynamic=_DYNAMIC[options.compile_dynamic])
                self.compiled.append(module)
        except Exception as exc:  # torch raises many kinds (unknown backend, bad mode, ...)
            self.fall_back(exc)
            return
        report(f"torch.compile of {options.compile} (mode {mode}, backend {options.compile_backend}, "
               f"dynamic {options.compile_dynamic}); cache {folder}")

    def fall_back(self, exc: BaseException) -> None:
        """Undo compilation after a failure: the engine runs eagerly."""
        log.warning("engine %r: torch.compile failed, running without it: %s",
                    self.engine_id, _first_line(exc))
        for module in self.compiled:
            module._compiled_call_impl = None  # what nn.Module.compile set
        self.compiled = []

    def warm_up(self, sizes: list[tuple[int, int]], generate: Callable[[int, int], None],
                report: Callable[[str], None]) -> None:
        """One short generation per size, at load, so compilation happens before the first request."""
        if not self.compiled:
            return
        for width, height in sizes:
            started = time.perf_counter()
            try:
                generate(width, height)
            except Exception as exc:  # compilation runs lazily, on this first call
                self.fall_back(exc)
                return
            report(f"compile warm-up {width}×{height}: {time.perf_counter() - started:.1f} s")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:400]
