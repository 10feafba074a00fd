"""Flow-matching head (pi0 / SmolVLA style).

Training: x_t = t * noise + (1 - t) * action, the network predicts the velocity noise - action.
Inference: start from noise at t = 1 and take `flow_steps` Euler steps to t = 0. The conditioning
(backbone states, proprio, queries) is computed once per chunk; only this head runs per step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from egovla.model.config import HeadConfig
from egovla.model.heads import cached
from egovla.model.heads.base import ActionHead, HeadInputs, masked_weighted_mse, transformer


def time_embedding(t: torch.Tensor, width: int) -> torch.Tensor:
    """Sinusoidal embedding of t in [0, 1]: (B,) -> (B, width)."""
    half = width // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None] * 1000.0
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class FlowHead(ActionHead):
    def __init__(self, cfg: HeadConfig, n_queries: int, chunk_len: int, action_dim: int, weights: torch.Tensor):
        super().__init__()
        self.width, self.chunk_len, self.action_dim, self.steps = cfg.width, chunk_len, action_dim, cfg.flow_steps
        self.action_in = nn.Linear(action_dim, cfg.width)
        self.time_mlp = nn.Sequential(nn.Linear(cfg.width, cfg.width), nn.SiLU(), nn.Linear(cfg.width, cfg.width))
        self.step_embed = nn.Parameter(torch.randn(chunk_len, cfg.width) * 0.02)
        self.decoder = transformer(cfg.width, cfg.heads, cfg.layers, cfg.dropout, decoder=True)
        self.norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, action_dim)
        self.register_buffer("weights", weights, persistent=False)
        # prefix caching (an inference lever, off by default): the memory's cross-attention keys/values
        # are computed once per chunk instead of at every Euler step; the result is identical
        self.cache_memory = False

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, memory: torch.Tensor, pad: torch.Tensor,
                 cache: cached.Cache | None = None) -> torch.Tensor:
        tokens = self.action_in(x_t) + self.step_embed + self.time_mlp(time_embedding(t, self.width))[:, None]
        if cache is None:
            h = self.decoder(tokens, memory, memory_key_padding_mask=pad)
        else:
            h = cached.decode(self.decoder, tokens, cache)
        return self.out(self.norm(h))

    def _memory(self, f: HeadInputs) -> tuple[torch.Tensor, torch.Tensor]:
        memory, pad = f.memory()
        q_pad = torch.zeros(f.queries.shape[:2], dtype=torch.bool, device=pad.device)
        return torch.cat([memory, f.queries], 1), torch.cat([pad, q_pad], 1)

    def loss(self, f: HeadInputs, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict]:
        b = target.shape[0]
        noise = torch.randn_like(target)
        # pi0's time distribution: Beta(1.5, 1) leans towards the noisy end
        t = torch.distributions.Beta(1.5, 1.0).sample((b,)).to(target.device) * 0.999 + 0.001
        x_t = t[:, None, None] * noise + (1 - t[:, None, None]) * target
        memory, pad = self._memory(f)
        v = self.velocity(x_t, t, memory, pad)
        loss = masked_weighted_mse(v, noise - target, mask, self.weights)
        return loss, {"velocity_mse": masked_weighted_mse(v.detach(), noise - target, mask, torch.ones_like(self.weights)).item()}

    def initial_noise(self, batch: int, generator: torch.Generator | None = None, seed: int = 0) -> torch.Tensor:
        """(B, H, D) standard normal noise: from `generator`, or (None) the same seeded draw for every row."""
        shape = (self.chunk_len, self.action_dim)
        if generator is not None:
            return torch.randn(batch, *shape, generator=generator)
        return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).expand(batch, *shape)

    def set_cache(self, on: bool) -> bool:
        if on:
            cached.check_decoder(self.decoder)
        self.cache_memory = bool(on)
        return True

    def sample(self, f: HeadInputs, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Integrate from `noise` (B, H, D) (default: `initial_noise(B)`) to t = 0."""
        b = f.queries.shape[0]
        memory, pad = self._memory(f)
        if noise is None:
            noise = self.initial_noise(b)
        x = noise.to(memory.device, torch.float32)  # the integrated state stays float32 (half-precision levers)
        cache = cached.precompute(self.decoder, memory, pad) if self.cache_memory and not self.training else None
        dt = 1.0 / self.steps
        for i in range(self.steps):
            t = torch.full((b,), 1.0 - i * dt, device=memory.device)
            x = x - dt * self.velocity(x, t, memory, pad, cache)
        return x
