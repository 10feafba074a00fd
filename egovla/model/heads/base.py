"""The action-head protocol, what every head sees, and the masked, weighted loss they share.

Every head is an `ActionHead`, all in normalized action space (the Policy (un)normalizes):

- `loss(inputs, target, mask) -> (loss, metrics)` for training;
- `initial_noise(batch, generator=None, seed=0)`: what `sample` starts from, or None for a head
  that draws none (regression); without a generator, every row gets the same seeded noise, so a
  batched call predicts what one call per observation would;
- `sample(inputs, noise) -> (B, H, D)`: the chunk;
- `set_cache(on) -> bool`: per-chunk caching of work repeated inside `sample` (the `cache` lever);
  False when the head repeats nothing.

The Policy and the inference levers only go through these, never through a head's kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class HeadInputs:
    """Everything the head conditions on, already projected to the head's width."""

    context: torch.Tensor  # (B, L, W) backbone hidden states: images, text and action queries
    context_mask: torch.Tensor  # (B, L) bool, False at padding
    queries: torch.Tensor  # (B, Q, W) the action query tokens' last hidden states
    proprio: torch.Tensor  # (B, P, W) proprioception tokens

    def memory(self) -> tuple[torch.Tensor, torch.Tensor]:
        """[context | proprio] as one sequence plus its padding mask (True = ignore)."""
        seq = torch.cat([self.context, self.proprio], dim=1)
        valid = torch.cat([self.context_mask, torch.ones(self.proprio.shape[:2], dtype=torch.bool, device=seq.device)], 1)
        return seq, ~valid


class ActionHead(nn.Module):
    """Base class of the heads; subclasses implement `loss` and `sample`."""

    def loss(self, f: HeadInputs, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def sample(self, f: HeadInputs, noise: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def initial_noise(self, batch: int, generator: torch.Generator | None = None, seed: int = 0) -> torch.Tensor | None:
        return None

    def set_cache(self, on: bool) -> bool:
        return False


def masked_weighted_mse(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """sum(w * m * (pred - target)^2) / number of supervised entries. weights: (D,)."""
    m = mask.to(pred.dtype)
    err = (pred - target).square() * m * weights
    return err.sum() / m.sum().clamp(min=1.0)


def transformer(width: int, heads: int, layers: int, dropout: float, decoder: bool = False) -> nn.Module:
    """A pre-norm transformer encoder (self-attention) or decoder (plus cross-attention)."""
    kw = dict(d_model=width, nhead=heads, dim_feedforward=4 * width, dropout=dropout, batch_first=True, norm_first=True)
    if decoder:
        return nn.TransformerDecoder(nn.TransformerDecoderLayer(**kw), layers)
    return nn.TransformerEncoder(nn.TransformerEncoderLayer(**kw), layers, enable_nested_tensor=False)


def encode_tail(encoder: nn.TransformerEncoder, seq: torch.Tensor, pad: torch.Tensor, n: int) -> torch.Tensor:
    """`encoder(seq, src_key_padding_mask=pad)[:, -n:]`, without computing the other outputs of the last layer.

    Every layer but the last runs over the whole sequence (its outputs are the next layer's keys and
    values); the last one only needs queries, attention output and feed-forward at the n positions
    read out. The same function of the inputs, with (L - n) / L less of the last layer's work.
    """
    *first, last = encoder.layers
    if not last.norm_first:
        raise ValueError("encode_tail expects pre-norm encoder layers (norm_first=True)")
    x = seq
    for layer in first:
        x = layer(x, src_key_padding_mask=pad)
    xn = last.norm1(x)
    attn = last.self_attn(xn[:, -n:], xn, xn, key_padding_mask=pad, need_weights=False)[0]
    h = x[:, -n:] + last.dropout1(attn)
    h = h + last.dropout2(last.linear2(last.dropout(last.activation(last.linear1(last.norm2(h))))))
    return encoder.norm(h) if encoder.norm is not None else h
