"""Weighted, arbitrarily long prompts turned into text embeddings.

Each fragment is tokenized without truncation, cut into windows of
``model_max_length - 2`` tokens, each window wrapped in BOS/EOS and encoded on its
own; the window encodings are concatenated along the sequence axis (the usual
"long prompt" technique, as cross-attention accepts any context length).
Fragments are combined as the weighted average of their encodings; fragments with
fewer windows are padded with encodings of the empty prompt so all have one length.
The mean weight ``s`` of the fragments then scales the result's departure from the
empty prompt's encoding ``E0``: ``E0 + s·(average − E0)``. Weights of 1 leave the
average as it is; a lone fragment of weight 0.5 lies halfway to the empty prompt. SDXL's two encoders are concatenated along
the feature axis and the pooled embedding is the weighted average of each
fragment's first-window pooled output.

A token fragment (``WeightedText.tokens``, from ``prompt.tokens``) skips the tokenizer:
its ids go into the windows as they are (a leading BOS and trailing EOS are dropped,
since every window gets its own).

Fragment encodings are kept for reuse (LRU, ``prompt_cache_size``): the empty negative
prompt, and a prompt sent again with other seeds, cost one text-encoder pass per window
each time otherwise. Requests with LoRAs neither read nor fill the cache, since their
adapters may change the text encoder.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from sfumato.errors import Code, RpcError
from sfumato.jobs.job import WeightedText
from sfumato.wire_codec.errors import client_text


@dataclass
class Conditioning:
    embeds: torch.Tensor  # [1, windows * max_length, features]
    pooled: torch.Tensor | None  # [1, pooled_features] for SDXL

    @property
    def length(self) -> int:
        return int(self.embeds.shape[1])


class PromptEncoder:
    """Encodes weighted fragments with one (SD) or two (SDXL) tokenizer/encoder pairs."""

    def __init__(
        self, tokenizers: Sequence, encoders: Sequence, xl: bool, max_windows: int, cache_size: int = 0
    ) -> None:
        self.tokenizers = [t for t in tokenizers if t is not None]
        self.encoders = [e for e in encoders if e is not None]
        self.xl = xl
        self.max_windows = max_windows
        self.window_tokens = self.tokenizers[0].model_max_length - 2
        self.cache_size = cache_size
        self.cache_hits = 0
        self._cache: OrderedDict[Hashable, tuple[torch.Tensor, torch.Tensor | None]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def max_tokens(self) -> int:
        return self.window_tokens * self.max_windows

    # Both are read for every request (the engine's description): the vocabulary is fixed once
    # loaded, and hashing it took 0.4 ms a request on tiny-sd, tens of ms on a real CLIP one.
    @cached_property
    def vocabulary_size(self) -> int:
        return len(self.tokenizers[0])

    @cached_property
    def tokenizer_id(self) -> str:
        """Names the vocabulary: token ids carry over between engines with the same id."""
        return tokenizer_id(self.tokenizers[0])

    def ids(self, fragment: WeightedText, tokenizer=None) -> list[int]:
        tokenizer = tokenizer or self.tokenizers[0]
        if fragment.tokens is None:
            return list(tokenizer(fragment.text, add_special_tokens=False, truncation=False).input_ids)
        ids = list(fragment.tokens)
        if ids and ids[0] == tokenizer.bos_token_id:
            ids = ids[1:]
        if ids and ids[-1] == tokenizer.eos_token_id:
            ids = ids[:-1]
        return ids

    def tokens(self, fragment: WeightedText) -> list[tuple[int, str]]:
        """The fragment's token ids (no BOS/EOS) with each token's text, as the tokenizer spells it."""
        ids = self.ids(fragment)
        return list(zip(ids, self.tokenizers[0].convert_ids_to_tokens(ids)))

    def count_tokens(self, fragment: WeightedText | str) -> int:
        if isinstance(fragment, str):
            fragment = WeightedText(fragment)
        return len(self.ids(fragment))

    def count_windows(self, fragment: WeightedText | str) -> int:
        return max(1, -(-self.count_tokens(fragment) // self.window_tokens))

    def check_vocabulary(self, fragments: Sequence[WeightedText]) -> None:
        for fragment in fragments:
            if fragment.tokens is None:
                continue
            if fragment.tokenizer_id and fragment.tokenizer_id != self.tokenizer_id:
                raise RpcError(
                    Code.INVALID_ARGUMENT,
                    f"prompt.tokens.tokenizerId: {client_text(fragment.tokenizer_id)} is not this engine's "
                    f"tokenizer ({self.tokenizer_id}); send ids for that one, or text",
                )
            outside = [token for token in fragment.tokens if not 0 <= token < self.vocabulary_size]
            if outside:
                raise RpcError(
                    Code.INVALID_ARGUMENT,
                    f"prompt.tokens: token id {outside[0]} is outside this engine's vocabulary "
                    f"(ids 0..{self.vocabulary_size - 1})",
                )

    def check_length(self, fragments: Sequence[WeightedText], which: str) -> None:
        """Refuse a text longer than the encoder reads; ``which`` is "positive" or "negative"."""
        for fragment in fragments:
            if fragment.weight == 0:
                continue
            count = self.count_tokens(fragment)
            if count > self.max_tokens:
                sign = "> 0" if which == "positive" else "< 0"
                raise RpcError(
                    Code.INVALID_ARGUMENT,
                    f"prompt: a {which} prompt text (weight {sign}) is {count} tokens long; this engine reads "
                    f"at most {self.max_tokens} tokens of each prompt text, so shorten it "
                    + (f"(the text begins {client_text(fragment.text, 40)})" if fragment.tokens is None else "(a token prompt)"),
                )

    @torch.no_grad()
    def encode(
        self, fragments: Sequence[WeightedText], min_windows: int = 1, which: str = "positive", reuse: bool = True
    ) -> Conditioning:
        """``reuse``: whether encodings may come from (and go to) the cache; False while adapters
        that may touch the text encoder are on."""
        self.check_length(fragments, which)
        parts = [f for f in fragments if f.weight != 0] or [WeightedText("", 1.0)]
        windows = max([min_windows] + [self.count_windows(f) for f in parts])
        total = sum(f.weight for f in parts)
        embeds: torch.Tensor | None = None
        pooled: torch.Tensor | None = None
        for fragment in parts:
            e, p = self._encoded(fragment, windows, reuse)
            share = fragment.weight / total
            embeds = e * share if embeds is None else embeds + e * share
            if p is not None:
                pooled = p * share if pooled is None else pooled + p * share
        assert embeds is not None
        strength = total / len(parts)
        if strength != 1.0:
            # The mean weight scales the prompt's departure from the empty prompt, so a lone
            # fragment's weight matters (0.5 = halfway to no prompt, 1.5 = 50 % beyond it).
            empty, empty_pooled = self._encoded(WeightedText("", 1.0), windows, reuse)
            embeds = empty + strength * (embeds - empty)
            if pooled is not None and empty_pooled is not None:
                pooled = empty_pooled + strength * (pooled - empty_pooled)
        return Conditioning(embeds, pooled)

    def _encoded(self, fragment: WeightedText, windows: int, reuse: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The fragment's encoding, from the cache when allowed. Cached tensors are shared: callers
        build new tensors from them and never write into them."""
        if not reuse or self.cache_size <= 0:
            return self._encode_fragment(fragment, windows)
        key = (fragment.text, None if fragment.tokens is None else tuple(fragment.tokens), windows)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.cache_hits += 1
                return cached
        encoded = self._encode_fragment(fragment, windows)
        with self._cache_lock:
            self._cache[key] = encoded
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return encoded

    @property
    def cached(self) -> int:
        return len(self._cache)

    def _encode_fragment(self, fragment: WeightedText, windows: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        per_encoder: list[torch.Tensor] = []
        pooled: torch.Tensor | None = None
        for tokenizer, encoder in zip(self.tokenizers, self.encoders):
            ids = self.ids(fragment, tokenizer)
            chunks = [ids[i : i + self.window_tokens] for i in range(0, len(ids), self.window_tokens)]
            chunks += [[]] * (windows - len(chunks))
            rows = []
            for chunk in chunks[:windows]:
                row = [tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id]
                row += [tokenizer.pad_token_id] * (tokenizer.model_max_length - len(row))
                rows.append(row)
            input_ids = torch.tensor(rows, device=encoder.device)
            if self.xl:
                out = encoder(input_ids, output_hidden_states=True)
                hidden = out.hidden_states[-2]
                if hasattr(out, "text_embeds"):
                    pooled = out.text_embeds[:1]
            else:
                mask = None
                if getattr(encoder.config, "use_attention_mask", False):
                    mask = (input_ids != tokenizer.pad_token_id).long()
                hidden = encoder(input_ids, attention_mask=mask)[0]
            # [windows, max_length, features] -> [1, windows * max_length, features]
            per_encoder.append(hidden.reshape(1, -1, hidden.shape[-1]))
        return torch.cat(per_encoder, dim=-1), pooled


def tokenizer_id(tokenizer) -> str:
    """``<class>-<vocabulary size>-<digest of the vocabulary>``: equal ids mean interchangeable token ids."""
    vocabulary = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    digest = hashlib.sha256(json.dumps(vocabulary, ensure_ascii=False).encode()).hexdigest()[:12]
    name = type(tokenizer).__name__.removesuffix("Fast")
    return f"{name}-{len(tokenizer)}-{digest}"
