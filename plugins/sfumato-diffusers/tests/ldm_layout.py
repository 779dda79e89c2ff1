"""Write a diffusers Stable Diffusion pipeline as one checkpoint in the original (LDM) layout.

Model sites share Stable Diffusion as a single ``.safetensors``/``.ckpt`` file keyed the way the
original training code named its modules: the UNet under ``model.diffusion_model.``
(``input_blocks``/``middle_block``/``output_blocks``), the VAE under ``first_stage_model.``
(``encoder.down.N.block.M``, ``mid.attn_1`` with 1x1-conv projections) and the text encoder under
``cond_stage_model.transformer.`` (SDXL: ``conditioner.embedders.0`` in the Hugging Face CLIP
layout and ``conditioner.embedders.1`` in the OpenCLIP layout). diffusers only reads that layout,
so tests build such files here from tiny diffusers pipelines.

Every mapping is derived from the component's config (block counts, layers per block, which
blocks carry attention), and every weight must find a place: an unplaced key is an error, so a
config this writer does not understand fails loudly instead of writing a partial file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer.text_model."
XL_CLIP_PREFIX = "conditioner.embedders.0.transformer.text_model."
XL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."

# Inside a block the original code names some layers by their position in an nn.Sequential.
UNET_RESNET_LAYERS = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
VAE_RESNET_LAYERS = {"conv_shortcut": "nin_shortcut"}
VAE_ATTENTION_LAYERS = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
OPEN_CLIP_LAYERS = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "self_attn.out_proj": "attn.out_proj",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}

Tensors = dict[str, torch.Tensor]


class _Module:
    """Where one diffusers module goes in the original layout, and how its inner layers are named."""

    def __init__(self, target: str, layers: Mapping[str, str] | None = None,
                 conv_projections: bool = False) -> None:
        self.target = target
        self.layers = layers or {}
        self.conv_projections = conv_projections  # linear [out, in] -> 1x1 conv [out, in, 1, 1]

    def place(self, inner: str, tensor: torch.Tensor) -> tuple[str, torch.Tensor]:
        for old, new in self.layers.items():
            if inner == old or inner.startswith(old + "."):
                inner = new + inner[len(old):]
                break
        if self.conv_projections and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]
        return f"{self.target}.{inner}", tensor


def _per_block(value: int | list[int], blocks: int) -> list[int]:
    return list(value) if isinstance(value, (list, tuple)) else [int(value)] * blocks


def unet_modules(config: Mapping[str, Any]) -> dict[str, _Module]:
    """diffusers UNet2DConditionModel module path -> its place under ``model.diffusion_model.``."""
    blocks = len(config["block_out_channels"])
    layers = _per_block(config["layers_per_block"], blocks)
    resnet = lambda target: _Module(target, UNET_RESNET_LAYERS)  # noqa: E731
    modules = {
        "conv_in": _Module("input_blocks.0.0"),
        "time_embedding.linear_1": _Module("time_embed.0"),
        "time_embedding.linear_2": _Module("time_embed.2"),
        "conv_norm_out": _Module("out.0"),
        "conv_out": _Module("out.2"),
        "mid_block.resnets.0": resnet("middle_block.0"),
        "mid_block.attentions.0": _Module("middle_block.1"),
        "mid_block.resnets.1": resnet("middle_block.2"),
    }
    if config.get("addition_embed_type") == "text_time":  # SDXL's size/crop + pooled-text embedding
        modules["add_embedding.linear_1"] = _Module("label_emb.0.0")
        modules["add_embedding.linear_2"] = _Module("label_emb.0.2")
    # input_blocks: conv_in, then per level its (resnet[, attention]) layers and a downsampler
    # after every level but the last.
    index = 1
    for level, kind in enumerate(config["down_block_types"]):
        for layer in range(layers[level]):
            modules[f"down_blocks.{level}.resnets.{layer}"] = resnet(f"input_blocks.{index}.0")
            if "CrossAttn" in kind:
                modules[f"down_blocks.{level}.attentions.{layer}"] = _Module(f"input_blocks.{index}.1")
            index += 1
        if level < blocks - 1:
            modules[f"down_blocks.{level}.downsamplers.0.conv"] = _Module(f"input_blocks.{index}.0.op")
            index += 1
    # output_blocks: deepest level first, one more layer per level than going down (it takes the
    # skip connections); the upsampler follows the level's last layer, after its attention if any.
    index = 0
    up_layers = list(reversed(layers))
    for level, kind in enumerate(config["up_block_types"]):
        attention = "CrossAttn" in kind
        for layer in range(up_layers[level] + 1):
            modules[f"up_blocks.{level}.resnets.{layer}"] = resnet(f"output_blocks.{index}.0")
            if attention:
                modules[f"up_blocks.{level}.attentions.{layer}"] = _Module(f"output_blocks.{index}.1")
            if layer == up_layers[level] and level < blocks - 1:
                slot = 2 if attention else 1
                modules[f"up_blocks.{level}.upsamplers.0.conv"] = _Module(f"output_blocks.{index}.{slot}.conv")
            index += 1
    return modules


def vae_modules(config: Mapping[str, Any]) -> dict[str, _Module]:
    """diffusers AutoencoderKL module path -> its place under ``first_stage_model.``."""
    blocks = len(config["block_out_channels"])
    layers = int(config["layers_per_block"])
    resnet = lambda target: _Module(target, VAE_RESNET_LAYERS)  # noqa: E731
    modules = {
        "quant_conv": _Module("quant_conv"),
        "post_quant_conv": _Module("post_quant_conv"),
    }
    for part in ("encoder", "decoder"):
        modules[f"{part}.conv_in"] = _Module(f"{part}.conv_in")
        modules[f"{part}.conv_out"] = _Module(f"{part}.conv_out")
        modules[f"{part}.conv_norm_out"] = _Module(f"{part}.norm_out")
        modules[f"{part}.mid_block.resnets.0"] = resnet(f"{part}.mid.block_1")
        modules[f"{part}.mid_block.resnets.1"] = resnet(f"{part}.mid.block_2")
        modules[f"{part}.mid_block.attentions.0"] = _Module(f"{part}.mid.attn_1", VAE_ATTENTION_LAYERS,
                                                              conv_projections=True)
    for level in range(blocks):
        for layer in range(layers):
            modules[f"encoder.down_blocks.{level}.resnets.{layer}"] = resnet(f"encoder.down.{level}.block.{layer}")
        if level < blocks - 1:
            modules[f"encoder.down_blocks.{level}.downsamplers.0.conv"] = _Module(
                f"encoder.down.{level}.downsample.conv")
    # The original decoder numbers its levels by resolution (0 = full size); diffusers runs them
    # in order, deepest first.
    for position in range(blocks):
        level = blocks - 1 - position
        for layer in range(layers + 1):
            modules[f"decoder.up_blocks.{position}.resnets.{layer}"] = resnet(f"decoder.up.{level}.block.{layer}")
        if level > 0:
            modules[f"decoder.up_blocks.{position}.upsamplers.0.conv"] = _Module(f"decoder.up.{level}.upsample.conv")
    return modules


def _place_all(state: Tensors, modules: Mapping[str, _Module], prefix: str, what: str) -> Tensors:
    # Longest module path first: the most specific module claims a key.
    ordered = sorted(modules, key=len, reverse=True)
    placed: Tensors = {}
    for key, tensor in state.items():
        module = next((name for name in ordered if key.startswith(name + ".")), None)
        if module is None:
            raise KeyError(f"{what}: no place in the original layout for {key!r}")
        name, value = modules[module].place(key[len(module) + 1:], tensor)
        placed[prefix + name] = value
    return placed


def unet_to_original(unet: Any) -> Tensors:
    return _place_all(unet.state_dict(), unet_modules(unet.config), UNET_PREFIX, "unet")


def vae_to_original(vae: Any) -> Tensors:
    return _place_all(vae.state_dict(), vae_modules(vae.config), VAE_PREFIX, "vae")


def clip_to_original(text_encoder: Any, prefix: str = CLIP_PREFIX) -> Tensors:
    """The Hugging Face CLIP text model as the original files carry it (the ``text_model.`` layout).

    Files exported by the original code also carry the ``position_ids`` buffer; it is written
    too, since loaders meet it in every downloaded SD 1.x checkpoint.
    """
    placed = {prefix + key.removeprefix("text_model."): value for key, value in text_encoder.state_dict().items()}
    positions = text_encoder.config.max_position_embeddings
    placed[prefix + "embeddings.position_ids"] = torch.arange(positions, dtype=torch.int64)[None]
    return placed


_LAYER = re.compile(r"encoder\.layers\.(\d+)\.(.+)")


def open_clip_to_original(text_encoder: Any, prefix: str = XL_OPEN_CLIP_PREFIX) -> Tensors:
    """A CLIPTextModelWithProjection in the OpenCLIP layout (SDXL's second text encoder).

    OpenCLIP keeps q/k/v as one fused ``in_proj`` and multiplies by ``text_projection`` from the
    right, so the projection is stored transposed.
    """
    state = {key.removeprefix("text_model."): value for key, value in text_encoder.state_dict().items()}
    placed: Tensors = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key == "embeddings.token_embedding.weight":
            placed["token_embedding.weight"] = value
        elif key == "embeddings.position_embedding.weight":
            placed["positional_embedding"] = value
        elif key.startswith("final_layer_norm."):
            placed["ln_final." + key.removeprefix("final_layer_norm.")] = value
        elif key == "text_projection.weight":
            placed["text_projection"] = value.T.contiguous()
        elif match := _LAYER.fullmatch(key):
            layer, inner = match.groups()
            block = f"transformer.resblocks.{layer}."
            projection = re.fullmatch(r"self_attn\.([qkv])_proj\.(weight|bias)", inner)
            if projection:
                part, kind = projection.groups()
                fused.setdefault(f"{block}attn.in_proj_{kind}", {})[part] = value
                continue
            for old, new in OPEN_CLIP_LAYERS.items():
                if inner.startswith(old + "."):
                    placed[block + new + inner[len(old):]] = value
                    break
            else:
                raise KeyError(f"text_encoder_2: no place in the OpenCLIP layout for {key!r}")
        else:
            raise KeyError(f"text_encoder_2: no place in the OpenCLIP layout for {key!r}")
    for name, parts in fused.items():
        placed[name] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return {prefix + key: value for key, value in placed.items()}


def _schedule_buffers(scheduler: Any) -> Tensors:
    """The noise-schedule buffers the original training code saved beside the weights (loaders skip them)."""
    betas = scheduler.betas.to(torch.float32)
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    return {
        "betas": betas,
        "alphas_cumprod": alphas_cumprod,
        "alphas_cumprod_prev": torch.cat([torch.ones(1), alphas_cumprod[:-1]]),
    }


def original_state_dict(pipe: Any) -> Tensors:
    """All of a loaded SD 1.x or SDXL pipeline's weights, keyed as an original checkpoint."""
    tensors = {**unet_to_original(pipe.unet), **vae_to_original(pipe.vae), **_schedule_buffers(pipe.scheduler)}
    if getattr(pipe, "text_encoder_2", None) is not None:
        tensors.update(clip_to_original(pipe.text_encoder, XL_CLIP_PREFIX))
        tensors.update(open_clip_to_original(pipe.text_encoder_2))
    else:
        tensors.update(clip_to_original(pipe.text_encoder))
    return {key: value.detach().contiguous() for key, value in tensors.items()}


def write_single_file(folder: str | Path, target: str | Path,
                      edit: Callable[[Tensors], Tensors] | None = None) -> Path:
    """Write the diffusers pipeline in ``folder`` as one original-layout checkpoint at ``target``.

    ``.safetensors`` writes a safetensors file; ``.ckpt`` a ``torch.save`` of
    ``{"state_dict": ..., "global_step": 0}`` as the original trainer did. ``edit`` may change
    the tensors first (tests use it to make broken files).
    """
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(folder), local_files_only=True)
    tensors = original_state_dict(pipe)
    if edit is not None:
        tensors = edit(tensors)
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(tensors, str(path))
    elif path.suffix == ".ckpt":
        torch.save({"state_dict": tensors, "global_step": 0}, path)
    else:
        raise ValueError(f"{path}: write .safetensors or .ckpt")
    return path
