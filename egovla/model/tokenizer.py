"""An offline byte-level tokenizer: UTF-8 bytes shifted past a few special ids. No files, no hub."""

from __future__ import annotations

import torch

from egovla.observation import ObservationError


class ContextTooLongError(ObservationError):
    """An instruction needs more text tokens than the backbone's context allows."""


class ByteTokenizer:
    """ids 0..3 are pad/bos/eos/image; byte b is id b + 4. `vocab_size` is 260."""

    pad_id, bos_id, eos_id, image_id = 0, 1, 2, 3
    offset = 4
    vocab_size = 256 + offset

    def encode(self, text: str) -> list[int]:
        return [self.bos_id] + [b + self.offset for b in text.encode("utf-8")] + [self.eos_id]

    def decode(self, ids: list[int]) -> str:
        return bytes(i - self.offset for i in ids if i >= self.offset).decode("utf-8", errors="replace")


def pad_token_ids(
    sequences: list[list[int]], *, max_len: int, pad_id: int, instructions: list[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists to the longest one; raise ContextTooLongError past `max_len`."""
    for seq, text in zip(sequences, instructions):
        if len(seq) > max_len:
            raise ContextTooLongError(
                f"instruction is {len(seq)} tokens long, the backbone's text context allows {max_len} "
                f"(shorten it or raise backbone.max_text_len): {text[:80]!r}{'...' if len(text) > 80 else ''}"
            )
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.bool)
    for i, seq in enumerate(sequences):
        ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[i, : len(seq)] = True
    return ids, mask
