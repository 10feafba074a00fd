"""The Hugging Face tokenizer adapter: the same `encode(text) -> ids` + `pad_id` face as ByteTokenizer."""

from __future__ import annotations

from typing import Any


class HFTokenizer:
    """Wraps a Hugging Face tokenizer loaded from the backbone's folder."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self.pad_id = int(pad)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])
