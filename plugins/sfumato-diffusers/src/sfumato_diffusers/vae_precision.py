"""The VAE decoder in its own dtype (``options.vae_dtype``), with a float32 re-decode where half
precision overflows.

float16 has a largest value of 65504: some VAEs (SD-XL's original one is the known case) overflow in
their decoder's activations and return inf/NaN, which turn into black or noise images. diffusers'
answer for SD-XL is ``force_upcast``: always decode in float32. Here the decoder runs in the cheaper
dtype and only a batch that came out non-finite is decoded again in float32 (logged once per engine).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import torch

log = logging.getLogger("sfumato.diffusers")

HALF_DTYPES = (torch.float16, torch.bfloat16)


def decoder_modules(vae: Any) -> list[torch.nn.Module]:
    """The parts of an AutoencoderKL that decode: ``post_quant_conv`` (where present) and ``decoder``."""
    modules = [vae.decoder]
    if getattr(vae, "post_quant_conv", None) is not None:
        modules.insert(0, vae.post_quant_conv)
    return modules


def decoder_dtype(vae: Any) -> torch.dtype:
    return next(vae.decoder.parameters()).dtype


@contextlib.contextmanager
def _eager() -> Iterator[None]:
    """Run compiled modules eagerly: a one-off float32 decode should not compile a second graph."""
    set_stance = getattr(torch.compiler, "set_stance", None)  # torch >= 2.6
    if set_stance is None:
        yield
        return
    with set_stance("force_eager"):
        yield


class GuardedDecode:
    """Replaces ``vae.decode``: casts the latents to the decoder's dtype and, in half precision,
    decodes a non-finite result again in float32."""

    def __init__(self, vae: Any, engine_id: str) -> None:
        self.vae = vae
        self.engine_id = engine_id
        self.original = vae.decode
        self.fallbacks = 0  # batches decoded again in float32 (tests read it)

    def __call__(self, z: torch.Tensor, return_dict: bool = True, generator: Any = None) -> Any:
        dtype = decoder_dtype(self.vae)
        decoded = self.original(z.to(dtype), return_dict=False)[0]
        if dtype in HALF_DTYPES and not bool(torch.isfinite(decoded).all()):
            decoded = self._decode_float32(z, dtype)
        if not return_dict:
            return (decoded,)
        from diffusers.models.autoencoders.vae import DecoderOutput

        return DecoderOutput(sample=decoded)

    def _decode_float32(self, z: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if self.fallbacks == 0:
            log.warning(
                "engine %r: the VAE decoder overflowed in %s (non-finite pixels); decoding such batches "
                "again in float32 (logged once)", self.engine_id, str(dtype).removeprefix("torch."),
            )
        self.fallbacks += 1
        modules = decoder_modules(self.vae)
        # A round trip half → float32 → half is exact, so the weights come back unchanged.
        for module in modules:
            module.to(torch.float32)
        try:
            with _eager():
                return self.original(z.to(torch.float32), return_dict=False)[0]
        finally:
            for module in modules:
                module.to(dtype)


def apply_vae_dtype(pipe: Any, vae_dtype: str, engine_id: str) -> str | None:
    """Put the decoder in ``vae_dtype`` (``auto``: the pipeline's) and guard half-precision decodes.

    Returns a line for the load report, None where nothing changed (float32 decoding, the default
    on CPU)."""
    vae = getattr(pipe, "vae", None)
    if vae is None or not hasattr(vae, "decoder"):
        return None
    if vae_dtype != "auto":
        for module in decoder_modules(vae):
            module.to(getattr(torch, vae_dtype))
        # The fallback replaces SD-XL's always-upcast; an explicit dtype is meant as given.
        if getattr(vae.config, "force_upcast", False):
            vae.register_to_config(force_upcast=False)
    dtype = decoder_dtype(vae)
    if dtype not in HALF_DTYPES and vae_dtype == "auto":
        return None
    # Installed for any explicit dtype too: the pipelines hand the decoder latents in the UNet's dtype.
    vae.decode = GuardedDecode(vae, engine_id)
    name = str(dtype).removeprefix("torch.")
    return f"VAE decoder in {name}" + (", float32 re-decode where it overflows" if dtype in HALF_DTYPES else "")
