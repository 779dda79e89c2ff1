"""Weighted, arbitrarily long prompts turned into text embeddings.

Each fragment is tokenized without truncation, cut into windows of
``model_max_length - 2`` tokens, each window wrapped in BOS/EOS and encoded on its
own; the window encodings are concatenated along the sequence axis (the usual
"long prompt" technique, as cross-attention accepts any context length).
Fragments are combined as the weighted average of their encodings (only relative
weights matter); fragments with fewer windows are padded with encodings of the
empty prompt so all have one length. SDXL's two encoders are concatenated along
the feature axis and the pooled embedding is the weighted average of each
fragment's first-window pooled output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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

    def __init__(self, tokenizers: Sequence, encoders: Sequence, xl: bool, max_windows: int) -> None:
        self.tokenizers = [t for t in tokenizers if t is not None]
        self.encoders = [e for e in encoders if e is not None]
        self.xl = xl
        self.max_windows = max_windows
        self.window_tokens = self.tokenizers[0].model_max_length - 2

    @property
    def max_tokens(self) -> int:
        return self.window_tokens * self.max_windows

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizers[0](text, add_special_tokens=False, truncation=False).input_ids)

    def count_windows(self, text: str) -> int:
        return max(1, -(-self.count_tokens(text) // self.window_tokens))

    def check_length(self, fragments: Sequence[WeightedText], which: str) -> None:
        """Refuse a text longer than the encoder reads; ``which`` is "positive" or "negative"."""
        for fragment in fragments:
            if fragment.weight == 0:
                continue
            count = self.count_tokens(fragment.text)
            if count > self.max_tokens:
                sign = "> 0" if which == "positive" else "< 0"
                raise RpcError(
                    Code.INVALID_ARGUMENT,
                    f"prompt: a {which} prompt text (weight {sign}) is {count} tokens long; this engine reads "
                    f"at most {self.max_tokens} tokens of each prompt text, so shorten it "
                    f"(the text begins {client_text(fragment.text, 40)})",
                )

    @torch.no_grad()
    def encode(self, fragments: Sequence[WeightedText], min_windows: int = 1, which: str = "positive") -> Conditioning:
        self.check_length(fragments, which)
        parts = [f for f in fragments if f.weight != 0] or [WeightedText("", 1.0)]
        windows = max([min_windows] + [self.count_windows(f.text) for f in parts])
        total = sum(f.weight for f in parts)
        embeds: torch.Tensor | None = None
        pooled: torch.Tensor | None = None
        for fragment in parts:
            e, p = self._encode_text(fragment.text, windows)
            share = fragment.weight / total
            embeds = e * share if embeds is None else embeds + e * share
            if p is not None:
                pooled = p * share if pooled is None else pooled + p * share
        assert embeds is not None
        return Conditioning(embeds, pooled)

    def _encode_text(self, text: str, windows: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        per_encoder: list[torch.Tensor] = []
        pooled: torch.Tensor | None = None
        for tokenizer, encoder in zip(self.tokenizers, self.encoders):
            ids = tokenizer(text, add_special_tokens=False, truncation=False).input_ids
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
