"""Parallel regression head (EgoVLA / OpenVLA-OFT): the whole chunk in one forward pass.

The Q query states are resampled to H step tokens (a learned linear map over the token axis,
plus a per-step embedding); a small transformer runs over [context | proprio | steps] and each
step token is read out as one D-dim action (the last layer computes only the step tokens' outputs).
"""

from __future__ import annotations

import torch
from torch import nn

from egovla.model.config import HeadConfig
from egovla.model.heads.base import ActionHead, HeadInputs, encode_tail, masked_weighted_mse, transformer


class RegressionHead(ActionHead):
    def __init__(self, cfg: HeadConfig, n_queries: int, chunk_len: int, action_dim: int, weights: torch.Tensor):
        super().__init__()
        self.resample = nn.Linear(n_queries, chunk_len)
        self.step_embed = nn.Parameter(torch.randn(chunk_len, cfg.width) * 0.02)
        self.encoder = transformer(cfg.width, cfg.heads, cfg.layers, cfg.dropout)
        self.norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, action_dim)
        self.register_buffer("weights", weights, persistent=False)

    def predict(self, f: HeadInputs) -> torch.Tensor:
        steps = self.resample(f.queries.transpose(1, 2)).transpose(1, 2) + self.step_embed
        memory, pad = f.memory()
        seq = torch.cat([memory, steps], dim=1)
        pad = torch.cat([pad, torch.zeros(steps.shape[:2], dtype=torch.bool, device=pad.device)], dim=1)
        h = encode_tail(self.encoder, seq, pad, steps.shape[1])
        return self.out(self.norm(h))

    def loss(self, f: HeadInputs, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict]:
        pred = self.predict(f)
        loss = masked_weighted_mse(pred, target, mask, self.weights)
        return loss, {"mse": masked_weighted_mse(pred.detach(), target, mask, torch.ones_like(self.weights)).item()}

    def sample(self, f: HeadInputs, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.predict(f)  # one pass, no noise, nothing to cache
