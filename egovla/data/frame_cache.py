"""Decoded frames kept in memory: each episode's camera decoded once, at the training size, and reused.

A training window reads a handful of frames of one episode; over an epoch every frame of a small
dataset is read many times, and decoding is most of what loading costs. `FrameCache(budget_mb)`
keeps whole episodes (per camera, already resized) until the budget is full; an episode that does
not fit then is decoded window by window, as without a cache. Nothing is evicted: training reads
windows uniformly at random, so evicting one episode to decode another whole one costs a whole
episode per window (with a least-recently-used cache, the MT10 preset at 128 px, 3 GiB of frames
over a 1 GiB budget, trained at 50 samples/s), while keeping what is cached serves budget/size of
the windows for free and the rest at a window's cost. Each DataLoader worker has its own cache (a
pickled cache arrives empty).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class FrameCache:
    def __init__(self, budget_mb: float):
        self.budget = int(budget_mb * 2**20)
        self._items: dict[tuple, np.ndarray] = {}
        self.bytes = 0
        self.hits = self.misses = 0

    def __getstate__(self):
        return {"budget": self.budget, "_items": {}, "bytes": 0, "hits": 0, "misses": 0}

    def frames(self, key: tuple, length: int, frame_bytes: int, idx: np.ndarray,
               decode: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Frames `idx` of the episode `key` (`length` frames of `frame_bytes` each); `decode(indices)`
        decodes and resizes frames."""
        if key in self._items:
            self.hits += 1
            return self._items[key][idx]
        self.misses += 1
        size = length * frame_bytes
        if self.bytes + size > self.budget:
            return decode(idx)
        episode = decode(np.arange(length))
        self._items[key] = episode
        self.bytes += episode.nbytes
        return episode[idx]
