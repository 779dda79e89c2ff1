"""Per-request LoRA adapters: parsed once, cached by content hash, switched per batch.

Adapters are loaded with diffusers' own loader (kohya, diffusers and peft key
layouts) under the name ``lora_<key>``; a request activates its adapters with
their weights and deactivates them afterwards, so the base model is never
reloaded. The cache is a bounded LRU; evicted adapters are deleted.

The API's tensor form (``lora{target, tensors[]}``) carries no names, so sfumato
defines an order: for ``LORA_UNET`` the targets are the ``to_q``, ``to_k``,
``to_v`` and ``to_out.0`` projections of every UNet attention module, for
``LORA_TEXT_ENCODER`` the ``q_proj``, ``k_proj``, ``v_proj`` and ``out_proj``
projections of every text-encoder layer, each in ``named_modules()`` order. Each
target takes two tensors, ``down`` (rank × in_features) then ``up``
(out_features × rank); the update is ``weight · up @ down`` (alpha = rank).
"""

from __future__ import annotations

import contextlib
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import torch
from safetensors.torch import load as load_safetensors
from sfumato.errors import Code, RpcError
from sfumato.jobs.job import LoraInput
from sfumato_diffusers.loading import MODEL_LOADING

TENSOR_TARGETS = {
    "LORA_UNET": ("unet", ("to_q", "to_k", "to_v", "to_out.0")),
    "LORA_TEXT_ENCODER": ("text_encoder", ("q_proj", "k_proj", "v_proj", "out_proj")),
}


def lora_key(lora: LoraInput) -> str:
    if lora.key:
        return lora.key
    if lora.safetensors is not None:
        return LoraInput.content_key(lora.safetensors)
    return LoraInput.content_key(lora.target.encode(), *(t.tobytes() for t in lora.tensors))


def adapter_name(lora: LoraInput) -> str:
    return "lora_" + lora_key(lora)


def lora_projections(module: torch.nn.Module, suffixes: Sequence[str]) -> list[tuple[str, torch.nn.Linear]]:
    """The Linear layers whose names end in one of ``suffixes``, in ``named_modules()`` order."""
    found = []
    for name, child in module.named_modules():
        # Once an adapter is loaded, peft wraps each target and the Linear becomes its base_layer.
        target = name.removesuffix(".base_layer")
        if isinstance(child, torch.nn.Linear) and any(target.endswith("." + s) for s in suffixes):
            found.append((target, child))
    return found


def tensors_to_state_dict(pipe: object, lora: LoraInput) -> dict[str, torch.Tensor]:
    """Give the API's tensor list the peft key layout (see the module docstring)."""
    if lora.target not in TENSOR_TARGETS:
        raise RpcError(
            Code.INVALID_ARGUMENT,
            f"LoRA target {lora.target!r} is not supported; use one of {sorted(TENSOR_TARGETS)}",
        )
    component, suffixes = TENSOR_TARGETS[lora.target]
    module = getattr(pipe, component, None)
    if module is None:
        raise RpcError(Code.INVALID_ARGUMENT, f"this model has no {component} for a {lora.target} LoRA")
    targets = lora_projections(module, suffixes)
    if len(lora.tensors) != 2 * len(targets):
        raise RpcError(
            Code.INVALID_ARGUMENT,
            f"a {lora.target} LoRA for this model needs {2 * len(targets)} tensors "
            f"(down, up for each of {len(targets)} projections), got {len(lora.tensors)}",
        )
    state: dict[str, torch.Tensor] = {}
    for i, (name, linear) in enumerate(targets):
        down = torch.from_numpy(lora.tensors[2 * i].copy()).float()
        up = torch.from_numpy(lora.tensors[2 * i + 1].copy()).float()
        rank = down.shape[0] if down.ndim == 2 else -1
        if down.shape != (rank, linear.in_features) or up.shape != (linear.out_features, rank):
            raise RpcError(
                Code.INVALID_ARGUMENT,
                f"LoRA tensors {2 * i} and {2 * i + 1} ({component}.{name}) must be shaped "
                f"(rank, {linear.in_features}) and ({linear.out_features}, rank); got "
                f"{tuple(down.shape)} and {tuple(up.shape)}",
            )
        state[f"{component}.{name}.lora_A.weight"] = down
        state[f"{component}.{name}.lora_B.weight"] = up
    return state


