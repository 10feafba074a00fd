"""Proprioception as tokens: one small MLP per slice of the state vector.

In the unified 48-slot layout that is six tokens (per hand: wrist position, wrist rotation,
fingertips). Any other state width enters as a single token. Each MLP sees the values with
masked dims zeroed, plus the mask itself, so "not available" differs from "zero".
"""

from __future__ import annotations

import torch
from torch import nn

from egovla import spaces


def state_groups(state_dim: int) -> list[list[int]]:
    if state_dim != spaces.ACTION_DIM:
        return [list(range(state_dim))]
    groups = []
    for hand in spaces.HANDS:
        for part in ("wrist_pos", "wrist_rot", "fingertips"):
            s = spaces.slot(hand, part)
            groups.append(list(range(s.start, s.stop)))
    return groups


class ProprioEncoder(nn.Module):
    def __init__(self, state_dim: int, width: int):
        super().__init__()
        self.groups = state_groups(state_dim)
        for i, g in enumerate(self.groups):
            self.register_buffer(f"index_{i}", torch.tensor(g), persistent=False)
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * len(g), width), nn.SiLU(), nn.Linear(width, width)) for g in self.groups
        )

    def forward(self, state: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """state (B, S) normalized, mask (B, S) bool -> tokens (B, n_groups, width)."""
        m = mask.to(state.dtype)
        x = state * m
        tokens = []
        for i, mlp in enumerate(self.mlps):
            idx = getattr(self, f"index_{i}")
            tokens.append(mlp(torch.cat([x[:, idx], m[:, idx]], dim=-1)))
        return torch.stack(tokens, dim=1)
