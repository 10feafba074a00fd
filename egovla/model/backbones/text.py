"""Tokenizer adapters: one `encode(text) -> ids` + `pad_id` face for byte-level and HF tokenizers."""

from __future__ import annotations

from typing import Any

import torch

from egovla.model.tokenizer import pad_token_ids


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


def tokenize_batch(tokenizer: Any, instructions: list[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    return pad_token_ids(
        [tokenizer.encode(t) for t in instructions], max_len=max_len, pad_id=tokenizer.pad_id, instructions=instructions
    )
