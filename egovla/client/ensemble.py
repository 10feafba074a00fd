"""Temporal ensembling of overlapping action chunks (ACT; EgoVLA).

Every chunk predicted at step t0 proposes a target for steps t0 .. t0+H-1. The target executed at
step t is the weighted mean of all proposals for t, with weight exp(-w * i) for the i-th oldest
proposal (i = 0 the oldest): w > 0 trusts earlier plans more, which smooths; w = 0 is a plain mean.
"""

from __future__ import annotations

import numpy as np


class TemporalEnsemble:
    def __init__(self, w: float = 0.01):
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"w: expected a finite weight >= 0, got {w}")
        self.w = float(w)
        self._chunks: list[tuple[int, np.ndarray]] = []

    def reset(self) -> None:
        self._chunks.clear()

    def add(self, t0: int, chunk: np.ndarray) -> None:
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2:
            raise ValueError(f"chunk: expected (H, D), got shape {chunk.shape}")
        if self._chunks and t0 < self._chunks[-1][0]:
            raise ValueError(f"t0: chunks must arrive in time order, got {t0} after {self._chunks[-1][0]}")
        self._chunks.append((int(t0), chunk))

    def target(self, t: int) -> np.ndarray:
        """The ensembled target for step t; chunks that no longer cover t are forgotten."""
        self._chunks = [(t0, c) for t0, c in self._chunks if t0 + len(c) > t]
        live = [(t0, c) for t0, c in self._chunks if t0 <= t]
        if not live:
            raise ValueError(f"no chunk covers step {t}")
        weights = np.exp(-self.w * np.arange(len(live)))
        proposals = np.stack([c[t - t0] for t0, c in live])
        return (weights[:, None] * proposals).sum(0) / weights.sum()
