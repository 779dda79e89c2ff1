"""Splitting a Request's prompts into text fragments, init image, mask and LoRAs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sfumato.adjust import ImageLimit, apply_adjustments, validate_adjustments
from sfumato.config import LimitSettings
from sfumato.errors import RpcError, Code, invalid
from sfumato.images import decode_image
from sfumato.jobs.cancel import CancelToken
from sfumato.jobs.job import LoraInput, WeightedText
from sfumato.records import AdjustmentSpec

# numpy's own limit is 32 or 64 depending on the version; LoRA tensors use 2 or 4.
MAX_TENSOR_DIMENSIONS = 32
# numpy dtypes for tensors.Dtype names (the API page's Tensor.data is raw little-endian bytes).
TENSOR_DTYPES = {
    "DT_FLOAT32": "<f4",
    "DT_FLOAT64": "<f8",
    "DT_FLOAT16": "<f2",
    "DT_UINT8": "u1",
    "DT_INT8": "i1",
    "DT_INT16": "<i2",
    "DT_INT32": "<i4",
    "DT_INT64": "<i8",
    "DT_BOOL": "?",
}
LATENT_KINDS = ("ARTIFACT_LATENT", "ARTIFACT_TENSOR")


@dataclass
class SplitPrompts:
    positive: list[WeightedText] = field(default_factory=list)
    negative: list[WeightedText] = field(default_factory=list)
    init_image: np.ndarray | None = None
    mask: np.ndarray | None = None
    composite_mask: np.ndarray | None = None
    loras: list[LoraInput] = field(default_factory=list)
    init_latent: np.ndarray | None = None  # C×h×w float32
    init_latent_path: str = ""


def _name(value: Any) -> str:
    return getattr(value, "value", value) if value is not None else "ARTIFACT_NONE"


def _weight(prompt: Any, path: str) -> float:
    parameters = prompt.parameters
    weight = 1.0 if parameters is None or parameters.weight is None else float(parameters.weight)
    if weight != weight or weight in (float("inf"), float("-inf")):
        raise invalid(f"{path}.parameters.weight: must be a finite number")
    return weight


def split_prompts(
    prompts: Sequence[Any],
    *,
    limits: LimitSettings,
    adjustments: Mapping[str, AdjustmentSpec],
    cancel: CancelToken | None = None,
) -> SplitPrompts:
    """Classify prompts (API.md §4) and decode/adjust their images. Blocking: run off the event loop.

    Image work stops between adjustments once ``cancel`` fires (raising ``Cancelled``).
    """
    if len(prompts) > limits.max_prompts:
        raise invalid(f"prompt: {len(prompts)} prompts sent; the limit is {limits.max_prompts} (limits.max_prompts)")
    result = SplitPrompts()
    for position, prompt in enumerate(prompts):
        path = f"prompt[{position}]"
        weight = _weight(prompt, path)
        if prompt.text is not None:
            _add_text(result, prompt.text, weight, path + ".text", limits)
        elif prompt.tokens is not None:
            _add_tokens(result, prompt.tokens, weight, path + ".tokens", limits)
        elif prompt.artifact is not None:
            _add_artifact(result, prompt.artifact, weight, path + ".artifact", limits, adjustments, cancel)
        else:
            raise invalid(f"{path}: a prompt must set one of text, tokens or artifact")
    return result


def _add_text(result: SplitPrompts, text: str, weight: float, path: str, limits: LimitSettings) -> None:
    if len(text) > limits.max_prompt_chars:
        raise invalid(f"{path}: {len(text)} characters; the limit is {limits.max_prompt_chars} (limits.max_prompt_chars)")
    if weight > 0:
        result.positive.append(WeightedText(text, weight))
    elif weight < 0:
        result.negative.append(WeightedText(text, -weight))


def _add_tokens(result: SplitPrompts, tokens: Any, weight: float, path: str, limits: LimitSettings) -> None:
    """Token ids for the engine's tokenizer; the engine checks them against its vocabulary."""
    ids = [token.id for token in tokens.tokens or ()]
    if not ids:
        raise invalid(f"{path}.tokens: a token prompt needs at least one token")
    # Every token stands for at least one character: the text limit bounds token prompts too.
    if len(ids) > limits.max_prompt_chars:
        raise invalid(f"{path}.tokens: {len(ids)} tokens; the limit is {limits.max_prompt_chars} (limits.max_prompt_chars)")
    fragment = WeightedText("", abs(weight), tokens=tuple(int(i) for i in ids), tokenizer_id=tokens.tokenizer_id)
    if weight > 0:
        result.positive.append(fragment)
    elif weight < 0:
        result.negative.append(fragment)


