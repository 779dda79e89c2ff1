"""Per-request LoRA: layouts, weights, restoration, caching, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from _support import make_engine, one
from safetensors.torch import save
from sfumato.errors import Code, RpcError
from sfumato.jobs.job import LoraInput

from sfumato_diffusers.lora import TENSOR_TARGETS, lora_projections
from sfumato_diffusers.tiny import make_tiny_lora


def _lora(data: bytes, weight: float = 1.0) -> LoraInput:
    return LoraInput(weight=weight, safetensors=data, key=LoraInput.content_key(data))


@pytest.fixture(scope="module")
def lora_files(tiny_model_dir):
    return {layout: make_tiny_lora(tiny_model_dir, layout, seed=i) for i, layout in
            enumerate(("kohya", "diffusers", "peft"))}


def test_weight_zero_is_the_base_image_and_weight_one_is_not(engine, lora_files):
    base = one(engine)
    data = lora_files["peft"]
    assert np.array_equal(one(engine, loras=[_lora(data, 0.0)]), base)
    styled = one(engine, loras=[_lora(data, 1.0)])
    assert not np.array_equal(styled, base)
    # the adapter is switched off again: the next plain request is the base image
    assert np.array_equal(one(engine), base)
    # and switching it back on reproduces the styled image from the cache
    assert np.array_equal(one(engine, loras=[_lora(data, 1.0)]), styled)


@pytest.mark.parametrize("layout", ["kohya", "diffusers", "peft"])
def test_every_key_layout_loads_and_changes_the_image(engine, lora_files, layout):
    base = one(engine)
    assert not np.array_equal(one(engine, loras=[_lora(lora_files[layout])]), base)
    assert np.array_equal(one(engine), base)


def test_several_loras_stack_with_their_weights(engine, lora_files):
    a, b = _lora(lora_files["kohya"], 1.0), _lora(lora_files["peft"], 1.0)
    only_a = one(engine, loras=[a])
    both = one(engine, loras=[a, b])
    half_b = one(engine, loras=[a, _lora(lora_files["peft"], 0.5)])
    assert not np.array_equal(both, only_a)
    assert not np.array_equal(both, half_b)


def _tensor_lora(module, target: str, seed: int) -> LoraInput:
    """A rank-2 LoRA in the tensor form: a (down, up) pair for each of ``target``'s projections."""
    _, suffixes = TENSOR_TARGETS[target]
    rng = np.random.default_rng(seed)
    tensors = []
    for _, linear in lora_projections(module, suffixes):
        tensors.append(rng.normal(0, 0.5, (2, linear.in_features)).astype(np.float32))
        tensors.append(rng.normal(0, 0.5, (linear.out_features, 2)).astype(np.float32))
    return LoraInput(weight=1.0, target=target, tensors=tuple(tensors))


def test_the_tensor_form_maps_pairs_onto_attention_projections(engine):
    lora = _tensor_lora(engine.pipe.unet, "LORA_UNET", seed=3)
    tensors = lora.tensors
    base = one(engine)
    assert not np.array_equal(one(engine, loras=[lora]), base)
    assert np.array_equal(one(engine), base)
    with pytest.raises(RpcError) as caught:
        one(engine, loras=[LoraInput(weight=1.0, tensors=tuple(tensors[:-2]))])
    assert caught.value.code == Code.INVALID_ARGUMENT and "needs" in caught.value.message


def _bad_lora_files(tiny_model_dir) -> dict[str, bytes]:
    import torch

    wrong_shape = make_tiny_lora(tiny_model_dir, "peft")
    from safetensors.torch import load

    tensors = load(wrong_shape)
    first = next(k for k in tensors if k.endswith("lora_A.weight"))
    tensors[first] = torch.zeros(2, tensors[first].shape[1] + 3)
    return {
        "keys match nothing": save({"unet.no_such_block.to_q.lora_A.weight": torch.zeros(2, 4),
                                    "unet.no_such_block.to_q.lora_B.weight": torch.zeros(4, 2)}),
        "wrong shapes": save(tensors),
        "not safetensors": b"this is not a safetensors file",
    }


@pytest.mark.parametrize("case", ["keys match nothing", "wrong shapes", "not safetensors"])
def test_a_lora_that_does_not_fit_is_invalid_argument(engine, tiny_model_dir, case):
    data = _bad_lora_files(tiny_model_dir)[case]
    base = one(engine)
    with pytest.raises(RpcError) as caught:
        one(engine, loras=[_lora(data)])
    assert caught.value.code == Code.INVALID_ARGUMENT
    assert "LoRA" in caught.value.message
    # nothing half-loaded stays behind
    assert np.array_equal(one(engine), base)


def test_the_cache_is_a_bounded_lru(tiny_model_dir, cache_dir):
    engine = make_engine(tiny_model_dir, cache_dir, lora_cache_size=2)
    files = [make_tiny_lora(tiny_model_dir, "peft", seed=10 + i) for i in range(3)]
    for data in files:
        one(engine, loras=[_lora(data)])
    loaded = {name for names in engine.pipe.get_list_adapters().values() for name in names}
    keys = ["lora_" + LoraInput.content_key(d) for d in files]
    assert engine._loras.cached == keys[1:]
    assert keys[0] not in loaded and set(keys[1:]) <= loaded


def test_a_lora_loaded_while_another_model_loads_gets_real_weights(engine, lora_files):
    # from_pretrained holds the loading lock with accelerate's process-wide empty-weights
    # patch in place; a LoRA's adapter layers built meanwhile would be meta tensors.
    import threading

    from accelerate import init_empty_weights
    from sfumato_diffusers.loading import MODEL_LOADING

    data = lora_files["kohya"]
    expected = one(engine, loras=[_lora(data)])
    engine._loras._discard("lora_" + LoraInput.content_key(data))
    engine._loras._cached.clear()
    loading, release = threading.Event(), threading.Event()

    def another_model_loading() -> None:
        with MODEL_LOADING, init_empty_weights():
            loading.set()
            release.wait(10)

    loader = threading.Thread(target=another_model_loading)
    loader.start()
    loading.wait(10)
    threading.Timer(0.5, release.set).start()
    try:
        styled = one(engine, loras=[_lora(data)])
    finally:
        release.set()
        loader.join()
    assert np.array_equal(styled, expected)


def test_a_text_encoder_lora_changes_the_prompt_encoding(engine):
    """The prompt is encoded while the request's adapters are on, so text-encoder LoRAs take effect."""
    lora = _tensor_lora(engine.pipe.text_encoder, "LORA_TEXT_ENCODER", seed=5)
    base = one(engine)
    assert not np.array_equal(one(engine, loras=[lora]), base)
    assert np.array_equal(one(engine), base)
