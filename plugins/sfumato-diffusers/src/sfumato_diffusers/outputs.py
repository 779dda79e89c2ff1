"""Non-image results of the diffusers engine (docs/diffusers.md, "Non-image outputs")."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from sfumato.jobs import outputs
from sfumato.jobs.job import GenerationJob
from sfumato.jobs.outputs import OutputArtifact

from sfumato_diffusers.prompts import Conditioning, PromptEncoder

# Requested types answered from the prompt alone: no sampling runs for them.
PROMPT_ONLY = (outputs.TOKENS, outputs.EMBEDDING)
SUPPORTED = (outputs.LATENT, outputs.TENSOR, outputs.TOKENS, outputs.EMBEDDING)


def token_outputs(encoder: PromptEncoder, job: GenerationJob) -> tuple[OutputArtifact, ...]:
    """One ARTIFACT_TOKENS per positive prompt fragment, in request order (ids without BOS/EOS)."""
    fragments = job.prompt or []
    return tuple(
        OutputArtifact(outputs.TOKENS, tokens=tuple(encoder.tokens(fragment)), tokenizer_id=encoder.tokenizer_id)
        for fragment in fragments
    )


def embedding_output(positive: Conditioning) -> OutputArtifact:
    """The combined positive conditioning the UNet sees: [1, windows × model_max_length, features]."""
    return OutputArtifact(outputs.EMBEDDING, tensor=_numpy(positive.embeds))


def latent_output(kind: str, latent: torch.Tensor) -> OutputArtifact:
    """The final latent of one image, [1, channels, height / 8, width / 8], in the UNet's scale
    (divide by the VAE's scaling_factor before decoding)."""
    return OutputArtifact(kind, tensor=_numpy(latent.reshape(1, *latent.shape[-3:])))


def classification_output(flagged: bool, mode: str) -> OutputArtifact:
    """The safety checker's verdict in the shape of the proto's ClassifierParameters, as JSON."""
    category: dict[str, Any] = {"name": "nsfw", "concepts": [{"concept": "nsfw"}]}
    blocked = flagged and mode == "block"
    verdict = {
        "categories": [category],
        "exceeds": [category] if flagged else [],
        "realizedAction": "ACTION_OBFUSCATE" if blocked else "ACTION_PASSTHROUGH",
    }
    return OutputArtifact(
        outputs.CLASSIFICATIONS, text=json.dumps(verdict), mime="application/json", flagged=flagged
    )


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).contiguous().numpy()


@torch.no_grad()
def decode_latents(pipe: Any, latents: torch.Tensor) -> list[np.ndarray]:
    """Latents in the UNet's scale → H×W×3 uint8 images, as the pipelines decode them."""
    vae = pipe.vae
    scaled = latents.to(vae.device, vae.dtype) / vae.config.scaling_factor
    decoded = vae.decode(scaled, return_dict=False)[0]
    images = pipe.image_processor.postprocess(decoded, output_type="np")
    return list((np.clip(np.asarray(images), 0.0, 1.0) * 255.0).round().astype(np.uint8))