def _adapters_loaded(pipe: object) -> set[str]:
    names: set[str] = set()
    for adapters in pipe.get_list_adapters().values():  # type: ignore[attr-defined]
        names.update(adapters)
    return names


@contextlib.contextmanager
def _quiet_adapter_switch() -> Iterator[None]:
    """Silences peft's notice that a deleted adapter was the active one.

    Harmless here: every request sets its own adapters before generating and
    disables LoRA afterwards, so which adapter peft falls back to never matters.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Adapter .* was active which is now deleted")
        yield


class LoraAdapters:
    """The LoRA adapters loaded into one pipeline, as a bounded LRU by content hash."""

    def __init__(self, pipe: object, capacity: int) -> None:
        self.pipe = pipe
        self.capacity = capacity
        self._cached: OrderedDict[str, None] = OrderedDict()

    @property
    def cached(self) -> list[str]:
        return list(self._cached)

    def _load(self, name: str, lora: LoraInput) -> None:
        if lora.safetensors is not None:
            try:
                state = load_safetensors(lora.safetensors)
            except Exception as exc:  # safetensors raises its own error types
                raise RpcError(Code.INVALID_ARGUMENT, f"LoRA is not a valid .safetensors file: {exc}") from exc
        elif lora.tensors:
            state = tensors_to_state_dict(self.pipe, lora)
        else:
            raise RpcError(Code.INVALID_ARGUMENT, "LoRA has neither a .safetensors file nor tensors")
        try:
            # A failed load deletes its half-made adapter inside diffusers.
            with MODEL_LOADING, _quiet_adapter_switch():
                self.pipe.load_lora_weights(state, adapter_name=name)  # type: ignore[attr-defined]
        except Exception as exc:
            self._discard(name)
            raise RpcError(Code.INVALID_ARGUMENT, f"LoRA does not fit this model: {exc}") from exc
        if name not in _adapters_loaded(self.pipe):
            raise RpcError(
                Code.INVALID_ARGUMENT,
                "LoRA does not fit this model: none of its keys name a module of the UNet or text encoder",
            )

    def _discard(self, name: str) -> None:
        if name in _adapters_loaded(self.pipe):
            with _quiet_adapter_switch():
                self.pipe.delete_adapters(name)  # type: ignore[attr-defined]

    def ensure(self, loras: Sequence[LoraInput]) -> list[str]:
        """Load what is missing, evicting least recently used adapters not needed now."""
        names = [adapter_name(lora) for lora in loras]
        for name, lora in zip(names, loras):
            if name in self._cached:
                self._cached.move_to_end(name)
                continue
            self._load(name, lora)
            self._cached[name] = None
        while len(self._cached) > self.capacity:
            victim = next((n for n in self._cached if n not in names), None)
            if victim is None:
                break  # everything cached is in use by this request
            del self._cached[victim]
            self._discard(victim)
        return names

    @contextlib.contextmanager
    def active(self, loras: Sequence[LoraInput]) -> Iterator[None]:
        """Apply ``loras`` with their weights for the duration of the block."""
        if not loras:
            yield
            return
        names = self.ensure(loras)
        # One adapter may be requested twice: set_adapters wants unique names.
        weights: dict[str, float] = {}
        for name, lora in zip(names, loras):
            weights[name] = weights.get(name, 0.0) + lora.weight
        self.pipe.enable_lora()  # type: ignore[attr-defined]
        self.pipe.set_adapters(list(weights), adapter_weights=list(weights.values()))  # type: ignore[attr-defined]
        try:
            yield
        finally:
            self.pipe.disable_lora()  # type: ignore[attr-defined]
