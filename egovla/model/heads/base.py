"""What every action head sees, and the masked, weighted loss they share.

Heads have one interface: `loss(inputs, target, mask) -> (loss, metrics)` and
`sample(inputs) -> chunk`, all in normalized action space; the Policy (un)normalizes.
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
