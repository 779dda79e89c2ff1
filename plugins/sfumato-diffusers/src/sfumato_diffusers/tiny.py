"""A tiny random-weight Stable Diffusion pipeline, built offline, plus tiny LoRA files.

It is a smoke-test model: its images are structured noise, not pictures. Tests,
benchmarks and the embedded ``tiny-sd`` engine model all build it here.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
from pathlib import Path
from typing import Literal

import torch

from sfumato_diffusers.model_source import TINY_MAX_TOKENS, TINY_NATIVE_SIZE

_LETTERS = string.ascii_lowercase + string.digits + ".,!?'-"
# A few merged words so the tokenizer exercises real BPE merges, not just characters.
_MERGED_WORDS = ("a", "red", "cat", "dog", "blue", "sky", "tree", "house")


def _write_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in _LETTERS:
        vocab.setdefault(ch, len(vocab))
    for ch in _LETTERS:
        vocab.setdefault(ch + "</w>", len(vocab))
    merges: list[str] = []
    for word in _MERGED_WORDS:
        # Merge left to right: "r e" -> "re", "re d</w>" -> "red</w>".
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            left, right = pieces[0], pieces[1]
            merged = left + right
            if f"{left} {right}" not in merges:
                merges.append(f"{left} {right}")
            vocab.setdefault(merged, len(vocab))
            pieces = [merged] + pieces[2:]
    vocab_path = folder / "vocab.json"
    merges_path = folder / "merges.txt"
    vocab_path.write_text(json.dumps(vocab), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return vocab_path, merges_path


def build_tokenizer(max_length: int = TINY_MAX_TOKENS):
    """A small CLIP BPE tokenizer (letters, digits, a few merged words), built offline."""
    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as scratch:
        vocab_path, merges_path = _write_tokenizer_files(Path(scratch))
        return CLIPTokenizer(
            str(vocab_path),
            str(merges_path),
            model_max_length=max_length,
            pad_token="<|endoftext|>",
            unk_token="<|endoftext|>",
        )


def _components(seed: int, inpaint: bool) -> dict:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=TINY_MAX_TOKENS,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            projection_dim=16,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=TINY_NATIVE_SIZE // 8,
        in_channels=9 if inpaint else 4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(8, 8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=TINY_NATIVE_SIZE,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return dict(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler)


def build_tiny_safety_checker(flags_everything: bool, seed: int = 0) -> tuple:
    """A tiny random-weight safety checker and its feature extractor, with a forced verdict.

    The checker flags an image when a concept's cosine similarity exceeds that concept's
    threshold; similarities lie in -1..1, so thresholds of -2 flag every image and +2 none.
    """
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(seed)
    size = 32
    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "vocab_size": 128, "max_position_embeddings": 16},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": size, "patch_size": 8},
        projection_dim=16,
    )
    checker = StableDiffusionSafetyChecker(config).eval()
    threshold = -2.0 if flags_everything else 2.0
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(threshold)
        checker.special_care_embeds_weights.fill_(threshold)
    extractor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return checker, extractor


def build_tiny_pipeline(
    path: str | os.PathLike[str], seed: int = 0, inpaint: bool = False, safety_flags: bool | None = None
) -> Path:
    """Build the tiny pipeline and save it as a diffusers folder at ``path`` (atomically).

    ``inpaint=True`` gives the UNet 9 input channels (latents + mask + masked image)
    and saves a ``StableDiffusionInpaintPipeline``. ``safety_flags`` adds a tiny safety
    checker that flags every image (True) or none (False). Returns ``path``. An existing
    folder is left as it is.
    """
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

    target = Path(path)
    if (target / "model_index.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        parts = _components(seed, inpaint)
        cls = StableDiffusionInpaintPipeline if inpaint else StableDiffusionPipeline
        checker = extractor = None
        if safety_flags is not None:
            checker, extractor = build_tiny_safety_checker(safety_flags, seed)
        pipe = cls(**parts, safety_checker=checker, feature_extractor=extractor, requires_safety_checker=False)
        pipe.save_pretrained(staging, safe_serialization=True)
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished first: keep its copy.
            if not (target / "model_index.json").exists():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


LoraLayout = Literal["kohya", "diffusers", "peft"]
def make_tiny_lora(
    model_path: str | os.PathLike[str],
    layout: LoraLayout = "peft",
    rank: int = 2,
    seed: int = 0,
    scale: float = 0.5,
) -> bytes:
    """A random LoRA for the UNet attention projections of the model at ``model_path``.

    Returns the bytes of a ``.safetensors`` file in one of three key layouts:
    ``kohya`` (``lora_unet_<path>.lora_down/lora_up/alpha``), ``diffusers``
    (``unet.<path>.lora.down/up``) or ``peft`` (``unet.<path>.lora_A/lora_B``).
    """
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save

    from sfumato_diffusers.lora import TENSOR_TARGETS, lora_projections

    unet = UNet2DConditionModel.from_pretrained(Path(model_path) / "unet", local_files_only=True)
    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for name, linear in lora_projections(unet, TENSOR_TARGETS["LORA_UNET"][1]):
        down = torch.randn(rank, linear.in_features, generator=generator) * scale
        up = torch.randn(linear.out_features, rank, generator=generator) * scale
        if layout == "kohya":
            key = "lora_unet_" + name.replace(".", "_")
            tensors[f"{key}.lora_down.weight"] = down
            tensors[f"{key}.lora_up.weight"] = up
            tensors[f"{key}.alpha"] = torch.tensor(float(rank))
        elif layout == "diffusers":
            tensors[f"unet.{name}.lora.down.weight"] = down
            tensors[f"unet.{name}.lora.up.weight"] = up
        elif layout == "peft":
            tensors[f"unet.{name}.lora_A.weight"] = down
            tensors[f"unet.{name}.lora_B.weight"] = up
        else:
            raise ValueError(f"unknown LoRA layout {layout!r}; use kohya, diffusers or peft")
    return save({k: v.contiguous() for k, v in tensors.items()})


def build_tiny_xl_pipeline(path: str | os.PathLike[str], seed: int = 0, second_encoder_width: int = 16) -> Path:
    """A tiny random-weight SDXL pipeline (two text encoders, micro-conditioning), saved at ``path``.

    ``second_encoder_width`` sets the second (OpenCLIP) encoder's width apart from the first's 16,
    as in real SDXL (768 and 1280): loaders of single-file checkpoints tell the two apart by width.
    """
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    target = Path(path)
    if (target / "model_index.json").exists():
        return target
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)

    def text_config(width: int = 16) -> CLIPTextConfig:
        return CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=TINY_MAX_TOKENS, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, projection_dim=16,
        )

    unet = UNet2DConditionModel(
        sample_size=TINY_NATIVE_SIZE // 8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
        layers_per_block=1, norm_num_groups=8, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=4,
        cross_attention_dim=16 + second_encoder_width,  # both encoders' hidden states side by side
        addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 16,  # six size/crop numbers + the pooled embedding
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, norm_num_groups=4, sample_size=TINY_NATIVE_SIZE,
    )
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1)
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(text_config()),
        text_encoder_2=CLIPTextModelWithProjection(text_config(second_encoder_width)),
        tokenizer=tokenizer, tokenizer_2=build_tokenizer(), unet=unet, scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        pipe.save_pretrained(staging, safe_serialization=True)
        os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
