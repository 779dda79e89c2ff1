"""Entry point: registers the ``rgb-upscale`` and ``esrgan`` engine kinds (no torch import)."""

from __future__ import annotations

from collections.abc import Callable

from sfumato.hookspecs import hookimpl
from sfumato.records import EngineKind

# The sfumato plugin API versions this plugin is written for (docs/plugins.md).
SFUMATO_PLUGIN_API = ">=1.0,<2"

RGB_KIND = "rgb-upscale"
ESRGAN_KIND = "esrgan"


@hookimpl
def register_engines(register: Callable[..., None]) -> None:
    register(
        EngineKind(
            name=RGB_KIND,
            factory="sfumato_upscale.rgb:RgbUpscaleEngine",
            description="UPSCALER_RGB: model-free Lanczos resampling on the native image kernels (no torch)",
        )
    )
    register(
        EngineKind(
            name=ESRGAN_KIND,
            factory="sfumato_upscale.esrgan:EsrganEngine",
            description="UPSCALER_ESRGAN / UPSCALER_GFPGAN: ESRGAN-family and GFPGAN checkpoints loaded through spandrel, tiled",
        )
    )
