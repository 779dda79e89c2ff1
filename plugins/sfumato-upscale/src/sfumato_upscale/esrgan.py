"""UPSCALER_ESRGAN and UPSCALER_GFPGAN: networks loaded through spandrel, run with torch, tiled.

torch and spandrel are imported in :meth:`EsrganEngine.load`, never at registration.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import numpy as np

from sfumato import _ops
from sfumato.engines import EngineConfig, EngineServices, LoadProgress
from sfumato.errors import unimplemented
from sfumato.jobs.cancel import CancelSignal
from sfumato.jobs.job import GenerationJob, ImageTask

from sfumato_upscale.base import Step, UpscaleEngine
from sfumato_upscale.network import TINY_MODEL
from sfumato_upscale.options import EsrganOptions, parse
from sfumato_upscale.plugin import ESRGAN_KIND

ESRGAN = "UPSCALER_ESRGAN"
GFPGAN = "UPSCALER_GFPGAN"
# GFPGAN networks restore one aligned face at 512×512.
FACE_SIZE = 512
STRETCH = 0  # _ops.rescale mode: exactly width × height
DEFAULT_GPU_BATCH_PIXELS = 512 * 512  # tile_batch_pixels left unset, on an accelerator


def network_passes(factor: float, scale: int) -> int:
    """How many times a ×``scale`` network runs to reach ``factor`` (then the result is resampled)."""
    if scale <= 1 or factor <= 1:
        return 1
    return max(1, math.ceil(math.log(factor) / math.log(scale) - 1e-9))


class EsrganEngine(UpscaleEngine):
    upscalers = (ESRGAN, GFPGAN)

    def __init__(self, config: EngineConfig, services: EngineServices) -> None:
        super().__init__(config, services, parse(EsrganOptions, config.options, ESRGAN_KIND))
        if not config.model:
            raise ValueError(f"{ESRGAN_KIND} engines need model = a checkpoint file (.pth/.safetensors) or {TINY_MODEL!r}")
        self.network: Any = None
        self.face_network: Any = None
        self.device: Any = None
        self.dtype: Any = None

    def device_name(self) -> str:
        return self.options.device if self.device is None else str(self.device)

    def load(self, report: LoadProgress) -> None:
        import torch

        from sfumato_upscale.network import load_network, model_path

        self.device = _pick_device(self.options.device)
        if self.config.model == TINY_MODEL:
            report(f"{TINY_MODEL}: random-weight smoke-test network (it upscales into noise, not detail)")
        path = model_path(self.config.model, self.services.cache_dir, option="model")
        network = load_network(path, self.device, purposes=("SR", "Restoration"), option="model")
        half = self.options.half and self.device.type == "cuda" and network.supports_half
        self.dtype = torch.float16 if half else torch.float32
        self.network = network.to(self.dtype)
        report(f"{path.name}: {network.architecture.name} ×{network.scale} on {self.device} ({self.dtype})")
        if self.options.face_model:
            face_path = model_path(self.options.face_model, self.services.cache_dir, option="options.face_model")
            face = load_network(face_path, self.device, purposes=("FaceSR",), option="options.face_model")
            self.face_network = face.to(torch.float16 if half and face.supports_half else torch.float32)
            report(f"{face_path.name}: {face.architecture.name} face restoration on {self.device}")

    def validate(self, job: GenerationJob) -> None:
        super().validate(job)
        if job.upscaler == GFPGAN and not self.options.face_model:
            raise unimplemented(
                f"image.transform.upscaler: UPSCALER_GFPGAN restores faces with a GFPGAN checkpoint and engine "
                f"{self.config.id!r} has none configured (its options.face_model is empty); send UPSCALER_ESRGAN, "
                "or use an engine with a face model (docs/upscale.md)"
            )

    @property
    def _batch_pixels(self) -> int:
        if self.options.tile_batch_pixels is not None:
            return self.options.tile_batch_pixels
        on_cpu = self.device is None or self.device.type == "cpu"
        return 0 if on_cpu else DEFAULT_GPU_BATCH_PIXELS

    def units(self, job: GenerationJob) -> int:
        if job.upscaler == GFPGAN:
            return 1
        from sfumato_upscale.tiling import pass_count

        height, width = job.init_image.shape[:2]
        scale = self.network.scale
        units = 0
        for _ in range(network_passes(self._factor(job), scale)):
            units += pass_count(height, width, self.options.tile_size, self.options.tile_overlap,
                                self._batch_pixels)
            height, width = height * scale, width * scale
        return units

    def work_key(self, task: ImageTask) -> Hashable:
        # GFPGAN's decoder injects seeded noise: each sample is its own image.
        return (id(task.job), task.seed) if task.job.upscaler == GFPGAN else id(task.job)

    def upscale(self, task: ImageTask, step: Step, cancel: CancelSignal) -> np.ndarray:
        import torch

        with torch.inference_mode():
            if task.job.upscaler == GFPGAN:
                return self._restore_face(task, step, cancel)
            return self._upscale(task.job, step, cancel)

    def _upscale(self, job: GenerationJob, step: Step, cancel: CancelSignal) -> np.ndarray:
        from sfumato_upscale.tiling import run_tiled

        image = self._tensor(job.init_image, self.dtype)
        for _ in range(network_passes(self._factor(job), self.network.scale)):
            image = run_tiled(
                self.network, image, self.network.scale, self.options.tile_size, self.options.tile_overlap,
                before_pass=cancel.raise_if_cancelled, after_pass=step, batch_pixels=self._batch_pixels,
            ).to(self.dtype)
        return _exact_size(self._pixels(image), job.width, job.height)

    def _restore_face(self, task: ImageTask, step: Step, cancel: CancelSignal) -> np.ndarray:
        """GFPGAN's aligned-face mode: the whole init image is one face, restored at 512×512.

        GFPGAN networks take and give images in -1..1 (spandrel's wrapper assumes 0..1 and
        clamps), so the module is called directly, its noise drawn from the task's seed.
        """
        import torch

        job = task.job
        cancel.raise_if_cancelled()
        face = _ops.rescale(job.init_image, FACE_SIZE, FACE_SIZE, STRETCH, "lanczos")
        network = self.face_network
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(task.seed)
            restored = network.model(self._tensor(face, network.dtype) * 2 - 1, return_rgb=False)[0]
        step()
        return _exact_size(self._pixels((restored + 1) / 2), job.width, job.height)

    def _factor(self, job: GenerationJob) -> float:
        height, width = job.init_image.shape[:2]
        return max(job.width / width, job.height / height)

    def _tensor(self, pixels: np.ndarray, dtype: Any) -> Any:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device)
        return tensor.permute(2, 0, 1)[None].to(dtype) / 255.0

    def _pixels(self, tensor: Any) -> np.ndarray:
        import torch

        array = (tensor[0].float().clamp(0, 1) * 255.0).round().to(dtype=torch.uint8)
        return np.ascontiguousarray(array.permute(1, 2, 0).cpu().numpy())

    def close(self) -> None:
        self.network = self.face_network = None


def _exact_size(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """The network's output resampled (Lanczos, antialiased) to the requested size, when it differs."""
    if pixels.shape[0] == height and pixels.shape[1] == width:
        return pixels
    return _ops.rescale(pixels, width, height, STRETCH, "lanczos")


def _pick_device(name: str) -> Any:
    import torch

    name = name.lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"options.device = {name!r}, but torch sees no CUDA device")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"options.device = {name!r}, but torch has no MPS backend here")
    return device
