"""CLIP guidance: after each sampler step, nudge the latents toward the prompt as CLIP sees it.

The current latents are decoded by the VAE (with gradients), cut into random square crops
("cutouts", resized to CLIP's input size), embedded by CLIP's image tower and compared with
CLIP's embedding of the prompt by spherical distance. The loss, times the strength, is
differentiated back through the VAE to the latents, which move against the gradient by
σ² (σ = the noise level they are at), so the nudge fades as the image settles.
Needs a sampler with a σ schedule (the k-diffusion family).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

TINY_CLIP = "tiny-clip"
# CLIP's input normalisation (the values every OpenAI/LAION CLIP was trained with).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# The loss is a distance on the unit sphere (0..π²/2): this brings strength 1 to a visible push.
LOSS_SCALE = 100.0


def build_tiny_clip(path: str | os.PathLike[str], seed: int = 0) -> Path:
    """A tiny random-weight CLIP (image and text towers) with the tiny tokenizer, saved at ``path``."""
    from transformers import CLIPConfig, CLIPModel

    from sfumato_diffusers.model_source import TINY_MAX_TOKENS
    from sfumato_diffusers.tiny import build_tokenizer

    target = Path(path)
    if (target / "config.json").exists():
        return target
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "vocab_size": len(tokenizer), "max_position_embeddings": TINY_MAX_TOKENS,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        CLIPModel(config).save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


class ClipGuide:
    """A CLIP model ready to guide: frozen, on the engine's device, float32 (gradients need it)."""

    def __init__(self, folder: str, device: torch.device) -> None:
        from transformers import CLIPModel, CLIPTokenizer

        self.model = CLIPModel.from_pretrained(folder, local_files_only=True).to(device).eval().requires_grad_(False)
        self.tokenizer = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
        self.size = int(self.model.config.vision_config.image_size)
        self.device = device
        self.mean = torch.tensor(CLIP_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(CLIP_STD, device=device).view(1, 3, 1, 1)
        self.losses: list[float] = []  # the loss before each nudge of the last call (for tests and logs)

    @torch.no_grad()
    def target(self, text: str) -> torch.Tensor:
        ids = self.tokenizer(text, padding="max_length", truncation=True, return_tensors="pt").input_ids
        return F.normalize(_features(self.model.get_text_features(input_ids=ids.to(self.device))), dim=-1)

    def cutouts(self, images: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` random square crops per image (side 50–100 % of the shorter one), at CLIP's size."""
        height, width = images.shape[-2:]
        shorter = min(height, width)
        crops = []
        for _ in range(count):
            side = int(shorter * (0.5 + 0.5 * torch.rand((), generator=generator).item()))
            side = max(1, side)
            top = int(torch.randint(0, height - side + 1, (), generator=generator))
            left = int(torch.randint(0, width - side + 1, (), generator=generator))
            crop = images[:, :, top : top + side, left : left + side]
            crops.append(F.interpolate(crop, size=(self.size, self.size), mode="bilinear", align_corners=False))
        return torch.cat(crops)

    def loss(self, pixels: torch.Tensor, target: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
        """Mean spherical distance between the cutouts' CLIP embeddings and ``target`` (per image, summed)."""
        batch = pixels.shape[0]
        crops = (self.cutouts(pixels, count, generator) - self.mean) / self.std
        embeds = F.normalize(_features(self.model.get_image_features(pixel_values=crops)), dim=-1)
        embeds = embeds.view(count, batch, -1)
        distance = (embeds - target.view(1, batch, -1)).norm(dim=-1).div(2).arcsin().pow(2).mul(2)
        return distance.mean(dim=0).sum()

    def nudge(
        self, vae: Any, latents: torch.Tensor, sigma: float, target: torch.Tensor, strength: float, count: int,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """The latents moved against the gradient of the CLIP loss of their VAE decode."""
        with torch.enable_grad():
            x = latents.detach().to(torch.float32).requires_grad_(True)
            decoded = vae.decode((x / vae.config.scaling_factor).to(vae.dtype), return_dict=False)[0]
            pixels = (decoded.float() / 2 + 0.5).clamp(0, 1)
            loss = self.loss(pixels, target, count, generator)
            (gradient,) = torch.autograd.grad(loss * strength * LOSS_SCALE, x)
        self.losses.append(float(loss.detach()))
        return (x - gradient * sigma**2).detach().to(latents.dtype)


def _features(output: Any) -> torch.Tensor:
    """transformers 4 returns the projected features, 5 an output whose pooler_output holds them."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output