def _add_latent(result: SplitPrompts, artifact: Any, path: str) -> None:
    """An initial latent: float C×h×w or 1×C×h×w, finite; the engine checks channels and size."""
    if result.init_latent is not None:
        raise invalid(f"{path}: only one initial latent (ARTIFACT_LATENT or ARTIFACT_TENSOR) per request is supported")
    if artifact.tensor is None:
        raise invalid(f"{path}.tensor: a latent prompt needs its values in 'tensor' (dtype, shape, data)")
    array = _tensor(artifact.tensor, path + ".tensor")
    if array.dtype.kind != "f":
        raise invalid(f"{path}.tensor.dtype: a latent must be DT_FLOAT32, DT_FLOAT16 or DT_FLOAT64, got {array.dtype}")
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3 or 0 in array.shape:
        raise invalid(
            f"{path}.tensor.shape: a latent is [channels, height, width] or [1, channels, height, width], "
            f"got {list(artifact.tensor.shape or ())}"
        )
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise invalid(f"{path}.tensor.data: a latent must hold finite numbers (found NaN or infinity)")
    result.init_latent = array
    result.init_latent_path = path


def _decode_artifact_image(artifact: Any, path: str, limits: LimitSettings) -> np.ndarray:
    if artifact.binary is None:
        raise invalid(f"{path}.binary: an image artifact needs its image bytes in 'binary'")
    return decode_image(
        bytes(artifact.binary), max_pixels=limits.max_input_pixels, max_side=limits.max_input_side, what=path + ".binary"
    )


def _add_artifact(
    result: SplitPrompts,
    artifact: Any,
    weight: float,
    path: str,
    limits: LimitSettings,
    adjustments: Mapping[str, AdjustmentSpec],
    cancel: CancelToken | None,
) -> None:
    kind = _name(artifact.type)
    limit = ImageLimit(limits.max_input_pixels, limits.max_input_side)

    def adjust(pixels: np.ndarray, chain: list[Any], where: str) -> np.ndarray:
        return apply_adjustments(pixels, chain, adjustments, path=where, limit=limit, cancel=cancel)

    pre = list(artifact.adjustments or ())
    post = list(artifact.post_adjustments or ())
    if len(pre) + len(post) > limits.max_adjustments:
        raise invalid(f"{path}: {len(pre) + len(post)} adjustments; the limit is {limits.max_adjustments} (limits.max_adjustments)")
    validate_adjustments(pre, adjustments, path=path + ".adjustments")
    validate_adjustments(post, adjustments, path=path + ".postAdjustments")

    if post and kind != "ARTIFACT_MASK":
        raise invalid(f"{path}.postAdjustments: only masks take postAdjustments (they shape the final composite)")
    if kind == "ARTIFACT_IMAGE":
        if result.init_image is not None:
            raise invalid(f"{path}: only one init image (ARTIFACT_IMAGE) per request is supported")
        pixels = _decode_artifact_image(artifact, path, limits)
        result.init_image = adjust(pixels, pre, path + ".adjustments")
    elif kind == "ARTIFACT_MASK":
        if result.mask is not None:
            raise invalid(f"{path}: only one mask (ARTIFACT_MASK) per request is supported")
        pixels = _decode_artifact_image(artifact, path, limits)
        adjusted = adjust(pixels, pre, path + ".adjustments")
        result.mask = adjusted
        result.composite_mask = adjust(adjusted, post, path + ".postAdjustments")
    elif kind == "ARTIFACT_LORA":
        if len(result.loras) >= limits.max_loras:
            raise invalid(f"{path}: more than {limits.max_loras} LoRAs (limits.max_loras)")
        result.loras.append(_lora(artifact, weight, path))
    elif kind in LATENT_KINDS:
        _add_latent(result, artifact, path)
    elif kind == "ARTIFACT_TOKENS":
        if artifact.tokens is None:
            raise invalid(f"{path}.tokens: an ARTIFACT_TOKENS prompt needs 'tokens'")
        _add_tokens(result, artifact.tokens, weight, path + ".tokens", limits)
    elif kind == "ARTIFACT_TEXT":
        if artifact.text is None:
            raise invalid(f"{path}.text: an ARTIFACT_TEXT prompt needs 'text'")
        _add_text(result, artifact.text, weight, path + ".text", limits)
    else:
        raise RpcError(
            Code.UNIMPLEMENTED,
            f"{path}.type: {kind} artifacts are not supported as prompts "
            "(use ARTIFACT_IMAGE, ARTIFACT_MASK, ARTIFACT_LORA, ARTIFACT_TEXT, ARTIFACT_TOKENS, "
            "ARTIFACT_LATENT or ARTIFACT_TENSOR)",
        )


