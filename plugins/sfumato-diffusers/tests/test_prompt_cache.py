"""Prompt encodings are reused across requests: same tensors, same images, bounded, never under LoRA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _support import make_engine, make_job, one
from sfumato.jobs.job import LoraInput, WeightedText

from sfumato_diffusers.options import parse_options
from sfumato_diffusers.prompts import PromptEncoder
from sfumato_diffusers.tiny import make_tiny_lora


def _encoder(engine, cache_size: int) -> PromptEncoder:
    pipe = engine.pipe
    return PromptEncoder([pipe.tokenizer], [pipe.text_encoder], xl=False, max_windows=8, cache_size=cache_size)


@pytest.mark.parametrize("fragments", [
    [WeightedText("a red cat")],
    [WeightedText("a red cat", 0.5)],  # a mean weight ≠ 1 also encodes the empty prompt
    [WeightedText("a red cat", 1.2), WeightedText("blue sky", -0.4)],
    [WeightedText(" ".join(["word"] * 10))],  # 40 tokens: several windows on tiny-sd
    [],
])
def test_reused_encodings_equal_fresh_ones(engine, fragments):
    encoder = _encoder(engine, cache_size=8)
    fresh = encoder.encode(fragments, reuse=False)
    assert encoder.cached == 0
    first = encoder.encode(fragments)
    again = encoder.encode(fragments)
    assert encoder.cache_hits >= 1
    for conditioning in (first, again):
        assert torch.equal(conditioning.embeds, fresh.embeds)
    # What a caller got is its own: changing it leaves the cached encoding alone.
    again.embeds.add_(1.0)
    assert torch.equal(encoder.encode(fragments).embeds, fresh.embeds)


def test_the_cache_is_a_bounded_lru(engine):
    encoder = _encoder(engine, cache_size=3)
    for text in ("one", "two", "three", "four", "five"):
        encoder.encode([WeightedText(text)])
    assert encoder.cached == 3
    encoder.encode([WeightedText("five")])
    assert encoder.cache_hits == 1
    encoder.encode([WeightedText("one")])  # evicted: encoded again
    assert encoder.cache_hits == 1 and encoder.cached == 3
    # The same text under another window count is another encoding.
    encoder.encode([WeightedText("five")], min_windows=2)
    assert encoder.cache_hits == 1


def test_the_engine_reuses_a_repeated_prompt_and_gives_the_same_image(cache_dir):
    cached = make_engine("tiny-sd", cache_dir, prompt_cache_size=4)
    uncached = make_engine("tiny-sd", cache_dir, prompt_cache_size=0)
    job = dict(prompt=[WeightedText("a lighthouse")], negative_prompt=[WeightedText("fog")])
    first = one(cached, **job)
    hits = cached._encoder.cache_hits
    assert np.array_equal(one(cached, **job, seeds=[7]), first)
    assert cached._encoder.cache_hits == hits + 2  # the positive and the negative prompt
    assert np.array_equal(one(uncached, **job), first)
    assert uncached._encoder.cached == 0


def test_requests_with_loras_neither_read_nor_fill_the_cache(engine, tiny_model_dir):
    lora_file = make_tiny_lora(tiny_model_dir, "peft", seed=0)
    lora = LoraInput(weight=1.0, safetensors=lora_file, key=LoraInput.content_key(lora_file))
    one(engine, prompt=[WeightedText("under a lora")])
    cached, hits = engine._encoder.cached, engine._encoder.cache_hits
    one(engine, prompt=[WeightedText("under a lora")], loras=[lora])
    one(engine, prompt=[WeightedText("only under a lora")], loras=[lora])
    assert (engine._encoder.cached, engine._encoder.cache_hits) == (cached, hits)


def test_prompt_cache_size_option():
    assert parse_options({}).prompt_cache_size == 32
    assert parse_options({"prompt_cache_size": 0}).prompt_cache_size == 0
    for bad in (-1, 2.5, True, "8"):
        with pytest.raises(ValueError, match="prompt_cache_size must be 0 \\(off\\) or a positive integer"):
            parse_options({"prompt_cache_size": bad})