def _lora(artifact: Any, weight: float, path: str) -> LoraInput:
    if artifact.binary is not None:
        data = bytes(artifact.binary)
        if len(data) < 8:
            raise invalid(f"{path}.binary: a LoRA must be a .safetensors file; got {len(data)} bytes")
        return LoraInput(weight=weight, safetensors=data, key=LoraInput.content_key(data))
    lora = artifact.lora
    if lora is None or not lora.tensors:
        raise invalid(f"{path}: a LoRA artifact needs a .safetensors file in 'binary' or tensors in 'lora.tensors'")
    tensors = []
    for index, tensor in enumerate(lora.tensors):
        tensors.append(_tensor(tensor, f"{path}.lora.tensors[{index}]"))
    target = _name(lora.target) if lora.target is not None else "LORA_UNET"
    key = LoraInput.content_key(target.encode(), *(t.tobytes() + str(t.shape).encode() for t in tensors))
    return LoraInput(weight=weight, target=target, tensors=tuple(tensors), key=key)


def _tensor(tensor: Any, path: str) -> np.ndarray:
    dtype_name = _name(tensor.dtype) if tensor.dtype is not None else "DT_INVALID"
    dtype = TENSOR_DTYPES.get(dtype_name)
    if dtype is None:
        raise invalid(f"{path}.dtype: {dtype_name} is not supported (use one of {', '.join(TENSOR_DTYPES)})")
    shape = tuple(int(dim) for dim in tensor.shape or ())
    if len(shape) > MAX_TENSOR_DIMENSIONS:
        raise invalid(f"{path}.shape: {len(shape)} dimensions; at most {MAX_TENSOR_DIMENSIONS} are supported")
    negative = [dim for dim in shape if dim < 0]
    if negative:
        raise invalid(f"{path}.shape: {list(shape)} is not a valid shape (negative dimension {negative[0]})")
    data = bytes(tensor.data or b"")
    # Python ints: a product of large dimensions must not wrap around as int64 would.
    expected = math.prod(shape) * np.dtype(dtype).itemsize if shape else len(data)
    if len(data) != expected:
        raise invalid(f"{path}: shape {list(shape)} of {dtype_name} needs {expected} bytes of data, got {len(data)}")
    array = np.frombuffer(data, dtype=dtype)
    if not shape:
        return array
    try:
        return array.reshape(shape)
    except ValueError as exc:  # e.g. a zero-size tensor with a dimension numpy cannot index
        raise invalid(f"{path}.shape: {list(shape)} is not a shape this server can hold ({exc})") from None
